#!/usr/bin/env node
/** The `kfn` executable: runs the CLI bundle beside it, compiled from its code cache (code-cache.ts). */
import { fileURLToPath } from 'node:url';
import { BUNDLE, runBundle } from './code-cache.js';

runBundle(fileURLToPath(new URL(BUNDLE, import.meta.url)));
