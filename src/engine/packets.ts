/**
 * Packet cases through shadow chains (the chain form's private copies, see
 * forms/form.ts ShadowChain): `kfn test` runs them through a shadow of each desired
 * chain and judges the verdicts; `kfn plan --packets` runs them through a shadow of the
 * live chain and one of the planned chain on every attachment the plan touches, and
 * reports the packets whose outcome differs. Every case starts from a fresh shadow
 * (parameters filled, state empty), so cases never see each other's packets. All test
 * runs happen in one private, empty network namespace.
 */
import { KfnError, KfnErrors, type SourceRef } from '../core/errors.js';
import { attachmentKey, attachmentLabel, type Attachment, type DesiredInstance, type DesiredState, type Hook, type LiveChain, type LiveState, type PlannedChanges } from '../core/types.js';
import type { ChainForm, ShadowChain, ShadowSource } from '../forms/form.js';
import { PrivateNetns } from '../libbpf/index.js';
import { differences, judge, outcomeRuns, packetCount, sendOrder, type Outcome, type OutcomeRun, type Expectation, type LoadedPacketTests, type Mismatch, type PacketCase, type PacketTest, type Step } from '../packets/index.js';

/** Mismatches kept per step (the count says how many there were). */
const MISMATCHES_KEPT = 20;

export interface StepResult {
  packets: number;
  expect: Expectation;
  /** What the packets did, consecutive equal outcomes collapsed. */
  got: OutcomeRun[];
  /** The first mismatches, with the label of the packet each one is about. */
  mismatches: (Mismatch & { label?: string })[];
  mismatchCount: number;
  source: SourceRef;
}

export interface CaseResult {
  test: string;
  case: string;
  chain: string;
  /** The packet-test file, as given. */
  file: string;
  source: SourceRef;
  passed: boolean;
  /** Steps that ran (all of them unless `error`). */
  steps: StepResult[];
  /** The case could not run to the end (e.g. the kernel refused a frame). */
  error?: { code: string; message: string; hint?: string };
}

export interface ShadowedChain {
  name: string;
  hook: Hook;
  instances: string[];
  knowsDecider: boolean;
}

export interface PacketTestReport {
  cases: CaseResult[];
  chains: ShadowedChain[];
  packets: number;
}

export const reportPassed = (r: PacketTestReport): boolean => r.cases.every((c) => c.passed);

/** `count` consecutive packets of a case, from `packet` on (1-based, in send order), whose outcome differs. */
export interface PacketChange {
  attachment: Attachment;
  chainName: string;
  test: string;
  case: string;
  source: SourceRef;
  packet: number;
  count: number;
  /** The first packet's label. */
  label: string;
  before: Outcome;
  after: Outcome;
}

export interface PacketPreview {
  /** Case runs compared (a case counts once per attachment). */
  cases: number;
  packets: number;
  changes: PacketChange[];
  notes: string[];
}

/** The chains the tests name, checked before anything is loaded: every chain exists, every decidedBy names one of its instances. */
function checkTests(tests: readonly PacketTest[], instancesOf: (chain: string) => string[] | undefined, known: string[]): void {
  const errors: KfnError[] = [];
  for (const t of tests) {
    const names = instancesOf(t.chain);
    if (!names) {
      errors.push(
        new KfnError('PACKET_CHAIN_NOT_FOUND', `PacketTest "${t.name}" names chain "${t.chain}", which the manifests do not define`, {
          source: t.source,
          hint: known.length ? `chains defined: ${known.join(', ')}` : 'the manifests define no chain: check the path given to kfn',
        }),
      );
      continue;
    }
    for (const c of t.cases) {
      for (const s of c.steps) {
        for (const d of deciders(s.expect)) {
          if (names.includes(d)) continue;
          errors.push(
            new KfnError('PACKET_DECIDER_NOT_FOUND', `case "${c.name}": decidedBy "${d}" is not an instance of chain "${t.chain}"`, {
              source: s.source,
              hint: names.length ? `instances of ${t.chain}, in packet order: ${names.join(', ')}` : `chain ${t.chain} has no instances`,
            }),
          );
        }
      }
    }
  }
  if (errors.length === 1) throw errors[0]!;
  if (errors.length) throw new KfnErrors(errors);
}

