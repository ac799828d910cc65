/**
 * The installation's root: package.json, schemas/, bpf/build/ and dist/ sit there. This
 * module is two levels below it both as source (src/core/) and as built code (the CLI is
 * bundled into dist/cli/kfn.cjs), so one relative URL finds it from either.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const INSTALL_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A path inside the installation. */
export const installPath = (...segments: string[]): string => path.join(INSTALL_ROOT, ...segments);
