/**
 * Objects built the way L3AF builds its kernel functions (bpf/l3af-style/: non-standard
 * sections, maps declared by size only and pinned by name, a named chain slot, a
 * tracepoint program beside the XDP program), loaded unmodified through src/libbpf —
 * no CLI: program types given by the caller, nothing pinned by the load itself, two
 * loads never sharing a map, size-only maps written and read through the values layer,
 * the tracepoint companion counting real TCP connections through a pinned BPF link, the
 * XDP program acting on those counts and tail-calling another L3AF-style function
 * through its named slot, and every link and program released at the end.
 * Traffic runs between two throwaway namespaces only. The subtests build on each other.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kernelGate } from '../helpers/kernel-gate.js';
import { BPF_BUILD } from '../helpers/paths.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { NetPeer } from '../helpers/net-peer.js';
import { isKfnError } from '../../src/core/errors.js';
import {
  BpfError,
  BpfObject,
  MapHandle,
  attachTracepointLink,
  attachXdpLink,
  closeFd,
  fdById,
  ifindexHere,
  linkInfoByFd,
  mapInfoByFd,
  openPinned,
  perCpuValues,
  pinFd,
  progInfoByFd,
  queryXdp,
  readObjectInfo,
  unpin,
  unpinTree,
  withNetns,
  type BpfObjKind,
  type LoadedPrograms,
  type MapInfo,
  type ObjectInfo,
  type ProgramToLoad,
} from '../../src/libbpf/index.js';
import { decodeMapEntry, encodeMapEntry } from '../../src/values/index.js';

const L3AF_BUILD = path.join(BPF_BUILD, 'l3af-style');
const CONNLIMIT = path.join(L3AF_BUILD, 'connlimit.bpf.o');
const PORTDROP = path.join(L3AF_BUILD, 'portdrop.bpf.o');
const BPFFS = '/sys/fs/bpf';

const gate = kernelGate();
const missing = [
  ...[CONNLIMIT, PORTDROP].filter((f) => !fs.existsSync(f)).map((f) => `${f} (run npm run build)`),
  ...(['/sys/kernel/tracing/events', '/sys/kernel/debug/tracing/events'].some((d) => fs.existsSync(d)) ? [] : ['tracefs (mount -t tracefs tracefs /sys/kernel/tracing)']),
];
const skip = gate || (missing.length ? `missing: ${missing.join(', ')}` : false);
if (!gate && missing.length && process.env.KFN_REQUIRE_KERNEL === '1') {
  test('L3AF-style objects (KFN_REQUIRE_KERNEL=1)', () => {
    throw new Error(`missing: ${missing.join(', ')}`);
  });
}

/** Watched local port of the connection counter; any port works, nothing else uses the namespaces. */
const PORT = 7411;
/** Dropped by portdrop. */
const UDP_PORT = 8080;
/** The Sandbox's address in nsB (scripts/sandbox.sh); the client runs in nsA. */
const SERVER = '198.18.0.2';

const mapOf = (info: ObjectInfo, name: string): MapInfo => {
  const m = info.maps.find((x) => x.name === name);
  assert.ok(m, `map ${name} in ${info.path}`);
  return m;
};

/** A loaded instance: its programs, and its maps as handles typed by the object. */
class Instance {
  readonly maps: Record<string, MapHandle>;
  constructor(
    readonly obj: BpfObject,
    readonly info: ObjectInfo,
    readonly loaded: LoadedPrograms,
  ) {
    this.maps = Object.fromEntries(Object.entries(loaded.mapFds).map(([name, fd]) => [name, new MapHandle(fd, mapInfoByFd(fd), name)]));
  }
  prog(name: string): number {
    const fd = this.loaded.progFds[name];
    assert.ok(fd !== undefined && fd >= 0, `program ${name} loaded`);
    return fd;
  }
  mapId(name: string): number {
    return this.maps[name]!.info.id;
  }
  /** Writes one entry given as YAML would give it, through the values layer. */
  set(map: string, key: string, value: unknown): void {
    const e = encodeMapEntry(mapOf(this.info, map), key, value);
    this.maps[map]!.update(Buffer.from(e.key, 'hex'), Buffer.from(e.value, 'hex'));
  }
  /** Every entry as the values layer reads it back: keyText -> valueText. */
  entries(map: string): Record<string, string> {
    const m = mapOf(this.info, map);
    return Object.fromEntries(this.maps[map]!.entries().map(({ key, value }) => {
      const e = decodeMapEntry(m, key, value);
      return [e.keyText, e.valueText];
    }));
  }
  /** An array slot of u64 counters, as a number. */
  counter(map: string, index: number): number {
    const v = this.entries(map)[String(index)];
    assert.ok(v !== undefined, `${map}[${index}] exists`);
    return Number(v);
  }
}

