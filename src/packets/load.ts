/**
 * Loads PacketTest files the way manifests are loaded (src/manifest/load.ts: YAML with
 * positions, schemas/packet-test.schema.json), then types every case: addresses, frames
 * built or read from pcap files, expectations checked against the number of packets.
 * Every problem is collected; one KfnError, or KfnErrors for several.
 */
import fs from 'node:fs';
import { InputFileError, readRegularFile } from '../core/files.js';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { KfnError, type SourceRef } from '../core/errors.js';
import { PACKET_TEST_SCHEMA, defaultRoot, formatPath, loadDocuments, throwIfAny, type LoadedDocument, type PathSegment } from '../manifest/index.js';
import { where } from '../manifest/util.js';
import { formatMac, parseIPv4, parseIPv6, parseMac } from '../values/net.js';
import { buildFrame, describePacket } from './frame.js';
import { readPcap, type PcapFile } from './pcap.js';
import {
  EXPECTED_VERDICTS,
  PACKET_DEFAULTS,
  PACKET_TEST_KIND,
  PROTOCOLS,
  type ExpectedVerdict,
  type Expectation,
  type IpHeader,
  type L4Header,
  type LoadedPacketTests,
  type Packet,
  type PacketCase,
  type PacketSpec,
  type PacketTest,
  type Run,
  type Step,
  type TcpFlag,
} from './types.js';

/** pcap files above this size are refused before reading. */
export const MAX_PCAP_BYTES = 64 * 1024 * 1024;

// The YAML shapes, as schemas/packet-test.schema.json guarantees them.
interface PacketYaml {
  eth?: { src?: string; dst?: string; vlan?: { id: number; priority?: number } };
  ip: { src: string; dst: string; ttl?: number };
  tcp?: { src?: number; dst: number; flags?: TcpFlag[] };
  udp?: { src?: number; dst: number };
  icmp?: { type?: number; code?: number };
  icmpv6?: { type?: number; code?: number };
  payload?: number;
}
interface PcapYaml {
  file: string;
  packet?: number;
}
type RunYaml = ExpectedVerdict | { pass?: number; drop?: number; decidedBy?: string };
type ExpectYaml = ExpectedVerdict | RunYaml[] | { pass?: number; drop?: number };
interface StepYaml {
  packet?: PacketYaml;
  pcap?: PcapYaml;
  repeat?: number;
  expect?: ExpectYaml;
  decidedBy?: string;
}
interface CaseYaml extends StepYaml {
  name: string;
  sequence?: StepYaml[];
}
interface PacketTestYaml {
  metadata: { name: string };
  spec: { chain: string; cases: CaseYaml[] };
}

export interface LoadPacketTestsOptions {
  /** pcap files must live below this directory (after symlinks). Default: see defaultRoot. */
  root?: string;
}

/** Reads `target` (a file, or a directory of *.yaml / *.yml) as PacketTest documents. */
export function loadPacketTests(target: string, opts: LoadPacketTestsOptions = {}): LoadedPacketTests {
  const loaded = loadDocuments(target, { schemas: { [PACKET_TEST_KIND]: PACKET_TEST_SCHEMA } });
  const rootGiven = path.resolve(opts.root ?? defaultRoot(target));
  let root = rootGiven;
  try {
    root = fs.realpathSync(rootGiven);
  } catch {
    /* a missing root contains nothing: every pcap will be outside it */
  }
  const errors: KfnError[] = [];
  const pcaps = new Map<string, PcapFile | KfnError>();
  const tests: PacketTest[] = [];
  const byName = new Map<string, PacketTest>();
  for (const doc of loaded.documents) {
    const t = typeTest(doc, { root, pcaps, errors });
    const first = byName.get(t.name);
    if (first) {
      errors.push(
        new KfnError('MANIFEST_DUPLICATE', `PacketTest "${t.name}" is defined twice (first at ${where(first.source)})`, {
          source: t.source,
          hint: 'packet test names must be unique across the files given',
        }),
      );
      continue;
    }
    byName.set(t.name, t);
    tests.push(t);
  }
  throwIfAny(errors);
  return { target: loaded.target, files: loaded.files, tests };
}

