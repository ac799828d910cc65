/**
 * Table tests of src/values: every encoding rule, every error message shape, decode,
 * format, describe, map entries and globals. Property tests: values-property.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BtfMember, BtfType } from '../../src/libbpf/btf-types.js';
import type { MapInfo } from '../../src/libbpf/object-info.js';
import {
  decodeMapEntry, decodeValue, describeType, encodeGlobal, encodeMapEntry, encodeValue, formatValue, ValueError,
} from '../../src/values/index.js';

// ---------------------------------------------------------------- BTF builders

const INT_NAMES: Record<string, string> = {
  u1: 'unsigned char', s1: 'signed char', u2: 'unsigned short', s2: 'short', u4: 'unsigned int', s4: 'int',
  u8: 'unsigned long long', s8: 'long long', u16: 'unsigned __int128', s16: '__int128',
};

function int(size: number, signed = false, name?: string): BtfType {
  return { kind: 'int', name: name ?? INT_NAMES[`${signed ? 's' : 'u'}${size}`]!, size, signed, bool: false, char: false };
}
const u8 = int(1);
const s8 = int(1, true);
const u16 = int(2);
const u32 = int(4);
const s32 = int(4, true);
const u64 = int(8);
const s64 = int(8, true);
const u128 = int(16);
const s128 = int(16, true);
const char: BtfType = { kind: 'int', name: 'char', size: 1, signed: true, bool: false, char: false };
const bool: BtfType = { kind: 'int', name: '_Bool', size: 1, signed: false, bool: true, char: false };

function typedef(name: string, type: BtfType): BtfType {
  return { kind: 'typedef', name, type };
}
function array(elem: BtfType, length: number): BtfType {
  return { kind: 'array', elem, length };
}
function member(name: string, offset: number, type: BtfType, bitSize?: number): BtfMember {
  return bitSize === undefined ? { name, offset, type } : { name, offset, type, bitSize };
}
function struct(name: string, size: number, members: BtfMember[]): BtfType {
  return { kind: 'struct', name, size, members };
}
function union(name: string, size: number, members: BtfMember[]): BtfType {
  return { kind: 'union', name, size, members };
}
function enumT(name: string, size: number, values: [string, number | bigint][], signed = false): BtfType {
  return { kind: 'enum', name, size, signed, values: values.map(([n, v]) => ({ name: n, value: BigInt(v) })) };
}

const be16 = typedef('__be16', typedef('__u16', u16));
const kfnBe16 = typedef('kfn_be16', typedef('__u16', u16));
const be32 = typedef('__be32', typedef('__u32', u32));
const lpmV4 = struct('kfn_lpm_v4', 8, [member('prefixlen', 0, typedef('__u32', u32)), member('addr', 4, array(typedef('__u8', u8), 4))]);
const lpmV6 = struct('kfn_lpm_v6', 20, [member('prefixlen', 0, typedef('__u32', u32)), member('addr', 4, array(typedef('__u8', u8), 16))]);

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
function bytes(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
}

/** Asserts a ValueError with exactly this message (and optionally path/expected/got). */
function throwsValue(fn: () => unknown, message: string, parts?: { path?: string; expected?: string; got?: string }): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ValueError, `not a ValueError: ${String(e)}`);
    assert.equal(e.message, message);
    if (parts?.path !== undefined) assert.equal(e.path, parts.path);
    if (parts?.expected !== undefined) assert.equal(e.expected, parts.expected);
    if (parts?.got !== undefined) assert.equal(e.got, parts.got);
    return true;
  });
}

function enc(t: BtfType, v: unknown, name?: string): string {
  return hex(encodeValue(t, v, '', name));
}

/** decode(encode(v)) and encode(decode(bytes)) in one go. */
function roundTrip(t: BtfType, v: unknown, expectHex: string, canonical: unknown, name?: string): void {
  const b = encodeValue(t, v, '', name);
  assert.equal(hex(b), expectHex);
  assert.deepEqual(decodeValue(t, b, name), canonical);
  assert.equal(hex(encodeValue(t, canonical, '', name)), expectHex);
}

