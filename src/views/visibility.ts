/**
 * `kfn stats` and `kfn top` for people (tables) and machines (JSON, contracts in
 * schemas/stats-output.schema.json and schemas/top-output.schema.json). Counters are
 * numbers in JSON, never strings: they stay below 2^53 for centuries at line rate.
 */
import type { Attachment } from '../core/types.js';
import { kfnVersion } from '../core/version.js';
import { MEASURES, Measure, measuresOf } from '../visibility/measures.js';
import type { FlowRow, InstanceSample, Rate, Sample, TopReport } from '../visibility/sample.js';
import { chainAddress, instanceAddress } from './address.js';
import { colors, quote, whereText } from './format.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';
import { tableLines } from './table.js';
import { endpointText, tcpFlagsText } from './stats-text.js';

export const NO_CHAINS = 'No chains are managed by kfn on this host (or none matches).';

const HEADS: Record<Measure, string> = { [Measure.Packets]: 'packets', [Measure.Bytes]: 'bytes', [Measure.Passed]: 'passed', [Measure.Drops]: 'dropped' };

/** Instances grouped by chain, chains in the sample's order. */
function byChain<T extends { instance: InstanceSample }>(rows: readonly T[]): { chain: string; attachment: Attachment; stack?: string; rows: T[] }[] {
  const out: { chain: string; attachment: Attachment; stack?: string; rows: T[] }[] = [];
  for (const r of rows) {
    const last = out[out.length - 1];
    const i = r.instance;
    if (last && last.chain === i.chain && last.attachment.ifname === i.attachment.ifname && last.attachment.netns === i.attachment.netns && last.attachment.hook === i.attachment.hook) last.rows.push(r);
    else out.push({ chain: i.chain, attachment: i.attachment, ...(i.stack !== undefined ? { stack: i.stack } : {}), rows: [r] });
  }
  return out;
}

const fnOf = (i: InstanceSample): string => `${i.function}@${i.version}`;

// ------------------------------------------------------------------ kfn stats

export function renderStats(s: Sample, opts: { color: boolean }): string {
  const c = colors(opts.color);
  if (s.instances.length === 0) return NO_CHAINS;
  const sections = byChain(s.instances.map((instance) => ({ instance }))).map((g) => {
    const head = ['#', 'instance', 'function', ...MEASURES.map((m) => HEADS[m])].map((h) => c.dim(h));
    const rows = g.rows.map(({ instance: i }, n) => {
      const m = measuresOf(i.counters);
      return [String(n + 1), c.bold(i.instance), fnOf(i), ...MEASURES.map((k) => (m[k] === undefined ? c.dim('-') : String(m[k])))];
    });
    return [
      c.bold(`chain ${quote(g.chain)} on ${whereText(g.attachment)}`) + (g.stack ? c.dim(` (stack ${g.stack})`) : ''),
      ...tableLines(head, rows, { align: ['right', 'left', 'left', 'right', 'right', 'right', 'right'], indent: '  ' }),
    ].join('\n');
  });
  return [...sections, c.dim("Counters summed over CPUs since each instance was loaded; '-': the function does not count it (docs/visibility.md).")].join('\n\n');
}

const num = (v: bigint | undefined): number | null => (v === undefined ? null : Number(v));

function chainFields(g: { chain: string; attachment: Attachment; stack?: string }) {
  return { address: chainAddress(g.chain, g.attachment), name: g.chain, netns: g.attachment.netns, interface: g.attachment.ifname, hook: g.attachment.hook, stack: g.stack ?? null };
}

export function statsJson(s: Sample) {
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    chains: byChain(s.instances.map((instance) => ({ instance }))).map((g) => ({
      ...chainFields(g),
      instances: g.rows.map(({ instance: i }, n) => {
        const m = measuresOf(i.counters);
        return {
          address: instanceAddress(i.chain, i.attachment, i.instance),
          name: i.instance,
          position: n + 1,
          function: i.function,
          version: i.version,
          prog_id: i.progId,
          counters: Object.fromEntries(MEASURES.map((k) => [k, num(m[k])])),
        };
      }),
    })),
  };
}

export function renderStatsJson(s: Sample): string {
  return renderJson(statsJson(s));
}

// ------------------------------------------------------------------ kfn top

const SI = ['', 'k', 'M', 'G', 'T'];

