/**
 * The pure side of `kfn top`, `kfn stats` and `kfn show --stats`: rates from two readings,
 * the order and limit of flows, the readable form of flow keys (IPv4 as IPv4, protocols
 * by name, no padding), and the JSON contracts against their schemas.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterKind } from '../../src/libbpf/object-info.js';
import type { MapStats } from '../../src/forms/form.js';
import { Measure, measuresOf } from '../../src/visibility/measures.js';
import { rate, SortBy, topReport, type InstanceSample, type Sample } from '../../src/visibility/sample.js';
import { selectChains } from '../../src/visibility/select.js';
import { flowOf, type Flow } from '../../src/flows/flows.js';
import { colors } from '../../src/views/format.js';
import { limitStats, mapStatsLines, rateText, renderStats, renderTop, statsJson, topJson } from '../../src/views/index.js';
import { KfnError } from '../../src/core/errors.js';
import { assertMatchesSchema, schemaErrors } from '../helpers/schemas.js';
import { at, lChain } from './plan-fixtures.js';

const plain = colors(false);

/** A flowstats `flows` key as the values layer decodes it: IPv4 in its IPv4-mapped form, with family and padding. */
const v4Key = (src: string, sport: number, dport: number, proto = 17) => ({ saddr: `::ffff:${src}`, daddr: '::ffff:198.18.0.1', sport, dport, proto, family: 4, pad: '0x0000' });
const flowEntry = (key: Record<string, unknown>, packets: number, bytes: number, tcpFlags = 0) => ({
  key,
  keyText: JSON.stringify(key),
  value: { packets, bytes, first_ns: 1, last_ns: 2, tcp_flags: tcpFlags },
  valueText: `{packets: ${packets}, bytes: ${bytes}}`,
});
const flowTable = (entries: MapStats["entries"], count = entries.length): MapStats => ({ map: 'flows', count, entries });

const flow = (src: string, sport: number, packets: bigint, bytes: bigint, proto = 17): Flow => flowOf(v4Key(src, sport, 5353, proto), { packets: Number(packets), bytes: Number(bytes) })!;

const inst = (over: Partial<InstanceSample> = {}): InstanceSample => ({
  chain: 'vis',
  attachment: at('veth-a', 'xdp', 'kfn-a'),
  instance: 'flows',
  function: 'flowstats',
  version: '1.0.0',
  progId: 40,
  counters: {},
  flows: [],
  ...over,
});
const sample = (atSeconds: number, instances: InstanceSample[]): Sample => ({ atNs: BigInt(atSeconds * 1e9), instances });

describe('rates from two readings', () => {
  test('growth over the interval, per second; a counter that went down or was not there restarted from zero', () => {
    assert.deepEqual(rate(100n, 150n, 2), { total: 150n, interval: 50n, perSecond: 25 });
    assert.deepEqual(rate(undefined, 8n, 2), { total: 8n, interval: 8n, perSecond: 4 });
    assert.deepEqual(rate(900n, 30n, 3), { total: 30n, interval: 30n, perSecond: 10 });
    assert.deepEqual(rate(5n, 5n, 0), { total: 5n, interval: 0n, perSecond: 0 });
  });

  test('passed is packets less drops; a function that counts no packets has none', () => {
    assert.deepEqual(measuresOf({ [CounterKind.Packets]: 10n, [CounterKind.Drops]: 3n }), { packets: 10n, drops: 3n, passed: 7n });
    assert.deepEqual(measuresOf({ [CounterKind.Packets]: 4n, [CounterKind.Bytes]: 400n }), { packets: 4n, bytes: 400n, passed: 4n });
    assert.deepEqual(measuresOf({ [CounterKind.Drops]: 2n }), { drops: 2n });
  });

  test('function rates per instance; a replaced instance (another program) starts from zero', () => {
    const before = sample(10, [inst({ instance: 'drop', function: 'blocklist', progId: 41, counters: { packets: 100n, drops: 40n } }), inst({ progId: 40, counters: { packets: 60n, bytes: 6000n } })]);
    const now = sample(12, [inst({ instance: 'drop', function: 'blocklist', progId: 41, counters: { packets: 120n, drops: 50n } }), inst({ progId: 45, counters: { packets: 6n, bytes: 600n } })]);
    const r = topReport(before, now, { sortBy: SortBy.Packets, limit: 10 });
    assert.equal(r.seconds, 2);
    const [drop, flows] = r.functions;
    assert.deepEqual(drop!.rates[Measure.Drops], { total: 50n, interval: 10n, perSecond: 5 });
    assert.deepEqual(drop!.rates[Measure.Passed], { total: 70n, interval: 10n, perSecond: 5 });
    assert.equal(drop!.rates[Measure.Bytes], undefined, 'blocklist counts no bytes');
    assert.deepEqual(flows!.rates[Measure.Packets], { total: 6n, interval: 6n, perSecond: 3 });
  });
});