interface Ctx {
  root: string;
  pcaps: Map<string, PcapFile | KfnError>;
  errors: KfnError[];
}

/** Where a case's errors point and how they are named. */
interface Here {
  doc: LoadedDocument;
  /** Path of the case in the document. */
  base: PathSegment[];
  /** `case "blocked source"`. */
  prefix: string;
  ctx: Ctx;
}

/** A problem at `at` (relative to the case), named `case "...": at: text`. */
function fail(h: Here, e: { code: string; at: PathSegment[]; text: string; hint: string; key?: boolean }): void {
  const field = e.at.length > 0 ? `${formatPath(e.at)}: ` : '';
  const source = h.doc.locate([...h.base, ...e.at], { key: e.key ?? false });
  h.ctx.errors.push(new KfnError(e.code, `${h.prefix}: ${field}${e.text}`, { source, hint: e.hint }));
}

function typeTest(doc: LoadedDocument, ctx: Ctx): PacketTest {
  const data = doc.data as PacketTestYaml;
  const cases: PacketCase[] = [];
  const seen = new Map<string, SourceRef>();
  data.spec.cases.forEach((c, i) => {
    const base = ['spec', 'cases', i];
    const h: Here = { doc, base, prefix: `case ${JSON.stringify(c.name)}`, ctx };
    const source = doc.locate([...base, 'name']);
    const first = seen.get(c.name);
    if (first) {
      ctx.errors.push(
        new KfnError('MANIFEST_DUPLICATE', `${h.prefix} is defined twice in PacketTest "${data.metadata.name}" (first at ${where(first)})`, {
          source,
          hint: 'give each case its own name: reports name cases',
        }),
      );
    } else seen.set(c.name, source);
    const steps = typeCase(h, c);
    if (steps) cases.push({ name: c.name, steps, source });
  });
  return { name: data.metadata.name, chain: data.spec.chain, cases, file: doc.file, absFile: doc.absFile, source: doc.source };
}

const STEP_FIELDS = ['packet', 'pcap', 'repeat', 'expect', 'decidedBy'] as const;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function typeCase(h: Here, c: CaseYaml): Step[] | undefined {
  if (c.sequence !== undefined) {
    const misplaced = STEP_FIELDS.filter((f) => c[f] !== undefined);
    for (const f of misplaced) {
      fail(h, {
        code: 'PACKET_CASE_INVALID',
        at: [f],
        text: 'does not go next to sequence',
        hint: 'move it into the steps of the sequence (each step has its own packet or pcap, repeat and expect)',
        key: true,
      });
    }
    const steps = c.sequence.map((s, i) => typeStep(h, ['sequence', i], s));
    return misplaced.length === 0 && steps.every((s) => s !== undefined) ? (steps as Step[]) : undefined;
  }
  const step = typeStep(h, [], c);
  return step ? [step] : undefined;
}

function typeStep(h: Here, at: PathSegment[], s: StepYaml): Step | undefined {
  if ((s.packet === undefined) === (s.pcap === undefined)) {
    fail(h, {
      code: 'PACKET_CASE_INVALID',
      at,
      text: s.packet === undefined ? 'no packet: give packet, pcap or sequence' : 'packet and pcap together: give one of them',
      hint:
        at.length === 0
          ? 'a case sends one packet (packet: or pcap:) or a sequence of steps (sequence:)'
          : 'each step of a sequence sends one packet description or pcap',
    });
    return undefined;
  }
  if (s.expect === undefined) {
    fail(h, {
      code: 'PACKET_CASE_INVALID',
      at,
      text: 'expect: required field missing',
      hint: 'add "expect: pass" or "expect: drop" (or runs / totals, see docs/testing-chains.md)',
    });
    return undefined;
  }
  const packets = s.packet !== undefined ? typePacket(h, [...at, 'packet'], s.packet) : pcapPackets(h, [...at, 'pcap'], s.pcap!);
  if (!packets) return undefined;
  const repeat = s.repeat ?? 1;
  const expect = typeExpect(h, at, s, packets.length * repeat);
  return expect ? { packets, repeat, expect, source: h.doc.locate([...h.base, ...at]) } : undefined;
}

