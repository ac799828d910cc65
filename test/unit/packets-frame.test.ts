/**
 * The frame builder against independent implementations: frames of Wireshark's text2pcap
 * (committed fixtures, see test/fixtures/packets/make-pcaps.sh) byte for byte, and random
 * frames decoded by tshark, field by field, with every checksum verified. The tshark part
 * is skipped, saying so, where tshark is not installed (Debian package tshark).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { KfnError } from '../../src/core/errors.js';
import { parseIPv6 } from '../../src/values/net.js';
import {
  PACKET_DEFAULTS,
  TCP_FLAGS,
  buildFrame,
  describePacket,
  frameLength,
  internetChecksum,
  readPcap,
  writePcap,
  type L4Header,
  type PacketSpec,
} from '../../src/packets/index.js';

const FIX = fileURLToPath(new URL('../fixtures/packets/', import.meta.url));
const fixture = (name: string) => readPcap(fs.readFileSync(path.join(FIX, name)), name).packets[0]!.data;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const v4 = (s: string) => ipaddr.IPv4.parse(s);
const v6 = (s: string) => ipaddr.IPv6.parse(s);

function spec(over: Partial<PacketSpec> & { l4: L4Header }): PacketSpec {
  return {
    eth: { src: PACKET_DEFAULTS.srcMac, dst: PACKET_DEFAULTS.dstMac },
    ip: { version: 4, src: v4('198.18.0.3'), dst: v4('198.18.0.1'), ttl: 64 },
    payloadLength: 0,
    ...over,
  };
}

describe('frame builder: fixed frames', () => {
  test('RFC 1071 checksum example', () => {
    // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum (folded) to ddf2.
    assert.equal(internetChecksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])), ~0xddf2 & 0xffff);
    // an odd length is padded with a zero byte
    assert.equal(internetChecksum(Uint8Array.from([0x01])), ~0x0100 & 0xffff);
  });

  test('IPv6/UDP equals text2pcap\'s frame byte for byte', () => {
    const ref = fixture('text2pcap-udp6.pcap');
    const mine = buildFrame({
      eth: { src: '20:53:45:4e:44:00', dst: '20:52:45:43:56:00' },
      ip: { version: 6, src: v6('2001:2::dead'), dst: v6('2001:2::1'), ttl: 32 },
      l4: { protocol: 'udp', srcPort: 40000, dstPort: 53 },
      payloadLength: 11,
    });
    assert.equal(hex(mine), hex(ref));
  });

  test('IPv4/UDP: the UDP segment (checksum over the pseudo-header) equals text2pcap\'s', () => {
    const ref = fixture('text2pcap-udp4-ns.pcap');
    const mine = buildFrame(spec({ ip: { version: 4, src: v4('198.18.0.3'), dst: v4('198.18.0.1'), ttl: 255 }, l4: { protocol: 'udp', srcPort: 40000, dstPort: 53 }, payloadLength: 11 }));
    assert.equal(mine.length, 53, 'no padding to the 60-byte minimum');
    assert.equal(hex(mine.subarray(34)), hex(ref.subarray(34, 34 + 19)));
    // same IPv4 header but for the identification (text2pcap: 0x1234) and so the checksum
    assert.equal(hex(mine.subarray(14, 18)), hex(ref.subarray(14, 18)));
    assert.equal(hex(mine.subarray(20, 24)), hex(ref.subarray(20, 24)));
    assert.equal(hex(mine.subarray(26, 34)), hex(ref.subarray(26, 34)));
    assert.equal(internetChecksum(mine, 14, 34), 0, 'IPv4 header checksum verifies');
  });

  test('layout: 802.1Q tag, header fields, payload pattern', () => {
    const f = buildFrame(spec({
      eth: { src: '02:00:00:00:00:01', dst: 'aa:bb:cc:dd:ee:ff', vlan: { id: 100, priority: 5 } },
      l4: { protocol: 'tcp', srcPort: 1234, dstPort: 22, flags: ['syn', 'ece'] },
      payloadLength: 300,
    }));
    assert.equal(f.length, 14 + 4 + 20 + 20 + 300);
    assert.equal(hex(f.subarray(0, 12)), 'aabbccddeeff020000000001');
    assert.equal(hex(f.subarray(12, 18)), `8100${((5 << 13) | 100).toString(16)}0800`);
    assert.equal(f[18 + 9], 6, 'IPPROTO_TCP');
    assert.equal(f[38 + 13], 0x02 | 0x40, 'SYN | ECE');
    assert.equal(f[58], 0x00);
    assert.equal(f[58 + 255], 0xff);
    assert.equal(f[58 + 256], 0x00, 'the pattern wraps after 0xff');
  });

  test('UDP never sends a zero checksum', () => {
    // Find a frame whose UDP checksum computes to 0 (0xffff sum) by varying the source port.
    let found = false;
    for (let port = 0; port < 65536 && !found; port++) {
      const f = buildFrame(spec({ l4: { protocol: 'udp', srcPort: port, dstPort: 53 } }));
      const csum = (f[40]! << 8) | f[41]!;
      assert.notEqual(csum, 0, `port ${port}`);
      if (csum === 0xffff) found = true;
    }
    assert.ok(found, 'some source port gives the 0xffff form');
  });

  test('ICMP over IPv6 (and ICMPv6 over IPv4) is refused', () => {
    assert.throws(
      () => buildFrame(spec({ ip: { version: 6, src: v6('2001:2::1'), dst: v6('2001:2::2'), ttl: 64 }, l4: { protocol: 'icmp', type: 8, code: 0 } })),
      (e: unknown) => e instanceof KfnError && e.code === 'PACKET_INVALID',
    );
    assert.throws(() => buildFrame(spec({ l4: { protocol: 'icmpv6', type: 128, code: 0 } })), (e: unknown) => e instanceof KfnError && e.code === 'PACKET_INVALID');
  });

  test('a spec built in code is range-checked like the schema checks YAML', () => {
    const refused = (s: PacketSpec, msg: string) =>
      assert.throws(() => buildFrame(s), (e: unknown) => e instanceof KfnError && e.code === 'PACKET_INVALID' && e.message === msg);
    refused(spec({ l4: { protocol: 'udp', srcPort: 65536, dstPort: 53 } }), 'source port 65536 is out of range (0-65535)');
    refused(spec({ l4: { protocol: 'tcp', srcPort: 1, dstPort: -1, flags: [] } }), 'destination port -1 is out of range (0-65535)');
    refused(spec({ l4: { protocol: 'icmp', type: 256, code: 0 } }), 'ICMP type 256 is out of range (0-255)');
    refused(spec({ ip: { version: 4, src: v4('198.18.0.1'), dst: v4('198.18.0.2'), ttl: 1.5 }, l4: { protocol: 'icmp', type: 8, code: 0 } }), 'ttl 1.5 is out of range (0-255)');
    refused(spec({ eth: { src: 'AA:BB:CC:DD:EE:FF', dst: PACKET_DEFAULTS.dstMac }, l4: { protocol: 'icmp', type: 8, code: 0 } }), 'MAC "AA:BB:CC:DD:EE:FF" is not aa:bb:cc:dd:ee:ff');
    refused(spec({ eth: { src: PACKET_DEFAULTS.srcMac, dst: PACKET_DEFAULTS.dstMac, vlan: { id: 4096, priority: 0 } }, l4: { protocol: 'icmp', type: 8, code: 0 } }), 'VLAN id 4096 is out of range (0-4095)');
    refused(spec({ l4: { protocol: 'udp', srcPort: 1, dstPort: 2 }, payloadLength: 65535 - 48 + 1 }), 'payload length 65488 is out of range (0-65487)');
  });

  test('describePacket', () => {
    assert.equal(describePacket(spec({ l4: { protocol: 'udp', srcPort: 40000, dstPort: 53 } })), 'udp 198.18.0.3:40000 > 198.18.0.1:53, 42 bytes');
    assert.equal(
      describePacket(spec({
        eth: { src: PACKET_DEFAULTS.srcMac, dst: PACKET_DEFAULTS.dstMac, vlan: { id: 7, priority: 0 } },
        ip: { version: 6, src: v6('2001:2:0:0::dead'), dst: v6('::ffff:198.18.0.1'), ttl: 1 },
        l4: { protocol: 'tcp', srcPort: 1, dstPort: 2, flags: ['syn', 'ack'] },
      })),
      'tcp [2001:2::dead]:1 > [::ffff:198.18.0.1]:2 [syn,ack] vlan 7, 78 bytes',
    );
    assert.equal(describePacket(spec({ l4: { protocol: 'icmp', type: 3, code: 1 } })), 'icmp 198.18.0.3 > 198.18.0.1 type 3 code 1, 42 bytes');
  });
});

// ------------------------------------------------------------------ tshark

const tshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' });
const NO_TSHARK = tshark.error || tshark.status !== 0 ? 'tshark is not installed (apt-get install tshark)' : false;

const FIELDS = [
  'frame.len', 'eth.src', 'eth.dst', 'vlan.id', 'vlan.priority',
  'ip.src', 'ip.dst', 'ip.ttl', 'ip.proto', 'ip.len', 'ip.checksum.status',
  'ipv6.src', 'ipv6.dst', 'ipv6.hlim', 'ipv6.nxt', 'ipv6.plen',
  'tcp.srcport', 'tcp.dstport', 'tcp.flags', 'tcp.len', 'tcp.checksum.status',
  'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum.status',
  'icmp.type', 'icmp.code', 'icmp.checksum.status',
  'icmpv6.type', 'icmpv6.code', 'icmpv6.checksum.status',
] as const;
type Row = Record<(typeof FIELDS)[number], string>;

/** Decodes a pcap with tshark, checksum verification on, first occurrence of each field. */
function decode(file: string): Row[] {
  const args = ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    // Decode the payload as data, not as whatever protocol the port suggests.
    '--disable-protocol', 'dns', '-T', 'fields', '-E', 'occurrence=f', '-E', 'separator=\t', ...FIELDS.flatMap((f) => ['-e', f])];
  const r = spawnSync('tshark', args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `tshark failed: ${r.stderr}`);
  return r.stdout.trimEnd().split('\n').map((line) => {
    const cells = line.split('\t');
    return Object.fromEntries(FIELDS.map((f, i) => [f, cells[i] ?? ''])) as Row;
  });
}