/** `0`, `7.5`, `312`, `12.3k`, `4.56M`: three significant digits at most. */
export function rateText(perSecond: number): string {
  if (perSecond === 0) return '0';
  let v = perSecond;
  let u = 0;
  while (v >= 1000 && u < SI.length - 1) {
    v /= 1000;
    u++;
  }
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits))}${SI[u]}`;
}

export interface RenderTopOptions {
  color: boolean;
  /** The interval as given (`1s`), for the heading. */
  every: string;
  /** The heading says how to quit (the live view). */
  live?: boolean;
}

export function renderTop(r: TopReport, opts: RenderTopOptions): string {
  const c = colors(opts.color);
  const by = `${r.sortBy}/s`;
  const title = `${c.bold('kfn top')}  ${c.dim(`every ${opts.every}, rates over the last ${r.seconds.toFixed(2)}s`)}${opts.live ? c.dim('  (q or Ctrl-C quits)') : ''}`;
  if (r.functions.length === 0) return [title, '', NO_CHAINS].join('\n');
  const fnHead = ['chain', 'on', 'instance', 'function', 'passed/s', 'dropped/s', 'packets/s', 'bytes/s', 'passed', 'dropped'].map((h) => c.dim(h));
  const cell = (x: Rate | undefined, f: (x: Rate) => string) => (x ? f(x) : c.dim('-'));
  const fnRows = r.functions.map(({ instance: i, rates }) => [
    i.chain,
    whereText(i.attachment),
    c.bold(i.instance),
    fnOf(i),
    cell(rates[Measure.Passed], (x) => rateText(x.perSecond)),
    cell(rates[Measure.Drops], (x) => (x.interval > 0n ? c.red(rateText(x.perSecond)) : '0')),
    cell(rates[Measure.Packets], (x) => rateText(x.perSecond)),
    cell(rates[Measure.Bytes], (x) => rateText(x.perSecond)),
    cell(rates[Measure.Passed], (x) => String(x.total)),
    cell(rates[Measure.Drops], (x) => String(x.total)),
  ]);
  const lines = [title, '', c.bold('Functions'), ...tableLines(fnHead, fnRows, { align: ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'], indent: '  ' }), ''];
  const notShown = r.flowCount - r.flows.length;
  lines.push(c.bold(`Flows`) + c.dim(` (${r.flowCount} in the flow tables, busiest by ${by} first${notShown > 0 ? `; ${notShown} not shown, --limit N shows more` : ''})`));
  if (r.flows.length === 0) lines.push(`  ${c.dim('(no flow table in the selected chains, or no flows yet)')}`);
  else {
    const flowHead = ['proto', 'source', 'destination', 'packets/s', 'bytes/s', 'packets', 'bytes', 'tcp flags', 'seen by'].map((h) => c.dim(h));
    const flowRows = r.flows.map((x: FlowRow) => [
      x.flow.protoName,
      endpointText(x.flow, 'src'),
      endpointText(x.flow, 'dst'),
      rateText(x.packets.perSecond),
      rateText(x.bytes.perSecond),
      String(x.packets.total),
      String(x.bytes.total),
      x.flow.tcpFlags ? tcpFlagsText(x.flow.tcpFlags) : '',
      `${x.instance.chain}/${x.instance.instance}`,
    ]);
    lines.push(...tableLines(flowHead, flowRows, { align: ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'left', 'left'], indent: '  ' }));
  }
  return lines.join('\n');
}

const rateJson = (x: Rate | undefined) => (x ? { total: Number(x.total), interval: Number(x.interval), per_second: x.perSecond } : null);

export function topJson(r: TopReport) {
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    interval_seconds: r.seconds,
    sort: r.sortBy,
    flow_count: r.flowCount,
    flows_not_shown: r.flowCount - r.flows.length,
    flows: r.flows.map((x) => ({
      chain: x.instance.chain,
      instance: instanceAddress(x.instance.chain, x.instance.attachment, x.instance.instance),
      family: x.flow.family,
      protocol: x.flow.protoName,
      protocol_number: x.flow.proto,
      src: x.flow.src,
      sport: x.flow.sport,
      dst: x.flow.dst,
      dport: x.flow.dport,
      tcp_flags: x.flow.tcpFlags === undefined ? null : tcpFlagsText(x.flow.tcpFlags).split(',').filter(Boolean),
      packets: rateJson(x.packets),
      bytes: rateJson(x.bytes),
    })),
    functions: r.functions.map(({ instance: i, rates }) => ({
      address: instanceAddress(i.chain, i.attachment, i.instance),
      chain: i.chain,
      netns: i.attachment.netns,
      interface: i.attachment.ifname,
      hook: i.attachment.hook,
      stack: i.stack ?? null,
      name: i.instance,
      function: i.function,
      version: i.version,
      prog_id: i.progId,
      counters: Object.fromEntries(MEASURES.map((k) => [k, rateJson(rates[k])])),
    })),
  };
}

export function renderTopJson(r: TopReport): string {
  return renderJson(topJson(r));
}
