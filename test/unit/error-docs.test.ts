/**
 * docs/errors.md must list exactly the error codes kfn can emit: every code found in src/
 * is documented, and every documented code still exists in src/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.js';

const SRC = path.join(REPO_ROOT, 'src');
const DOC = path.join(REPO_ROOT, 'docs', 'errors.md');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** A code: upper-case letters, digits and '_', starting with a letter, in ' or " quotes. */
const CODE = String.raw`['"]([A-Z][A-Z0-9_]+)['"]`;
const PATTERNS: { re: RegExp; where: (file: string) => boolean; what: string }[] = [
  // `new KfnError('CODE', ...)`: a string literal as the first argument. \s* spans newlines,
  // so calls whose arguments start on the next line (prettier-wrapped) are found too.
  { re: new RegExp(String.raw`new\s+KfnError\s*\(\s*` + CODE, 'g'), where: () => true, what: 'new KfnError(CODE' },
  // Subclasses of KfnError pass their code to `super(`: a literal anywhere in the first
  // argument, e.g. `super(cause instanceof KfnError ? cause.code : 'APPLY_FAILED', msg)`.
  // [^,()]* keeps the match inside the first argument (no commas or nested calls).
  { re: new RegExp(String.raw`\bsuper\s*\(\s*[^,()]*?` + CODE + String.raw`\s*,`, 'g'), where: () => true, what: 'super(CODE' },
  // An explicit code option (`{ code: 'CODE' }`), e.g. for BpfError.
  { re: new RegExp(String.raw`\bcode\s*:\s*` + CODE, 'g'), where: () => true, what: 'code: CODE' },
  // src/libbpf/errors.ts maps errnos to codes in codeFor(): `return 'KERNEL_BUSY';`.
  // (The LIBBPF_ERRNO__* names there are errno names in messages, not codes.)
  { re: new RegExp(String.raw`\breturn\s+` + CODE + String.raw`\s*;`, 'g'), where: (f) => f.endsWith(path.join('libbpf', 'errors.ts')), what: 'return CODE' },
];

function codesInSrc(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of tsFiles(SRC)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const { re, where } of PATTERNS) {
      if (!where(file)) continue;
      for (const m of text.matchAll(re)) if (!found.has(m[1]!)) found.set(m[1]!, path.relative(REPO_ROOT, file));
    }
  }
  return found;
}

/** Table rows whose first cell is a code in backticks: | `CODE` | meaning | fix | */
function codesInDoc(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of fs.readFileSync(DOC, 'utf8').split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m) {
      assert.ok(!rows.has(m[1]!), `${m[1]} is documented twice in docs/errors.md`);
      rows.set(m[1]!, m[2]!);
    }
  }
  return rows;
}

test('the extraction finds the codes it should (sanity)', () => {
  const src = codesInSrc();
  for (const c of ['MANIFEST_YAML', 'OBJECT_SHA256_MISMATCH', 'VERIFIER_REJECTED', 'KERNEL_ERROR', 'APPLY_FAILED']) {
    assert.ok(src.has(c), `${c} not found in src/: the extraction regexes are broken`);
  }
  assert.ok(src.size >= 40, `only ${src.size} codes found in src/`);
});

test('every error code in src/ is documented in docs/errors.md', () => {
  const doc = codesInDoc();
  const missing = [...codesInSrc()].filter(([c]) => !doc.has(c)).map(([c, f]) => `${c} (${f})`);
  assert.deepEqual(missing, [], `add a row to docs/errors.md for: ${missing.join(', ')}`);
});

test('every code in docs/errors.md exists in src/ and has a meaning and a fix', () => {
  const src = codesInSrc();
  const stale = [...codesInDoc().keys()].filter((c) => !src.has(c));
  assert.deepEqual(stale, [], `docs/errors.md documents codes kfn no longer emits: ${stale.join(', ')}`);
  for (const [code, rest] of codesInDoc()) {
    const cells = rest.split('|').map((s) => s.trim());
    assert.equal(cells.length, 2, `${code}: expected | code | meaning | fix |`);
    assert.ok(cells.every((s) => s.length > 0), `${code}: empty meaning or fix`);
  }
});
