import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KfnError, isKfnError, oneLine } from '../../src/core/errors.js';
import { loadDesiredState } from '../../src/manifest/index.js';
import { BpfError, readObjectInfo } from '../../src/libbpf/index.js';

test('control characters in messages and hints are escaped, so an error is one line', () => {
  const e = new KfnError('X', 'object a\r\nb\tc\x00 not found', { hint: 'fix\nit', source: { file: 'm.yaml', line: 3 } });
  assert.equal(e.message, 'm.yaml:3: object a\\r\\nb\\tc\\u0000 not found');
  assert.equal(e.hint, 'fix\\nit');
  assert.equal(oneLine('plain text'), 'plain text');
});

test('regression (found by fuzzing): a carriage return in a manifest does not break the one-line error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-errors-'));
  try {
    fs.writeFileSync(path.join(dir, 'm.yaml'), '|\r');
    fs.writeFileSync(
      path.join(dir, 'f.yaml'),
      'apiVersion: kfn.dev/v1alpha1\nkind: KernelFunction\nmetadata: { name: x }\nspec:\n  version: 1.0.0\n  object: "a\\rb.bpf.o"\n  hooks: [xdp]\n',
    );
    let caught: unknown;
    try {
      loadDesiredState(dir, { readObjectInfo, root: dir });
    } catch (e) {
      caught = e;
    }
    assert.ok(isKfnError(caught), String(caught));
    const all = 'errors' in caught ? (caught.errors as KfnError[]) : [caught];
    assert.ok(all.length >= 1);
    for (const e of all) {
      assert.doesNotMatch(e.message, /[\r\n]/, e.message);
      if (e.hint) assert.doesNotMatch(e.hint, /[\r\n]/, e.hint);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a load the verifier gave up on because a signal was pending (EAGAIN) is not blamed on the program', () => {
  const log = '42: (57) r2 &= 15 ; R2=scalar()\n43: (b7) r3 = 5\n';
  const interrupted = new BpfError('load program', 'allowlist_xdp from allowlist.bpf.o', -11, { verifierLog: log });
  assert.equal(interrupted.code, 'KERNEL_ERROR');
  assert.match(interrupted.message, /EAGAIN/);
  assert.match(interrupted.hint ?? '', /interrupted .*run the command again/);
  const refused = new BpfError('load program', 'badfn from bad_verifier.bpf.o', -13, { verifierLog: 'R1 invalid mem access' });
  assert.equal(refused.code, 'VERIFIER_REJECTED');
  assert.match(refused.hint ?? '', /fix the function source/);
});