describe('values: integers', () => {
  it('encodes every width little-endian, with min and max', () => {
    const cases: [BtfType, unknown, string][] = [
      [u8, 0, '00'], [u8, 255, 'ff'], [s8, -128, '80'], [s8, 127, '7f'],
      [u16, 0x1234, '3412'], [int(2, true), -2, 'feff'],
      [u32, 4294967295, 'ffffffff'], [s32, -2147483648, '00000080'], [u32, 10000, '10270000'],
      [u64, 18446744073709551615n, 'ffffffffffffffff'], [s64, -9223372036854775808n, '0000000000000080'],
      [u128, (1n << 128n) - 1n, 'ff'.repeat(16)], [s128, -1n, 'ff'.repeat(16)], [u128, 1n, '01' + '00'.repeat(15)],
    ];
    for (const [t, v, h] of cases) assert.equal(enc(t, v), h, `${String(v)}`);
  });

  it('accepts bigints, decimal strings and 0x hex strings', () => {
    assert.equal(enc(u32, 42n), '2a000000');
    assert.equal(enc(u32, '42'), '2a000000');
    assert.equal(enc(u32, '0x2A'), '2a000000');
    assert.equal(enc(s32, '-0x10'), 'f0ffffff');
    assert.equal(enc(s32, '-7'), 'f9ffffff');
    assert.equal(enc(u64, '18446744073709551615'), 'ffffffffffffffff');
    assert.equal(enc(u128, '0x0102'), '0201' + '00'.repeat(14));
  });

  it('rejects out of range with the exact type and range', () => {
    throwsValue(() => encodeValue(u32, -5, 'rate_pps'), 'rate_pps: expected u32 (0..4294967295), got -5', {
      path: 'rate_pps', expected: 'u32 (0..4294967295)', got: '-5',
    });
    throwsValue(() => encodeValue(u32, -5), 'expected u32 (0..4294967295), got -5');
    throwsValue(() => encodeValue(u8, 256, 'x'), 'x: expected u8 (0..255), got 256');
    throwsValue(() => encodeValue(s8, '-129', 'x'), 'x: expected s8 (-128..127), got "-129"');
    throwsValue(() => encodeValue(u16, '0x10000', 'x'), 'x: expected u16 (0..65535), got "0x10000"');
    throwsValue(() => encodeValue(s64, 9223372036854775808n, 'x'), 'x: expected s64 (-9223372036854775808..9223372036854775807), got 9223372036854775808');
    throwsValue(() => encodeValue(u128, 1n << 128n, 'x'), `x: expected u128 (0..${(1n << 128n) - 1n}), got ${1n << 128n}`);
  });

  it('rejects floats, NaN, non-numeric strings, booleans, null, objects and nothing', () => {
    throwsValue(() => encodeValue(u32, 1.5, 'x'), 'x: expected u32 (0..4294967295), got 1.5');
    throwsValue(() => encodeValue(u32, NaN, 'x'), 'x: expected u32 (0..4294967295), got NaN');
    throwsValue(() => encodeValue(u32, Infinity, 'x'), 'x: expected u32 (0..4294967295), got Infinity');
    throwsValue(() => encodeValue(u32, '1e3', 'x'), 'x: expected u32 (0..4294967295), got "1e3"');
    throwsValue(() => encodeValue(u32, ' 1', 'x'), 'x: expected u32 (0..4294967295), got " 1"');
    throwsValue(() => encodeValue(u32, '0x', 'x'), 'x: expected u32 (0..4294967295), got "0x"');
    throwsValue(() => encodeValue(u32, true, 'x'), 'x: expected u32 (0..4294967295), got true');
    throwsValue(() => encodeValue(u32, null, 'x'), 'x: expected u32 (0..4294967295), got null');
    throwsValue(() => encodeValue(u32, { a: 1 }, 'x'), 'x: expected u32 (0..4294967295), got {"a":1}');
    throwsValue(() => encodeValue(u32, [1], 'x'), 'x: expected u32 (0..4294967295), got [1]');
    throwsValue(() => encodeValue(u32, undefined, 'x'), 'x: expected u32 (0..4294967295), got nothing');
  });

  it('hints at quoting for unsafe JS numbers', () => {
    throwsValue(
      () => encodeValue(u64, 2 ** 60, 'big'),
      'big: expected u64 (0..18446744073709551615), got 1152921504606847000 (numbers beyond 2^53 lose precision in YAML: quote them)',
    );
  });

  it('decodes to a number when safe, else a decimal string', () => {
    assert.equal(decodeValue(u32, bytes('10270000')), 10000);
    assert.equal(decodeValue(s32, bytes('fbffffff')), -5);
    assert.equal(decodeValue(u64, bytes('ffffffffffffffff')), '18446744073709551615');
    assert.equal(decodeValue(s64, bytes('0000000000000080')), '-9223372036854775808');
    assert.equal(decodeValue(u64, bytes('ffffffffffff1f00')), Number.MAX_SAFE_INTEGER);
    assert.equal(decodeValue(u64, bytes('0000000000002000')), '9007199254740992');
    assert.equal(decodeValue(s128, bytes('ff'.repeat(16))), -1);
    assert.equal(decodeValue(u128, bytes('ff'.repeat(16))), String((1n << 128n) - 1n));
    roundTrip(u64, '9007199254740993', '0100000000002000', '9007199254740993');
  });
});

describe('values: bool', () => {
  it('takes true/false only', () => {
    roundTrip(bool, true, '01', true);
    roundTrip(bool, false, '00', false);
    const named: BtfType = { kind: 'int', name: '_Bool', size: 1, signed: false, bool: false, char: false };
    assert.equal(enc(named, true), '01');
    throwsValue(() => encodeValue(bool, 1, 'on'), 'on: expected bool (true|false), got 1');
    throwsValue(() => encodeValue(bool, 'true', 'on'), 'on: expected bool (true|false), got "true"');
  });
  it('decodes bytes other than 0/1 to their number (invalid, shown as is)', () => {
    assert.equal(decodeValue(bool, bytes('02')), 2);
    assert.equal(formatValue(bool, bytes('01')), 'true');
  });
});

describe('values: char arrays (strings)', () => {
  const name16 = array(char, 16);
  it('writes a NUL-padded UTF-8 string that fits with its NUL', () => {
    roundTrip(name16, 'eth0', '65746830' + '00'.repeat(12), 'eth0');
    roundTrip(name16, '', '00'.repeat(16), '');
    assert.equal(enc(name16, 'x'.repeat(15)), '78'.repeat(15) + '00');
    assert.equal(enc(array(char, 4), 'é'), 'c3a90000');
  });
  it('rejects strings that do not fit, contain NUL, or are not strings', () => {
    throwsValue(() => encodeValue(name16, 'x'.repeat(16), 'ifname'),
      `ifname: expected string of at most 15 bytes (char[16]), got "${'x'.repeat(16)}" (16 bytes plus the terminating NUL do not fit)`);
    throwsValue(() => encodeValue(array(char, 4), 'éé', 'n'), 'n: expected string of at most 3 bytes (char[4]), got "éé" (4 bytes plus the terminating NUL do not fit)');
    throwsValue(() => encodeValue(name16, 'a\0b', 'n'), 'n: expected string of at most 15 bytes (char[16]), got "a\\u0000b" (NUL characters cannot be stored)');
    throwsValue(() => encodeValue(name16, 42, 'n'), 'n: expected string of at most 15 bytes (char[16]), got 42');
    throwsValue(() => encodeValue(name16, '\ud800', 'n'), 'n: expected string of at most 15 bytes (char[16]), got "\\ud800" (not valid Unicode)');
  });
  it('decodes bytes that are not a clean C string to the list of chars', () => {
    // data after the NUL
    assert.deepEqual(decodeValue(array(char, 4), bytes('61006200')), [97, 0, 98, 0]);
    // no NUL at all
    assert.deepEqual(decodeValue(array(char, 2), bytes('6162')), [97, 98]);
    // invalid UTF-8; plain char is signed
    assert.deepEqual(decodeValue(array(char, 3), bytes('ff6100')), [-1, 97, 0]);
    assert.equal(enc(array(char, 3), [-1, 97]), 'ff6100');
    assert.equal(formatValue(array(char, 4), bytes('61626300')), '"abc"');
    assert.equal(formatValue(array(char, 2), bytes('6162')), '[97, 98]');
  });
  it('keeps a leading BOM', () => {
    roundTrip(array(char, 5), '\ufeffa', 'efbbbf6100', '\ufeffa');
  });
  it('treats __u8 / __s8 arrays as bytes, not strings, even with the char flag', () => {
    const flaggedU8: BtfType = { kind: 'int', name: 'unsigned char', size: 1, signed: false, bool: false, char: true };
    assert.equal(decodeValue(array(flaggedU8, 2), bytes('6162')), '0x6162');
    const flaggedChar: BtfType = { kind: 'int', name: 'mychar', size: 1, signed: true, bool: false, char: true };
    assert.equal(decodeValue(array(flaggedChar, 3), bytes('616200')), 'ab');
  });
});