/** Address text as everywhere in kfn (src/values/net.ts: strict, no zone), as an ipaddr.js value. */
function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const b = parseIPv4(text) ?? parseIPv6(text);
  return b ? ipaddr.fromByteArray(Array.from(b)) : undefined;
}

const familyName = (a: ipaddr.IPv4 | ipaddr.IPv6) => (a.kind() === 'ipv4' ? 'IPv4' : 'IPv6');

function typePacket(h: Here, at: PathSegment[], p: PacketYaml): Packet[] | undefined {
  let ok = true;
  const addr = (which: 'src' | 'dst') => {
    const a = parseIp(p.ip[which]);
    if (!a) {
      ok = false;
      fail(h, {
        code: 'PACKET_INVALID',
        at: [...at, 'ip', which],
        text: `${JSON.stringify(p.ip[which])} is not an IPv4 or IPv6 address`,
        hint: 'write IPv4 as 198.18.0.1 and IPv6 as 2001:2::1 (no prefix length, no zone)',
      });
    }
    return a;
  };
  const src = addr('src');
  const dst = addr('dst');
  let ip: IpHeader | undefined;
  const ttl = p.ip.ttl ?? PACKET_DEFAULTS.ttl;
  if (src && dst) {
    if (src.kind() !== dst.kind()) {
      ok = false;
      fail(h, {
        code: 'PACKET_INVALID',
        at: [...at, 'ip'],
        text: `src is ${familyName(src)} and dst ${familyName(dst)}: both must be of one family`,
        hint: 'an IPv4-mapped IPv6 address (::ffff:198.18.0.1) is IPv6',
      });
    } else if (src.kind() === 'ipv4') ip = { version: 4, src: src as ipaddr.IPv4, dst: dst as ipaddr.IPv4, ttl };
    else ip = { version: 6, src: src as ipaddr.IPv6, dst: dst as ipaddr.IPv6, ttl };
  }

  const given = PROTOCOLS.filter((k) => p[k] !== undefined);
  let l4: L4Header | undefined;
  if (given.length !== 1) {
    ok = false;
    fail(h, {
      code: 'PACKET_INVALID',
      at,
      text: given.length === 0 ? 'no protocol: give one of tcp, udp, icmp, icmpv6' : `${given.join(' and ')} together: give one protocol`,
      hint: 'e.g. udp: { dst: 53 }, tcp: { dst: 443, flags: [syn] }, icmp: {}',
    });
  } else {
    const proto = given[0]!;
    if (ip && ((proto === 'icmp' && ip.version === 6) || (proto === 'icmpv6' && ip.version === 4))) {
      ok = false;
      fail(h, {
        code: 'PACKET_INVALID',
        at: [...at, proto],
        text: `${proto} cannot be carried over IPv${ip.version}`,
        hint: `use ${proto === 'icmp' ? 'icmpv6' : 'icmp'} with these addresses`,
        key: true,
      });
    }
    if (proto === 'tcp') {
      const t = p.tcp!;
      l4 = { protocol: 'tcp', srcPort: t.src ?? PACKET_DEFAULTS.srcPort, dstPort: t.dst, flags: t.flags ?? [...PACKET_DEFAULTS.tcpFlags] };
    } else if (proto === 'udp') {
      l4 = { protocol: 'udp', srcPort: p.udp!.src ?? PACKET_DEFAULTS.srcPort, dstPort: p.udp!.dst };
    } else {
      const icmp = p[proto]!;
      const type = icmp.type ?? (proto === 'icmp' ? PACKET_DEFAULTS.icmpType : PACKET_DEFAULTS.icmpv6Type);
      l4 = { protocol: proto, type, code: icmp.code ?? PACKET_DEFAULTS.icmpCode };
    }
  }
  if (!ok || !ip || !l4) return undefined;

  const mac = (m: string | undefined, dflt: string) => (m === undefined ? dflt : formatMac(parseMac(m)!));
  const vlan = p.eth?.vlan;
  const spec: PacketSpec = {
    eth: {
      src: mac(p.eth?.src, PACKET_DEFAULTS.srcMac),
      dst: mac(p.eth?.dst, PACKET_DEFAULTS.dstMac),
      ...(vlan ? { vlan: { id: vlan.id, priority: vlan.priority ?? PACKET_DEFAULTS.vlanPriority } } : {}),
    },
    ip,
    l4,
    payloadLength: p.payload ?? PACKET_DEFAULTS.payloadLength,
  };
  return [{ frame: buildFrame(spec), label: describePacket(spec), spec, source: h.doc.locate([...h.base, ...at]) }];
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The frames a `pcap:` selects: the file inside the root, readable, the packet(s) whole. */
function pcapPackets(h: Here, at: PathSegment[], p: PcapYaml): Packet[] | undefined {
  const fileAt = [...at, 'file'];
  const lexical = path.resolve(path.dirname(h.doc.absFile), p.file);
  const outside = (resolved: string) =>
    fail(h, {
      code: 'PCAP_OUTSIDE_ROOT',
      at: fileAt,
      text: `${p.file} resolves to ${resolved}, outside the root ${h.ctx.root}`,
      hint: 'keep captures inside the repository (symlinks are followed before the check)',
    });
  let real: string;
  try {
    real = fs.realpathSync(lexical);
  } catch {
    if (!isInside(h.ctx.root, lexical)) outside(lexical);
    else fail(h, { code: 'PCAP_NOT_FOUND', at: fileAt, text: `${p.file} not found (looked for ${lexical})`, hint: 'the path is relative to the packet test file' });
    return undefined;
  }
  if (!isInside(h.ctx.root, real)) {
    outside(real);
    return undefined;
  }

  let pcap = h.ctx.pcaps.get(real);
  if (!pcap) {
    pcap = readPcapFile(real, p.file);
    h.ctx.pcaps.set(real, pcap);
  }
  if (pcap instanceof KfnError) {
    fail(h, { code: pcap.code, at: fileAt, text: pcap.message, hint: pcap.hint ?? 'give a classic pcap file of Ethernet frames' });
    return undefined;
  }
  const numbered = pcap.packets.map((x, i) => ({ ...x, number: i + 1 }));
  const chosen = p.packet === undefined ? numbered : numbered.filter((x) => x.number === p.packet);
  if (chosen.length === 0) {
    fail(h, {
      code: 'PCAP_NO_SUCH_PACKET',
      at: p.packet === undefined ? fileAt : [...at, 'packet'],
      text: p.packet === undefined ? `${p.file} holds no packets` : `${p.file} has ${plural(pcap.packets.length, 'packet')}, no packet ${p.packet}`,
      hint: 'packets are numbered from 1, as Wireshark shows them',
    });
    return undefined;
  }
  const source = h.doc.locate([...h.base, ...at]);
  const out: Packet[] = [];
  for (const x of chosen) {
    if (x.data.length < x.originalLength) {
      fail(h, {
        code: 'PCAP_INVALID',
        at: fileAt,
        text: `packet ${x.number} of ${p.file} was captured cut short (${x.data.length} of ${x.originalLength} bytes)`,
        hint: 'capture whole frames (tcpdump -s 0, the default of recent tcpdump)',
      });
      return undefined;
    }
    if (x.data.length < 14) {
      fail(h, {
        code: 'PCAP_INVALID',
        at: fileAt,
        text: `packet ${x.number} of ${p.file} has ${x.data.length} bytes, less than an Ethernet header`,
        hint: 'remove it from the capture (editcap)',
      });
      return undefined;
    }
    out.push({ frame: x.data, label: `${p.file} #${x.number}`, source });
  }
  return out;
}

/** The pcap at `real`, or the error to report for it (cached per file either way). */
function readPcapFile(real: string, shown: string): PcapFile | KfnError {
  let bytes: Buffer;
  try {
    // fstat before reading: a FIFO or a device named as a capture is refused, never waited on.
    bytes = readRegularFile(real, { maxBytes: MAX_PCAP_BYTES });
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    if (e.problem === 'not-regular') return new KfnError('PCAP_NOT_FOUND', `${shown} is not a regular file`, { hint: 'pcap.file must name a pcap capture' });
    if (e.problem === 'too-large') {
      return new KfnError('PCAP_TOO_LARGE', `${shown} ${e.detail}`, {
        hint: 'keep only the packets the test needs (editcap -r file.pcap out.pcap 1-100)',
      });
    }
    return new KfnError('PCAP_NOT_FOUND', `cannot read ${shown}: ${e.detail}`, {
      hint: 'fix its permissions: kfn reads captures as the user running it',
    });
  }
  try {
    return readPcap(bytes, shown);
  } catch (e) {
    if (e instanceof KfnError) return e;
    throw e;
  }
}

function typeExpect(h: Here, at: PathSegment[], s: StepYaml, total: number): Expectation | undefined {
  const e = s.expect!;
  const eAt = [...at, 'expect'];
  const mismatch = (what: string, covered: number) =>
    fail(h, {
      code: 'PACKET_EXPECT_INVALID',
      at: eAt,
      text: `the ${what} ${plural(covered, 'packet')}, the step sends ${plural(total, 'packet')}`,
      hint: 'a step sends its packets (every packet of a pcap unless pcap.packet picks one) times repeat',
    });
  const decider = (d: string | undefined) => (d !== undefined ? { decidedBy: d } : {});

  if (typeof e === 'string') return { form: 'each', verdict: e, ...decider(s.decidedBy) };
  if (Array.isArray(e)) {
    const runs: Run[] = [];
    let ok = true;
    e.forEach((r, i) => {
      if (typeof r === 'string') {
        runs.push({ verdict: r, count: 1, ...decider(s.decidedBy) });
        return;
      }
      const named = EXPECTED_VERDICTS.filter((v) => r[v] !== undefined);
      if (named.length !== 1) {
        ok = false;
        fail(h, {
          code: 'PACKET_EXPECT_INVALID',
          at: [...eAt, i],
          text: named.length === 0 ? 'a run names no verdict' : 'a run names both pass and drop',
          hint: 'write each run as { pass: N } or { drop: N } (with decidedBy: if needed), in packet order',
        });
        return;
      }
      const verdict = named[0]!;
      runs.push({ verdict, count: r[verdict]!, ...decider(r.decidedBy ?? s.decidedBy) });
    });
    if (!ok) return undefined;
    const covered = runs.reduce((n, r) => n + r.count, 0);
    if (covered !== total) {
      mismatch('runs cover', covered);
      return undefined;
    }
    return { form: 'ordered', runs };
  }
  if (s.decidedBy !== undefined) {
    fail(h, {
      code: 'PACKET_EXPECT_INVALID',
      at: [...at, 'decidedBy'],
      text: 'does not go with totals (they say nothing of which packet is which)',
      hint: 'list the runs in order instead: expect: [{ pass: 10 }, { drop: 5, decidedBy: limit }]',
      key: true,
    });
    return undefined;
  }
  const counts = { pass: e.pass ?? 0, drop: e.drop ?? 0 };
  if (counts.pass + counts.drop !== total) {
    mismatch('totals add up to', counts.pass + counts.drop);
    return undefined;
  }
  return { form: 'totals', counts };
}
