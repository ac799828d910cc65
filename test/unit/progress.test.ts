/**
 * progressView: on a terminal one status line rewritten in place (`\r` + erase line:
 * step n of N, the step, elapsed time; never a newline, never wider than the terminal),
 * cleared at the end; off a terminal one plain line per step and per undo.
 * test/kernel/plan-steps.test.ts checks what a real apply prints.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { PlannedStep } from '../../src/core/types.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { progressView } from '../../src/views/progress.js';

const step = (description: string): PlannedStep => ({
  kind: 'load',
  phase: 'prepare',
  chain: { netns: 'default', ifname: 'eth0', hook: 'xdp' },
  chainName: 'edge',
  description,
  op: {},
  undo: [],
});
const S = [step('load chain root for eth0/xdp'), step('load a (counter@1.0.0) for eth0/xdp'), step('attach chain "edge" to eth0/xdp')];

/** The events of an apply that runs S, then undoes the first two. */
const events = (): EngineEvent[] => [
  { type: 'recovered', report: { pid: 1, command: 'x', startedAt: 'y', phase: 'apply', undone: [], released: [] } as never },
  { type: 'step', n: 1, total: 3, step: S[0]! },
  { type: 'step-done', n: 1, total: 3, step: S[0]! },
  { type: 'step', n: 2, total: 3, step: S[1]! },
  { type: 'warning', message: 'w' },
  { type: 'step-done', n: 2, total: 3, step: S[1]! },
  { type: 'step', n: 3, total: 3, step: S[2]! },
  { type: 'undo', step: S[1]! },
  { type: 'undo', step: S[0]! },
  { type: 'verified', what: 'restored' },
];

/** A view writing into `writes`; the clock moves 700 ms at every event handed to `feed`. */
function record(tty: boolean, opts: { columns?: number } = {}) {
  const writes: string[] = [];
  let t = 1_000;
  const view = progressView({ write: (s) => void writes.push(s), tty, now: () => t, ...opts });
  const feed = (e: EngineEvent): void => {
    view.onEvent(e);
    t += 700;
  };
  return { writes, view, feed };
}

describe('progressView', () => {
  test('off a terminal: one plain line per step and per undo, nothing else, no escape codes', () => {
    const { writes, view, feed } = record(false);
    for (const e of events()) feed(e);
    view.end();
    assert.deepEqual(writes, [
      '[1/3] load chain root for eth0/xdp\n',
      '[2/3] load a (counter@1.0.0) for eth0/xdp\n',
      '[3/3] attach chain "edge" to eth0/xdp\n',
      'undo: load a (counter@1.0.0) for eth0/xdp\n',
      'undo: load chain root for eth0/xdp\n',
    ]);
    assert.ok(!writes.join('').includes('\x1b'));
  });

  test('on a terminal: the status line is rewritten in place with the elapsed time, then cleared', () => {
    const { writes, view, feed } = record(true);
    for (const e of events()) feed(e);
    assert.deepEqual(writes, [
      '\r\x1b[K[1/3] load chain root for eth0/xdp (0.0s)',
      '\r\x1b[K[2/3] load a (counter@1.0.0) for eth0/xdp (1.4s)',
      '\r\x1b[K[3/3] attach chain "edge" to eth0/xdp (3.5s)',
      '\r\x1b[Kundo: load a (counter@1.0.0) for eth0/xdp (4.2s)',
      '\r\x1b[Kundo: load chain root for eth0/xdp (4.9s)',
    ]);
    assert.ok(!writes.join('').includes('\n'), 'never a new line');
    view.end();
    assert.equal(writes.at(-1), '\r\x1b[K', 'end clears the status line');
    const n = writes.length;
    view.end();
    assert.equal(writes.length, n, 'a second end writes nothing');
  });

  test('on a terminal without steps, end writes nothing', () => {
    const { writes, view } = record(true);
    view.onEvent({ type: 'warning', message: 'w' });
    view.end();
    assert.deepEqual(writes, []);
  });

  test('on a narrow terminal the step is cut so the line never wraps; the time stays', () => {
    const { writes, feed } = record(true, { columns: 30 });
    feed({ type: 'step', n: 2, total: 3, step: S[1]! });
    const line = writes[0]!.replace('\r\x1b[K', '');
    assert.equal(line, '[2/3] load a (counter… (0.0s)');
    assert.equal(line.length, 29, 'one column short of the terminal');
    const wide = record(true, { columns: 200 });
    wide.feed({ type: 'step', n: 2, total: 3, step: S[1]! });
    assert.equal(wide.writes[0], '\r\x1b[K[2/3] load a (counter@1.0.0) for eth0/xdp (0.0s)');
  });
});