describe('values: enums', () => {
  const verdict = enumT('verdict', 4, [['pass', 0], ['drop', 1], ['also_drop', 1]]);
  it('encodes by exact name or by one of its integer values, decodes to the first name', () => {
    roundTrip(verdict, 'drop', '01000000', 'drop');
    roundTrip(verdict, 1, '01000000', 'drop');
    roundTrip(verdict, '1', '01000000', 'drop');
    roundTrip(verdict, 'also_drop', '01000000', 'drop');
    roundTrip(verdict, 0n, '00000000', 'pass');
  });
  it('rejects other names and values', () => {
    throwsValue(() => encodeValue(verdict, 'reject', 'v'), 'v: expected enum verdict (pass|drop|also_drop), got "reject"');
    throwsValue(() => encodeValue(verdict, 'DROP', 'v'), 'v: expected enum verdict (pass|drop|also_drop), got "DROP"');
    throwsValue(() => encodeValue(verdict, 7, 'v'), 'v: expected enum verdict (pass|drop|also_drop), got 7');
    throwsValue(() => encodeValue(verdict, true, 'v'), 'v: expected enum verdict (pass|drop|also_drop), got true');
  });
  it('handles signed and 64-bit enums and unknown values', () => {
    const e = enumT('e', 8, [['neg', -1], ['big', 1n << 40n]], true);
    roundTrip(e, 'neg', 'ff'.repeat(8), 'neg');
    roundTrip(e, -1, 'ff'.repeat(8), 'neg');
    assert.equal(decodeValue(e, bytes('0200000000000000')), 2);
    assert.equal(decodeValue(enumT('u', 1, [['a', 1]]), bytes('05')), 5);
  });
});

describe('values: LPM prefixes', () => {
  it('writes prefixlen host order then the address network order', () => {
    roundTrip(lpmV4, '198.18.0.0/15', '0f000000c6120000', '198.18.0.0/15');
    roundTrip(lpmV4, '203.0.113.0/24', '18000000cb007100', '203.0.113.0/24');
    roundTrip(lpmV4, '0.0.0.0/0', '0000000000000000', '0.0.0.0/0');
    roundTrip(lpmV6, '2001:2::/48', '30000000' + '20010002' + '00'.repeat(12), '2001:2::/48');
  });
  it('reads a bare address as /32 or /128', () => {
    roundTrip(lpmV4, '198.18.0.3', '20000000c6120003', '198.18.0.3/32');
    roundTrip(lpmV6, '::1', '80000000' + '00'.repeat(15) + '01', '::1/128');
  });
  it('rejects host bits beyond the prefix with the network address as hint', () => {
    throwsValue(() => encodeValue(lpmV4, '198.18.0.1/24', 'k'),
      'k: expected IPv4 prefix (a.b.c.d/len) without host bits set, got "198.18.0.1/24" (did you mean 198.18.0.0/24?)');
    throwsValue(() => encodeValue(lpmV6, '2001:db8::1/32', 'k'),
      'k: expected IPv6 prefix (address/len) without host bits set, got "2001:db8::1/32" (did you mean 2001:db8::/32?)');
    assert.equal(enc(lpmV4, '10.0.0.128/25'), '190000000a000080');
  });
  it('rejects the other family, bad lengths and non-strings', () => {
    throwsValue(() => encodeValue(lpmV4, '2001:db8::/32', 'k'),
      'k: expected IPv4 prefix (a.b.c.d/len), got "2001:db8::/32" (an IPv6 prefix does not fit this IPv4 key)');
    throwsValue(() => encodeValue(lpmV6, '10.0.0.0/8', 'k'),
      'k: expected IPv6 prefix (address/len), got "10.0.0.0/8" (an IPv4 prefix does not fit this IPv6 key)');
    throwsValue(() => encodeValue(lpmV4, '10.0.0.0/33', 'k'), 'k: expected IPv4 prefix (a.b.c.d/len), got "10.0.0.0/33" (the prefix length is 0..32)');
    throwsValue(() => encodeValue(lpmV4, '10.0.0.0/08', 'k'), 'k: expected IPv4 prefix (a.b.c.d/len), got "10.0.0.0/08" (the prefix length is 0..32)');
    throwsValue(() => encodeValue(lpmV4, '10.0.0.0/', 'k'), 'k: expected IPv4 prefix (a.b.c.d/len), got "10.0.0.0/" (the prefix length is 0..32)');
    throwsValue(() => encodeValue(lpmV4, '10.0.0/8', 'k'), 'k: expected IPv4 prefix (a.b.c.d/len), got "10.0.0/8"');
    throwsValue(() => encodeValue(lpmV4, 42, 'k'), 'k: expected IPv4 prefix (a.b.c.d/len), got 42');
    throwsValue(() => encodeValue(lpmV4, { prefixlen: 8, addr: '10.0.0.0' }, 'k'), 'k: expected IPv4 prefix (a.b.c.d/len), got {"prefixlen":8,"addr":"10.0.0.0"}');
  });
  it('refuses IPv4-mapped IPv6 prefixes, naming the IPv4 prefix to use instead', () => {
    const why = "an IPv4-mapped prefix never matches IPv4 traffic: kfn's functions keep IPv4 in IPv4 maps and fields";
    throwsValue(() => encodeValue(lpmV6, '::ffff:198.18.0.0/111', 'k'),
      `k: expected IPv6 prefix (address/len), got "::ffff:198.18.0.0/111" (${why}, so put 198.18.0.0/15 in the IPv4 map instead)`);
    throwsValue(() => encodeValue(lpmV6, '::ffff:198.18.0.1/120', 'k'),
      `k: expected IPv6 prefix (address/len), got "::ffff:198.18.0.1/120" (${why}, so put 198.18.0.0/24 in the IPv4 map instead)`);
    throwsValue(() => encodeValue(lpmV6, '::ffff:198.18.0.1', 'k'),
      `k: expected IPv6 prefix (address/len), got "::ffff:198.18.0.1" (${why}, so put 198.18.0.1/32 in the IPv4 map instead)`);
    throwsValue(() => encodeValue(lpmV6, '::ffff:0.0.0.0/80', 'k'),
      `k: expected IPv6 prefix (address/len), got "::ffff:0.0.0.0/80" (${why}, so put the IPv4 prefix in the IPv4 map instead)`);
    // a prefix that merely contains the mapped range is fine
    assert.equal(enc(lpmV6, '::/80'), '50000000' + '00'.repeat(16));
    assert.equal(decodeValue(lpmV6, bytes('78000000' + '00'.repeat(10) + 'ffff' + 'c6120000')), '::ffff:198.18.0.0/120');
  });
  it('decodes invalid kernel bytes readably', () => {
    assert.equal(decodeValue(lpmV4, bytes('18000000c6120001')), '198.18.0.1/24');
    assert.equal(formatValue(lpmV4, bytes('28000000c6120001')), '198.18.0.1/40');
  });
  it('is only a prefix for exactly {prefixlen: u32, addr: u8[4|16]}', () => {
    const data = struct('lpm', 8, [member('prefixlen', 0, u32), member('data', 4, array(u8, 4))]);
    assert.deepEqual(decodeValue(data, bytes('08000000' + '0a000000')), { prefixlen: 8, data: '0x0a000000' });
    const three = struct('lpm', 12, [member('prefixlen', 0, u32), member('addr', 4, array(u8, 4)), member('x', 8, u32)]);
    assert.deepEqual(decodeValue(three, bytes('08000000' + '0a000000' + '00000000')), { prefixlen: 8, addr: '10.0.0.0', x: 0 });
  });
});

