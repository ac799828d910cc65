/**
 * Saved plans: written mode 0600 and read back unchanged; a plan file that cannot be
 * written, or was tampered with, is a one-line KfnError (never a stack trace).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { canonicalJson, sha256Hex } from '../../src/core/digest.js';
import os from 'node:os';
import path from 'node:path';
import { plan } from '../../src/plan/index.js';
import { compile } from '../../src/forms/tailcall/compile.js';
import { isPlanFile, loadPlan, savePlan } from '../../src/engine/plan-file.js';
import { KfnError } from '../../src/core/errors.js';
import type { Plan } from '../../src/core/types.js';
import { NOW, FN, dChain, dInst, desired, liveState } from './plan-fixtures.js';
import { hostId } from '../../src/engine/provenance.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-plan-file-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function aPlan(): Plan {
  const live = liveState();
  const planned = plan(desired(dChain('edge', ['eth0'], [dInst('a', FN.blocklist, { blocked_v4: { '198.18.0.3/32': '1' } })])), live, { now: NOW });
  return { ...planned, ...compile(planned, { pinRoot: '/sys/fs/bpf/kfn', live }), formatVersion: 2, form: 'tailcall', pinRoot: '/sys/fs/bpf/kfn', host: hostId() };
}

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KfnError, String(e));
    assert.ok(!e.message.includes('\n'));
    assert.ok(e.hint);
    return e.code;
  }
  assert.fail('no error');
};

describe('saved plans', () => {
  test('round trip, mode 0600, recognised as a plan file', () => {
    const p = aPlan();
    const file = path.join(dir, 'p.plan');
    savePlan(file, p);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.ok(isPlanFile(file));
    assert.deepEqual(loadPlan(file), p);
  });

  test('a path that cannot be written is PLAN_FILE_WRITE', () => {
    assert.equal(code(() => savePlan(path.join(dir, 'missing', 'p.plan'), aPlan())), 'PLAN_FILE_WRITE');
    assert.equal(code(() => savePlan(dir, aPlan())), 'PLAN_FILE_WRITE', 'a directory');
    assert.ok(!fs.existsSync(path.join(dir, 'missing')));
  });

  test('a tampered, truncated or foreign file is PLAN_FILE_INVALID', () => {
    const file = path.join(dir, 't.plan');
    savePlan(file, aPlan());
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.replace('198.18.0.3/32', '198.18.0.4/32'));
    assert.equal(code(() => loadPlan(file)), 'PLAN_FILE_INVALID');
    fs.writeFileSync(file, text.slice(0, text.length / 2));
    assert.equal(code(() => loadPlan(file)), 'PLAN_FILE_INVALID');
    assert.equal(code(() => loadPlan(path.join(dir, 'none.plan'))), 'PLAN_FILE_INVALID');
    assert.ok(!isPlanFile(path.join(dir, 'none.plan')));
  });

  test('a FIFO, /dev/zero, a directory or a plan writable by others is refused without hanging or reading it', () => {
    const fifo = path.join(dir, 'fifo.plan');
    spawnSync('mkfifo', [fifo]);
    const zero = path.join(dir, 'zero.plan');
    fs.symlinkSync('/dev/zero', zero);
    const shared = path.join(dir, 'shared.plan');
    savePlan(shared, aPlan());
    fs.chmodSync(shared, 0o666);
    const message = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof KfnError && e.code === 'PLAN_FILE_INVALID', String(e));
        return e.message;
      }
      assert.fail('no error');
    };
    // A FIFO opened for reading would block forever: the test finishing is part of the proof.
    for (const [file, why] of [
      [fifo, /FIFO/],
      [zero, /symbolic link|character device/],
      [path.join(dir, 'missing'), /.+/],
      [dir, /directory/],
      [shared, /writable by other/],
    ] as const) {
      assert.match(message(() => loadPlan(file)), why, file);
    }
    assert.ok(!isPlanFile(fifo) && !isPlanFile(zero) && !isPlanFile(dir), 'only regular files are sniffed');
  });

  test('a plan with its checksum recomputed but parts missing or of another format is refused', () => {
    const file = path.join(dir, 'partial.plan');
    const write = (p: unknown): void => fs.writeFileSync(file, JSON.stringify({ kind: 'kfn-plan', checksum: sha256Hex(canonicalJson(p)), plan: p }, null, 2), { mode: 0o600 });
    const edits: [string, (p: Record<string, unknown>) => void][] = [
      ['no steps', (p) => delete p.steps],
      ['no summary', (p) => delete p.summary],
      ['a step without undo', (p) => void ((p.steps as Record<string, unknown>[])[0]!.undo = 'rm -rf /')],
      ['another format', (p) => void (p.formatVersion = 1)],
    ];
    for (const [what, edit] of edits) {
      const p = structuredClone(aPlan()) as unknown as Record<string, unknown>;
      edit(p);
      write(p);
      assert.equal(code(() => loadPlan(file)), 'PLAN_FILE_INVALID', what);
    }
  });
});