function deciders(e: Expectation): string[] {
  if (e.form === 'each') return e.decidedBy === undefined ? [] : [e.decidedBy];
  if (e.form === 'ordered') return [...new Set(e.runs.flatMap((r) => (r.decidedBy === undefined ? [] : [r.decidedBy])))];
  return [];
}

const frames = function* (step: Step): Generator<Uint8Array> {
  for (const p of sendOrder(step)) yield p.frame;
};

/** A KfnError as a case's error (anything else is a bug and propagates). */
function errorOf(e: unknown, prefix = ''): CaseResult['error'] {
  if (e instanceof KfnError) return { code: e.code, message: prefix + e.message, ...(e.hint ? { hint: e.hint } : {}) };
  throw e;
}

/** Every case of `tests` through a fresh shadow of the desired chain it names. */
export function runPacketTests(form: ChainForm, desired: DesiredState, loaded: LoadedPacketTests): PacketTestReport {
  const byName = new Map(desired.chains.map((c) => [c.name, c]));
  checkTests(loaded.tests, (n) => byName.get(n)?.instances.map((i) => i.name), [...byName.keys()]);
  const report: PacketTestReport = { cases: [], chains: [], packets: 0 };
  const shadowed = new Map<string, ShadowedChain>();
  withPrivateNetns((netns) => {
    for (const t of loaded.tests) {
      const chain = byName.get(t.chain)!;
      for (const c of t.cases) {
        const result: CaseResult = { test: t.name, case: c.name, chain: t.chain, file: t.file, source: c.source, passed: false, steps: [] };
        report.cases.push(result);
        let shadow: ShadowChain | undefined;
        try {
          shadow = form.shadow({ kind: 'desired', chainName: chain.name, hook: chain.hook, instances: chain.instances }, { netns });
          if (!shadowed.has(chain.name)) shadowed.set(chain.name, { name: chain.name, hook: chain.hook, instances: [...shadow.instances], knowsDecider: shadow.knowsDecider });
        } catch (e) {
          result.error = errorOf(e);
          continue;
        }
        try {
          for (const step of c.steps) {
            const outcomes = shadow.runAll(frames(step));
            report.packets += outcomes.length;
            const mismatches = judge(step.expect, outcomes, { undecided: shadow.knowsDecider ? 'end-of-chain' : 'unknown' });
            result.steps.push({
              packets: packetCount(step),
              expect: step.expect,
              got: outcomeRuns(outcomes),
              mismatches: mismatches.slice(0, MISMATCHES_KEPT).map((m) => (m.index === undefined || m.index >= packetCount(step) ? m : { ...m, label: step.packets[m.index % step.packets.length]!.label })),
              mismatchCount: mismatches.length,
              source: step.source,
            });
          }
          result.passed = result.steps.every((s) => s.mismatchCount === 0);
        } catch (e) {
          result.error = errorOf(e, c.steps.length > 1 ? `step ${result.steps.length + 1}: ` : '');
        } finally {
          shadow.release();
        }
      }
    }
  });
  report.chains = [...shadowed.values()];
  return report;
}

function withPrivateNetns<T>(fn: (netns: PrivateNetns) => T): T {
  const netns = PrivateNetns.create();
  try {
    return fn(netns);
  } finally {
    netns.close();
  }
}

/**
 * A desired instance as apply would leave it on top of `live`: the entries a merge-mode
 * map does not list stay in the kernel, so the planned shadow holds them too.
 */
