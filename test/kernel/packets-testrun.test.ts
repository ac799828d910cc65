/**
 * Packet cases through BPF_PROG_TEST_RUN on the real kernel: blocklist_xdp and
 * blocklist_tc (bpf/build/blocklist.bpf.o) loaded through src/libbpf, their blocked_v4 /
 * blocked_v6 maps filled with entries typed by src/values, and the frames of a PacketTest
 * file (IPv4, IPv6, 802.1Q-tagged, a pcap) run through each program: blocked sources
 * drop, every other packet passes. The program's own stats map confirms it saw and
 * dropped exactly those packets. Nothing is attached or pinned; no netns is needed. Every
 * fd is closed: the process holds as many fds after a test as before, and the programs'
 * ids are gone.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  BpfError,
  BpfObject,
  MapHandle,
  fdById,
  mapInfoByFd,
  perCpuValues,
  progInfoByFd,
  readObjectInfo,
  readSkbContext,
  skbContext,
  testRun,
  verdictOf,
  type VerdictHook,
} from '../../src/libbpf/index.js';
import { encodeMapEntry } from '../../src/values/index.js';
import { buildFrame, judge, loadPacketTests, sendOrder, writePcap, type Outcome, type PacketSpec } from '../../src/packets/index.js';
import ipaddr from 'ipaddr.js';
import { kernelGate } from '../helpers/kernel-gate.js';
import { BPF_BUILD } from '../helpers/paths.js';

const skip = kernelGate();
const OBJECT = path.join(BPF_BUILD, 'blocklist.bpf.o');

const BLOCKED = {
  blocked_v4: ['198.18.0.3/32', '198.18.1.0/24'],
  blocked_v6: ['2001:2::dead/128', '2001:2:0:ff::/64'],
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kfn-packets-testrun-${process.pid}-`));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A capture of two frames: UDP from an allowed source, then from a blocked one (in 198.18.1.0/24). */
function writeCapture(): void {
  const udp = (src: string): PacketSpec => ({
    eth: { src: '02:00:00:00:00:0a', dst: '02:00:00:00:00:0b' },
    ip: { version: 4, src: ipaddr.IPv4.parse(src), dst: ipaddr.IPv4.parse('198.18.0.1'), ttl: 64 },
    l4: { protocol: 'udp', srcPort: 5000, dstPort: 53 },
    payloadLength: 20,
  });
  fs.writeFileSync(path.join(dir, 'mixed.pcap'), writePcap([buildFrame(udp('198.18.0.2')), buildFrame(udp('198.18.1.77'))]));
}

const CASES = `apiVersion: kfn.dev/v1alpha1
kind: PacketTest
metadata: { name: blocklist }
spec:
  chain: edge
  cases:
    - name: v4 blocked host
      packet: { ip: { src: 198.18.0.3, dst: 198.18.0.1 }, icmp: {} }
      expect: drop
    - name: v4 in a blocked prefix
      packet: { ip: { src: 198.18.1.200, dst: 198.18.0.1 }, tcp: { dst: 443, flags: [syn] }, payload: 64 }
      expect: drop
    - name: v4 allowed
      packet: { ip: { src: 198.18.0.2, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: pass
    - name: v4 allowed next to the blocked prefix
      packet: { ip: { src: 198.18.2.1, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: pass
    - name: v4 blocked behind a VLAN tag
      packet: { eth: { vlan: { id: 100, priority: 6 } }, ip: { src: 198.18.0.3, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: drop
    - name: v4 allowed behind a VLAN tag
      packet: { eth: { vlan: { id: 4094 } }, ip: { src: 198.18.0.2, dst: 198.18.0.1 }, tcp: { dst: 22, flags: [ack] } }
      expect: pass
    - name: v6 blocked host
      packet: { ip: { src: "2001:2::dead", dst: "2001:2::1" }, icmpv6: {} }
      expect: drop
    - name: v6 in a blocked prefix
      packet: { ip: { src: "2001:2:0:ff::42", dst: "2001:2::1" }, udp: { dst: 53 }, payload: 100 }
      expect: drop
    - name: v6 allowed
      packet: { ip: { src: "2001:2::2", dst: "2001:2::1" }, tcp: { dst: 80, flags: [syn] } }
      expect: pass
    - name: v6 blocked behind a VLAN tag
      packet: { eth: { vlan: { id: 7 } }, ip: { src: "2001:2:0:ff::1", dst: "2001:2::1" }, icmpv6: { type: 129 } }
      expect: drop
    - name: the destination does not matter
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.3 }, udp: { dst: 53 } }
      expect: pass
    - name: a capture, in order
      pcap: { file: mixed.pcap }
      expect: [pass, drop]
    - name: a sequence
      sequence:
        - packet: { ip: { src: 198.18.0.2, dst: 198.18.0.1 }, udp: { dst: 53 } }
          repeat: 3
          expect: pass
        - pcap: { file: mixed.pcap }
          repeat: 2
          expect: { pass: 2, drop: 2 }
`;

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Fills the parameter maps of a loaded blocklist with BLOCKED, typed from the object's BTF. */
function fillMaps(mapFds: Record<string, number>): void {
  const info = readObjectInfo(OBJECT);
  for (const [name, prefixes] of Object.entries(BLOCKED)) {
    const map = info.maps.find((m) => m.name === name)!;
    const fd = mapFds[name]!;
    const handle = new MapHandle(fd, mapInfoByFd(fd), name);
    for (const p of prefixes) {
      const e = encodeMapEntry(map, p, 1);
      handle.update(Buffer.from(e.key, 'hex'), Buffer.from(e.value, 'hex'));
    }
    assert.equal(handle.keys().length, prefixes.length, `${name} holds the entries`);
  }
}

