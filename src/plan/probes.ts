/**
 * The planner's part for probes: desired probes (manifests) against kfn's live ones,
 * by name. A new identity or attach point replaces the probe (a new program and link,
 * state maps carried over where their layout is unchanged); map entries are updated in
 * place; a probe whose link is gone is attached again. Pure.
 */
import { canonicalJson } from '../core/digest.js';
import type { DesiredProbe, LiveProbe, ProbeChange, ProbeTarget, Reason } from '../core/types.js';
import { identityChanges, mapChanges, stateReset } from './diff.js';

/** `tracepoint tcp/tcp_retransmit_skb`, `uretprobe /usr/bin/x:main+0x10`, ... */
export function targetText(t: ProbeTarget): string {
  const off = (o: number): string => (o ? `+0x${o.toString(16)}` : '');
  switch (t.hook) {
    case 'tracepoint':
      return `tracepoint ${t.tracepoint}`;
    case 'uprobe':
      return `${t.retprobe ? 'uretprobe' : 'uprobe'} ${t.path}:${t.symbol ?? ''}${t.symbol ? off(t.offset) : `0x${t.offset.toString(16)}`}`;
    case 'kprobe':
      return `${t.retprobe ? 'kretprobe' : 'kprobe'} ${t.function}${off(t.offset)}`;
    case 'fentry':
    case 'fexit':
      return `${t.hook} ${t.function}`;
    case 'freplace':
      return `freplace ${t.function} of ${t.target}`;
  }
}

const sameTarget = (a: ProbeTarget, b: ProbeTarget): boolean => canonicalJson(a) === canonicalJson(b);

function liveHandle(l: LiveProbe): NonNullable<ProbeChange['live']> {
  return { progId: l.progId, linkId: l.linkId, pinDir: l.pinDir, identity: l.identity, target: l.target };
}

function deleted(l: LiveProbe, reason: Reason): ProbeChange {
  return { name: l.name, action: 'delete', reasons: [reason], identityChanges: [], mapChanges: [], drift: [...l.drift], live: liveHandle(l) };
}

function compared(d: DesiredProbe, l: LiveProbe, stack: string | undefined): ProbeChange {
  const idc = identityChanges(l.identity, d.identity);
  const moved = !sameTarget(l.target, d.target);
  const mc = mapChanges(d.maps, l);
  const reasons: Reason[] = [];
  const change: ProbeChange = { name: d.name, action: 'noop', reasons, identityChanges: idc, mapChanges: mc, drift: [...l.drift], desired: d, live: liveHandle(l) };
  if (idc.length > 0) reasons.push({ code: 'forces-replacement' });
  if (moved) {
    change.targetChange = { from: targetText(l.target), to: targetText(d.target) };
    reasons.push({ code: 'target-changed', ...change.targetChange });
  }
  // A program that is gone cannot be attached again: it is loaded anew.
  if (idc.length > 0 || moved || l.progId === 0) {
    change.action = 'replace';
    const reset = stateReset(d.stateMaps, l.stateMaps, d.maps);
    if (reset.length) change.stateReset = reset;
  } else if (mc.length > 0 || !l.attached) {
    change.action = 'update';
    if (mc.length > 0) reasons.push({ code: 'maps-differ' });
    if (!l.attached) {
      change.reattach = true;
      reasons.push({ code: 'detached' });
    }
  }
  for (const m of mc) if (m.drift) reasons.push({ code: 'map-drift', map: m.map });
  if (l.drift.length > 0) {
    reasons.push({ code: 'drift' });
    if (change.action === 'noop') change.action = 'update';
  }
  // A replacement is loaded as the stack's; a probe kept is recorded as the stack's.
  if (stack !== undefined && l.stack === undefined) {
    reasons.push({ code: 'adopted', stack });
    if (change.action === 'noop') change.action = 'update';
    if (change.action === 'update') change.adopt = stack;
  }
  return change;
}

/** One change per desired or live probe, sorted by name; extra live copies of a name are deleted. */
export function planProbes(desired: readonly DesiredProbe[], live: readonly LiveProbe[], stack?: string): ProbeChange[] {
  const wanted = new Map(desired.map((d) => [d.name, d]));
  const have = new Map<string, LiveProbe>();
  const extra: LiveProbe[] = [];
  // Of several live probes of one name (an interrupted replace), the attached one is kept.
  for (const l of [...live].sort((a, b) => Number(b.attached) - Number(a.attached))) {
    if (have.has(l.name)) extra.push(l);
    else have.set(l.name, l);
  }
  const out: ProbeChange[] = [];
  for (const name of [...new Set([...wanted.keys(), ...have.keys()])].sort()) {
    const d = wanted.get(name);
    const l = have.get(name);
    if (d && !l) out.push({ name, action: 'create', reasons: [{ code: 'probe-missing' }], identityChanges: [], mapChanges: mapChanges(d.maps, undefined), drift: [], desired: d });
    else if (l && !d) out.push(deleted(l, { code: 'probe-unwanted' }));
    else if (d && l) out.push(compared(d, l, stack));
  }
  for (const l of extra) out.push(deleted(l, { code: 'orphaned' }));
  return out;
}