function afterApply(d: DesiredInstance, live: LiveChain | undefined): DesiredInstance {
  const li = live?.instances.find((i) => i.name === d.name);
  if (!li || !Object.values(d.maps).some((m) => m.merge)) return d;
  const maps = { ...d.maps };
  for (const m of Object.values(d.maps)) {
    if (!m.merge) continue;
    const listed = new Set(m.entries.map((e) => e.key));
    const kept = (li.maps[m.name] ?? []).filter((e) => !listed.has(e.key));
    maps[m.name] = { ...m, entries: [...m.entries, ...kept].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
  }
  return { ...d, maps };
}

const PASS_ALL: Outcome = Object.freeze({ verdict: 'pass' });

/**
 * What every case of `tests` does on each attachment the plan covers, before (the live
 * chain there, or none) and after (the planned chain, or none): the packets whose verdict
 * or deciding instance differs. A hook without a chain passes every packet.
 */
export function previewPackets(form: ChainForm, planned: Pick<PlannedChanges, 'changes'>, live: LiveState, desired: DesiredState, loaded: LoadedPacketTests): PacketPreview {
  const desiredByName = new Map(desired.chains.map((c) => [c.name, c]));
  const liveByName = new Map<string, LiveChain>();
  for (const c of live.chains) if (!liveByName.has(c.chainName)) liveByName.set(c.chainName, c);
  const known = [...new Set([...desiredByName.keys(), ...liveByName.keys()])].sort();
  checkTests(loaded.tests, (n) => (desiredByName.get(n) ?? liveByName.get(n))?.instances.map((i) => i.name), known);

  const liveAt = new Map(live.chains.map((c) => [attachmentKey(c.attachment), c]));
  const preview: PacketPreview = { cases: 0, packets: 0, changes: [], notes: [] };
  // One run per distinct chain content: attachments of one chain usually hold the same.
  const cache = new Map<string, Outcome[][]>();
  const notes = new Set<string>();
  const note = (n: string): void => void notes.add(n);
  withPrivateNetns((netns) => {
    const outcomesOf = (source: ShadowSource | undefined, c: PacketCase): Outcome[][] => {
      if (!source) return c.steps.map((s) => Array.from({ length: packetCount(s) }, () => PASS_ALL));
      const key = JSON.stringify([sourceKey(source), c.source]);
      let got = cache.get(key);
      if (!got) {
        const shadow = form.shadow(source, { netns, findObject: (sha) => objectBySha(desired, sha) });
        try {
          got = c.steps.map((s) => shadow.runAll(frames(s)));
        } finally {
          shadow.release();
        }
        cache.set(key, got);
      }
      return got;
    };

    for (const t of loaded.tests) {
      const changes = planned.changes.filter((ch) => ch.chainName === t.chain);
      if (!changes.length) {
        note(`chain "${t.chain}" runs on no interface of this host: the cases of PacketTest "${t.name}" were not compared`);
        continue;
      }
      for (const ch of changes) {
        const liveChain = ch.action === 'create' ? undefined : liveAt.get(attachmentKey(ch.attachment));
        const want = ch.action === 'delete' ? undefined : desiredByName.get(ch.chainName);
        const before: ShadowSource | undefined = liveChain && { kind: 'live', chain: liveChain };
        const after: ShadowSource | undefined = want && { kind: 'desired', chainName: want.name, hook: want.hook, instances: want.instances.map((d) => afterApply(d, liveChain)) };
        if (liveChain?.drift.length) note(`the live chain "${liveChain.chainName}" on ${attachmentLabel(ch.attachment)} has drifted; its shadow holds the instances kfn found in it`);
        for (const c of t.cases) {
          let b: Outcome[];
          let a: Outcome[];
          try {
            b = outcomesOf(before, c).flat();
            a = outcomesOf(after, c).flat();
          } catch (e) {
            const err = errorOf(e)!;
            note(`case "${c.name}" of PacketTest "${t.name}" was not compared on ${attachmentLabel(ch.attachment)}: error[${err.code}] ${err.message}`);
            continue;
          }
          preview.cases++;
          preview.packets += a.length;
          for (const d of differences(b, a)) {
            preview.changes.push({ attachment: ch.attachment, chainName: ch.chainName, test: t.name, case: c.name, source: c.source, label: labelAt(c, d.index), packet: d.index + 1, count: d.count, before: b[d.index]!, after: a[d.index]! });
          }
        }
      }
    }
  });
  preview.notes = [...notes];
  return preview;
}

/** The label of packet `index` (0-based, in send order) of a case. */
function labelAt(c: PacketCase, index: number): string {
  let i = index;
  for (const s of c.steps) {
    const n = packetCount(s);
    if (i < n) return s.packets[i % s.packets.length]!.label;
    i -= n;
  }
  return '?';
}

function sourceKey(s: ShadowSource): unknown {
  if (s.kind === 'desired') return ['desired', s.hook, s.instances.map((i) => [i.name, i.identity, Object.values(i.maps).map((m) => [m.name, m.entries.map((e) => [e.key, e.value])])])];
  return ['live', s.chain.attachment.hook, s.chain.instances.map((i) => [i.name, i.identity, i.maps])];
}

function objectBySha(desired: DesiredState, sha: string): string | undefined {
  for (const c of desired.chains) for (const i of c.instances) if (i.identity.sha256 === sha) return i.objectPath;
  return undefined;
}

