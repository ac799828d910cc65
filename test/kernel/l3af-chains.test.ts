/**
 * L3AF-style functions (bpf/l3af-style: a named chain slot, sections without a program
 * type, maps declared by size only and pinned by name, a tracepoint companion) run
 * through kfn's CLI beside kfn's own functions, with real traffic between two throwaway
 * namespaces; then kfn's connlimit (issue 13) through manifests; then `kfn import l3af`
 * of a payload in l3afd's format, applied as it comes out. Observed through kfn's own
 * output and independently through bpftool. The subtests build on each other.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { BPF_BUILD, OBJECTS } from '../helpers/paths.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { NetPeer } from '../helpers/net-peer.js';
import { eventually } from '../helpers/poll.js';
import { bpftoolJson, progExists } from '../helpers/bpftool.js';
import { cleanupTestEnv, createTestEnv, writeChain, type ChainSpec, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect, pinDirOf, show, statField, type KfnEnv, type ShowChain, type ShowInstance } from '../helpers/kfn.js';
import { assertMatchesSchema } from '../helpers/schemas.js';
import { readObjectInfo } from '../../src/libbpf/object.js';

const L3AF_OBJECTS = ['portdrop', 'connlimit', 'protocount'].map((n) => `l3af-style/${n}.bpf.o`);
const KFN_CONNLIMIT = 'connlimit.bpf.o';
const BPFFS = '/sys/fs/bpf';

const gate = kernelGate({ objects: [...OBJECTS, KFN_CONNLIMIT, ...L3AF_OBJECTS] });
const noTracefs = ['/sys/kernel/tracing/events', '/sys/kernel/debug/tracing/events'].some((d) => fs.existsSync(d)) ? false : 'tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)';
if (!gate && noTracefs && process.env.KFN_REQUIRE_KERNEL === '1') {
  test('L3AF-style chains (KFN_REQUIRE_KERNEL=1)', () => {
    throw new Error(noTracefs);
  });
}
const skip = gate || noTracefs;

/*
 * Ports of this process, away from those of the other kernel tests (7411, 20000-39999):
 * both connection counters see every namespace of the host.
 */
const L3T_PORT = 10000 + (process.pid % 5000) * 2;
const KFN_PORT = L3T_PORT + 1;
/** The Sandbox's address in nsB (scripts/sandbox.sh), where the server runs; the client is in nsA. */
const SERVER = '198.18.0.2';

const FOREIGN_FUNCTIONS = `apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: portdrop }
spec:
  version: 1.0.0
  object: objects/l3af/portdrop.bpf.o
  program: l3t_portdrop
  hooks: [xdp]
  nextMap: xdp_l3t_ingress_next_prog
  parameters: [l3t_drop_ports]
---
apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: l3t-connlimit }
spec:
  version: 1.0.0
  object: objects/l3af/connlimit.bpf.o
  program: l3t_connlimit
  hooks: [xdp]
  nextMap: xdp_l3t_connlimit_next_prog
  parameters: [l3t_conn_cfg]
  companions:
    - program: l3t_conn_state
`;

/** Every number of a stats map as `kfn show --stats` prints it: one-entry maps as [value], others by key. */
function stat(inst: ShowInstance, map: string): Record<string, string> {
  const lines = inst.stats?.[map];
  assert.ok(lines, `${inst.name} has stats for ${map}: ${JSON.stringify(Object.keys(inst.stats ?? {}))}`);
  return Object.fromEntries(lines.map((l) => /^\[(.*?)\] (.*)$/.exec(l)?.slice(1, 3) ?? ['', l]));
}
const num = (inst: ShowInstance, map: string, key = ''): number => {
  const v = stat(inst, map)[key];
  assert.ok(v !== undefined, `${inst.name} ${map}[${key}] in ${JSON.stringify(stat(inst, map))}`);
  return Number(v);
};