describe('values: addresses and MACs by name', () => {
  const v4 = array(typedef('__u8', u8), 4);
  const v6 = array(typedef('__u8', u8), 16);
  it('u8[4] named like an address is an IPv4 address', () => {
    for (const n of ['addr', 'saddr', 'daddr', 'src', 'dst', 'ip', 'src_ip', 'ipv4', 'dstAddr', 'nexthop_addr', 'ip4', 'ips']) {
      assert.equal(enc(v4, '198.18.0.1', n), 'c6120001', n);
      assert.equal(decodeValue(v4, bytes('c6120001'), n), '198.18.0.1', n);
    }
  });
  it('u8[16] named like an address is an IPv6 address, printed per RFC 5952', () => {
    roundTrip(v6, '2001:DB8:0:0:0:0:0:1', '20010db8' + '00'.repeat(11) + '01', '2001:db8::1', 'saddr');
    roundTrip(v6, '::', '00'.repeat(16), '::', 'saddr');
    roundTrip(v6, '1:0:0:2:0:0:0:3', '0001000000000002000000000000' + '0003', '1:0:0:2::3', 'saddr');
    roundTrip(v6, '1:0:2:3:4:5:6:7', '00010000000200030004000500060007', '1:0:2:3:4:5:6:7', 'saddr');
    assert.equal(decodeValue(v6, bytes('00'.repeat(10) + 'ffff' + 'c0000201'), 'saddr'), '::ffff:192.0.2.1');
    // "::a.b.c.d" is IPv4-compatible (RFC 4291), not IPv4-mapped
    roundTrip(v6, '::192.0.2.1', '00'.repeat(12) + 'c0000201', '::c000:201', 'saddr');
  });
  it('other names keep u8[N] as raw bytes: 0x hex or a list of numbers', () => {
    for (const n of [undefined, 'skip', 'ship', 'key', 'zip4', 'data']) {
      roundTrip(v4, '0xC6120001', 'c6120001', '0xc6120001', n);
      assert.equal(enc(v4, [1, 2], n), '01020000');
    }
    throwsValue(() => encodeValue(v4, '198.18.0.1', 'key', 'key'), 'key: expected u8[4] (0x + 8 hex digits, or a list of at most 4 numbers), got "198.18.0.1"');
    throwsValue(() => encodeValue(v4, '0x0102', 'key', 'key'), 'key: expected u8[4] (0x + 8 hex digits, or a list of at most 4 numbers), got "0x0102"');
    throwsValue(() => encodeValue(v4, [1, 2, 3, 4, 5], 'key', 'key'), 'key: expected list of at most 4 u8, got a list of 5 items');
    throwsValue(() => encodeValue(v4, [1, 256], 'key', 'key'), 'key[1]: expected u8 (0..255), got 256');
  });
  it('rejects malformed addresses and the wrong family', () => {
    throwsValue(() => encodeValue(v4, '1.2.3', 'addr', 'addr'), 'addr: expected IPv4 address (a.b.c.d), got "1.2.3"');
    throwsValue(() => encodeValue(v4, '01.2.3.4', 'addr', 'addr'), 'addr: expected IPv4 address (a.b.c.d), got "01.2.3.4"');
    throwsValue(() => encodeValue(v4, '256.0.0.1', 'addr', 'addr'), 'addr: expected IPv4 address (a.b.c.d), got "256.0.0.1"');
    throwsValue(() => encodeValue(v4, 3323068417, 'addr', 'addr'), 'addr: expected IPv4 address (a.b.c.d), got 3323068417');
    throwsValue(() => encodeValue(v4, '::1', 'addr', 'addr'), 'addr: expected IPv4 address (a.b.c.d), got "::1" (an IPv6 address does not fit in this IPv4 field)');
    throwsValue(() => encodeValue(v6, '192.0.2.1', 'daddr', 'daddr'),
      "daddr: expected IPv6 address, got \"192.0.2.1\" (an IPv4 address does not fit here: kfn's functions keep IPv4 in IPv4 maps and fields, so put 192.0.2.1 in the IPv4 map or field instead)");
    throwsValue(() => encodeValue(v6, 'fe80::1%eth0', 'daddr', 'daddr'), 'daddr: expected IPv6 address, got "fe80::1%eth0"');
    throwsValue(() => encodeValue(v6, '1::2::3', 'daddr', 'daddr'), 'daddr: expected IPv6 address, got "1::2::3"');
    throwsValue(() => encodeValue(v6, '1:2:3:4:5:6:7:8:9', 'daddr', 'daddr'), 'daddr: expected IPv6 address, got "1:2:3:4:5:6:7:8:9"');
    throwsValue(() => encodeValue(v6, '1:2:3:4:5:6:7::8', 'daddr', 'daddr'), 'daddr: expected IPv6 address, got "1:2:3:4:5:6:7::8"');
  });
  it('refuses IPv4-mapped IPv6 as an input, however spelled, but still decodes it', () => {
    const hint = "kfn's functions keep IPv4 in IPv4 maps and fields, so put 192.0.2.1 in the IPv4 map or field instead";
    for (const text of ['::ffff:192.0.2.1', '::FFFF:c000:201', '0:0:0:0:0:ffff:192.0.2.1']) {
      throwsValue(() => encodeValue(v6, text, 'saddr', 'saddr'),
        `saddr: expected IPv6 address, got ${JSON.stringify(text)} (an IPv4-mapped address never matches IPv4 traffic: ${hint})`);
    }
    const mapped = bytes('00'.repeat(10) + 'ffff' + 'c0000201');
    assert.equal(formatValue(v6, mapped, 'saddr'), '::ffff:192.0.2.1');
    // neighbours of the mapped range are ordinary IPv6
    assert.equal(enc(v6, '::fffe:192.0.2.1', 'saddr'), '00'.repeat(10) + 'fffe' + 'c0000201');
    assert.equal(enc(v6, '::1:ffff:192.0.2.1', 'saddr'), '00'.repeat(8) + '0001ffff' + 'c0000201');
  });
  it('u8[6] named mac / hwaddr / ether is a MAC', () => {
    const m = array(u8, 6);
    for (const n of ['mac', 'src_mac', 'hwaddr', 'ether_addr_octet', 'dmac']) {
      roundTrip(m, 'AA:bb:cc:dd:ee:0f', 'aabbccddee0f', 'aa:bb:cc:dd:ee:0f', n);
    }
    assert.equal(enc(m, 'aa-bb-cc-dd-ee-ff', 'mac'), 'aabbccddeeff');
    throwsValue(() => encodeValue(m, 'aa:bb:cc:dd:ee', 'mac', 'mac'), 'mac: expected MAC address (aa:bb:cc:dd:ee:ff), got "aa:bb:cc:dd:ee"');
    throwsValue(() => encodeValue(m, 'aa:bb-cc:dd:ee:ff', 'mac', 'mac'), 'mac: expected MAC address (aa:bb:cc:dd:ee:ff), got "aa:bb-cc:dd:ee:ff"');
    assert.equal(decodeValue(m, bytes('aabbccddeeff'), 'addr'), '0xaabbccddeeff');
  });
  it('typedef names are hints too; structs reset the hint to their member names', () => {
    assert.equal(decodeValue(typedef('mac_t', array(u8, 6)), bytes('aabbccddeeff')), 'aa:bb:cc:dd:ee:ff');
    const s = struct('s', 4, [member('v', 0, array(u8, 4))]);
    assert.deepEqual(decodeValue(s, bytes('01020304'), 'addr'), { v: '0x01020304' });
  });
  it('arrays of addresses inherit the name', () => {
    const t = array(v4, 2);
    roundTrip(t, ['10.0.0.1'], '0a00000100000000', ['10.0.0.1', '0.0.0.0'], 'addrs');
    throwsValue(() => encodeValue(t, ['10.0.0.1', 'x'], 'addrs', 'addrs'), 'addrs[1]: expected IPv4 address (a.b.c.d), got "x"');
  });
  it('struct in_addr / in6_addr are addresses', () => {
    const inAddr = struct('in_addr', 4, [member('s_addr', 0, be32)]);
    roundTrip(inAddr, '192.0.2.1', 'c0000201', '192.0.2.1');
    const in6: BtfType = struct('in6_addr', 16, [member('in6_u', 0, union('', 16, [member('u6_addr8', 0, array(u8, 16))]))]);
    roundTrip(in6, '2001:db8::', '20010db8' + '00'.repeat(12), '2001:db8::');
  });
});

