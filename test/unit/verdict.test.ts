import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TC_ACT, TCX_ACTION, XDP_ACTION, tcVerdict, verdictOf, xdpVerdict } from '../../src/libbpf/verdict.js';

test('XDP actions map to verdicts; an unknown action is aborted, as the kernel treats it', () => {
  assert.equal(xdpVerdict(XDP_ACTION.ABORTED), 'aborted');
  assert.equal(xdpVerdict(XDP_ACTION.DROP), 'drop');
  assert.equal(xdpVerdict(XDP_ACTION.PASS), 'pass');
  assert.equal(xdpVerdict(XDP_ACTION.TX), 'tx');
  assert.equal(xdpVerdict(XDP_ACTION.REDIRECT), 'redirect');
  for (const v of [5, 42, -1, 0xffffffff]) assert.equal(xdpVerdict(v), 'aborted', String(v));
});

test('tcx verdicts map to verdicts; every other value continues like TCX_NEXT (a pass)', () => {
  assert.equal(tcVerdict(TCX_ACTION.NEXT), 'pass');
  assert.equal(tcVerdict(0xffffffff), 'pass', 'TCX_NEXT read as an unsigned retval');
  assert.equal(tcVerdict(TCX_ACTION.PASS), 'pass');
  assert.equal(tcVerdict(TCX_ACTION.DROP), 'drop');
  assert.equal(tcVerdict(TC_ACT.SHOT), 'drop');
  assert.equal(tcVerdict(TCX_ACTION.REDIRECT), 'redirect');
  for (const v of [TC_ACT.RECLASSIFY, TC_ACT.PIPE, TC_ACT.STOLEN, TC_ACT.QUEUED, TC_ACT.REPEAT, TC_ACT.TRAP, 99]) {
    assert.equal(tcVerdict(v), 'pass', String(v));
  }
});

test('verdictOf picks the convention of the hook', () => {
  assert.equal(verdictOf('xdp', 2), 'pass');
  assert.equal(verdictOf('tc', 2), 'drop');
  assert.equal(verdictOf('xdp', 1), 'drop');
  assert.equal(verdictOf('tc', 1), 'pass');
});
