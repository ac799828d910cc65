/**
 * The tail-call form's compile for instances with companions: a fresh load checks the
 * companion's tracepoint at plan time; a copy takes over the live companion's pins
 * instead of loading another; the steps say which.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isKfnError } from '../../src/core/errors.js';
import type { Companion, LiveState } from '../../src/core/types.js';
import { tailcallForm } from '../../src/forms/tailcall/index.js';
import type { LoadInstanceOp } from '../../src/forms/tailcall/ops.js';
import { plan } from '../../src/plan/index.js';
import { NOW, at, dChain, dInst, desired, ident, lChain, lInst, liveState } from './plan-fixtures.js';

const PIN_ROOT = '/sys/fs/bpf/kfn-unit';
const tracefs = ['/sys/kernel/tracing/events', '/sys/kernel/debug/tracing/events'].some((d) => fs.existsSync(d));
const companion = (tracepoint: string): Companion => ({ program: 'conn_state', attach: { kind: 'tracepoint', tracepoint } });
const fn = (tracepoint: string) => ({ ...ident('connlimit'), nextMap: 'xdp_cl_next', companions: [companion(tracepoint)] });
const compile = (d: ReturnType<typeof desired>, live: LiveState) => tailcallForm.compile(plan(d, live, { now: NOW }), { pinRoot: PIN_ROOT, live });

describe('tail-call compile: companions', () => {
  test('a companion on a tracepoint this kernel lacks fails the plan, naming the chain entry', () => {
    const d = desired(dChain('edge', ['eth0'], [{ ...dInst('limit', fn('kfn_test/no_such_tracepoint')), source: { file: 'chain.yaml', line: 7, column: 7 } }]));
    assert.throws(
      () => compile(d, liveState()),
      (e: unknown) => {
        assert.ok(isKfnError(e));
        assert.equal(e.code, tracefs ? 'TRACEPOINT_NOT_FOUND' : 'TRACEFS_NOT_MOUNTED');
        assert.match(e.message, /^chain\.yaml:7:7: chain "edge" function "limit": companion conn_state: /);
        return true;
      },
    );
  });

  test('a fresh load attaches its companion; a copy (reorder) takes over the live one by its pins', { skip: tracefs ? false : 'tracefs is not mounted' }, () => {
    const id = fn('sock/inet_sock_set_state');
    const fresh = compile(desired(dChain('edge', ['eth0'], [dInst('limit', id)])), liveState());
    const load = fresh.steps.find((s) => s.kind === 'load' && s.instance === 'limit')!;
    assert.match(load.description, /, attaching companion conn_state \(tracepoint sock\/inet_sock_set_state\)$/);
    assert.equal((load.op as LoadInstanceOp).share, undefined);

    const live = liveState({ chains: [lChain('edge', at('eth0'), [lInst('limit', id, 5), lInst('count', ident('counter'), 6)])] });
    const swapped = compile(desired(dChain('edge', ['eth0'], [dInst('count', ident('counter')), dInst('limit', id)])), live);
    const copy = swapped.steps.find((s) => s.kind === 'load-copy' && s.instance === 'limit')!;
    assert.match(copy.description, /, taking over companion conn_state/);
    assert.deepEqual((copy.op as LoadInstanceOp).share?.companions, [
      { program: 'conn_state', prog: '/sys/fs/bpf/kfn/x/limit/companions/conn_state/prog', link: '/sys/fs/bpf/kfn/x/limit/companions/conn_state/link' },
    ]);
  });
});

describe('tail-call compile: what the journal may announce at once', () => {
  const independent = (steps: { undo: unknown[] }[]): boolean[] => steps.map((s) => s.undo.every((op) => tailcallForm.independentUndo(op)));

  test('a deploy from scratch only removes what it made: every step, attaches too, may be announced in one record', () => {
    const d = desired(dChain('edge', ['eth0', 'eth1'], [dInst('drop', ident('blocklist')), dInst('count', ident('counter'))]));
    const { steps } = compile(d, liveState());
    const attaches = steps.filter((s) => s.kind === 'attach');
    assert.equal(attaches.length, 2);
    for (const a of attaches) assert.deepEqual(a.undo[0], { op: 'detachCreated', chainDir: (a.op as { dir: string }).dir });
    assert.deepEqual(independent(steps), steps.map(() => true));
  });

  test('a re-attach of a chain that exists puts things back, so it is announced alone', () => {
    const live = liveState({ chains: [lChain('edge', at('eth0'), [lInst('drop', ident('blocklist'), 5)], { mode: 'native' })] });
    const { steps } = compile(desired(dChain('edge', ['eth0'], [dInst('drop', ident('blocklist'))], { mode: 'generic' })), live);
    const reattach = steps.find((s) => s.kind === 'reattach');
    assert.ok(reattach, `a reattach step among ${steps.map((s) => s.kind).join(', ')}`);
    assert.deepEqual(reattach.undo[0], { op: 'detachRoot', chainDir: live.chains[0]!.pinDir });
    assert.equal(independent([reattach])[0], false);
  });
});
