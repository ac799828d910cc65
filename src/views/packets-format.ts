/** Words for packet outcomes and expectations, shared by the test report and the plan's packet preview. */
import type { Attachment } from '../core/types.js';
import type { PacketChange } from '../engine/packets.js';
import type { Outcome, OutcomeRun } from '../packets/expect.js';
import type { Expectation } from '../packets/types.js';
import { chainAddress } from './address.js';

const times = (n: number): string => (n === 1 ? '' : ` x${n}`);
const by = (d: string | undefined): string => (d === undefined ? '' : ` by ${d}`);

/** `drop by drop-bad`, `pass x10`. */
export function outcomeText(o: Outcome, count = 1): string {
  return `${o.verdict}${times(count)}${by(o.decidedBy)}`;
}

/** Beyond this many runs, a step's outcomes are shown as totals. */
const RUNS_SHOWN = 6;

/**
 * What a step's packets did: `pass x10, drop x5 by limit` in packet order; a lone pass
 * that ran off the end says so; many short runs are summed (`pass x50, drop x50 (interleaved)`).
 */
export function runsText(runs: readonly OutcomeRun[], knowsDecider: boolean): string {
  if (runs.length === 0) return 'no packet';
  const one = runs.length === 1 ? runs[0]! : undefined;
  if (one && one.verdict === 'pass' && one.decidedBy === undefined && knowsDecider) return `${outcomeText(one, one.count)} (end of chain)`;
  if (runs.length <= RUNS_SHOWN) return runs.map((r) => outcomeText(r, r.count)).join(', ');
  const totals = new Map<string, OutcomeRun>();
  for (const r of runs) {
    const key = `${r.verdict} ${r.decidedBy ?? ''}`;
    const t = totals.get(key);
    if (t) t.count += r.count;
    else totals.set(key, { ...r });
  }
  return `${[...totals.values()].map((r) => outcomeText(r, r.count)).join(', ')} (interleaved)`;
}

/** What a step expects, in the words of runsText. */
export function expectationText(e: Expectation, packets: number): string {
  switch (e.form) {
    case 'each':
      return `${e.verdict}${times(packets)}${by(e.decidedBy)}`;
    case 'ordered':
      return e.runs.map((r) => `${r.verdict}${times(r.count)}${by(r.decidedBy)}`).join(', ');
    case 'totals': {
      const named = (['pass', 'drop'] as const).filter((v) => e.counts[v] > 0).map((v) => `${v} x${e.counts[v]}`);
      return `${named.join(', ') || 'no packet'} (in any order)`;
    }
  }
}

/** Packets of one chain attachment whose outcome changes the same way. */
export interface PacketChangeGroup {
  attachment: Attachment;
  chainName: string;
  address: string;
  before: Outcome;
  after: Outcome;
  count: number;
  text: string;
  changes: PacketChange[];
}

const upper = (o: Outcome): string => o.verdict.toUpperCase();

/**
 * `3 packets change verdict PASS -> DROP at drop-bad`: at = the instance deciding the new
 * verdict (or, when the packet now runs off the end, the one that decided before).
 */
export function changeText(before: Outcome, after: Outcome, count: number): string {
  const packets = `${count} packet${count === 1 ? '' : 's'}`;
  const verb = count === 1 ? 'changes' : 'change';
  if (before.verdict === after.verdict) {
    const was = before.decidedBy ?? 'the end of the chain';
    const now = after.decidedBy ?? 'the end of the chain';
    return `${packets} keep${count === 1 ? 's' : ''} verdict ${upper(after)} but ${count === 1 ? 'is' : 'are'} now decided at ${now} (was ${was})`;
  }
  const why = after.decidedBy !== undefined ? ` at ${after.decidedBy}` : before.decidedBy !== undefined ? ` (no longer decided at ${before.decidedBy})` : '';
  return `${packets} ${verb} verdict ${upper(before)} -> ${upper(after)}${why}`;
}

/** Changes grouped by attachment and by how they change, in the order first seen. */
export function groupPacketChanges(changes: readonly PacketChange[]): PacketChangeGroup[] {
  const groups = new Map<string, PacketChangeGroup>();
  for (const c of changes) {
    const address = chainAddress(c.chainName, c.attachment);
    const key = JSON.stringify([address, c.before.verdict, c.before.decidedBy ?? null, c.after.verdict, c.after.decidedBy ?? null]);
    let g = groups.get(key);
    if (!g) {
      g = { attachment: c.attachment, chainName: c.chainName, address, before: c.before, after: c.after, count: 0, text: '', changes: [] };
      groups.set(key, g);
    }
    g.count += c.count;
    g.changes.push(c);
  }
  for (const g of groups.values()) g.text = changeText(g.before, g.after, g.count);
  return [...groups.values()];
}

/** `packet 3` or `packets 3-7`. */
export function packetRange(c: Pick<PacketChange, 'packet' | 'count'>): string {
  return c.count === 1 ? `packet ${c.packet}` : `packets ${c.packet}-${c.packet + c.count - 1}`;
}
