/**
 * The pcap reader and writer: files written by text2pcap (test/fixtures/packets), both
 * byte orders and timestamp precisions round-trip, tshark reads what kfn writes, and every
 * malformed or unsupported file is refused with one PCAP_INVALID line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { KfnError } from '../../src/core/errors.js';
import { readPcap, writePcap } from '../../src/packets/index.js';

const FIX = fileURLToPath(new URL('../fixtures/packets/', import.meta.url));
const read = (name: string) => readPcap(fs.readFileSync(path.join(FIX, name)), name);

function refusal(bytes: Uint8Array, name = 'x.pcap'): KfnError {
  try {
    readPcap(bytes, name);
  } catch (e) {
    assert.ok(e instanceof KfnError, `expected a KfnError, got ${String(e)}`);
    assert.equal(e.code, 'PCAP_INVALID');
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.ok(e.hint, 'with a hint');
    return e;
  }
  assert.fail('expected a refusal');
}

const frames = [Uint8Array.from({ length: 60 }, (_, i) => i), Uint8Array.from({ length: 14 }, () => 0xee), Uint8Array.from({ length: 1514 }, (_, i) => i * 7)];
const times = [1_700_000_000_123_456_000n, 1_700_000_001_000_001_000n, 5n * 1_000_000_000n];

describe('pcap: reading', () => {
  test('text2pcap files, microsecond and nanosecond', () => {
    const us = read('text2pcap-udp6.pcap');
    assert.equal(us.byteOrder, 'le');
    assert.equal(us.nanosecond, false);
    assert.equal(us.packets.length, 1);
    assert.equal(us.packets[0]!.data.length, 73);
    assert.equal(us.packets[0]!.originalLength, 73);
    assert.equal(Buffer.from(us.packets[0]!.data.subarray(12, 14)).toString('hex'), '86dd');
    const ns = read('text2pcap-udp4-ns.pcap');
    assert.equal(ns.nanosecond, true);
    assert.equal(ns.packets[0]!.data.length, 60);
    assert.equal(Buffer.from(ns.packets[0]!.data.subarray(12, 14)).toString('hex'), '0800');
  });

  for (const byteOrder of ['le', 'be'] as const) {
    for (const nanosecond of [false, true]) {
      test(`writePcap -> readPcap round trip (${byteOrder}, ${nanosecond ? 'ns' : 'µs'})`, () => {
        const f = readPcap(writePcap(frames, { byteOrder, nanosecond, timesNs: times }), 'rt.pcap');
        assert.equal(f.byteOrder, byteOrder);
        assert.equal(f.nanosecond, nanosecond);
        assert.deepEqual(f.packets.map((p) => Buffer.from(p.data).toString('hex')), frames.map((x) => Buffer.from(x).toString('hex')));
        assert.deepEqual(f.packets.map((p) => p.originalLength), [60, 14, 1514]);
        assert.deepEqual(f.packets.map((p) => p.timeNs), times);
      });
    }
  }

  test('an empty capture (header only) has no packets', () => {
    assert.deepEqual(readPcap(writePcap([]), 'empty.pcap').packets, []);
  });

  test('a frame captured cut short keeps its original length', () => {
    const b = writePcap([frames[0]!]);
    b.writeUInt32LE(1514, 24 + 12);
    const p = readPcap(b, 'cut.pcap').packets[0]!;
    assert.equal(p.data.length, 60);
    assert.equal(p.originalLength, 1514);
  });
});

describe('pcap: refusals', () => {
  test('pcapng', () => {
    const e = refusal(fs.readFileSync(path.join(FIX, 'text2pcap.pcapng')), 'text2pcap.pcapng');
    assert.equal(e.message, 'text2pcap.pcapng: a pcapng file, not a classic pcap file');
    assert.equal(e.hint, 'convert it: editcap -F pcap text2pcap.pcapng out.pcap');
  });

  test('a link type other than Ethernet', () => {
    const e = refusal(fs.readFileSync(path.join(FIX, 'text2pcap-sll.pcap')), 'any.pcap');
    assert.equal(e.message, 'any.pcap: link type 113 (LINUX_SLL): only Ethernet (1) frames can be sent through a chain');
    const raw = writePcap(frames);
    raw.writeUInt32LE(101, 20);
    assert.match(refusal(raw).message, /link type 101 \(RAW\)/);
    raw.writeUInt32LE(4242, 20);
    assert.match(refusal(raw).message, /link type 4242: only Ethernet/);
    raw.writeUInt32LE(1 | 0x04000000 | (4 << 28), 20);
    assert.match(refusal(raw).message, /FCS/);
  });

  test('not a pcap, too short, other version, truncated, corrupt', () => {
    assert.equal(refusal(Buffer.from('hello world, this is not a capture')).message, 'x.pcap: not a pcap file (magic 0x68656c6c)');
    assert.equal(refusal(new Uint8Array(10)).message, 'x.pcap: 10 bytes, too short for a pcap file header (24 bytes)');
    const v1 = writePcap(frames);
    v1.writeUInt16LE(1, 4);
    assert.equal(refusal(v1).message, 'x.pcap: pcap version 1.4, only 2.x is read');
    const whole = writePcap(frames);
    assert.equal(refusal(whole.subarray(0, whole.length - 1)).message, 'x.pcap: packet 3: 1514 bytes announced, 1513 left (the file is truncated)');
    assert.equal(refusal(whole.subarray(0, 24 + 16 + 60 + 5)).message, 'x.pcap: packet 2: record header cut short at byte 100 (the file is truncated)');
    const huge = writePcap(frames);
    huge.writeUInt32LE(300000, 24 + 8);
    assert.match(refusal(huge).message, /^x\.pcap: packet 1: record of 300000 bytes at byte 24, more than 262144 \(the file is corrupt\)$/);
  });

  test('any bytes: a PcapFile or a PCAP_INVALID, never another exception', () => {
    const header = writePcap([]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, withHeader) => {
        const bytes = withHeader ? Buffer.concat([header, tail]) : Buffer.from(tail);
        try {
          const f = readPcap(bytes, 'f.pcap');
          assert.ok(f.packets.every((p) => p.data.length <= bytes.length));
        } catch (e) {
          assert.ok(e instanceof KfnError && e.code === 'PCAP_INVALID', String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

const tshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' });
const NO_TSHARK = tshark.error || tshark.status !== 0 ? 'tshark is not installed (apt-get install tshark)' : false;

describe('pcap: tshark reads what writePcap writes', { skip: NO_TSHARK }, () => {
  for (const byteOrder of ['le', 'be'] as const) {
    for (const nanosecond of [false, true]) {
      test(`${byteOrder}, ${nanosecond ? 'ns' : 'µs'}`, () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-pcap-'));
        try {
          const file = path.join(dir, 'w.pcap');
          fs.writeFileSync(file, writePcap(frames, { byteOrder, nanosecond, timesNs: times }));
          const r = spawnSync('tshark', ['-r', file, '-n', '-T', 'fields', '-e', 'frame.len', '-e', 'frame.time_epoch', '-e', 'eth.dst'], { encoding: 'utf8', timeout: 30_000 });
          assert.equal(r.status, 0, r.stderr);
          const rows = r.stdout.trimEnd().split('\n').map((l) => l.split('\t'));
          assert.deepEqual(rows.map((x) => Number(x[0])), [60, 14, 1514]);
          assert.deepEqual(rows.map((x) => x[1]), ['1700000000.123456000', '1700000001.000001000', '5.000000000']);
          assert.deepEqual(rows.map((x) => x[2]), ['00:01:02:03:04:05', 'ee:ee:ee:ee:ee:ee', '00:07:0e:15:1c:23']);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  }
});
