/**
 * Per-CPU maps through the CLI, on a live XDP chain [percpu_test] between two quiet
 * namespaces (no IPv6, static neighbours: the pings are the only packets):
 *
 *  - counted pings, sent from two CPUs, are summed across CPUs by `kfn show --json --stats`
 *    in the per-CPU array (totals) and the per-CPU hash (by_proto), as JSON numbers; the
 *    array inside the hash's struct (by_size) is decoded at the right offsets, equal to
 *    bpftool's own per-CPU dump;
 *  - the per-CPU parameter map `config` (KFN_PARAM) round-trips: set from a manifest,
 *    read back, written to every CPU (the program scales its counts by it on each CPU),
 *    plan empty, changed in place (same program), converges, also at all zeros;
 *  - a manifest that names a per-CPU state map under `maps:` is refused by validate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { run, sandboxPrefix, sandboxUp, type Sandbox } from '../helpers/traffic-env.js';
import { cleanupTestEnv, createTestEnv, writeChain, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, pinDirOf, runKfn, show, type ShowInstance } from '../helpers/kfn.js';
import { bpftoolJson } from '../helpers/bpftool.js';
import { assertMatchesSchema } from '../helpers/schemas.js';

const skip = kernelGate({ tools: ['taskset'] });

const ICMP = 1;
/** Ethernet + IPv4 + ICMP headers around ping's payload. */
const frameLen = (payload: number): number => 14 + 20 + 8 + payload;

interface Counters {
  packets: number;
  bytes: number;
}
interface ProtoStats extends Counters {
  by_size: number[];
}
interface StatsDoc {
  chains: { instances: { name: string; prog_id: number; maps: Record<string, { key: string; value: string }[]>; stats: Record<string, { count: number; entries: { key?: unknown; value: unknown; value_text: string }[] }> }[] }[];
}
interface PerCpuDump {
  formatted: { key: number; values: { cpu: number; value: Record<string, unknown> }[] };
}

const PERCPU_FUNCTION = `apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: percpu }
spec:
  version: 1.0.0
  object: objects/percpu_test.bpf.o
  program: percpu_test
  hooks: [xdp, tc-ingress, tc-egress]
`;

