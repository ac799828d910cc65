/**
 * Per-CPU maps against the real kernel, through src/libbpf and src/values only (no CLI,
 * nothing pinned, no interfaces): bpf/percpu_test.bpf.o is loaded, its per-CPU parameter
 * map written with MapHandle.update and read back with lookupPerCpu, and packets are run
 * through the XDP program with BPF_PROG_TEST_RUN (bounded by `repeat`). The per-CPU
 * state is summed with sumPerCpuValues and compared with what was sent, and with
 * bpftool's own per-CPU dump of the same maps.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { bpftoolJson } from '../helpers/bpftool.js';
import { BPF_BUILD } from '../helpers/paths.js';
import {
  BpfObject,
  MapHandle,
  lookupSize,
  mapInfoByFd,
  numPossibleCpus,
  packPerCpu,
  testRun,
  type BtfType,
  type LoadedProgram,
  type MapInfo,
} from '../../src/libbpf/index.js';
import { decodeValue, encodeValue, sumPerCpuValues } from '../../src/values/index.js';

const skip = kernelGate();

const OBJECT = path.join(BPF_BUILD, 'percpu_test.bpf.o');
const XDP_PASS = 2;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const KEY0 = new Uint8Array(4);

// ---------------------------------------------------------------- packets

const MACS = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];

function frame(ethertype: number, l3: Uint8Array, len: number): Uint8Array {
  const b = new Uint8Array(len);
  b.set(MACS, 0);
  b[12] = ethertype >> 8;
  b[13] = ethertype & 0xff;
  b.set(l3, 14);
  return b;
}

/** IPv4 198.18.0.1 -> 198.18.0.2, `len` bytes of frame in all. */
function ipv4Frame(proto: number, len: number): Uint8Array {
  const ip = new Uint8Array(20);
  ip[0] = 0x45;
  ip[2] = (len - 14) >> 8;
  ip[3] = (len - 14) & 0xff;
  ip[8] = 64;
  ip[9] = proto;
  ip.set([198, 18, 0, 1, 198, 18, 0, 2], 12);
  return frame(0x0800, ip, len);
}

/** IPv6 2001:2::1 -> 2001:2::2. */
function ipv6Frame(nexthdr: number, len: number): Uint8Array {
  const ip6 = new Uint8Array(40);
  ip6[0] = 0x60;
  ip6[4] = (len - 54) >> 8;
  ip6[5] = (len - 54) & 0xff;
  ip6[6] = nexthdr;
  ip6[7] = 64;
  ip6.set([0x20, 0x01, 0, 0x02], 8);
  ip6[23] = 1;
  ip6.set([0x20, 0x01, 0, 0x02], 24);
  ip6[39] = 2;
  return frame(0x86dd, ip6, len);
}

// ---------------------------------------------------------------- the loaded object

interface Loaded {
  obj: BpfObject;
  prog: LoadedProgram;
  maps: Record<string, MapInfo>;
  handle(name: string): MapHandle;
}

function load(): Loaded {
  const obj = BpfObject.open(OBJECT);
  try {
    const maps = Object.fromEntries(obj.info(obj.sha256()).maps.map((m) => [m.name, m]));
    const prog = obj.load('percpu_test_xdp');
    const handle = (name: string) => {
      const fd = prog.mapFds[name];
      assert.ok(fd !== undefined, `map ${name} loaded`);
      return new MapHandle(fd, mapInfoByFd(fd), name);
    };
    return { obj, prog, maps, handle };
  } catch (e) {
    obj.close();
    throw e;
  }
}

function btf(l: Loaded, map: string, side: 'key' | 'value'): BtfType {
  const t = l.maps[map]?.[side];
  assert.ok(t, `${map} has a BTF ${side} type`);
  return t;
}

/** The entry of a per-CPU map summed over CPUs and decoded, via the values layer. */
function summed(l: Loaded, map: string, key: Uint8Array): unknown {
  const values = l.handle(map).lookupPerCpu(key);
  assert.ok(values, `${map} has the key`);
  assert.equal(values.length, numPossibleCpus());
  const type = btf(l, map, 'value');
  return decodeValue(type, sumPerCpuValues(type, values, map), map);
}

function run(l: Loaded, packet: Uint8Array, repeat: number): void {
  const r = testRun(l.prog.progFd, { data: packet, repeat }, 'percpu_test_xdp');
  assert.equal(r.retval, XDP_PASS, 'the function passes every packet');
}

// ---------------------------------------------------------------- tests

