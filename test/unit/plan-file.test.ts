/**
 * Saved plans: written mode 0600 and read back unchanged; a plan file that cannot be
 * written, or was tampered with, is a one-line KfnError (never a stack trace).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { plan } from '../../src/plan/index.js';
import { compile } from '../../src/forms/tailcall/compile.js';
import { isPlanFile, loadPlan, savePlan } from '../../src/engine/plan-file.js';
import { KfnError } from '../../src/core/errors.js';
import type { Plan } from '../../src/core/types.js';
import { NOW, FN, dChain, dInst, desired, liveState } from './plan-fixtures.js';
import { hostId } from '../../src/engine/host.js';

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
});
