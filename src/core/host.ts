/**
 * The host a plan is made for, as Chain host selectors see it: its hostname and the
 * labels the operator gives it (`--host-labels k=v,...` or `--host-labels-file FILE`).
 * Label syntax is the Chain schema's (schemas/chain.schema.json, labelKey / labelValue).
 */
import fs from 'node:fs';
import os from 'node:os';
import { KfnError } from './errors.js';
import type { HostIdentity } from './types.js';

export const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^[A-Za-z0-9._-]{0,63}$/;

/** The most a labels file may hold; labels are a handful of words. */
const MAX_LABELS_FILE = 64 * 1024;

function parsePair(pair: string, where: string, labels: Record<string, string>): void {
  const eq = pair.indexOf('=');
  const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
  const value = eq < 0 ? undefined : pair.slice(eq + 1).trim();
  if (value === undefined || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
    throw new KfnError('HOST_LABELS_INVALID', `${where}: ${JSON.stringify(pair)} is not a label (key=value)`, {
      hint: 'keys: letters, digits, . _ / - (starting and ending with a letter or digit); values: at most 63 letters, digits, . _ -',
    });
  }
  if (key in labels && labels[key] !== value) {
    throw new KfnError('HOST_LABELS_INVALID', `${where}: label ${key} is given twice (${labels[key]} and ${value})`, { hint: 'give each label once' });
  }
  labels[key] = value;
}

/** `role=edge,zone=eu-1` (empty text: no labels). */
export function parseHostLabels(text: string, where = '--host-labels'): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',')) if (pair.trim()) parsePair(pair, where, labels);
  return labels;
}

/** One `key=value` per line; blank lines and `#` comments are skipped. */
export function readHostLabelsFile(file: string): Record<string, string> {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_LABELS_FILE) throw new Error(`larger than ${MAX_LABELS_FILE} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new KfnError('HOST_LABELS_INVALID', `cannot read host labels file ${file}: ${(e as Error).message}`, { hint: 'give a file of key=value lines' });
  }
  const labels: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (t && !t.startsWith('#')) parsePair(t, `${file}:${i + 1}`, labels);
  });
  return labels;
}

export interface HostLabelFlags {
  hostLabels?: string;
  hostLabelsFile?: string;
}

/** This host: its hostname and the labels given by flags (both flags merge; a key given twice must agree). */
export function hostIdentity(flags: HostLabelFlags, hostname: string = os.hostname()): HostIdentity {
  const labels = flags.hostLabelsFile ? readHostLabelsFile(flags.hostLabelsFile) : {};
  if (flags.hostLabels) {
    for (const [k, v] of Object.entries(parseHostLabels(flags.hostLabels))) {
      if (k in labels && labels[k] !== v) {
        throw new KfnError('HOST_LABELS_INVALID', `label ${k} is ${labels[k]} in ${flags.hostLabelsFile} but ${v} in --host-labels`, { hint: 'give each label once' });
      }
      labels[k] = v;
    }
  }
  return { hostname, labels };
}