function load(file: string, programs: ProgramToLoad[]): Instance {
  const info = readObjectInfo(file);
  const obj = BpfObject.open(file);
  try {
    return new Instance(obj, info, obj.loadPrograms(programs));
  } catch (e) {
    obj.close();
    throw e;
  }
}

function exists(kind: BpfObjKind, id: number): boolean {
  try {
    closeFd(fdById(kind, id));
    return true;
  } catch (e) {
    if (e instanceof BpfError && e.errno === 2) return false;
    throw e;
  }
}

/** Polls `cond` (bounded: the kernel frees objects and delivers tracepoints asynchronously). */
async function eventually(what: string, cond: () => boolean, tries = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await sleep(50);
  }
  assert.fail(`${what}: still not true after ${tries} tries`);
}

function throwsCode(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isKfnError(e), `a KfnError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

describe('L3AF-style objects through src/libbpf', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('l'));
  const pinRoot = `${BPFFS}/kfn-test-l3af-${process.pid}`;
  let mapNames: string[] = [];
  let rootBefore: Set<string>;
  let server: NetPeer | undefined;
  let client: NetPeer | undefined;
  let a: Instance | undefined;
  let b: Instance | undefined;
  let drop: Instance | undefined;
  let xdpLink: number | undefined;
  let tpLinkId = 0;
  const progIds: number[] = [];

  /** No map of these objects pinned by name at the bpffs root (or anywhere outside our pin root). */
  const assertNoForeignPins = (when: string): void => {
    const leaked = mapNames.filter((n) => fs.existsSync(path.join(BPFFS, n)));
    assert.deepEqual(leaked, [], `${when}: maps pinned by name at ${BPFFS}`);
    const added = fs.readdirSync(BPFFS).filter((n) => !rootBefore.has(n) && mapNames.includes(n));
    assert.deepEqual(added, [], `${when}: new entries at ${BPFFS}`);
  };

  before(async () => {
    mapNames = [...readObjectInfo(CONNLIMIT).maps, ...readObjectInfo(PORTDROP).maps].map((m) => m.name);
    // A pin of one of these names at the root would be reused by a naive load: refuse to start.
    assert.deepEqual(mapNames.filter((n) => fs.existsSync(path.join(BPFFS, n))), [], `stale pins at ${BPFFS}`);
    rootBefore = new Set(fs.readdirSync(BPFFS));
    unpinTree(pinRoot);
    fs.mkdirSync(pinRoot, { mode: 0o700 });
    sb.up();
    server = await NetPeer.start(sb.nsB);
    client = await NetPeer.start(sb.nsA);
    await server.must(`listen ${PORT}`);
  });

  after(async () => {
    await server?.stop();
    await client?.stop();
    if (xdpLink !== undefined) closeFd(xdpLink);
    for (const i of [a, b, drop]) i?.obj.close();
    unpinTree(pinRoot);
    sb.down();
    if (mapNames.length) assertNoForeignPins('after cleanup');
  });

  test('the objects are what kfn must cope with: sections without a type, size-only maps, pinning by name', () => {
    const info = readObjectInfo(CONNLIMIT);
    assert.deepEqual(
      info.programs.map((p) => [p.name, p.section, p.kind]).sort(),
      [
        ['l3t_conn_state', 'tracepoint/sock/inet_sock_set_state', 'tracepoint'],
        ['l3t_connlimit', 'xdp_l3test_connlimit', 'other'],
      ],
    );
    for (const m of info.maps) {
      assert.equal(m.key, undefined, `${m.name} has no BTF key type`);
      assert.equal(m.value, undefined, `${m.name} has no BTF value type`);
      assert.equal(m.pinning, 'by-name', `${m.name} asks to be pinned by name`);
    }
    assert.deepEqual(
      info.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries]).sort(),
      [
        ['l3t_conn_cfg', 'array', 4, 8, 2],
        ['l3t_conn_count', 'array', 4, 8, 2],
        ['l3t_conn_drops', 'array', 4, 8, 1],
        ['xdp_l3t_connlimit_next_prog', 'prog_array', 4, 4, 1],
      ],
    );
  });

  test('a program whose section names no type needs one; a type against its section is refused', () => {
    throwsCode(() => load(CONNLIMIT, [{ name: 'l3t_connlimit' }]), 'PROGRAM_TYPE_UNKNOWN', /l3t_connlimit .*section "xdp_l3test_connlimit"/);
    throwsCode(() => load(CONNLIMIT, [{ name: 'l3t_conn_state', type: 'xdp' }]), 'PROGRAM_TYPE_CONFLICT', /l3t_conn_state .*tracepoint program .*not xdp/);
    assertNoForeignPins('after refused loads');
  });

  test('two loads of one object: both programs each, separate maps, nothing pinned', () => {
    const progs: ProgramToLoad[] = [{ name: 'l3t_connlimit', type: 'xdp' }, { name: 'l3t_conn_state', type: 'tracepoint' }];
    a = load(CONNLIMIT, progs);
    b = load(CONNLIMIT, progs);
    for (const i of [a, b]) {
      assert.equal(progInfoByFd(i.prog('l3t_connlimit')).type, 6, 'BPF_PROG_TYPE_XDP');
      assert.equal(progInfoByFd(i.prog('l3t_conn_state')).type, 5, 'BPF_PROG_TYPE_TRACEPOINT');
      // The two programs of one load share the object's maps.
      const shared = progInfoByFd(i.prog('l3t_conn_state')).mapIds;
      for (const id of shared) assert.ok(progInfoByFd(i.prog('l3t_connlimit')).mapIds.includes(id), `map ${id} shared by both programs`);
      for (const fd of Object.values(i.loaded.progFds)) progIds.push(progInfoByFd(fd).id);
    }
    for (const name of Object.keys(a.maps)) assert.notEqual(a.mapId(name), b.mapId(name), `${name}: each load has its own map`);
    assert.equal(Object.keys(a.maps).length, 4);

    a.set('l3t_conn_cfg', '1', PORT);
    assert.equal(a.entries('l3t_conn_cfg')['1'], String(PORT));
    assert.equal(b.entries('l3t_conn_cfg')['1'], '0', 'a write to one instance is not seen by the other');
    assertNoForeignPins('after two loads');
    assert.deepEqual(fs.readdirSync(pinRoot), [], 'the load pinned nothing in the pin root either');
  });

  test('size-only maps take and give integers in host byte order through the values layer', () => {
    drop = load(PORTDROP, [{ name: 'l3t_portdrop', type: 'xdp' }]);
    progIds.push(progInfoByFd(drop.prog('l3t_portdrop')).id);
    drop.set('l3t_drop_ports', String(UDP_PORT), 1);
    drop.set('l3t_drop_ports', '0x5000', 1); // the stored bytes of port 80 on this little-endian host
    assert.deepEqual(drop.entries('l3t_drop_ports'), { [UDP_PORT]: '1', 80: '1' });
    const raw = drop.maps.l3t_drop_ports!.lookup(Buffer.from([UDP_PORT & 0xff, UDP_PORT >> 8]));
    assert.deepEqual(raw && [...raw], [1], 'key 8080 is stored as the u16 in host byte order');
    assert.throws(() => drop!.set('l3t_drop_ports', '65536', 1), /expected u16 in host byte order \(0\.\.65535\)/);
    assert.throws(() => drop!.set('l3t_drop_ports', '80', 256), /expected u8 in host byte order \(0\.\.255\)/);
    assert.equal(Object.keys(drop.entries('l3t_drop_ports')).length, 2, 'a refused value writes nothing');
  });

  test('the tracepoint companion, attached through a pinned BPF link, counts real connections', async () => {
    const link = attachTracepointLink(a!.prog('l3t_conn_state'), 'sock/inet_sock_set_state', 'l3af test');
    const info = linkInfoByFd(link);
    assert.equal(info.type, 7, 'BPF_LINK_TYPE_PERF_EVENT');
    assert.equal(info.progId, progInfoByFd(a!.prog('l3t_conn_state')).id);
    tpLinkId = info.id;
    pinFd(link, path.join(pinRoot, 'conn_state_link'));
    closeFd(link); // the pin alone keeps it attached
    assert.equal(a!.counter('l3t_conn_count', 0), 0);

    await client!.must(`cycle ${SERVER} ${PORT} 5`);
    await eventually('5 connections opened and closed', () => a!.counter('l3t_conn_count', 0) === 5 && a!.counter('l3t_conn_count', 1) === 5);
    assert.equal(b!.counter('l3t_conn_count', 0), 0, 'the other instance saw nothing: its companion is not attached');
  });

  test('the XDP program limits connections from those counts and tail-calls the next function through its named slot', async () => {
    withNetns(sb.nsB, () => {
      const ifindex = ifindexHere(sb.ifB);
      assert.ok(ifindex, `${sb.ifB} in ${sb.nsB}`);
      xdpLink = attachXdpLink(a!.prog('l3t_connlimit'), ifindex, 'native', `${sb.ifB} (test)`);
      assert.equal(queryXdp(ifindex, sb.ifB).progId, progInfoByFd(a!.prog('l3t_connlimit')).id);
    });
    // Chain connlimit -> portdrop: the slot holds the next program's fd (stored as its id).
    const slot = a!.maps.xdp_l3t_connlimit_next_prog!;
    slot.update(Buffer.alloc(4), Buffer.from(new Uint32Array([drop!.prog('l3t_portdrop')]).buffer));
    a!.set('l3t_conn_cfg', '0', 1); // at most one open connection to PORT

    const held = await client!.must(`open ${SERVER} ${PORT} 5000`);
    await eventually('the held connection counted', () => a!.counter('l3t_conn_count', 0) === 6);
    const refused = await client!.cmd(`open ${SERVER} ${PORT} 1500`);
    assert.equal(refused.ok, false, 'a second connection is refused while one is open');
    assert.equal(refused.error, 'timeout', 'its SYNs were dropped, not answered');
    assert.ok(a!.counter('l3t_conn_drops', 0) >= 1, 'the XDP program counted the dropped SYNs');

    // Packets the limit does not concern go down the chain to portdrop.
    await client!.must(`udp ${SERVER} ${UDP_PORT} 7`);
    const dropped = () => perCpuValues(drop!.maps.l3t_drop_count!.info, drop!.maps.l3t_drop_count!.lookup(Buffer.alloc(4))!)
      .reduce((n, v) => n + Number(v.readBigUInt64LE(0)), 0);
    await eventually('portdrop dropped the 7 datagrams to its port', () => dropped() === 7);

    await client!.must(`close ${held.id}`);
    await eventually('the held connection closed', () => a!.counter('l3t_conn_count', 1) === 6);
    const again = await client!.must(`open ${SERVER} ${PORT} 5000`);
    await client!.must(`close ${again.id}`);
    await eventually('the new connection counted', () => a!.counter('l3t_conn_count', 0) === 7 && a!.counter('l3t_conn_count', 1) === 7);
  });

  test('closing the links and the objects releases everything', async () => {
    closeFd(xdpLink!);
    xdpLink = undefined;
    withNetns(sb.nsB, () => assert.equal(queryXdp(ifindexHere(sb.ifB)!, sb.ifB).progId, 0, 'no XDP program left on the interface'));

    const pin = path.join(pinRoot, 'conn_state_link');
    closeFd(openPinned(pin)); // still there until unpinned
    unpin(pin);
    await eventually('the tracepoint link is gone', () => !exists('link', tpLinkId));
    // The kernel frees a link's id first and detaches it from a work item a moment later, so a
    // connection opened in between is still counted: wait (bounded) for one that is not.
    let opened = a!.counter('l3t_conn_count', 0);
    for (let i = 0; ; i++) {
      await client!.must(`cycle ${SERVER} ${PORT} 1`);
      const now = a!.counter('l3t_conn_count', 0);
      if (now === opened) break;
      assert.ok(i < 20, 'connections are still counted 20 rounds after the link was released');
      opened = now;
      await sleep(50);
    }
    await client!.must(`cycle ${SERVER} ${PORT} 3`);
    assert.equal(a!.counter('l3t_conn_count', 0), opened, 'nothing counts once the link is released');

    for (const i of [a, b, drop]) i!.obj.close();
    a = b = drop = undefined;
    await eventually('every program of the test is gone', () => progIds.every((id) => !exists('prog', id)));
    assertNoForeignPins('at the end');
    assert.deepEqual(fs.readdirSync(pinRoot), []);
  });
});
