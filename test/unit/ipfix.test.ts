/**
 * The IPFIX exporter without the kernel: messages kfn encodes are decoded by tshark (an
 * independent implementation of RFC 7011) field by field; the export state machine
 * follows active and idle timeouts and exports deltas.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessages, FlowEndReason, MAX_MESSAGE, TEMPLATE_V4, type FlowRecord } from '../../src/ipfix/encode.js';
import { FlowExporter } from '../../src/ipfix/exporter.js';
import { flowOf, flowText, type Flow } from '../../src/flows/flows.js';
import { NO_TSHARK, decodeIpfixMessages } from '../helpers/ipfix-decode.js';

const v4 = (n: number, packets: bigint, extra: Partial<Flow> = {}): Flow => ({
  family: 4, src: `198.18.0.${n}`, dst: '198.18.0.1', sport: 40000 + n, dport: 53, proto: 17, protoName: 'udp', packets, bytes: packets * 100n, ...extra,
});
const v6: Flow = { family: 6, src: '2001:2::2', dst: '2001:2::1', sport: 1234, dport: 443, proto: 6, protoName: 'tcp', packets: 3n, bytes: 180n, tcpFlags: 0x12 };
const rec = (flow: Flow, reason = FlowEndReason.IdleTimeout): FlowRecord => ({ flow, packets: flow.packets, bytes: flow.bytes, startMs: 1_764_600_000_000n, endMs: 1_764_600_001_500n, reason });

describe('IPFIX encoding, decoded by tshark', { skip: NO_TSHARK }, () => {
  test('templates then IPv4 and IPv6 data records: every field as encoded', () => {
    const { messages, sequence } = encodeMessages([rec(v4(2, 10n)), rec(v6, FlowEndReason.ActiveTimeout)], { exportTimeS: 1_764_600_002, sequence: 0, domain: 7, withTemplates: true });
    assert.equal(messages.length, 1);
    assert.equal(sequence, 2, 'the sequence number counts data records');
    assert.deepEqual(decodeIpfixMessages(messages), [
      { src: '198.18.0.2', dst: '198.18.0.1', sport: 40002, dport: 53, protocol: 17, packets: 10, octets: 1000, endReason: 1 },
      { src: '2001:2::2', dst: '2001:2::1', sport: 1234, dport: 443, protocol: 6, packets: 3, octets: 180, endReason: 2 },
    ]);
  });

  test('many flows split over messages of at most MAX_MESSAGE bytes, none lost; data without templates decodes after a template message', () => {
    const flows = Array.from({ length: 100 }, (_, i) => v4(2 + (i % 200), BigInt(i + 1)));
    const first = encodeMessages([], { exportTimeS: 1, sequence: 0, domain: 1, withTemplates: true });
    const rest = encodeMessages(flows.map((f) => rec(f)), { exportTimeS: 2, sequence: first.sequence, domain: 1, withTemplates: false });
    assert.ok(rest.messages.length > 1, `${rest.messages.length} messages`);
    for (const m of rest.messages) {
      assert.ok(m.length <= MAX_MESSAGE, `${m.length} bytes`);
      assert.equal(m.readUInt16BE(16), TEMPLATE_V4, 'a data set of the IPv4 template');
    }
    const decoded = decodeIpfixMessages([...first.messages, ...rest.messages]);
    assert.equal(decoded.length, 100);
    assert.deepEqual(decoded.map((d) => d.packets), flows.map((f) => Number(f.packets)));
    assert.equal(rest.sequence, 100);
  });
});

describe('export state machine', () => {
  const opts = { activeTimeoutMs: 60_000, idleTimeoutMs: 15_000 };
  const at = (s: number) => ({ monoNs: BigInt(s) * 1_000_000_000n, wallMs: 1_764_600_000_000n + BigInt(s) * 1000n });
  const NS = 1_000_000_000n;

  test('an idle flow is exported once, with its whole count, then forgotten; the same 5-tuple again is a new flow with its delta', () => {
    const x = new FlowExporter(opts);
    const f = v4(2, 10n, { firstNs: 100n * NS, lastNs: 101n * NS });
    assert.deepEqual(x.step([f], at(102)), [], 'not idle yet');
    const out = x.step([f], at(117));
    assert.equal(out.length, 1);
    assert.equal(out[0]!.reason, FlowEndReason.IdleTimeout);
    assert.equal(out[0]!.packets, 10n);
    assert.equal(out[0]!.startMs, at(100).wallMs, 'start: the first packet, in wall-clock time');
    assert.equal(out[0]!.endMs, at(101).wallMs);
    assert.deepEqual(x.step([f], at(130)), [], 'unchanged after its end: nothing');
    const again = v4(2, 14n, { firstNs: 100n * NS, lastNs: 131n * NS });
    assert.deepEqual(x.step([again], at(132)), []);
    const second = x.step([again], at(150));
    assert.equal(second.length, 1);
    assert.equal(second[0]!.packets, 4n, 'the new flow: only the packets since the end');
  });

  test('a busy flow is exported every active timeout as deltas', () => {
    const x = new FlowExporter(opts);
    const seen = (packets: bigint, s: number) => v4(3, packets, { firstNs: 0n, lastNs: BigInt(s) * NS });
    assert.deepEqual(x.step([seen(5n, 1)], at(1)), []);
    const a = x.step([seen(50n, 61)], at(61));
    assert.deepEqual(a.map((r) => [r.reason, r.packets]), [[FlowEndReason.ActiveTimeout, 50n]]);
    assert.deepEqual(x.step([seen(70n, 90)], at(90)), [], 'within the next active timeout');
    const b = x.step([seen(120n, 122)], at(122));
    assert.deepEqual(b.map((r) => [r.reason, r.packets, r.bytes]), [[FlowEndReason.ActiveTimeout, 70n, 7000n]]);
    const end = x.flush([seen(121n, 123)], at(124));
    assert.deepEqual(end.map((r) => [r.reason, r.packets]), [[FlowEndReason.ForcedEnd, 1n]]);
  });
});

describe('flows from a flow table', () => {
  test('IPv4 flows read as IPv4, protocols by name, no ports for ICMP', () => {
    const key = { saddr: '::ffff:198.18.0.2', daddr: '::ffff:198.18.0.1', sport: 0, dport: 0, proto: 1, family: 4, pad: '0x0000' };
    const f = flowOf(key, { packets: 3, bytes: 294, first_ns: 5, last_ns: 9, tcp_flags: 0 })!;
    assert.equal(flowText(f), 'icmp 198.18.0.2 > 198.18.0.1');
    assert.equal(f.packets, 3n);
    const t = flowOf({ ...key, saddr: '2001:2::2', daddr: '2001:2::1', family: 6, proto: 6, sport: 1234, dport: 443 }, { packets: 1, bytes: 60 })!;
    assert.equal(flowText(t), 'tcp [2001:2::2]:1234 > [2001:2::1]:443');
  });
});