/** blocklist's per-CPU stats (seen, dropped_v4, dropped_v6), summed over CPUs. */
function stats(fd: number): { seen: bigint; v4: bigint; v6: bigint } {
  const info = mapInfoByFd(fd);
  const raw = new MapHandle(fd, info, 'stats').lookup(new Uint8Array(4))!;
  const sum = (off: number) => perCpuValues(info, raw).reduce((s, v) => s + v.readBigUInt64LE(off), 0n);
  return { seen: sum(0), v4: sum(8), v6: sum(16) };
}

const RETVAL = { xdp: { pass: 2, drop: 1 }, tc: { pass: -1, drop: 2 } } as const;

describe('packet cases through BPF_PROG_TEST_RUN (blocklist)', { skip }, () => {
  const hooks: VerdictHook[] = ['xdp', 'tc'];
  for (const hook of hooks) {
    test(`${hook}: blocked sources drop, others pass`, () => {
      writeCapture();
      fs.writeFileSync(path.join(dir, 'cases.yaml'), CASES);
      const tests = loadPacketTests(path.join(dir, 'cases.yaml'), { root: dir }).tests;
      const fdsBefore = openFds();
      const obj = BpfObject.open(OBJECT);
      let progId: number;
      try {
        const loaded = obj.load(`blocklist_${hook}`);
        progId = progInfoByFd(loaded.progFd).id;
        fillMaps(loaded.mapFds);
        const label = `blocklist_${hook}`;

        let sent = 0;
        let dropsV4 = 0;
        let dropsV6 = 0;
        for (const c of tests[0]!.cases) {
          for (const step of c.steps) {
            const outcomes: Outcome[] = [];
            for (const p of sendOrder(step)) {
              const r = testRun(loaded.progFd, { data: p.frame }, label);
              const verdict = verdictOf(hook, r.retval);
              assert.equal(r.retval, RETVAL[hook][verdict as 'pass' | 'drop'], `${c.name}: ${p.label}: retval ${r.retval}`);
              assert.equal(Buffer.compare(r.data, Buffer.from(p.frame)), 0, `${c.name}: the frame is unchanged`);
              assert.ok(Number.isInteger(r.durationNs));
              outcomes.push({ verdict });
              sent++;
              if (verdict === 'drop') {
                const ethertype = (p.frame[12]! << 8) | p.frame[13]!;
                const l3 = ethertype === 0x8100 ? (p.frame[16]! << 8) | p.frame[17]! : ethertype;
                if (l3 === 0x0800) dropsV4++;
                else dropsV6++;
              }
            }
            assert.deepEqual(judge(step.expect, outcomes), [], `${c.name}: ${step.packets.map((p) => p.label).join(', ')}`);
          }
        }
        assert.equal(sent, 20);
        assert.deepEqual(stats(loaded.mapFds['stats']!), { seen: BigInt(sent), v4: BigInt(dropsV4), v6: BigInt(dropsV6) });
        assert.deepEqual([dropsV4, dropsV6], [6, 3]);

        // repeat: the program runs that many times on the frame (its counters say so)
        const blocked = tests[0]!.cases[0]!.steps[0]!.packets[0]!.frame;
        const r = testRun(loaded.progFd, { data: blocked, repeat: 50 }, label);
        assert.equal(verdictOf(hook, r.retval), 'drop');
        assert.deepEqual(stats(loaded.mapFds['stats']!), { seen: BigInt(sent + 50), v4: BigInt(dropsV4 + 50), v6: BigInt(dropsV6) });

        // a frame shorter than an Ethernet header is refused by the kernel
        assert.throws(
          () => testRun(loaded.progFd, { data: blocked.subarray(0, 10) }, label),
          (e: unknown) => e instanceof BpfError && e.errno === 22 && e.message === `test run ${label}: EINVAL (invalid argument)`,
        );

        if (hook === 'tc') {
          // a __sk_buff goes in and comes back; with ifindex 0 the skb is on loopback
          const c = testRun(loaded.progFd, { data: blocked, ctx: skbContext({ mark: 42, priority: 3, cb: [1, 2, 3, 4, 5] }) }, label);
          assert.equal(verdictOf('tc', c.retval), 'drop');
          assert.deepEqual(readSkbContext(c.ctx!), { mark: 42, priority: 3, ingressIfindex: 0, ifindex: 1, cb: [1, 2, 3, 4, 5] });
          // the kernel refuses fields a test run may not set
          const bad = skbContext();
          bad.writeUInt32LE(1, 0); // __sk_buff.len
          assert.throws(() => testRun(loaded.progFd, { data: blocked, ctx: bad }, label), (e: unknown) => e instanceof BpfError && e.errno === 22);
        }
      } finally {
        obj.close();
      }
      assert.equal(openFds(), fdsBefore, 'every fd opened by the test is closed');
      assert.throws(() => fdById('prog', progId!), (e: unknown) => e instanceof BpfError && e.errno === 2, 'the program is gone');
    });
  }
});