describe('per-CPU maps: writes, reads and sums against the kernel', { skip }, () => {
  const cpus = numPossibleCpus();
  let l: Loaded;

  // A fresh object per test: its maps start at zero and are freed with it.
  beforeEach(() => {
    l = load();
  });
  afterEach(() => {
    l.obj.close();
  });

  test('a per-CPU parameter written as one value reaches every possible CPU; a full buffer gives each CPU its own', () => {
    const cfg = l.handle('config');
    const type = btf(l, 'config', 'value');
    assert.equal(cfg.lookup(KEY0)!.length, lookupSize(cfg.info), 'a raw lookup returns every CPU slot');

    cfg.update(KEY0, encodeValue(type, { weight: 3 }, 'config', 'config'));
    const slots = cfg.lookupPerCpu(KEY0)!;
    assert.equal(slots.length, cpus);
    for (const s of slots) assert.deepEqual(decodeValue(type, s, 'config'), { weight: 3 });

    const own = Array.from({ length: cpus }, (_, cpu) => encodeValue(type, { weight: 100 + cpu }, 'config', 'config'));
    cfg.update(KEY0, packPerCpu(cfg.info, own));
    assert.deepEqual(
      cfg.lookupPerCpu(KEY0)!.map((s) => decodeValue(type, s, 'config')),
      own.map((_, cpu) => ({ weight: 100 + cpu })),
    );
  });

  test('N packets run through the program: the per-CPU sums count N packets, N*len bytes and the right size bucket', () => {
    const udp64 = ipv4Frame(IPPROTO_UDP, 64);
    const tcp600 = ipv6Frame(IPPROTO_TCP, 600);
    const arp60 = frame(0x0806, new Uint8Array(28), 60);
    run(l, udp64, 1000);
    run(l, tcp600, 250);
    run(l, arp60, 40);

    assert.deepEqual(summed(l, 'totals', KEY0), { packets: 1290, bytes: 1000 * 64 + 250 * 600 + 40 * 60 });

    const byProto = l.handle('by_proto');
    const keyType = btf(l, 'by_proto', 'key');
    const keys = byProto.keys().map((k) => decodeValue(keyType, k, 'by_proto'));
    assert.deepEqual([...keys].sort(), [IPPROTO_TCP, IPPROTO_UDP].sort(), 'one entry per IP protocol, none for ARP');
    const key = (proto: number) => encodeValue(keyType, proto, 'by_proto', 'by_proto');
    assert.deepEqual(summed(l, 'by_proto', key(IPPROTO_UDP)), { packets: 1000, bytes: 64_000, by_size: [1000, 0, 0, 0] });
    assert.deepEqual(summed(l, 'by_proto', key(IPPROTO_TCP)), { packets: 250, bytes: 150_000, by_size: [0, 0, 250, 0] });
  });

  test('the per-CPU parameter scales the counts on whichever CPU runs the program', () => {
    const cfg = l.handle('config');
    cfg.update(KEY0, encodeValue(btf(l, 'config', 'value'), { weight: 3 }, 'config', 'config'));
    run(l, ipv4Frame(IPPROTO_UDP, 200), 500);
    assert.deepEqual(summed(l, 'totals', KEY0), { packets: 1500, bytes: 1500 * 200 });
    const key = encodeValue(btf(l, 'by_proto', 'key'), IPPROTO_UDP, 'by_proto', 'by_proto');
    assert.deepEqual(summed(l, 'by_proto', key), { packets: 1500, bytes: 1500 * 200, by_size: [0, 1500, 0, 0] });
  });

  test('lookupPerCpu agrees slot by slot with bpftool\'s per-CPU dump of the same map', () => {
    run(l, ipv4Frame(IPPROTO_UDP, 1500), 300);
    run(l, ipv4Frame(IPPROTO_UDP, 700), 20);
    const byProto = l.handle('by_proto');
    const type = btf(l, 'by_proto', 'value');
    const key = encodeValue(btf(l, 'by_proto', 'key'), IPPROTO_UDP, 'by_proto', 'by_proto');
    const ours = byProto.lookupPerCpu(key)!.map((s) => decodeValue(type, s, 'by_proto'));
    const dump = bpftoolJson(['map', 'dump', 'id', String(byProto.info.id)]) as {
      formatted: { key: number; values: { cpu: number; value: { packets: number; bytes: number; by_size: number[] } }[] };
    }[];
    const entry = dump.find((e) => e.formatted.key === IPPROTO_UDP);
    assert.ok(entry, 'bpftool sees the UDP entry');
    const theirs = [...entry.formatted.values].sort((a, b) => a.cpu - b.cpu).map((v) => v.value);
    assert.deepEqual(ours, theirs);
    assert.ok(ours.some((v) => (v as { packets: number }).packets > 0), 'some CPU counted the packets');
    assert.deepEqual(summed(l, 'by_proto', key), { packets: 320, bytes: 300 * 1500 + 20 * 700, by_size: [0, 0, 20, 300] });
  });
});