const GOOD = '1'; // PROTO_CHECKSUM_E_GOOD

const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));
const arbIp = fc.oneof(
  fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([s, d]) => ({ version: 4 as const, s, d })),
  fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 })).map(([s, d]) => ({ version: 6 as const, s, d })),
);
const arbSpec: fc.Arbitrary<PacketSpec> = fc
  .record({
    src: arbMac,
    dst: arbMac,
    vlan: fc.option(fc.record({ id: fc.integer({ min: 0, max: 4095 }), priority: fc.integer({ min: 0, max: 7 }) }), { nil: undefined }),
    ip: arbIp,
    ttl: fc.integer({ min: 0, max: 255 }),
    proto: fc.constantFrom('tcp', 'udp', 'icmp'),
    sport: fc.integer({ min: 0, max: 65535 }),
    dport: fc.integer({ min: 0, max: 65535 }),
    flags: fc.subarray([...TCP_FLAGS]),
    type: fc.integer({ min: 0, max: 255 }),
    code: fc.integer({ min: 0, max: 255 }),
    payload: fc.integer({ min: 0, max: 1500 }),
  })
  .map((r): PacketSpec => {
    const ip = r.ip.version === 4
      ? { version: 4 as const, src: new ipaddr.IPv4(Array.from(r.ip.s)), dst: new ipaddr.IPv4(Array.from(r.ip.d)), ttl: r.ttl }
      : { version: 6 as const, src: ipaddr.fromByteArray(Array.from(r.ip.s)) as ipaddr.IPv6, dst: ipaddr.fromByteArray(Array.from(r.ip.d)) as ipaddr.IPv6, ttl: r.ttl };
    const l4: L4Header =
      r.proto === 'tcp' ? { protocol: 'tcp', srcPort: r.sport, dstPort: r.dport, flags: r.flags }
      : r.proto === 'udp' ? { protocol: 'udp', srcPort: r.sport, dstPort: r.dport }
      : { protocol: r.ip.version === 4 ? 'icmp' : 'icmpv6', type: r.type, code: r.code };
    return { eth: { src: r.src, dst: r.dst, ...(r.vlan ? { vlan: r.vlan } : {}) }, ip, l4, payloadLength: r.payload };
  });