describe('top flows: sorted by rate, limited, counted', () => {
  const before = sample(0, [inst({ flows: [flow('198.18.0.2', 1, 1000n, 1_000_000n), flow('198.18.0.3', 2, 10n, 640n)] })]);
  const now = sample(4, [inst({ flows: [flow('198.18.0.2', 1, 1004n, 1_000_400n), flow('198.18.0.3', 2, 30n, 1280n), flow('198.18.0.4', 3, 8n, 8000n, 6)] })]);

  test('by packets/s: the flow that grew most first, whatever its total', () => {
    const r = topReport(before, now, { sortBy: SortBy.Packets, limit: 10 });
    assert.deepEqual(r.flows.map((f) => [f.flow.src, f.packets.interval, f.packets.perSecond]), [
      ['198.18.0.3', 20n, 5],
      ['198.18.0.4', 8n, 2],
      ['198.18.0.2', 4n, 1],
    ]);
    assert.equal(r.flowCount, 3);
  });

  test('by bytes/s, and cut to the limit with the count of all flows kept', () => {
    const r = topReport(before, now, { sortBy: SortBy.Bytes, limit: 2 });
    assert.deepEqual(r.flows.map((f) => [f.flow.src, f.bytes.perSecond]), [
      ['198.18.0.4', 2000],
      ['198.18.0.3', 160],
    ]);
    assert.equal(r.flowCount, 3);
    const j = topJson(r);
    assert.equal(j.flows_not_shown, 1);
    assertMatchesSchema('top', JSON.parse(JSON.stringify(j)), 'kfn top --json');
  });

  test('JSON: IPv4 as IPv4, protocols by name, numbers not strings; text the same', () => {
    const r = topReport(before, now, { sortBy: SortBy.Packets, limit: 10 });
    const j = JSON.parse(JSON.stringify(topJson(r))) as ReturnType<typeof topJson>;
    const f = j.flows[0]!;
    assert.deepEqual([f.family, f.src, f.sport, f.dst, f.dport, f.protocol, f.protocol_number], [4, '198.18.0.3', 2, '198.18.0.1', 5353, 'udp', 17]);
    assert.deepEqual(f.packets, { total: 30, interval: 20, per_second: 5 });
    assert.equal(j.flows[1]!.protocol, 'tcp');
    assert.equal(j.functions[0]!.counters.drops, null, 'flowstats counts no drops');
    const text = renderTop(r, { color: false, every: '4s' });
    assert.match(text, /udp {4}198\.18\.0\.3:2 {2}198\.18\.0\.1:5353 +5 +160 +30 +1280/);
    assert.doesNotMatch(text, /::ffff:|\x1b/);
    // A counter as a string is not the contract.
    const bad = JSON.parse(JSON.stringify(j)) as { flows: { packets: { total: unknown } }[] };
    bad.flows[0]!.packets.total = '30';
    assert.ok(schemaErrors('top', bad).length > 0);
  });
});

describe('kfn stats', () => {
  const s = sample(1, [
    inst({ instance: 'drop', function: 'blocklist', progId: 41, counters: { packets: 12n, drops: 3n } }),
    inst({ counters: { packets: 9n, bytes: 522n } }),
    inst({ chain: 'conn', attachment: at('eth0', 'tc-ingress'), instance: 'cap', function: 'connlimit', progId: 50, counters: { drops: 2n } }),
  ]);

  test('one table per chain, "-" for what a function does not count', () => {
    assert.equal(
      renderStats(s, { color: false }).split('\n\n').slice(0, 2).join('\n\n'),
      [
        'chain "vis" on veth-a/xdp (netns kfn-a)',
        '  #  instance  function         packets  bytes  passed  dropped',
        '  1  drop      blocklist@1.0.0       12      -       9        3',
        '  2  flows     flowstats@1.0.0        9    522       9        -',
        '',
        'chain "conn" on eth0/tc-ingress',
        '  #  instance  function         packets  bytes  passed  dropped',
        '  1  cap       connlimit@1.0.0        -      -       -        2',
      ].join('\n'),
    );
  });

  test('JSON: numbers (null when not counted), addresses, not pin paths; valid against the schema', () => {
    const j = JSON.parse(JSON.stringify(statsJson(s))) as ReturnType<typeof statsJson>;
    assertMatchesSchema('stats', j, 'kfn stats --json');
    assert.deepEqual(j.chains[0]!.instances.map((i) => [i.address, i.counters]), [
      ['chain.vis["kfn-a:veth-a/xdp"].fn.drop', { packets: 12, bytes: null, passed: 9, drops: 3 }],
      ['chain.vis["kfn-a:veth-a/xdp"].fn.flows', { packets: 9, bytes: 522, passed: 9, drops: null }],
    ]);
    assert.doesNotMatch(JSON.stringify(j), /\/sys\/fs\/bpf/);
  });
});