describe('values: network byte order', () => {
  it('__be16 / kfn_be16 are u16 in network order', () => {
    roundTrip(kfnBe16, 80, '0050', 80);
    roundTrip(be16, 443, '01bb', 443);
    roundTrip(be16, '0x1234', '1234', 0x1234);
    throwsValue(() => encodeValue(kfnBe16, 65536, 'dport'), 'dport: expected be16 (0..65535), got 65536');
    throwsValue(() => encodeValue(kfnBe16, -1, 'dport'), 'dport: expected be16 (0..65535), got -1');
    assert.equal(describeType(kfnBe16), 'be16');
  });
  it('__be32 is a u32 in network order, or an IPv4 address when named like one', () => {
    roundTrip(be32, 1, '00000001', 1, 'seq');
    roundTrip(be32, '192.0.2.1', 'c0000201', '192.0.2.1', 'src_ip');
    roundTrip(be32, 0xc0000201, 'c0000201', '192.0.2.1', 'daddr');
    throwsValue(() => encodeValue(be32, '192.0.2.1', 'seq', 'seq'), 'seq: expected be32 (0..4294967295), got "192.0.2.1"');
    throwsValue(() => encodeValue(be32, 'x', 'daddr', 'daddr'), 'daddr: expected IPv4 address (a.b.c.d) or be32 integer, got "x"');
    throwsValue(() => encodeValue(be32, -1, 'daddr', 'daddr'), 'daddr: expected IPv4 address (a.b.c.d) or be32 integer, got -1');
    assert.equal(describeType(be32, 'daddr'), 'IPv4 address (be32)');
    assert.equal(describeType(be32), 'be32');
  });
  it('a host-order __u32 is never an address', () => {
    assert.equal(decodeValue(typedef('__u32', u32), bytes('c0000201'), 'addr'), 0x010200c0);
  });
  it('__be64 is a u64 in network order', () => {
    roundTrip(typedef('__be64', u64), 1, '0000000000000001', 1);
  });
  it('be typedefs over the wrong width are plain integers', () => {
    assert.equal(enc(typedef('__be16', u32), 1), '01000000');
  });
});

