/**
 * "The kernel is exactly as it was": bpftool's prog/map/link ids and kfn's pins, the
 * chains `kfn show --json` reports, and the XDP program on the sandbox interface.
 */
import assert from 'node:assert/strict';
import { isEmptyDiff, snapshot, waitSameKernel, type BpfSnapshot } from './bpftool.js';
import { show, type KfnEnv, type ShowChain } from './kfn.js';
import type { Sandbox } from './sandbox.js';

export interface World {
  bpf: BpfSnapshot;
  chains: ShowChain[];
  xdp: number | undefined;
}

export function captureWorld(env: KfnEnv, sb: Sandbox): World {
  return { bpf: snapshot(), chains: show(env).chains, xdp: sb.xdpProgIdA() };
}

export async function assertWorldUnchanged(env: KfnEnv, sb: Sandbox, w: World, what: string): Promise<void> {
  const d = await waitSameKernel(w.bpf, env.pinRoot);
  assert.ok(isEmptyDiff(d), `${what}: bpftool prog/map/link ids or pins changed:\n${JSON.stringify(d, null, 2)}`);
  assert.deepEqual(show(env).chains, w.chains, `${what}: kfn show --json differs`);
  assert.equal(sb.xdpProgIdA(), w.xdp, `${what}: the XDP program on the interface changed`);
}

/**
 * Like assertWorldUnchanged, for a host where other tests load programs meanwhile: kfn's
 * pins (with the ids they hold), everything they reach, kfn show and the interface's XDP
 * program are unchanged, but new objects outside the pin root are not counted (a program
 * another test loads has no pin of ours to tell it apart from one kfn leaked).
 */
export async function assertKfnUnchanged(env: KfnEnv, sb: Sandbox, w: World, what: string): Promise<void> {
  const d = await waitSameKernel(w.bpf, env.pinRoot);
  const removed = Object.values(d.removed).flat();
  assert.ok(d.pins === null && removed.length === 0, `${what}: kfn's pins or the objects they reach changed:\n${JSON.stringify({ pins: d.pins, removed: d.removed }, null, 2)}`);
  assert.deepEqual(show(env).chains, w.chains, `${what}: kfn show --json differs`);
  assert.equal(sb.xdpProgIdA(), w.xdp, `${what}: the XDP program on the interface changed`);
}
