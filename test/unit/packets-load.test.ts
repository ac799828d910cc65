/**
 * loadPacketTests: the PacketTest format as typed values (defaults, addresses, frames,
 * expectations, positions), and every bad input as a one-line error with a stable code,
 * file:line:column, the field, and a hint; all problems of a load collected in one pass.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import { MAX_PCAP_BYTES, buildFrame, loadPacketTests, writePcap, type PacketSpec } from '../../src/packets/index.js';

const FIX = fileURLToPath(new URL('../fixtures/packets/', import.meta.url));
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh directory holding `files`; returns its path. */
function tree(files: Record<string, string | Uint8Array>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-packets-load-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

const HEAD = 'apiVersion: kfn.dev/v1alpha1\nkind: PacketTest\nmetadata: { name: t }\nspec:\n  chain: edge\n  cases:\n';

/** `CODE file:line:col: message` of every error of loading `file` of `dir`, with the directory stripped. */
function errorsOf(dir: string, file = 'test.yaml', root = dir): string[] {
  try {
    loadPacketTests(path.join(dir, file), { root });
  } catch (e) {
    assert.ok(e instanceof KfnError, `expected a KfnError, got ${String(e)}`);
    const list = e instanceof KfnErrors ? e.errors : [e];
    for (const x of list) {
      assert.ok(x.hint && x.hint.length > 0, `${x.code} has a hint`);
      assert.ok(!x.message.includes('\n'), 'one line');
    }
    return list.map((x) => `${x.code} ${x.message.split(`${dir}/`).join('')}`);
  }
  assert.fail('expected an error');
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('loadPacketTests: the format', () => {
  const dir = tree({
    'caps/three.pcap': writePcap([0x11, 0x22, 0x33].map((b) => new Uint8Array(60).fill(b))),
    'tests/edge.yaml': `${HEAD}    - name: blocked v4
      packet:
        ip: { src: 198.18.0.3, dst: 198.18.0.1 }
        udp: { dst: 53 }
      expect: drop
      decidedBy: drop-bad
    - name: v6 tagged syn
      packet:
        eth: { src: "AA:BB:CC:00:11:22", vlan: { id: 42 } }
        ip: { src: "2001:2::dead", dst: "2001:2:0::1", ttl: 7 }
        tcp: { src: 1234, dst: 443, flags: [syn, ack] }
        payload: 100
      expect: pass
    - name: ping
      packet: { ip: { src: 198.18.0.5, dst: 198.18.0.1 }, icmp: {} }
      repeat: 3
      expect: pass
    - name: capture, all packets
      pcap: { file: ../caps/three.pcap }
      expect: [pass, { drop: 2, decidedBy: limit }]
    - name: capture, packet 2
      pcap: { file: ../caps/three.pcap, packet: 2 }
      expect: drop
    - name: burst
      sequence:
        - packet: { ip: { src: "2001:2::5", dst: "2001:2::1" }, icmpv6: { type: 129 } }
          repeat: 15
          decidedBy: limit
          expect: [{ pass: 10, decidedBy: visibility }, { drop: 5 }]
        - pcap: { file: ../caps/three.pcap }
          repeat: 2
          expect: { pass: 4, drop: 2 }
---
apiVersion: kfn.dev/v1alpha1
kind: PacketTest
metadata: { name: second }
spec:
  chain: other
  cases:
    - name: one
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { src: 1, dst: 2 } }
      expect: pass
`,
  });
  const file = path.join(dir, 'tests/edge.yaml');
  const loaded = loadPacketTests(file, { root: dir });
  const t = loaded.tests[0]!;
  const c = (name: string) => t.cases.find((x) => x.name === name)!;

  test('documents, chain, cases in order, positions', () => {
    assert.deepEqual(loaded.files, [file]);
    assert.deepEqual(loaded.tests.map((x) => [x.name, x.chain, x.cases.length]), [['t', 'edge', 6], ['second', 'other', 1]]);
    assert.deepEqual(t.source, { file, line: 3, column: 19 });
    assert.deepEqual(t.cases.map((x) => x.name), ['blocked v4', 'v6 tagged syn', 'ping', 'capture, all packets', 'capture, packet 2', 'burst']);
    assert.deepEqual(c('v6 tagged syn').source, { file, line: 13, column: 13 });
    assert.deepEqual(c('burst').steps[1]!.source, { file, line: 36, column: 11 });
  });

  test('a packet description: defaults, canonical MAC, typed addresses, the exact frame', () => {
    const p = c('blocked v4').steps[0]!.packets[0]!;
    const spec = p.spec!;
    assert.deepEqual(spec.eth, { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' });
    assert.equal(spec.ip.version, 4);
    assert.equal(spec.ip.src.kind(), 'ipv4');
    assert.equal(spec.ip.src.toString(), '198.18.0.3');
    assert.equal(spec.ip.ttl, 64);
    assert.deepEqual(spec.l4, { protocol: 'udp', srcPort: 40000, dstPort: 53 });
    assert.equal(spec.payloadLength, 0);
    assert.equal(hex(p.frame), hex(buildFrame(spec)));
    assert.equal(p.label, 'udp 198.18.0.3:40000 > 198.18.0.1:53, 42 bytes');
    assert.deepEqual(c('blocked v4').steps[0]!.expect, { form: 'each', verdict: 'drop', decidedBy: 'drop-bad' });

    const v6: PacketSpec = c('v6 tagged syn').steps[0]!.packets[0]!.spec!;
    assert.deepEqual(v6.eth, { src: 'aa:bb:cc:00:11:22', dst: '02:00:00:00:00:02', vlan: { id: 42, priority: 0 } });
    assert.equal(v6.ip.version, 6);
    assert.deepEqual(v6.ip.dst.toByteArray(), [0x20, 0x01, 0, 2, ...new Array<number>(11).fill(0), 1]);
    assert.equal(v6.ip.ttl, 7);
    assert.deepEqual(v6.l4, { protocol: 'tcp', srcPort: 1234, dstPort: 443, flags: ['syn', 'ack'] });
    assert.equal(v6.payloadLength, 100);

    const ping = c('ping').steps[0]!;
    assert.equal(ping.repeat, 3);
    assert.deepEqual(ping.packets[0]!.spec!.l4, { protocol: 'icmp', type: 8, code: 0 });
  });

  test('pcap: every packet, or the one numbered (from 1); frames as captured', () => {
    const all = c('capture, all packets').steps[0]!;
    assert.deepEqual(all.packets.map((x) => x.label), ['../caps/three.pcap #1', '../caps/three.pcap #2', '../caps/three.pcap #3']);
    assert.deepEqual(all.packets.map((x) => x.frame[0]), [0x11, 0x22, 0x33]);
    assert.equal(all.packets[0]!.spec, undefined);
    assert.deepEqual(all.expect, { form: 'ordered', runs: [{ verdict: 'pass', count: 1 }, { verdict: 'drop', count: 2, decidedBy: 'limit' }] });
    const one = c('capture, packet 2').steps[0]!;
    assert.deepEqual(one.packets.map((x) => x.label), ['../caps/three.pcap #2']);
    assert.equal(one.packets[0]!.frame[0], 0x22);
  });

  test('sequence: steps in order; a step\'s decidedBy is the default of its runs; totals', () => {
    const [a, b] = c('burst').steps;
    assert.equal(a!.repeat, 15);
    assert.deepEqual(a!.packets[0]!.spec!.l4, { protocol: 'icmpv6', type: 129, code: 0 });
    assert.deepEqual(a!.expect, { form: 'ordered', runs: [{ verdict: 'pass', count: 10, decidedBy: 'visibility' }, { verdict: 'drop', count: 5, decidedBy: 'limit' }] });
    assert.equal(b!.packets.length, 3);
    assert.equal(b!.repeat, 2);
    assert.deepEqual(b!.expect, { form: 'totals', counts: { pass: 4, drop: 2 } });
  });

  test('a directory: every *.yaml below it', () => {
    const l = loadPacketTests(dir, { root: dir });
    assert.deepEqual(l.files, [file]);
    assert.equal(l.tests.length, 2);
  });

  test('the example of docs/testing-chains.md loads', () => {
    const l = loadPacketTests(fileURLToPath(new URL('../../examples/packets/demo.yaml', import.meta.url)));
    assert.ok(l.tests.length >= 1);
    assert.ok(l.tests.every((x) => x.chain === 'edge'));
  });
});

describe('loadPacketTests: errors', () => {
  test('schema: unknown fields, bad values, did-you-mean hints', () => {
    const dir = tree({
      'test.yaml': `${HEAD}    - name: a
      packet:
        eth: { src: "02:00:00:00:00" }
        ip: { src: 198.18.0.1, dst: 198.18.0.2, tll: 3 }
        tcp: { dst: 70000, flags: [syn, fni] }
      expect: dorp
    - name: b
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
      expect: 3
    - name: c
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
      expcet: pass
    - name: d
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
      expect: [pass, { drop: 0 }, { dorp: 1 }, {}]
`,
    });
    assert.deepEqual(errorsOf(dir), [
      'MANIFEST_SCHEMA test.yaml:9:21: spec.cases[0].packet.eth.src: invalid value "02:00:00:00:00" (expected a MAC address aa:bb:cc:dd:ee:ff)',
      'MANIFEST_SCHEMA test.yaml:10:49: spec.cases[0].packet.ip.tll: unknown field (allowed: src, dst, ttl)',
      'MANIFEST_SCHEMA test.yaml:11:21: spec.cases[0].packet.tcp.dst: must be <= 65535',
      'MANIFEST_SCHEMA test.yaml:11:41: spec.cases[0].packet.tcp.flags[1]: "fni" is not one of fin, syn, rst, psh, ack, urg, ece, cwr',
      'MANIFEST_SCHEMA test.yaml:12:15: spec.cases[0].expect: "dorp" is not one of pass, drop',
      'MANIFEST_SCHEMA test.yaml:15:15: spec.cases[1].expect: expected a verdict (pass or drop), a list of runs in packet order, or a mapping of totals, got number',
      'MANIFEST_SCHEMA test.yaml:18:7: spec.cases[2].expcet: unknown field (allowed: name, packet, pcap, repeat, expect, decidedBy, sequence)',
      'MANIFEST_SCHEMA test.yaml:21:30: spec.cases[3].expect[1].drop: must be >= 1',
      'MANIFEST_SCHEMA test.yaml:21:37: spec.cases[3].expect[2].dorp: unknown field (allowed: pass, drop, decidedBy)',
      'MANIFEST_SCHEMA test.yaml:21:48: spec.cases[3].expect[3]: must not be empty',
    ]);
  });

  test('hints name the closest spelling', () => {
    const dir = tree({ 'test.yaml': `${HEAD}    - name: a\n      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }\n      expect: dorp\n      decidedby: x\n` });
    const e = (() => {
      try {
        loadPacketTests(path.join(dir, 'test.yaml'), { root: dir });
      } catch (x) {
        return (x as KfnErrors).errors;
      }
      return [];
    })();
    assert.deepEqual(e.map((x) => x.hint), ['did you mean "drop"?', 'did you mean "decidedBy"?']);
  });

  test('a Chain (or anything but PacketTest) is not a packet test', () => {
    const dir = tree({ 'test.yaml': 'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: edge }\nspec: {}\n' });
    assert.deepEqual(errorsOf(dir), ['MANIFEST_KIND test.yaml:2:7: kind: unknown kind "Chain" (expected PacketTest)']);
  });

  test('packets: addresses, families, protocols', () => {
    const dir = tree({
      'test.yaml': `${HEAD}    - name: bad address
      packet: { ip: { src: 198.18.0.300, dst: "2001:2::1/64" }, udp: { dst: 1 } }
      expect: pass
    - name: families
      packet: { ip: { src: 198.18.0.1, dst: "::ffff:198.18.0.2" }, udp: { dst: 1 } }
      expect: pass
    - name: no protocol
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 } }
      expect: pass
    - name: two protocols
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 }, tcp: { dst: 1 } }
      expect: pass
    - name: icmp over v6
      packet: { ip: { src: "2001:2::1", dst: "2001:2::2" }, icmp: {} }
      expect: pass
    - name: icmpv6 over v4
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, icmpv6: {} }
      expect: pass
`,
    });
    assert.deepEqual(errorsOf(dir), [
      'PACKET_INVALID test.yaml:8:28: case "bad address": packet.ip.src: "198.18.0.300" is not an IPv4 or IPv6 address',
      'PACKET_INVALID test.yaml:8:47: case "bad address": packet.ip.dst: "2001:2::1/64" is not an IPv4 or IPv6 address',
      'PACKET_INVALID test.yaml:11:21: case "families": packet.ip: src is IPv4 and dst IPv6: both must be of one family',
      'PACKET_INVALID test.yaml:14:15: case "no protocol": packet: no protocol: give one of tcp, udp, icmp, icmpv6',
      'PACKET_INVALID test.yaml:17:15: case "two protocols": packet: tcp and udp together: give one protocol',
      'PACKET_INVALID test.yaml:20:61: case "icmp over v6": packet.icmp: icmp cannot be carried over IPv6',
      'PACKET_INVALID test.yaml:23:59: case "icmpv6 over v4": packet.icmpv6: icmpv6 cannot be carried over IPv4',
    ]);
  });

  test('cases: what a case or step must hold', () => {
    const dir = tree({
      'test.yaml': `${HEAD}    - name: nothing
      expect: pass
    - name: both
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
      pcap: { file: x.pcap }
      expect: pass
    - name: no expect
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
    - name: misplaced
      expect: pass
      sequence:
        - packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
          expect: pass
    - name: empty step
      sequence:
        - expect: pass
`,
    });
    assert.deepEqual(errorsOf(dir), [
      'PACKET_CASE_INVALID test.yaml:7:7: case "nothing": no packet: give packet, pcap or sequence',
      'PACKET_CASE_INVALID test.yaml:9:7: case "both": packet and pcap together: give one of them',
      'PACKET_CASE_INVALID test.yaml:13:7: case "no expect": expect: required field missing',
      'PACKET_CASE_INVALID test.yaml:16:7: case "misplaced": expect: does not go next to sequence',
      'PACKET_CASE_INVALID test.yaml:22:11: case "empty step": sequence[0]: no packet: give packet, pcap or sequence',
    ]);
  });

  test('expectations must cover exactly the packets sent', () => {
    const dir = tree({
      'three.pcap': writePcap([new Uint8Array(60), new Uint8Array(60), new Uint8Array(60)]),
      'test.yaml': `${HEAD}    - name: runs short
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
      repeat: 15
      expect: [{ pass: 10 }, { drop: 4 }]
    - name: totals over
      pcap: { file: three.pcap }
      repeat: 2
      expect: { pass: 7 }
    - name: run with two verdicts
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
      expect: [{ pass: 1, drop: 1 }]
    - name: decider with totals
      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }
      decidedBy: limit
      expect: { drop: 1 }
    - name: list per packet
      pcap: { file: three.pcap }
      expect: [pass, drop]
`,
    });
    assert.deepEqual(errorsOf(dir), [
      'PACKET_EXPECT_INVALID test.yaml:10:15: case "runs short": expect: the runs cover 14 packets, the step sends 15 packets',
      'PACKET_EXPECT_INVALID test.yaml:14:15: case "totals over": expect: the totals add up to 7 packets, the step sends 6 packets',
      'PACKET_EXPECT_INVALID test.yaml:17:16: case "run with two verdicts": expect[0]: a run names both pass and drop',
      'PACKET_EXPECT_INVALID test.yaml:20:7: case "decider with totals": decidedBy: does not go with totals (they say nothing of which packet is which)',
      'PACKET_EXPECT_INVALID test.yaml:24:15: case "list per packet": expect: the runs cover 2 packets, the step sends 3 packets',
    ]);
  });

  test('pcap files: missing, outside the root, invalid, no such packet, too large, cut short', () => {
    const cut = writePcap([new Uint8Array(60)]);
    cut.writeUInt32LE(1514, 24 + 12);
    const dir = tree({
      'in/one.pcap': writePcap([new Uint8Array(60)]),
      'in/cut.pcap': cut,
      'in/empty.pcap': writePcap([]),
      'in/ng.pcapng': fs.readFileSync(path.join(FIX, 'text2pcap.pcapng')),
      'out/secret.pcap': writePcap([new Uint8Array(60)]),
      'in/test.yaml': `${HEAD}    - name: missing
      pcap: { file: nope.pcap }
      expect: pass
    - name: escape
      pcap: { file: ../out/secret.pcap }
      expect: pass
    - name: symlink
      pcap: { file: link.pcap }
      expect: pass
    - name: pcapng
      pcap: { file: ng.pcapng }
      expect: pass
    - name: packet 2
      pcap: { file: one.pcap, packet: 2 }
      expect: pass
    - name: empty
      pcap: { file: empty.pcap }
      expect: pass
    - name: cut
      pcap: { file: cut.pcap }
      expect: pass
    - name: huge
      pcap: { file: huge.pcap }
      expect: pass
    - name: directory
      pcap: { file: . }
      expect: pass
`,
    });
    fs.symlinkSync(path.join(dir, 'out/secret.pcap'), path.join(dir, 'in/link.pcap'));
    // sparse: the size check refuses it before reading
    fs.writeFileSync(path.join(dir, 'in/huge.pcap'), '');
    fs.truncateSync(path.join(dir, 'in/huge.pcap'), MAX_PCAP_BYTES + 1);
    const root = path.join(dir, 'in');
    const real = fs.realpathSync(dir);
    assert.deepEqual(errorsOf(dir, 'in/test.yaml', root).map((l) => l.split(`${real}/`).join('')), [
      `PCAP_NOT_FOUND in/test.yaml:8:21: case "missing": pcap.file: nope.pcap not found (looked for ${dir}/in/nope.pcap)`.split(`${dir}/`).join(''),
      `PCAP_OUTSIDE_ROOT in/test.yaml:11:21: case "escape": pcap.file: ../out/secret.pcap resolves to out/secret.pcap, outside the root in`,
      `PCAP_OUTSIDE_ROOT in/test.yaml:14:21: case "symlink": pcap.file: link.pcap resolves to out/secret.pcap, outside the root in`,
      'PCAP_INVALID in/test.yaml:17:21: case "pcapng": pcap.file: ng.pcapng: a pcapng file, not a classic pcap file',
      'PCAP_NO_SUCH_PACKET in/test.yaml:20:39: case "packet 2": pcap.packet: one.pcap has 1 packet, no packet 2',
      'PCAP_NO_SUCH_PACKET in/test.yaml:23:21: case "empty": pcap.file: empty.pcap holds no packets',
      'PCAP_INVALID in/test.yaml:26:21: case "cut": pcap.file: packet 1 of cut.pcap was captured cut short (60 of 1514 bytes)',
      `PCAP_TOO_LARGE in/test.yaml:29:21: case "huge": pcap.file: huge.pcap is ${MAX_PCAP_BYTES + 1} bytes, more than the ${MAX_PCAP_BYTES} allowed`,
      'PCAP_NOT_FOUND in/test.yaml:32:21: case "directory": pcap.file: . is not a regular file',
    ]);
  });

  test('names: a case twice in one test, a test twice across files', () => {
    const one = `    - name: same\n      packet: { ip: { src: 198.18.0.1, dst: 198.18.0.2 }, udp: { dst: 1 } }\n      expect: pass\n`;
    const dir = tree({ 'a/test.yaml': `${HEAD}${one}${one}`, 'b/test.yaml': `${HEAD}${one.replace('same', 'other')}` });
    assert.deepEqual(errorsOf(dir, '.'), [
      `MANIFEST_DUPLICATE a/test.yaml:10:13: case "same" is defined twice in PacketTest "t" (first at ${dir}/a/test.yaml:7:13)`.split(`${dir}/`).join(''),
      `MANIFEST_DUPLICATE b/test.yaml:3:19: PacketTest "t" is defined twice (first at ${dir}/a/test.yaml:3:19)`.split(`${dir}/`).join(''),
    ]);
  });
});