describe('values: structs', () => {
  // struct limits { __u8 on; /* pad */ __u32 rate; kfn_be16 port; /* pad */ }
  const limits = struct('limits', 12, [member('on', 0, bool), member('rate', 4, u32), member('port', 8, kfnBe16)]);
  it('encodes by field name, missing fields and padding zero', () => {
    roundTrip(limits, { rate: 5, on: true }, '01000000' + '05000000' + '00000000', { on: true, rate: 5, port: 0 });
    assert.equal(enc(limits, {}), '00'.repeat(12));
    assert.equal(enc(limits, { port: 53 }), '00000000' + '00000000' + '00350000');
  });
  it('names unknown fields and lists the valid ones', () => {
    throwsValue(() => encodeValue(limits, { rate: 1, burst: 2 }, 'cfg'), 'cfg: expected a field of struct limits (on, rate, port), got "burst"', {
      path: 'cfg', expected: 'a field of struct limits (on, rate, port)', got: '"burst"',
    });
    throwsValue(() => encodeValue(limits, { __proto__x: 1 }), 'expected a field of struct limits (on, rate, port), got "__proto__x"');
  });
  it('puts the field path into nested errors', () => {
    const cfg = struct('cfg', 24, [member('limits', 0, array(limits, 2))]);
    throwsValue(() => encodeValue(cfg, { limits: [{}, { rate: -1 }] }, 'cfg'), 'cfg.limits[1].rate: expected u32 (0..4294967295), got -1', {
      path: 'cfg.limits[1].rate',
    });
    throwsValue(() => encodeValue(cfg, { limits: [{}, { port: 'http' }] }), 'limits[1].port: expected be16 (0..65535), got "http"');
  });
  it('rejects non-objects', () => {
    const exp = 'cfg: expected struct limits (object with fields on, rate, port)';
    throwsValue(() => encodeValue(limits, 5, 'cfg'), `${exp}, got 5`);
    throwsValue(() => encodeValue(limits, [1, 2], 'cfg'), `${exp}, got [1,2]`);
    throwsValue(() => encodeValue(limits, null, 'cfg'), `${exp}, got null`);
    throwsValue(() => encodeValue(limits, new Date(0), 'cfg'), `${exp}, got "1970-01-01T00:00:00.000Z"`);
  });
  it('accepts raw 0x hex of exactly the struct size', () => {
    assert.equal(enc(limits, '0x' + '11'.repeat(12)), '11'.repeat(12));
    throwsValue(() => encodeValue(limits, '0x11', 'cfg'),
      'cfg: expected struct limits (object with fields on, rate, port) or raw bytes (0x + 24 hex digits), got "0x11"');
  });
  it('refuses to set bitfield members, and leaves them out of decoded values', () => {
    const flags = struct('flags', 4, [member('a', 0, u32, 3), member('b', 0, u32, 5), member('c', 2, u16)]);
    throwsValue(() => encodeValue(flags, { a: 1 }, 'f'), 'f.a: expected no value (bitfield member a:3 cannot be set by kfn), got 1');
    assert.equal(enc(flags, { c: 7 }), '00000700');
    assert.deepEqual(decodeValue(flags, bytes('00000700')), { c: 7 });
    assert.equal(describeType(flags), 'struct flags {a: u32:3 (bitfield), b: u32:5 (bitfield), c: u16}');
  });
  it('lifts the fields of anonymous members, as C does', () => {
    // struct key { __u32 kind; union { __u32 v4; __u8 v6[16]; }; }
    const key = struct('key', 20, [
      member('kind', 0, u32),
      member('', 4, union('', 16, [member('v4', 0, u32), member('v6', 0, array(u8, 16))])),
    ]);
    roundTrip(key, { kind: 4, v4: 7 }, '04000000' + '07000000' + '00'.repeat(12), { kind: 4, v4: 7 });
    roundTrip(key, { kind: 6, v6: '0x' + 'ab'.repeat(16) }, '06000000' + 'ab'.repeat(16), { kind: 6, v6: '0x' + 'ab'.repeat(16) });
    throwsValue(() => encodeValue(key, { v4: 1, v6: [1] }, 'k'), 'k: expected union (object with exactly one of v4, v6), got {"v4":1,"v6":[1]}');
    throwsValue(() => encodeValue(key, { v5: 1 }, 'k'), 'k: expected a field of struct key (kind, v4, v6), got "v5"');
    assert.equal(formatValue(key, bytes('04000000' + '07000000' + '00'.repeat(12))), '{kind: 4, v4: 7}');
    assert.equal(describeType(key), 'struct key {kind: u32, union {v4: u32, v6: u8[16]}}');
  });
  it('lifts an anonymous member even when its type looks like a prefix', () => {
    const outer = struct('outer', 12, [member('tag', 0, u32), member('', 4, lpmV4)]);
    roundTrip(outer, { tag: 1, prefixlen: 8, addr: '10.0.0.0' }, '01000000' + '08000000' + '0a000000', { tag: 1, prefixlen: 8, addr: '10.0.0.0' });
  });
  it('keeps a member named __proto__ as data', () => {
    const odd = struct('odd', 4, [member('__proto__', 0, u32)]);
    const v = decodeValue(odd, bytes('05000000')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__']);
    assert.equal(hex(encodeValue(odd, v)), '05000000');
  });
});

describe('values: unions', () => {
  const u = union('num', 8, [member('small', 0, u8), member('big', 0, u64)]);
  it('takes exactly one member', () => {
    assert.equal(enc(u, { big: 258 }), '0201000000000000');
    assert.equal(enc(u, { small: 1 }), '0100000000000000');
    throwsValue(() => encodeValue(u, {}, 'n'), 'n: expected union num (object with exactly one of small, big), got {}');
    throwsValue(() => encodeValue(u, { small: 1, big: 2 }, 'n'), 'n: expected union num (object with exactly one of small, big), got {"small":1,"big":2}');
  });
  it('decodes to the first member that re-encodes to the same bytes', () => {
    assert.deepEqual(decodeValue(u, bytes('0100000000000000')), { small: 1 });
    assert.deepEqual(decodeValue(u, bytes('0201000000000000')), { big: 258 });
  });
  it('falls back to raw hex when no member fits exactly', () => {
    // union { __u8 a; __u16 b; } padded to 4: byte 3 belongs to no member
    const padded = union('p', 4, [member('a', 0, u8), member('b', 0, u16)]);
    assert.equal(decodeValue(padded, bytes('01000001')), '0x01000001');
    assert.equal(enc(padded, '0x01000001'), '01000001');
    const bools = union('bb', 1, [member('x', 0, bool)]);
    assert.equal(decodeValue(bools, bytes('02')), '0x02');
  });
});

describe('values: arrays', () => {
  const a = array(u32, 3);
  it('takes a list of exactly or fewer than length elements, rest zero', () => {
    roundTrip(a, [1, 2, 3], '010000000200000003000000', [1, 2, 3]);
    roundTrip(a, [1], '010000000000000000000000', [1, 0, 0]);
    roundTrip(a, [], '00'.repeat(12), [0, 0, 0]);
    assert.equal(enc(a, '0x' + 'ff'.repeat(12)), 'ff'.repeat(12));
  });
  it('rejects too many elements, non-lists and bad elements with their index', () => {
    throwsValue(() => encodeValue(a, [1, 2, 3, 4], 'xs'), 'xs: expected list of at most 3 u32, got a list of 4 items');
    throwsValue(() => encodeValue(a, 5, 'xs'), 'xs: expected list of at most 3 u32, got 5');
    throwsValue(() => encodeValue(a, [1, 'x'], 'xs'), 'xs[1]: expected u32 (0..4294967295), got "x"');
    throwsValue(() => encodeValue(array(array(u16, 2), 2), [[1], [2, 3, 4]], 'm'), 'm[1]: expected list of at most 2 u16, got a list of 3 items');
  });
  it('handles zero-length arrays and arrays of structs', () => {
    assert.equal(enc(array(u32, 0), []), '');
    const pair = struct('pair', 2, [member('a', 0, u8), member('b', 1, u8)]);
    roundTrip(array(pair, 2), [{ b: 1 }], '00010000', [{ a: 0, b: 1 }, { a: 0, b: 0 }]);
    assert.equal(describeType(array(array(u16, 2), 3)), 'u16[3][2]');
    assert.equal(describeType(array(array(u8, 4), 3)), 'u8[3][4]');
  });
});

describe('values: pointers and opaque types', () => {
  it('pointers only take 0 / null', () => {
    const p: BtfType = { kind: 'ptr', size: 8 };
    assert.equal(enc(p, null), '00'.repeat(8));
    assert.equal(enc(p, 0), '00'.repeat(8));
    throwsValue(() => encodeValue(p, 1, 'p'), 'p: expected null pointer (0): pointers cannot be set, got 1');
    assert.equal(decodeValue(p, bytes('00'.repeat(8))), 0);
  });
  it('opaque types take raw hex only', () => {
    const f: BtfType = { kind: 'opaque', name: 'float', size: 4 };
    roundTrip(f, '0x0000803f', '0000803f', '0x0000803f');
    throwsValue(() => encodeValue(f, 1.0, 'f'), 'f: expected float (raw bytes: 0x + 8 hex digits), got 1');
  });
});

describe('values: describeType and formatValue', () => {
  it('describes types in operator words', () => {
    assert.equal(describeType(u32), 'u32');
    assert.equal(describeType(s8), 's8');
    assert.equal(describeType(u128), 'u128');
    assert.equal(describeType(bool), 'bool');
    assert.equal(describeType(lpmV4), 'IPv4 prefix');
    assert.equal(describeType(lpmV6), 'IPv6 prefix');
    assert.equal(describeType(array(u8, 4), 'addr'), 'IPv4 address');
    assert.equal(describeType(array(u8, 16), 'saddr'), 'IPv6 address');
    assert.equal(describeType(array(u8, 6), 'mac'), 'MAC address');
    assert.equal(describeType(array(u8, 32)), 'u8[32]');
    assert.equal(describeType(array(char, 16)), 'string (char[16])');
    assert.equal(describeType(enumT('verdict', 4, [['pass', 0], ['drop', 1]])), 'enum verdict (pass|drop)');
    assert.equal(describeType(typedef('__u32', u32)), 'u32');
    const foo = struct('foo', 8, [member('a', 0, u8), member('addr', 4, array(u8, 4)), member('n', 1, array(char, 3))]);
    assert.equal(describeType(foo), 'struct foo {a: u8, addr: IPv4 address, n: string (char[3])}');
  });
  it('formats one line, YAML flow style', () => {
    const counters = struct('kfn_counters', 16, [member('packets', 0, u64), member('bytes', 8, u64)]);
    assert.equal(formatValue(counters, bytes('0300000000000000b400000000000000')), '{packets: 3, bytes: 180}');
    assert.equal(formatValue(lpmV4, bytes('20000000c6120003')), '198.18.0.3/32');
    assert.equal(formatValue(array(u16, 2), bytes('01000200')), '[1, 2]');
    assert.equal(formatValue(enumT('v', 1, [['drop', 1]]), bytes('01')), 'drop');
    assert.equal(formatValue(u64, bytes('ff'.repeat(8))), '18446744073709551615');
  });
  it('refuses buffers of the wrong size', () => {
    throwsValue(() => decodeValue(u32, bytes('0000')), 'expected 4 bytes, got 2 bytes');
    throwsValue(() => formatValue(u32, bytes('00')), 'expected 4 bytes, got 1 bytes');
  });
});

describe('values: map entries and globals', () => {
  const blocked: MapInfo = { name: 'blocked_v4', type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 1024, key: lpmV4, value: u32 };
  it('encodes an entry to hex bytes and text', () => {
    assert.deepEqual(encodeMapEntry(blocked, '203.0.113.0/24', 1), {
      key: '18000000cb007100', value: '01000000', keyText: '203.0.113.0/24', valueText: '1',
    });
  });
  it('errors carry <map>[<key>] as path', () => {
    throwsValue(() => encodeMapEntry(blocked, '198.18.0.1/24', 1),
      'blocked_v4[198.18.0.1/24]: expected IPv4 prefix (a.b.c.d/len) without host bits set, got "198.18.0.1/24" (did you mean 198.18.0.0/24?)',
      { path: 'blocked_v4[198.18.0.1/24]' });
    throwsValue(() => encodeMapEntry(blocked, '203.0.113.0/24', -1), 'blocked_v4[203.0.113.0/24]: expected u32 (0..4294967295), got -1');
    const counters = struct('kfn_counters', 16, [member('packets', 0, u64), member('bytes', 8, u64)]);
    const stats: MapInfo = { name: 'stats', type: 'array', keySize: 4, valueSize: 16, maxEntries: 1, key: u32, value: counters };
    throwsValue(() => encodeMapEntry(stats, '0', { packets: 1.5 }), 'stats[0].packets: expected u64 (0..18446744073709551615), got 1.5');
    assert.deepEqual(encodeMapEntry(stats, '0', { packets: 1 }).valueText, '{packets: 1, bytes: 0}');
  });
  it('decodes kernel bytes to the same entry', () => {
    const e = encodeMapEntry(blocked, '198.18.0.0/15', 7);
    assert.deepEqual(decodeMapEntry(blocked, bytes(e.key), bytes(e.value)), e);
    throwsValue(() => decodeMapEntry(blocked, bytes('00'), bytes('00000000')), 'blocked_v4[key]: expected 8 bytes, got 1 bytes');
  });
  it('without BTF, sizes 1/2/4/8 are host-order unsigned ints and others raw hex', () => {
    const noBtf: MapInfo = { name: 'm', type: 'hash', keySize: 4, valueSize: 3, maxEntries: 8 };
    assert.deepEqual(encodeMapEntry(noBtf, '42', '0x010203'), { key: '2a000000', value: '010203', keyText: '42', valueText: '0x010203' });
    throwsValue(() => encodeMapEntry(noBtf, '42', 5), 'm[42]: expected u8[3] (0x + 6 hex digits, or a list of at most 3 numbers), got 5');
    const ipish: MapInfo = { name: 'ips', type: 'hash', keySize: 16, valueSize: 8, maxEntries: 8 };
    assert.equal(encodeMapEntry(ipish, '0x' + '00'.repeat(16), '18446744073709551615').valueText, '18446744073709551615');
  });
  it('without BTF, an integer side takes integers in host byte order or exactly its stored bytes as 0x hex', () => {
    // key_size 2 / value_size 8, as an L3AF map declares them: __uint(key_size, 2); __uint(value_size, 8);
    const ports: MapInfo = { name: 'ports', type: 'hash', keySize: 2, valueSize: 8, maxEntries: 8 };
    assert.deepEqual(encodeMapEntry(ports, '8080', 1), { key: '901f', value: '0100000000000000', keyText: '8080', valueText: '1' });
    // 0x is the stored bytes, memory order: 0x901f is 8080 on a little-endian host, not 0x901f = 36895.
    assert.deepEqual(encodeMapEntry(ports, '0x901f', '0x0200000000000000'), { key: '901f', value: '0200000000000000', keyText: '8080', valueText: '2' });
    assert.equal(encodeMapEntry(ports, '65535', '18446744073709551615').value, 'ffffffffffffffff');
    throwsValue(() => encodeMapEntry(ports, '65536', 1), 'ports[65536]: expected u16 in host byte order (0..65535), or its 2 stored bytes (0x + 4 hex digits), got "65536"');
    throwsValue(() => encodeMapEntry(ports, '80', -1), 'ports[80]: expected u64 in host byte order (0..18446744073709551615), or its 8 stored bytes (0x + 16 hex digits), got -1');
    throwsValue(
      () => encodeMapEntry(ports, '0x50', 1),
      'ports[0x50]: expected u16 in host byte order (0..65535), or its 2 stored bytes (0x + 4 hex digits), got "0x50" (the map has no BTF type: a 0x string is the 2 bytes as stored; write an integer in decimal)',
    );
    throwsValue(() => encodeMapEntry(ports, '80', '0x01'), /* 1 byte for an 8-byte value */
      'ports[80]: expected u64 in host byte order (0..18446744073709551615), or its 8 stored bytes (0x + 16 hex digits), got "0x01" (the map has no BTF type: a 0x string is the 8 bytes as stored; write an integer in decimal)');
    throwsValue(() => encodeMapEntry(ports, '80', 1.5), 'ports[80]: expected u64 in host byte order (0..18446744073709551615), or its 8 stored bytes (0x + 16 hex digits), got 1.5');
    // The kernel's bytes decode to the integer, which encodes back to the same bytes.
    const back = decodeMapEntry(ports, bytes('901f'), bytes('0200000000000000'));
    assert.deepEqual(back, { key: '901f', value: '0200000000000000', keyText: '8080', valueText: '2' });
    assert.deepEqual(encodeMapEntry(ports, back.keyText, Number(back.valueText)), back);
  });
  it('uses the map name as the address hint, and takes "true"/"false" keys for bool', () => {
    const m: MapInfo = { name: 'allowed_ips', type: 'hash', keySize: 4, valueSize: 1, maxEntries: 8, key: be32, value: bool };
    assert.deepEqual(encodeMapEntry(m, '10.0.0.1', true), { key: '0a000001', value: '01', keyText: '10.0.0.1', valueText: 'true' });
    const b: MapInfo = { name: 'flags', type: 'hash', keySize: 1, valueSize: 1, maxEntries: 2, key: bool, value: u8 };
    assert.equal(encodeMapEntry(b, 'true', 1).key, '01');
  });
  it('encodes globals with the variable name as path and hint', () => {
    assert.deepEqual(encodeGlobal({ name: 'rate_pps', section: '.rodata', offset: 0, type: u32 }, 10000), { value: '10270000', valueText: '10000' });
    throwsValue(() => encodeGlobal({ name: 'rate_pps', section: '.rodata', offset: 0, type: u32 }, -5), 'rate_pps: expected u32 (0..4294967295), got -5');
    assert.deepEqual(encodeGlobal({ name: 'vip_addr', section: '.rodata', offset: 4, type: array(u8, 4) }, '192.0.2.10'), {
      value: 'c000020a', valueText: '192.0.2.10',
    });
  });
});