function addrText(version: 4 | 6, a: ipaddr.IPv4 | ipaddr.IPv6, shown: string): void {
  if (version === 4) assert.equal(shown, a.toString());
  else assert.deepEqual(parseIPv6(shown), Uint8Array.from(a.toByteArray()));
}

function checkRow(s: PacketSpec, row: Row, i: number): void {
  const m = `frame ${i + 1}: ${describePacket(s)}`;
  assert.equal(Number(row['frame.len']), frameLength(s), m);
  assert.equal(row['eth.src'], s.eth.src, m);
  assert.equal(row['eth.dst'], s.eth.dst, m);
  if (s.eth.vlan) {
    assert.equal(Number(row['vlan.id']), s.eth.vlan.id, m);
    assert.equal(Number(row['vlan.priority']), s.eth.vlan.priority, m);
  } else assert.equal(row['vlan.id'], '', m);
  const l4Len = frameLength(s) - 14 - (s.eth.vlan ? 4 : 0) - (s.ip.version === 4 ? 20 : 40);
  const proto = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 }[s.l4.protocol];
  if (s.ip.version === 4) {
    addrText(4, s.ip.src, row['ip.src']);
    addrText(4, s.ip.dst, row['ip.dst']);
    assert.equal(Number(row['ip.ttl']), s.ip.ttl, m);
    assert.equal(Number(row['ip.proto']), proto, m);
    assert.equal(Number(row['ip.len']), 20 + l4Len, m);
    assert.equal(row['ip.checksum.status'], GOOD, `${m}: IPv4 header checksum`);
  } else {
    addrText(6, s.ip.src, row['ipv6.src']);
    addrText(6, s.ip.dst, row['ipv6.dst']);
    assert.equal(Number(row['ipv6.hlim']), s.ip.ttl, m);
    assert.equal(Number(row['ipv6.nxt']), proto, m);
    assert.equal(Number(row['ipv6.plen']), l4Len, m);
  }
  const l4 = s.l4;
  switch (l4.protocol) {
    case 'tcp':
      assert.equal(Number(row['tcp.srcport']), l4.srcPort, m);
      assert.equal(Number(row['tcp.dstport']), l4.dstPort, m);
      assert.equal(Number(row['tcp.flags']), l4.flags.reduce((b, f) => b | (1 << TCP_FLAGS.indexOf(f)), 0), m);
      assert.equal(Number(row['tcp.len']), s.payloadLength, m);
      assert.equal(row['tcp.checksum.status'], GOOD, `${m}: TCP checksum`);
      break;
    case 'udp':
      assert.equal(Number(row['udp.srcport']), l4.srcPort, m);
      assert.equal(Number(row['udp.dstport']), l4.dstPort, m);
      assert.equal(Number(row['udp.length']), l4Len, m);
      assert.equal(row['udp.checksum.status'], GOOD, `${m}: UDP checksum`);
      break;
    case 'icmp':
    case 'icmpv6': {
      const p = l4.protocol;
      assert.equal(Number(row[`${p}.type`]), l4.type, m);
      assert.equal(Number(row[`${p}.code`]), l4.code, m);
      assert.equal(row[`${p}.checksum.status`], GOOD, `${m}: ${p} checksum`);
      break;
    }
  }
}

describe('frame builder: decoded by tshark', { skip: NO_TSHARK }, () => {
  test('300 random frames: every field as described, every checksum good', () => {
    const specs = fc.sample(arbSpec, { numRuns: 300, seed: Number(process.env.FC_SEED ?? 4242) });
    // the edge cases fast-check may not draw
    specs.push(
      spec({ l4: { protocol: 'tcp', srcPort: 0, dstPort: 65535, flags: [...TCP_FLAGS] }, payloadLength: 1 }),
      spec({ ip: { version: 6, src: v6('::'), dst: v6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), ttl: 255 }, l4: { protocol: 'icmpv6', type: 128, code: 0 }, payloadLength: 9000 }),
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-frames-'));
    try {
      const file = path.join(dir, 'frames.pcap');
      fs.writeFileSync(file, writePcap(specs.map(buildFrame)));
      const rows = decode(file);
      assert.equal(rows.length, specs.length);
      specs.forEach((s, i) => checkRow(s, rows[i]!, i));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