/** Maps a program uses, from bpftool: id -> { name, pinned paths }. */
function mapsOf(progId: number): { id: number; name: string; pinned: string[] }[] {
  const prog = bpftoolJson(['prog', 'show', 'id', String(progId)]) as { map_ids?: number[] };
  return (prog.map_ids ?? []).map((id) => {
    const m = bpftoolJson(['-f', 'map', 'show', 'id', String(id)]) as { name: string; pinned?: string[] };
    return { id, name: m.name, pinned: m.pinned ?? [] };
  });
}

function linkExists(id: number): boolean {
  return spawnSync('bpftool', ['link', 'show', 'id', String(id)], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

describe('L3AF-style functions in kfn chains, and kfn import l3af', { skip, timeout: 240_000 }, () => {
  const sb = new Sandbox(sandboxPrefix('m'));
  let env: TestEnv;
  let server: NetPeer | undefined;
  let client: NetPeer | undefined;
  /** Names the objects would pin by name at the bpffs root if their pinning were honoured. */
  let pinnedByName: string[] = [];
  let rootBefore: Set<string>;
  /** Every program and link id kfn created in this file. */
  const progIds = new Set<number>();
  const linkIds = new Set<number>();

  const edgeB = (dropPorts: Record<string, number> = { 8080: 1 }): ChainSpec => ({
    name: 'edge-b',
    netns: sb.nsB,
    interfaces: [sb.ifB],
    functions: [
      { name: 'in', function: 'counter' },
      { name: 'drop', function: 'portdrop', maps: { l3t_drop_ports: dropPorts } },
      { name: 'out', function: 'counter' },
    ],
  });
  const edgeA = (): ChainSpec => ({
    name: 'edge-a',
    netns: sb.nsA,
    interfaces: [sb.ifA],
    functions: [
      { name: 'drop', function: 'portdrop', maps: { l3t_drop_ports: { 9: 1 } } },
      { name: 'conns', function: 'l3t-connlimit', maps: { l3t_conn_cfg: { 1: L3T_PORT } } },
    ],
  });

  const chainOf = (name: string, k: KfnEnv = env, stats = false): ShowChain => {
    const c = show(k, stats).chains.find((x) => x.chainName === name);
    assert.ok(c, `chain ${name} in kfn show`);
    return c;
  };
  const inst = (c: ShowChain, name: string): ShowInstance => {
    const i = c.instances.find((x) => x.name === name);
    assert.ok(i, `instance ${name} in ${JSON.stringify(c.instances.map((x) => x.name))}`);
    return i;
  };
  const remember = (k: KfnEnv = env): void => {
    for (const c of show(k).chains) {
      progIds.add(c.rootProgId);
      linkIds.add(c.linkId);
      for (const i of c.instances) {
        progIds.add(i.progId);
        for (const co of i.companions) {
          progIds.add(co.progId);
          linkIds.add(co.linkId);
        }
      }
    }
  };
  const apply = (dir = env.manifestDir, k: KfnEnv = env): void => {
    kfnExpect(k, ['apply', dir, '--auto-approve'], 0);
    kfnExpect(k, ['plan', dir, '--detailed-exitcode'], 0);
    remember(k);
  };
  /** `kfn show --stats` of edge-b until two reads agree (a stray packet may land between the map reads). */
  const steadyEdgeB = (): { in: number; out: number; dropped: number; c: ShowChain } => {
    let last = '';
    for (let i = 0; i < 20; i++) {
      const c = chainOf('edge-b', env, true);
      const r = { in: num(inst(c, 'in'), 'counts'), out: num(inst(c, 'out'), 'counts'), dropped: num(inst(c, 'drop'), 'l3t_drop_count'), c };
      const key = `${r.in}/${r.out}/${r.dropped}`;
      if (key === last) return r;
      last = key;
    }
    assert.fail(`edge-b counters never settled (last ${last})`);
  };

  /** No object of this file pinned anywhere but under the pin root. */
  const assertPinsOnlyUnderRoot = (k: KfnEnv, when: string): void => {
    const atRoot = fs.readdirSync(BPFFS).filter((n) => pinnedByName.includes(n));
    assert.deepEqual(atRoot, [], `${when}: objects' maps pinned by name at ${BPFFS}`);
    // A pin by name is a file at the root; other tests' pin roots are directories there.
    const added = fs.readdirSync(BPFFS, { withFileTypes: true }).filter((d) => !rootBefore.has(d.name) && !d.isDirectory()).map((d) => d.name);
    assert.deepEqual(added, [], `${when}: new pins at ${BPFFS}`);
    for (const c of show(k).chains) {
      for (const i of c.instances) {
        // Internal maps (.rodata, .data, .bss) are the program's own and never pinned.
        const maps = mapsOf(i.progId).filter((m) => !/\.(rodata|data|bss|kconfig)/.test(m.name));
        assert.ok(maps.length > 0, `${c.chainName}/${i.name} uses maps`);
        for (const m of maps) {
          assert.ok(m.pinned.length > 0, `${when}: map ${m.name} (${m.id}) of ${c.chainName}/${i.name} is pinned`);
          for (const p of m.pinned) assert.ok(p.startsWith(k.pinRoot + '/'), `${when}: map ${m.name} of ${c.chainName}/${i.name} pinned at ${p}, outside ${k.pinRoot}`);
        }
      }
    }
  };

  before(async () => {
    env = createTestEnv('l3afchain');
    const objs = path.join(env.manifestDir, 'objects');
    fs.mkdirSync(path.join(objs, 'l3af'));
    for (const o of L3AF_OBJECTS) fs.copyFileSync(path.join(BPF_BUILD, o), path.join(objs, 'l3af', path.basename(o)));
    fs.writeFileSync(path.join(env.manifestDir, 'functions-l3af.yaml'), FOREIGN_FUNCTIONS);

    pinnedByName = L3AF_OBJECTS.flatMap((o) => readObjectInfo(path.join(BPF_BUILD, o)).maps.filter((m) => m.pinning === 'by-name').map((m) => m.name));
    assert.ok(pinnedByName.length >= 6, 'the objects ask for their maps to be pinned by name');
    // A pin of one of these names at the root would be reused by a naive loader: refuse to start.
    assert.deepEqual(pinnedByName.filter((n) => fs.existsSync(path.join(BPFFS, n))), [], `stale pins at ${BPFFS}`);
    rootBefore = new Set(fs.readdirSync(BPFFS));
    sb.up();
    server = await NetPeer.start(sb.nsB);
    client = await NetPeer.start(sb.nsA);
    await server.must(`listen ${L3T_PORT}`);
    await server.must(`listen ${KFN_PORT}`);
  });

  after(async () => {
    await server?.stop();
    await client?.stop();
    cleanupTestEnv(env);
    sb.down();
  });

  test('1. a kfn counter after an L3AF-style portdrop counts every packet portdrop passes (the named slot is wired)', async () => {
    writeChain(env, edgeB(), 'edge-b.yaml');
    writeChain(env, edgeA(), 'edge-a.yaml');
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /load conns \(l3t-connlimit@1\.0\.0\) .*attaching companion l3t_conn_state \(tracepoint sock\/inet_sock_set_state\)/);
    apply();

    const c0 = steadyEdgeB();
    assert.equal(inst(c0.c, 'drop').nextMap, 'xdp_l3t_ingress_next_prog', 'show names the object\'s own chain slot');
    assert.equal(inst(c0.c, 'in').nextMap, 'kfn_next');
    assert.deepEqual(inst(c0.c, 'drop').maps.l3t_drop_ports, [{ keyText: '8080', valueText: '1' }], 'the size-only map as the manifest set it');

    await client!.must(`udp ${SERVER} 9999 25`);
    await client!.must(`udp ${SERVER} 8080 7`);
    await eventually('portdrop dropped the 7 datagrams to 8080', () => steadyEdgeB().dropped === c0.dropped + 7);
    const c1 = steadyEdgeB();
    assert.equal(c1.in - c1.dropped, c1.out, `every packet portdrop passed reached the counter after it (in ${c1.in}, dropped ${c1.dropped}, out ${c1.out})`);
    assert.ok(c1.out - c0.out >= 25, `the 25 datagrams to port 9999 went down the chain (out +${c1.out - c0.out})`);

    // The same chain as a shadow (kfn test): the L3AF-style program loads with the hook's type there too.
    const cases = path.join(env.stateDir, 'edge-b-packets.yaml');
    fs.writeFileSync(
      cases,
      `apiVersion: kfn.dev/v1alpha1
kind: PacketTest
metadata: { name: edge-b }
spec:
  chain: edge-b
  cases:
    - name: to a listed port
      packet: { ip: { src: 198.18.0.1, dst: ${SERVER} }, udp: { dst: 8080 } }
      expect: drop
      decidedBy: drop
    - name: to another port
      packet: { ip: { src: 198.18.0.1, dst: ${SERVER} }, udp: { dst: 9999 } }
      expect: pass
`,
    );
    const t = kfnExpect(env, ['test', env.manifestDir, '--packets', cases, '--json'], 0);
    const report = JSON.parse(t.stdout) as { cases: { case: string; result: string }[] };
    assert.deepEqual(report.cases.map((x) => [x.case, x.result]), [['to a listed port', 'pass'], ['to another port', 'pass']]);
  });

  test('2. two chains using portdrop have separate maps; no pin outside the pin root', () => {
    const a = inst(chainOf('edge-a'), 'drop');
    const b = inst(chainOf('edge-b'), 'drop');
    const mapId = (i: ShowInstance, name: string): number => {
      const m = mapsOf(i.progId).find((x) => x.name === name);
      assert.ok(m, `${name} used by prog ${i.progId}`);
      return m.id;
    };
    assert.notEqual(mapId(a, 'l3t_drop_ports'), mapId(b, 'l3t_drop_ports'));
    // The kernel keeps 15 characters of a map name; kfn pins under the object's full name.
    assert.notEqual(mapId(a, 'l3t_drop_count'), mapId(b, 'l3t_drop_count'));
    assert.deepEqual(a.maps.l3t_drop_ports, [{ keyText: '9', valueText: '1' }]);
    assert.deepEqual(b.maps.l3t_drop_ports, [{ keyText: '8080', valueText: '1' }]);
    assert.ok(fs.existsSync(path.join(pinDirOf(env, b), 'maps', 'l3t_drop_ports')), 'pinned under the object\'s map name in the instance');
    assertPinsOnlyUnderRoot(env, 'after apply');
  });

  test('3. size-only maps: set from the manifest, updated in place, drift-checked and repaired', async () => {
    const before = inst(chainOf('edge-b'), 'drop');
    writeChain(env, edgeB({ 8080: 1, 8081: 1 }), 'edge-b.yaml');
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy\./);
    assert.match(p.stdout, /\+ l3t_drop_ports\["8081"\] = 1/);
    assert.doesNotMatch(p.stdout, /forces replacement/);
    apply();
    const after = inst(chainOf('edge-b'), 'drop');
    assert.equal(after.progId, before.progId, 'updated in place: same program');
    assert.deepEqual(after.maps.l3t_drop_ports, [{ keyText: '8080', valueText: '1' }, { keyText: '8081', valueText: '1' }]);
    const d0 = steadyEdgeB().dropped;
    await client!.must(`udp ${SERVER} 8081 5`);
    await eventually('the new port is dropped', () => steadyEdgeB().dropped === d0 + 5);

    // Behind kfn's back: 8081 (stored as the u16 91 1f on this little-endian host) set to 0.
    const pin = path.join(pinDirOf(env, after), 'maps', 'l3t_drop_ports');
    const r = spawnSync('bpftool', ['map', 'update', 'pinned', pin, 'key', 'hex', '91', '1f', 'value', 'hex', '00'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    const drift = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(drift.stdout, /! ~ l3t_drop_ports\["8081"\]: 0 -> 1 \(changed outside kfn\)/);
    assert.match(drift.stdout, /Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy\./, 'repaired in place');
    apply();
    const dump = bpftoolJson(['map', 'dump', 'pinned', pin]) as { key: string[]; value: string[] }[];
    assert.deepEqual(dump.map((e) => [e.key.map((x) => Number(x)), e.value.map((x) => Number(x))]).sort(), [[[0x90, 0x1f], [1]], [[0x91, 0x1f], [1]]].sort(), 'repaired in the kernel');
    assert.equal(inst(chainOf('edge-b'), 'drop').progId, before.progId, 'repaired in place');
  });

  test('4. the tracepoint companion counts real TCP connections; a removed link is drift that apply repairs, state kept', async () => {
    const conns = () => inst(chainOf('edge-a', env, true), 'conns');
    const c = conns();
    assert.equal(c.nextMap, 'xdp_l3t_connlimit_next_prog');
    assert.equal(c.companions.length, 1);
    const co = c.companions[0]!;
    assert.deepEqual([co.program, co.kind, co.tracepoint, co.attached], ['l3t_conn_state', 'tracepoint', 'sock/inet_sock_set_state', true]);
    const link = bpftoolJson(['link', 'show', 'id', String(co.linkId)]) as { type: string; prog_id: number };
    assert.deepEqual([link.type, link.prog_id], ['perf_event', co.progId], 'bpftool: a perf-event link running the companion');
    assert.ok(mapsOf(co.progId).some((m) => mapsOf(c.progId).some((x) => x.id === m.id && m.name === 'l3t_conn_count')), 'the companion shares the instance\'s maps');
    assert.deepEqual(stat(c, 'l3t_conn_count'), { 0: '0', 1: '0' });

    await client!.must(`cycle ${SERVER} ${L3T_PORT} 5`);
    await eventually('5 connections opened and closed', () => {
      const s = stat(conns(), 'l3t_conn_count');
      return s['0'] === '5' && s['1'] === '5';
    });

    fs.rmSync(path.join(pinDirOf(env, c), 'companions', 'l3t_conn_state', 'link'));
    await eventually('the link is gone', () => !linkExists(co.linkId));
    const damaged = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(damaged.stdout, /conns: companion l3t_conn_state \(tracepoint sock\/inet_sock_set_state\): its link is missing, it no longer runs/);
    assert.match(damaged.stdout, /-\/\+ conns .*changed outside kfn: reloaded, its state carried over/);
    assert.deepEqual(conns().drift, ['companion l3t_conn_state (tracepoint sock/inet_sock_set_state): its link is missing, it no longer runs']);
    // The JSON contracts hold for the real output, companions and instance drift included.
    assertMatchesSchema('show', JSON.parse(kfnExpect(env, ['show', '--json'], 0).stdout), 'kfn show --json with a damaged companion');
    assertMatchesSchema('plan', JSON.parse(kfnExpect(env, ['plan', env.manifestDir, '--json'], 0).stdout), 'kfn plan --json repairing it');
    apply();
    const repaired = conns();
    assert.notEqual(repaired.progId, c.progId, 'reloaded');
    assert.equal(repaired.companions[0]!.attached, true);
    assert.deepEqual(repaired.drift, []);
    assert.deepEqual(stat(repaired, 'l3t_conn_count'), { 0: '5', 1: '5' }, 'the counts were carried over');
    await client!.must(`cycle ${SERVER} ${L3T_PORT} 2`);
    await eventually('the new companion counts', () => stat(conns(), 'l3t_conn_count')['0'] === '7');
  });

  test('5. a reorder reloads the instance as a copy that takes over the running companion (no second link)', () => {
    const before = inst(chainOf('edge-a'), 'conns');
    writeChain(env, { ...edgeA(), functions: [...edgeA().functions].reverse() }, 'edge-a.yaml');
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /load a copy of conns .*taking over companion l3t_conn_state/);
    apply();
    const after = chainOf('edge-a', env, true);
    assert.deepEqual(after.instances.map((i) => i.name), ['conns', 'drop']);
    const moved = inst(after, 'conns');
    assert.deepEqual([moved.companions[0]!.progId, moved.companions[0]!.linkId], [before.companions[0]!.progId, before.companions[0]!.linkId], 'the same companion program and link');
    assert.equal(stat(moved, 'l3t_conn_count')['0'], '7', 'the copy shares the maps');
  });

  test('6. the built-in connlimit through manifests: N connections accepted, the N+1th refused, accepted again after one closes', async () => {
    const N = 2;
    writeChain(env, { name: 'limit-b', hook: 'tc-ingress', netns: sb.nsB, interfaces: [sb.ifB], functions: [{ name: 'limit', function: 'connlimit', maps: { limits: { [KFN_PORT]: N } } }] }, 'limit-b.yaml');
    apply();
    const limit = () => inst(chainOf('limit-b', env, true), 'limit');
    assert.equal(limit().companions[0]!.program, 'connlimit_sock');
    assert.equal(limit().companions[0]!.attached, true);

    const held: number[] = [];
    for (let i = 0; i < N; i++) held.push((await client!.must(`open ${SERVER} ${KFN_PORT} 5000`)).id!);
    await eventually(`${N} connections counted`, () => stat(limit(), 'conns')[String(KFN_PORT)] === String(N));
    const refused = await client!.cmd(`open ${SERVER} ${KFN_PORT} 1500`);
    assert.equal(refused.ok, false, `connection ${N + 1} is refused`);
    assert.equal(refused.error, 'timeout', 'its SYNs were dropped, not answered');
    assert.ok(statField(stat(limit(), 'stats')['']!, 'syn_dropped') >= 1, 'connlimit counted the dropped SYNs');

    await client!.must(`close ${held.shift()}`);
    await eventually('the closed connection is no longer counted', () => stat(limit(), 'conns')[String(KFN_PORT)] === String(N - 1));
    held.push((await client!.must(`open ${SERVER} ${KFN_PORT} 5000`)).id!);
    for (const id of held) await client!.must(`close ${id}`);
    await eventually('every connection closed', () => stat(limit(), 'conns')[String(KFN_PORT)] === '0');
  });

  test('7. destroy releases every program, companion and link; nothing was pinned outside the pin root', async () => {
    assertPinsOnlyUnderRoot(env, 'before destroy');
    assert.ok(progIds.size >= 8 && linkIds.size >= 4, `ids collected: ${progIds.size} programs, ${linkIds.size} links`);
    kfnExpect(env, ['destroy', env.manifestDir, '--auto-approve'], 0);
    assert.deepEqual(show(env).chains, []);
    await eventually('every link is gone', () => [...linkIds].every((id) => !linkExists(id)));
    await eventually('every program is gone', () => [...progIds].every((id) => !progExists(id)));
    assertPinsOnlyUnderRoot(env, 'after destroy');
  });

  test('8. kfn import l3af: a payload in l3afd\'s format becomes manifests that validate, plan and apply; the report lists every field not carried', async () => {
    const work = path.join(env.stateDir, 'import');
    const artifacts = path.join(work, 'artifacts');
    fs.mkdirSync(artifacts, { recursive: true });
    for (const o of L3AF_OBJECTS) fs.copyFileSync(path.join(BPF_BUILD, o), path.join(artifacts, path.basename(o)));
    const prog = (o: Record<string, unknown>) => ({ version: '1.0', admin_status: 'enabled', prog_type: 'xdp', ...o });
    const payload = [
      {
        host_name: 'edge-7',
        iface: 'eth7',
        bpf_programs: {
          xdp_ingress: [
            prog({
              name: 'portdrop',
              seq_id: 1,
              artifact: 'l3af_portdrop.tar.gz',
              map_name: 'xdp_l3t_ingress_next_prog',
              object_file: 'portdrop.bpf.o',
              entry_function_name: 'l3t_portdrop',
              cmd_start: 'portdrop',
              start_args: { ports: '8080' },
              user_program_daemon: true,
              cpu: 100,
              memory: 64,
              map_args: [{ name: 'l3t_drop_ports', args: [{ key: 8080, value: 1 }] }],
              monitor_maps: [{ name: 'l3t_drop_count', key: 0, aggregator: 'scalar' }],
            }),
            prog({
              name: 'connection-limit',
              seq_id: 2,
              artifact: 'l3af_connlimit.tar.gz',
              map_name: 'xdp_l3t_connlimit_next_prog',
              object_file: 'connlimit.bpf.o',
              entry_function_name: 'l3t_connlimit',
              cmd_stop: 'connlimit-stop',
              rules_file: 'rules.txt',
              map_args: [{ name: 'l3t_conn_cfg', args: [{ key: 1, value: L3T_PORT }] }],
            }),
            prog({ name: 'old-filter', seq_id: 3, admin_status: 'disabled', artifact: 'old.tar.gz', object_file: 'old.o', entry_function_name: 'x' }),
          ],
          tc_egress: [
            prog({
              name: 'protocount',
              seq_id: 1,
              prog_type: 'tc',
              artifact: 'l3af_protocount.tar.gz',
              map_name: 'tc_l3t_egress_next_prog',
              object_file: 'protocount.bpf.o',
              entry_function_name: 'l3t_protocount',
              config_file_path: '/etc/protocount.json',
            }),
          ],
        },
      },
    ];
    const payloadFile = path.join(work, 'l3af.json');
    fs.writeFileSync(payloadFile, JSON.stringify(payload, null, 2));
    const out = path.join(work, 'manifests');
    const r = kfnExpect(env, ['import', 'l3af', payloadFile, '--objects', artifacts, '--iface', `eth7=${sb.ifB}`, '--netns', sb.nsB, '-o', out], 0);
    const reportFile = fs.readFileSync(path.join(out, 'l3af-import-report.txt'), 'utf8');
    assert.ok(r.stdout.includes(reportFile), 'the report is printed as written');
    const notCarried: [string, string][] = [
      ['xdp_ingress[0].cmd_start', '"portdrop"'],
      ['xdp_ingress[0].start_args', '{"ports":"8080"}'],
      ['xdp_ingress[0].user_program_daemon', 'true'],
      ['xdp_ingress[0].cpu', '100'],
      ['xdp_ingress[0].memory', '64'],
      ['xdp_ingress[1].cmd_stop', '"connlimit-stop"'],
      ['xdp_ingress[1].rules_file', '"rules.txt"'],
      ['tc_egress[0].config_file_path', '"/etc/protocount.json"'],
    ];
    for (const [at, value] of notCarried) assert.ok(reportFile.includes(`  $[0].bpf_programs.${at} ${value}: `), `${at} in the report:\n${reportFile}`);
    assert.match(reportFile, /Not carried: kfn has no equivalent \(8\):/);
    assert.match(reportFile, /\$\[0\]\.bpf_programs\.xdp_ingress\[2\] "old-filter": admin_status is disabled/);
    assert.match(r.stdout, /The manifests are valid: 2 chain\(s\), 3 function instance\(s\)\./);

    kfnExpect(env, ['validate', out], 0);
    const p = kfnExpect(env, ['plan', out, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /Plan: 5 to add, 0 to change, 0 to replace, 0 to destroy\./);
    apply(out);

    const xdp = chainOf(`${sb.ifB}-xdp`, env, true);
    assert.deepEqual(xdp.instances.map((i) => [i.name, i.nextMap]), [
      ['portdrop', 'xdp_l3t_ingress_next_prog'],
      ['connection-limit', 'xdp_l3t_connlimit_next_prog'],
    ]);
    assert.equal(inst(xdp, 'connection-limit').companions[0]?.attached, true, 'the tracepoint program of the object was imported as a companion');
    await client!.must(`udp ${SERVER} 8080 3`);
    await client!.must(`cycle ${SERVER} ${L3T_PORT} 2`);
    await eventually('the imported chain drops and counts', () => {
      const c = chainOf(xdp.chainName, env, true);
      return num(inst(c, 'portdrop'), 'l3t_drop_count') === 3 && stat(inst(c, 'connection-limit'), 'l3t_conn_count')['1'] === '2';
    });
    const tc = chainOf(`${sb.ifB}-tc-egress`, env, true);
    await eventually('protocount counts the TCP segments leaving the server', () => Number(stat(inst(chainOf(tc.chainName, env, true), 'protocount'), 'l3t_proto_pkts')['6'] ?? 0) >= 4);
    assertPinsOnlyUnderRoot(env, 'after the import was applied');

    kfnExpect(env, ['destroy', out, '--auto-approve'], 0);
    await eventually('every link is gone', () => [...linkIds].every((id) => !linkExists(id)));
    await eventually('every program is gone', () => [...progIds].every((id) => !progExists(id)));
  });
});