describe('show --stats: the readable rendering', () => {
  const table = flowTable([
    flowEntry(v4Key('198.18.0.3', 40003, 53), 2, 120),
    flowEntry({ saddr: '2001:2::2', daddr: '2001:2::1', sport: 0, dport: 0, proto: 58, family: 6, pad: '0x0000' }, 4, 416),
    flowEntry(v4Key('198.18.0.2', 40001, 80, 6), 9, 900, 0x1b),
    flowEntry(v4Key('198.18.0.4', 0, 0, 1), 1, 98),
  ]);

  test('flows busiest first, IPv4 as IPv4, protocols by name, no padding or family fields', () => {
    assert.deepEqual(mapStatsLines(plain, 'flowstats', table, 10), [
      'flows: 4 flows, most packets first',
      '  proto   source            destination    packets  bytes  tcp flags',
      '  tcp     198.18.0.2:40001  198.18.0.1:80        9    900  fin,syn,psh,ack',
      '  icmpv6  2001:2::2         2001:2::1            4    416',
      '  udp     198.18.0.3:40003  198.18.0.1:53        2    120',
      '  icmp    198.18.0.4        198.18.0.1           1     98',
    ]);
  });

  test('a limit shows the busiest and says how many were left out', () => {
    const lines = mapStatsLines(plain, 'flowstats', table, 2);
    assert.equal(lines.length, 5);
    assert.match(lines[2]!, /^ {2}tcp +198\.18\.0\.2:40001/);
    assert.equal(lines[4], '  ... 2 more flows (--limit N or --all shows them)');
    // The count says how many the map holds, also when the reader cut the entries.
    assert.match(mapStatsLines(plain, 'flowstats', flowTable(table.entries, 900), Infinity).at(-1)!, /\.\.\. 896 more flows/);
  });

  test('proto_stats by protocol name, busiest first', () => {
    const slot = (k: number, packets: number) => ({ key: k, keyText: String(k), value: { packets, bytes: packets * 100 }, valueText: `{packets: ${packets}, bytes: ${packets * 100}}` });
    const ps: MapStats = { map: 'proto_stats', count: 5, entries: [slot(0, 1), slot(1, 3), slot(2, 6), slot(3, 2), slot(4, 0)] };
    assert.deepEqual(mapStatsLines(plain, 'flowstats', ps, 10), [
      'proto_stats: [tcp] {packets: 6, bytes: 600}',
      'proto_stats: [icmp] {packets: 3, bytes: 300}',
      'proto_stats: [udp] {packets: 2, bytes: 200}',
      'proto_stats: [other] {packets: 1, bytes: 100}',
      'proto_stats: [icmpv6] {packets: 0, bytes: 0}',
    ]);
    // Another function's map of that name keeps its keys.
    assert.deepEqual(mapStatsLines(plain, 'mine', ps, 1), ['proto_stats: [2] {packets: 6, bytes: 600}', 'proto_stats: ... 4 more entries (--limit N or --all shows them)']);
  });

  test('JSON show: the same order and limit, the count of every entry kept', () => {
    const [cut] = limitStats([table], 2);
    assert.equal(cut!.count, 4);
    assert.deepEqual(cut!.entries.map((e) => (e.value as { packets: number }).packets), [9, 4]);
  });
});

describe('chain selection', () => {
  const chains = [lChain('vis', at('veth-a'), []), lChain('edge', at('eth0', 'tc-ingress'), [])];
  test('by name or interface; one that selects nothing is an error naming what there is', () => {
    assert.deepEqual(selectChains(chains, { chains: ['edge'] }).map((c) => c.chainName), ['edge']);
    assert.deepEqual(selectChains(chains, { interfaces: ['veth-a'] }).map((c) => c.chainName), ['vis']);
    assert.equal(selectChains(chains, {}).length, 2);
    assert.throws(() => selectChains(chains, { chains: ['nope'] }), (e: unknown) => e instanceof KfnError && e.code === 'CHAIN_NOT_FOUND' && /edge, vis/.test(e.hint ?? ''));
    assert.throws(() => selectChains(chains, { interfaces: ['wlan9'] }), (e: unknown) => e instanceof KfnError && e.code === 'INTERFACE_NOT_FOUND' && /eth0, veth-a/.test(e.hint ?? ''));
  });
});

test('rateText: three significant digits at most', () => {
  assert.deepEqual([0, 0.5, 7.25, 312.4, 12_345, 4_560_000].map(rateText), ['0', '0.5', '7.25', '312', '12.3k', '4.56M']);
});