describe('per-CPU maps through the CLI: stats summed across CPUs, a per-CPU parameter, state maps refused', { skip }, () => {
  let sb: Sandbox;
  let env: TestEnv;
  const cpus = os.cpus().length;

  const chain = (fn: Omit<FnSpec, 'name' | 'function'> = {}): void =>
    void writeChain(env, { name: 'pc', hook: 'xdp', netns: sb.a, interfaces: [sb.a0], functions: [{ name: 'pc', function: 'percpu', ...fn }] });

  /** `count` pings from netns b to a, sent from `cpu`; every reply must come back. */
  const pings = (cpu: number, count: number, payload = 56): void => {
    const out = run('ip', ['netns', 'exec', sb.b, 'taskset', '-c', String(cpu), 'ping', '-4', '-n', '-q', '-c', String(count), '-i', '0.05', '-W', '2', '-s', String(payload), sb.ipA], {
      timeoutMs: 15_000,
    });
    assert.match(out, new RegExp(`${count} packets transmitted, ${count} received`), out);
  };

  const statsDoc = (): StatsDoc => {
    const r = kfnExpect(env, ['show', '--json', '--stats'], 0);
    const doc = JSON.parse(r.stdout) as StatsDoc;
    assertMatchesSchema('show', doc, 'kfn show --json --stats');
    return doc;
  };
  const pc = (doc: StatsDoc) => doc.chains[0]!.instances[0]!;
  const totals = (doc: StatsDoc): Counters => pc(doc).stats.totals!.entries[0]!.value as Counters;
  const icmp = (doc: StatsDoc): ProtoStats => {
    const e = pc(doc).stats.by_proto!.entries.find((x) => x.key === ICMP);
    assert.ok(e, `by_proto has a numeric ICMP key: ${JSON.stringify(pc(doc).stats.by_proto)}`);
    return e.value as ProtoStats;
  };
  const instance = (): ShowInstance => show(env).chains[0]!.instances[0]!;
  const mapPin = (map: string): string => path.join(pinDirOf(env, instance()), 'maps', map);
  /** bpftool's BTF-formatted per-CPU values of one entry, CPU order. */
  const perCpu = (map: string, key: number): Record<string, unknown>[] => {
    const dump = bpftoolJson(['map', 'dump', 'pinned', mapPin(map)]) as PerCpuDump[];
    const e = dump.find((x) => x.formatted.key === key);
    assert.ok(e, `bpftool sees key ${key} of ${map}`);
    return [...e.formatted.values].sort((x, y) => x.cpu - y.cpu).map((v) => v.value);
  };
  const planJson = (code: number) => {
    const r = kfnExpect(env, ['plan', env.manifestDir, '--json', '--detailed-exitcode'], code);
    return JSON.parse(r.stdout) as { resource_changes: { address: string; change: { actions: string[]; map_changes: { map: string; entries: { op: string; key: string; before?: string; after?: string }[] }[] } }[] };
  };
  const pcChange = (p: ReturnType<typeof planJson>) => p.resource_changes.find((r) => r.address.endsWith('.fn.pc'))!.change;
  const apply = (): void => void kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);

  before(() => {
    sb = sandboxUp(sandboxPrefix('kt-pcc'), '198.18.9', { quiet: true });
    env = createTestEnv('percpu-cli');
    fs.writeFileSync(path.join(env.manifestDir, 'percpu.yaml'), PERCPU_FUNCTION);
  });
  after(() => {
    cleanupTestEnv(env);
    sb?.down();
  });

  test('pings from two CPUs: per-CPU array and per-CPU hash summed in show --json --stats, as numbers', () => {
    chain();
    apply();
    assert.deepEqual(totals(statsDoc()), { packets: 0, bytes: 0 }, 'nothing counted before the pings');
    const small = 5;
    const large = 7;
    pings(0, small);
    pings(cpus > 1 ? 1 : 0, large, 300);
    const doc = statsDoc();
    const bytes = small * frameLen(56) + large * frameLen(300);
    assert.deepEqual(totals(doc), { packets: small + large, bytes });
    assert.deepEqual(icmp(doc), { packets: small + large, bytes, by_size: [small, large, 0, 0] }, 'frames < 128 bytes in by_size[0], < 512 in by_size[1]');
    assert.equal(pc(doc).stats.by_proto!.count, 1, 'only ICMP was sent');
    for (const v of [totals(doc).packets, icmp(doc).bytes, ...icmp(doc).by_size]) assert.equal(typeof v, 'number');

    const slots = perCpu('totals', 0) as unknown as Counters[];
    assert.equal(slots.reduce((s, v) => s + v.packets, 0), small + large, 'bpftool: the CPUs add up to what was sent');
    if (cpus > 1) assert.ok(slots.filter((v) => v.packets > 0).length >= 2, `the packets were counted on two CPUs: ${JSON.stringify(slots)}`);
  });

  test('the array inside the hash value is decoded at its offsets: equal to the sum of bpftool\'s per-CPU dump', () => {
    const doc = statsDoc();
    const slots = perCpu('by_proto', ICMP) as unknown as ProtoStats[];
    const sum: ProtoStats = {
      packets: slots.reduce((s, v) => s + v.packets, 0),
      bytes: slots.reduce((s, v) => s + v.bytes, 0),
      by_size: [0, 1, 2, 3].map((i) => slots.reduce((s, v) => s + v.by_size[i]!, 0)),
    };
    assert.deepEqual(icmp(doc), sum);
    const text = kfnExpect(env, ['show', '--stats'], 0).stdout;
    assert.ok(text.includes(`by_proto: [${ICMP}] {packets: ${sum.packets}, bytes: ${sum.bytes}, by_size: [${sum.by_size.join(', ')}]}`), text);
  });

  test('the per-CPU parameter config round-trips: set, read back, on every CPU, plan empty', () => {
    const prog = instance().progId;
    chain({ maps: { config: { '0': { weight: 2 } as never } } });
    const p = planJson(2);
    assert.deepEqual(pcChange(p).actions, ['update']);
    assert.deepEqual(pcChange(p).map_changes, [{ map: 'config', drift: false, entries: [{ op: 'add', key: '0', after: '{weight: 2}' }] }]);
    apply();
    assert.equal(instance().progId, prog, 'set in place');
    assert.deepEqual(instance().maps.config, [{ keyText: '0', valueText: '{weight: 2}' }]);
    assert.deepEqual(perCpu('config', 0), Array.from({ length: perCpu('config', 0).length }, () => ({ weight: 2 })), 'every CPU holds the value');
    planJson(0);

    const counted = totals(statsDoc()).packets;
    pings(0, 2);
    if (cpus > 1) pings(1, 1);
    assert.equal(totals(statsDoc()).packets - counted, 2 * (cpus > 1 ? 3 : 2), 'each CPU scales by the weight kfn wrote to its slot');
  });

  test('config changed in place, then to all zeros: converges each time', () => {
    const prog = instance().progId;
    chain({ maps: { config: { '0': { weight: 5 } as never } } });
    assert.deepEqual(pcChange(planJson(2)).map_changes, [{ map: 'config', drift: false, entries: [{ op: 'change', key: '0', before: '{weight: 2}', after: '{weight: 5}' }] }]);
    apply();
    assert.equal(instance().progId, prog, 'changed in place');
    assert.ok(perCpu('config', 0).every((v) => v.weight === 5));
    planJson(0);

    chain({ maps: { config: { '0': { weight: 0 } as never } } });
    const p = planJson(2);
    assert.deepEqual(pcChange(p).actions, ['update']);
    apply();
    assert.ok(perCpu('config', 0).every((v) => v.weight === 0), 'every CPU slot is back to zero');
    assert.deepEqual(instance().maps.config, [], 'an all-zero slot reads as unset');
    planJson(0);
  });

  test('validate refuses a manifest that names a per-CPU state map', () => {
    const dir = path.join(env.stateDir, 'bad');
    fs.mkdirSync(dir, { recursive: true });
    fs.cpSync(path.join(env.manifestDir, 'objects'), path.join(dir, 'objects'), { recursive: true });
    for (const f of ['functions.yaml', 'percpu.yaml']) fs.copyFileSync(path.join(env.manifestDir, f), path.join(dir, f));
    for (const [map, type, value] of [
      ['by_proto', 'percpu_hash', { '1': { packets: 1 } }],
      ['totals', 'percpu_array', { '0': { packets: 1 } }],
    ] as const) {
      const file = path.join(dir, 'chain.yaml');
      fs.writeFileSync(
        file,
        fs.readFileSync(path.join(env.manifestDir, 'chain.yaml'), 'utf8').replace(/config: .*$/m, `${map}: ${JSON.stringify(value)}`),
      );
      const args = ['validate', dir];
      const r = runKfn(env, args);
      const ctx = describeRun(args, r);
      assert.equal(r.code, 1, ctx);
      const [first, hint, ...rest] = r.stderr.trimEnd().split('\n');
      assert.deepEqual(rest, [], ctx);
      const line = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(`${map}:`)) + 1;
      assert.match(first!, new RegExp(`^error\\[MAP_NOT_FOUND\\]: \\S*chain\\.yaml:${line}:\\d+: .*"${map}" is a ${type} map, not a parameter map \\(it holds percpu@1\\.0\\.0's state, which manifests never write\\)$`), ctx);
      assert.match(hint!, /^ +hint: parameter maps of percpu@1\.0\.0: config \(percpu_array\)$/, ctx);
    }
  });
});
