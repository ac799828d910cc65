/**
 * IPFIX messages (RFC 7011): a 16-byte header, then sets. kfn exports one template per
 * address family (template ids 256 and 257) and data records that follow them. Field
 * numbers are IANA's Information Elements (RFC 7012 / the IANA IPFIX registry).
 */
import ipaddr from 'ipaddr.js';
import type { Flow } from '../flows/flows.js';

export const IPFIX_VERSION = 10;
export const TEMPLATE_SET_ID = 2;
export const TEMPLATE_V4 = 256;
export const TEMPLATE_V6 = 257;

/** Why a flow record is exported (IE 136 flowEndReason). */
export enum FlowEndReason {
  IdleTimeout = 1,
  ActiveTimeout = 2,
  EndOfFlow = 3,
  ForcedEnd = 4,
}

interface Field {
  ie: number;
  length: number;
}

const IE = {
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  tcpControlBits: 6,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  flowEndReason: 136,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
} as const;

function template(family: 4 | 6): Field[] {
  const addr = family === 4 ? 4 : 16;
  return [
    { ie: family === 4 ? IE.sourceIPv4Address : IE.sourceIPv6Address, length: addr },
    { ie: family === 4 ? IE.destinationIPv4Address : IE.destinationIPv6Address, length: addr },
    { ie: IE.sourceTransportPort, length: 2 },
    { ie: IE.destinationTransportPort, length: 2 },
    { ie: IE.protocolIdentifier, length: 1 },
    { ie: IE.tcpControlBits, length: 2 },
    { ie: IE.packetDeltaCount, length: 8 },
    { ie: IE.octetDeltaCount, length: 8 },
    { ie: IE.flowStartMilliseconds, length: 8 },
    { ie: IE.flowEndMilliseconds, length: 8 },
    { ie: IE.flowEndReason, length: 1 },
  ];
}

const recordLength = (family: 4 | 6): number => template(family).reduce((n, f) => n + f.length, 0);

/** One data record: a flow's counters since the last export, with its time span in wall-clock milliseconds. */
export interface FlowRecord {
  flow: Flow;
  packets: bigint;
  bytes: bigint;
  startMs: bigint;
  endMs: bigint;
  reason: FlowEndReason;
}

function addressBytes(text: string): Buffer {
  return Buffer.from(ipaddr.parse(text).toByteArray());
}

function templateSet(): Buffer {
  const records = [TEMPLATE_V4, TEMPLATE_V6].map((id) => {
    const fields = template(id === TEMPLATE_V4 ? 4 : 6);
    const b = Buffer.alloc(4 + fields.length * 4);
    b.writeUInt16BE(id, 0);
    b.writeUInt16BE(fields.length, 2);
    fields.forEach((f, i) => {
      b.writeUInt16BE(f.ie, 4 + i * 4);
      b.writeUInt16BE(f.length, 6 + i * 4);
    });
    return b;
  });
  return set(TEMPLATE_SET_ID, Buffer.concat(records));
}

function set(id: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(4 + body.length, 2);
  return Buffer.concat([h, body]);
}

function dataRecord(r: FlowRecord): Buffer {
  const f = r.flow;
  const b = Buffer.alloc(recordLength(f.family));
  let o = 0;
  for (const a of [f.src, f.dst]) o += addressBytes(a).copy(b, o);
  b.writeUInt16BE(f.sport, o);
  b.writeUInt16BE(f.dport, o + 2);
  b.writeUInt8(f.proto, o + 4);
  b.writeUInt16BE((f.tcpFlags ?? 0) & 0xffff, o + 5);
  b.writeBigUInt64BE(r.packets, o + 7);
  b.writeBigUInt64BE(r.bytes, o + 15);
  b.writeBigUInt64BE(r.startMs, o + 23);
  b.writeBigUInt64BE(r.endMs, o + 31);
  b.writeUInt8(r.reason, o + 39);
  return b;
}

/** Largest message kfn builds: stays under a 1500-byte MTU with IPv6 and UDP headers. */
export const MAX_MESSAGE = 1400;

/**
 * Messages carrying `records` (and the templates first when `withTemplates`), each at
 * most MAX_MESSAGE bytes. `sequence` is the number of data records sent before, per
 * RFC 7011 section 3.1; the returned `sequence` counts these too.
 */
export function encodeMessages(
  records: readonly FlowRecord[],
  opts: { exportTimeS: number; sequence: number; domain: number; withTemplates: boolean },
): { messages: Buffer[]; sequence: number } {
  const messages: Buffer[] = [];
  let sequence = opts.sequence;
  let pending = records.map((r) => ({ family: r.flow.family, bytes: dataRecord(r) }));
  let templates = opts.withTemplates;
  while (templates || pending.length > 0) {
    const sets: Buffer[] = templates ? [templateSet()] : [];
    templates = false;
    let size = 16 + sets.reduce((n, s) => n + s.length, 0);
    const inThis: typeof pending = [];
    for (const p of pending) {
      const setOverhead = inThis.length === 0 || inThis.at(-1)!.family !== p.family ? 4 : 0;
      if (size + setOverhead + p.bytes.length > MAX_MESSAGE) break;
      size += setOverhead + p.bytes.length;
      inThis.push(p);
    }
    pending = pending.slice(inThis.length);
    for (let i = 0; i < inThis.length; ) {
      const family = inThis[i]!.family;
      let j = i;
      while (j < inThis.length && inThis[j]!.family === family) j++;
      sets.push(set(family === 4 ? TEMPLATE_V4 : TEMPLATE_V6, Buffer.concat(inThis.slice(i, j).map((p) => p.bytes))));
      i = j;
    }
    const body = Buffer.concat(sets);
    const header = Buffer.alloc(16);
    header.writeUInt16BE(IPFIX_VERSION, 0);
    header.writeUInt16BE(16 + body.length, 2);
    header.writeUInt32BE(opts.exportTimeS >>> 0, 4);
    header.writeUInt32BE(sequence >>> 0, 8);
    header.writeUInt32BE(opts.domain >>> 0, 12);
    messages.push(Buffer.concat([header, body]));
    sequence += inThis.length;
  }
  return { messages, sequence };
}
