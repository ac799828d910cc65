/**
 * The function library against the real kernel, without the CLI: each object is loaded
 * through src/libbpf, its parameter maps written with the manifests' BTF encoder, and
 * crafted frames run through its XDP and tc programs with BPF_PROG_TEST_RUN (`repeat`
 * for bursts). What test runs cannot show is shown with real traffic between throwaway
 * namespaces: connlimit counts real TCP connections through its tracepoint program and
 * drops a real SYN at the limit; mirror's copies are counted where they arrive.
 *
 * Nothing is pinned: programs, maps and links live in this process's fds.
 */
import { after, before, describe, test } from 'node:test';
import path from 'node:path';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { bpftoolJson } from '../helpers/bpftool.js';
import { BPF_BUILD } from '../helpers/paths.js';
import { TCP_FLAG, L4, arpFrame, frame, type FrameSpec } from '../helpers/packets.js';
import { TCX_ACTION, TC_ACT, XDP_ACTION } from '../../src/libbpf/verdict.js';

const FUNCTIONS = ['allowlist', 'ratelimit', 'connlimit', 'mirror', 'flowstats', 'blocklist', 'counter'] as const;
const skip = kernelGate({ objects: FUNCTIONS.map((f) => `${f}.bpf.o`), cli: false, tools: ['nc'] });

// Loaded in before(): the libbpf layer needs libbpf.so.1, which a skipped run may lack.
let lib: typeof import('../../src/libbpf/index.js');
let fnload: typeof import('../helpers/fnload.js');
let run: typeof import('../../src/libbpf/testrun.js');
let tp: typeof import('../helpers/tracepoint.js');
type LoadedFunction = import('../helpers/fnload.js').LoadedFunction;

before(async () => {
  if (skip) return;
  lib = await import('../../src/libbpf/index.js');
  fnload = await import('../helpers/fnload.js');
  run = await import('../../src/libbpf/testrun.js');
  tp = await import('../helpers/tracepoint.js');
});

/** A hook's program of a function and the verdicts it returns for KFN_PASS / KFN_DROP. */
interface Hook {
  name: 'xdp' | 'tc';
  pass: number;
  drop: number;
}
const HOOKS: Hook[] = [
  { name: 'xdp', pass: XDP_ACTION.PASS, drop: XDP_ACTION.DROP },
  { name: 'tc', pass: TCX_ACTION.NEXT, drop: TC_ACT.SHOT },
];

const load = (fn: string, hook: Hook, opts: Parameters<typeof fnload.LoadedFunction.load>[2] = {}): LoadedFunction =>
  fnload.LoadedFunction.load(fn, `${fn}_${hook.name}`, opts);

const verdict = (f: LoadedFunction, fr: Uint8Array, repeat = 1): number => run.testRun(f.progFd, { data: fr, repeat }, path.basename(f.info.path)).retval;

/** u32 key of an array map slot, host byte order. */
const slot = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** Waits (bounded) until cond() holds; the last value is in the failure message. */
async function until<T>(what: string, get: () => T, cond: (v: T) => boolean, tries = 200): Promise<T> {
  let v = get();
  for (let i = 0; i < tries && !cond(v); i++) {
    await sleep(50);
    v = get();
  }
  assert.ok(cond(v), `${what}: still ${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}`);
  return v;
}

describe('functions: parameter maps are tagged in BTF', { skip }, () => {
  const expected: Record<(typeof FUNCTIONS)[number], string[]> = {
    allowlist: ['allowed_v4', 'allowed_v6'],
    ratelimit: ['config', 'rules_v4', 'rules_v6'],
    connlimit: ['limits'],
    mirror: ['match_v4', 'match_v6', 'target'],
    flowstats: [],
    blocklist: ['blocked_v4', 'blocked_v6'],
    counter: [],
  };
  for (const fn of FUNCTIONS) {
    test(`${fn}: kfn:param on exactly ${expected[fn].join(', ') || 'no map'}`, () => {
      const { types } = bpftoolJson(['btf', 'dump', 'file', `${BPF_BUILD}/${fn}.bpf.o`]) as { types: { id: number; kind: string; name: string; type_id?: number }[] };
      const byId = new Map(types.map((t) => [t.id, t]));
      const tagged = types.filter((t) => t.kind === 'DECL_TAG' && t.name === 'kfn:param').map((t) => byId.get(t.type_id!));
      assert.ok(tagged.every((v) => v?.kind === 'VAR'), 'the tag sits on map variables');
      assert.deepEqual(tagged.map((v) => v!.name).sort(), expected[fn]);
    });
  }
});

/** The frame with its IPv4 header length set to 60 bytes, longer than the packet. */
function longIhl(fr: Buffer): Buffer {
  const b = Buffer.from(fr);
  b[14] = 0x4f;
  return b;
}

describe('allowlist (test run)', { skip }, () => {
  const cases: { what: string; spec?: FrameSpec; raw?: Buffer; notIp?: true; allowed: boolean }[] = [
    { what: 'v4 source in 198.18.1.0/24', spec: { src: '198.18.1.77', dst: '198.18.0.1', l4: L4.Udp }, allowed: true },
    { what: 'v4 source 198.18.0.2/32', spec: { src: '198.18.0.2', dst: '198.18.0.1', l4: L4.Tcp }, allowed: true },
    { what: 'v4 source in the list, behind a VLAN tag', spec: { src: '198.18.1.1', dst: '198.18.0.1', l4: L4.Icmp, vlan: 7 }, allowed: true },
    { what: 'v4 source 198.18.0.3 (unlisted)', spec: { src: '198.18.0.3', dst: '198.18.0.1', l4: L4.Udp }, allowed: false },
    { what: 'v4 source 198.18.2.1 (unlisted)', spec: { src: '198.18.2.1', dst: '198.18.0.1', l4: L4.Tcp }, allowed: false },
    { what: 'v6 source in 2001:2:0:1::/64', spec: { src: '2001:2:0:1::9', dst: '2001:2::1', l4: L4.Udp }, allowed: true },
    { what: 'v6 source 2001:2::2 (unlisted)', spec: { src: '2001:2::2', dst: '2001:2::1', l4: L4.Icmp }, allowed: false },
    { what: 'ARP (not IP)', raw: arpFrame(), notIp: true, allowed: true },
    // Default deny for a header the function cannot read. (A test run of a tc program
    // refuses frames shorter than an IPv4 header, hence a header claiming 60 bytes.)
    { what: 'truncated IPv4 header (IHL 15 in a 28-byte packet)', raw: longIhl(frame({ src: '198.18.1.1', dst: '198.18.0.1', l4: L4.Udp })), allowed: false },
  ];
  for (const hook of HOOKS) {
    test(`${hook.name}: listed sources pass, others drop (v4 + v6), non-IP passes; counters match`, () => {
      const f = load('allowlist', hook);
      try {
        f.set('allowed_v4', { '198.18.1.0/24': 1, '198.18.0.2/32': 1 });
        f.set('allowed_v6', { '2001:2:0:1::/64': 1 });
        const REPEAT = 3;
        for (const c of cases) {
          assert.equal(verdict(f, c.raw ?? frame(c.spec!), REPEAT), c.allowed ? hook.pass : hook.drop, c.what);
        }
        const ip = cases.filter((c) => !c.notIp);
        assert.deepEqual(f.sum('stats'), {
          passed: BigInt(REPEAT * ip.filter((c) => c.allowed).length),
          dropped: BigInt(REPEAT * ip.filter((c) => !c.allowed).length),
          not_ip: BigInt(REPEAT),
        });

        // A parameter changes in place: the next packet from that source is dropped.
        assert.ok(f.unset('allowed_v4', '198.18.0.2/32'));
        assert.equal(verdict(f, frame(cases[1]!.spec!)), hook.drop, 'removed prefix');
        assert.equal(f.sum('stats').dropped, BigInt(REPEAT * 4 + 1));
      } finally {
        f.close();
      }
    });
  }
});

describe('ratelimit (test run)', { skip }, () => {
  const fromV4 = (src: string): Buffer => frame({ src, dst: '198.18.0.1', l4: L4.Udp });
  const fromV6 = (src: string): Buffer => frame({ src, dst: '2001:2::1', l4: L4.Udp });

  for (const hook of HOOKS) {
    test(`${hook.name}: global bucket without refill passes exactly burst, config overrides the global`, () => {
      const a = load('ratelimit', hook, { globals: { rate_pps: 0, burst: 5 } });
      try {
        assert.equal(verdict(a, fromV4('198.18.0.2'), 12), hook.drop, 'the 12th packet is over the burst');
        assert.deepEqual(a.sum('stats'), { passed: 5n, dropped: 7n });
      } finally {
        a.close();
      }
      const b = load('ratelimit', hook, { globals: { rate_pps: 0, burst: 5 } });
      try {
        b.set('config', { '0': { burst: 8 } });
        verdict(b, fromV6('2001:2::2'), 12);
        assert.deepEqual(b.sum('stats'), { passed: 8n, dropped: 4n }, 'config.burst 8 replaces the global 5');
      } finally {
        b.close();
      }
    });

    test(`${hook.name}: one bucket per matched prefix (longest match), shared by its sources; others use the global bucket`, () => {
      // rate_pps 0: buckets never refill, so every figure below is exact however slow the run.
      const f = load('ratelimit', hook, { globals: { rate_pps: 0, burst: 1000 } });
      try {
        f.set('rules_v4', { '198.18.1.0/24': { rate_pps: 0, burst: 4 }, '198.18.0.0/16': { rate_pps: 0, burst: 2 } });
        f.set('rules_v6', { '2001:2:0:1::/64': { rate_pps: 0, burst: 3 } });

        assert.equal(verdict(f, fromV4('198.18.1.7'), 10), hook.drop);
        assert.equal(verdict(f, fromV4('198.18.1.200'), 3), hook.drop, 'same /24, same (empty) bucket');
        assert.equal(verdict(f, fromV4('198.18.2.9'), 5), hook.drop, '/16 bucket');
        assert.equal(verdict(f, fromV4('198.19.0.1'), 10), hook.pass, 'no rule: global bucket (burst 1000)');
        assert.equal(verdict(f, fromV6('2001:2:0:1::5'), 5), hook.drop, 'v6 /64 bucket');
        assert.equal(verdict(f, fromV6('2001:2::9'), 4), hook.pass, 'v6 without rule: global bucket');
        assert.equal(verdict(f, arpFrame(), 2), hook.pass, 'not IP: global bucket');

        const v4 = f.fields('buckets_v4');
        assert.deepEqual([...v4.keys()].sort(), ['198.18.0.0/16', '198.18.1.0/24'], 'keyed by the matched prefix, host bits zero');
        assert.deepEqual({ passed: v4.get('198.18.1.0/24')!.passed, dropped: v4.get('198.18.1.0/24')!.dropped }, { passed: 4n, dropped: 9n });
        assert.deepEqual({ passed: v4.get('198.18.0.0/16')!.passed, dropped: v4.get('198.18.0.0/16')!.dropped }, { passed: 2n, dropped: 3n });
        const v6 = f.fields('buckets_v6');
        assert.deepEqual([...v6.keys()], ['2001:2:0:1::/64']);
        assert.deepEqual({ passed: v6.get('2001:2:0:1::/64')!.passed, dropped: v6.get('2001:2:0:1::/64')!.dropped }, { passed: 3n, dropped: 2n });
        assert.deepEqual(f.sum('stats'), { passed: 4n + 2n + 10n + 3n + 4n + 2n, dropped: 9n + 3n + 2n });

        // A rule changed in place keeps its bucket: 2 of the new burst of 6 are spent.
        f.set('rules_v4', { '198.18.0.0/16': { rate_pps: 0, burst: 6 } });
        verdict(f, fromV4('198.18.2.9'), 10);
        const after = f.fields('buckets_v4').get('198.18.0.0/16')!;
        assert.deepEqual({ passed: after.passed, dropped: after.dropped }, { passed: 6n, dropped: 3n + 6n });
      } finally {
        f.close();
      }
    });
  }

  test('xdp: a prefix bucket refills at its rate', async () => {
    const f = load('ratelimit', HOOKS[0]!, { globals: { rate_pps: 0, burst: 1000 } });
    try {
      f.set('rules_v4', { '198.18.1.0/24': { rate_pps: 100, burst: 5 } });
      const pkt = fromV4('198.18.1.1');
      verdict(f, pkt, 200);
      const drained = f.fields('buckets_v4').get('198.18.1.0/24')!;
      assert.ok(drained.passed >= 5n && drained.dropped >= 1n, `200 packets at once exceed a burst of 5: ${drained.passed} passed`);
      // 5 tokens take 50 ms at 100 pps; after 200 ms the bucket is full (capped at 5).
      await sleep(200);
      verdict(f, pkt, 5);
      const refilled = f.fields('buckets_v4').get('198.18.1.0/24')!;
      assert.equal(refilled.passed - drained.passed, 5n, 'a full bucket again');
      assert.equal(refilled.dropped, drained.dropped);
    } finally {
      f.close();
    }
  });
});

describe('flowstats (test run)', { skip }, () => {
  const tcp = (flags: number, payload = 0): Buffer => frame({ src: '198.18.0.2', dst: '198.18.0.1', l4: L4.Tcp, sport: 40001, dport: 80, tcpFlags: flags, payload });
  const PROTO = { OTHER: 0, ICMP: 1, TCP: 2, UDP: 3, ICMPV6: 4 } as const; // enum flowstats_proto

  for (const hook of HOOKS) {
    test(`${hook.name}: per-flow packets, bytes, first <= last seen, OR of TCP flags; per-protocol counters`, () => {
      const f = load('flowstats', hook);
      try {
        const t0 = process.hrtime.bigint(); // CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns
        const sent: [Buffer, number][] = [
          [tcp(TCP_FLAG.SYN), 1],
          [tcp(TCP_FLAG.ACK, 100), 3],
          [tcp(TCP_FLAG.PSH | TCP_FLAG.ACK, 10), 1],
          [tcp(TCP_FLAG.FIN | TCP_FLAG.ACK), 1],
        ];
        let firstSeen: bigint | undefined;
        let lastSeen = 0n;
        for (const [fr, n] of sent) {
          assert.equal(verdict(f, fr, n), hook.pass, 'flowstats never drops');
          const flow = [...f.fields('flows').values()][0]!;
          firstSeen ??= flow.first_ns;
          assert.equal(flow.first_ns, firstSeen, 'first seen stays');
          assert.ok(flow.last_ns >= lastSeen && flow.last_ns >= flow.first_ns, 'last seen moves forward');
          lastSeen = flow.last_ns;
        }
        const t1 = process.hrtime.bigint();
        const udp6 = frame({ src: '2001:2::2', dst: '2001:2::1', l4: L4.Udp, sport: 5353, dport: 53, payload: 20 });
        verdict(f, udp6, 2);
        verdict(f, frame({ src: '198.18.0.2', dst: '198.18.0.1', l4: L4.Icmp }));
        verdict(f, frame({ src: '2001:2::2', dst: '2001:2::1', l4: L4.Icmp }));
        verdict(f, arpFrame());

        const flows = f.entries('flows');
        assert.equal(flows.length, 4, flows.map((e) => e.keyText).join('\n'));
        const tcpFlow = flows.find((e) => /sport: 40001/.test(e.keyText));
        assert.ok(tcpFlow, flows.map((e) => e.keyText).join('\n'));
        const key = Buffer.from(tcpFlow.key, 'hex');
        // struct kfn_flow_key: IPv4 as ::ffff:a.b.c.d, ports in network order, proto, family.
        assert.equal(key.subarray(0, 16).toString('hex'), '00000000000000000000ffffc6120002');
        assert.equal(key.subarray(16, 32).toString('hex'), '00000000000000000000ffffc6120001');
        assert.deepEqual([key.readUInt16BE(32), key.readUInt16BE(34), key[36], key[37]], [40001, 80, 6, 4]);

        const v = f.fields('flows').get(tcpFlow.keyText);
        assert.ok(v);
        const bytes = sent.reduce((s, [fr, n]) => s + fr.length * n, 0);
        assert.equal(v.packets, 6n);
        assert.equal(v.bytes, BigInt(bytes));
        assert.equal(v.tcp_flags, BigInt(TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.PSH | TCP_FLAG.FIN));
        assert.ok(t0 <= v.first_ns && v.first_ns <= v.last_ns && v.last_ns <= t1, `${t0} <= ${v.first_ns} <= ${v.last_ns} <= ${t1}`);

        const v6 = [...f.fields('flows').entries()].find(([k]) => /sport: 5353/.test(k))?.[1];
        assert.ok(v6);
        assert.deepEqual([v6.packets, v6.bytes, v6.tcp_flags, v6.first_ns <= v6.last_ns], [2n, BigInt(2 * udp6.length), 0n, true]);

        const per = (p: number) => f.sum('proto_stats', slot(p)).packets;
        assert.deepEqual(
          { tcp: per(PROTO.TCP), udp: per(PROTO.UDP), icmp: per(PROTO.ICMP), icmpv6: per(PROTO.ICMPV6), other: per(PROTO.OTHER) },
          { tcp: 6n, udp: 2n, icmp: 1n, icmpv6: 1n, other: 1n },
        );
        assert.equal(f.sum('proto_stats', slot(PROTO.TCP)).bytes, BigInt(bytes));
      } finally {
        f.close();
      }
    });
  }
});

/** A child process we started (by pid), killed in cleanup if still running. */
class Child {
  private exited = false;
  readonly done: Promise<number | null>;
  private out = '';

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    this.done = new Promise((resolve) => proc.on('exit', (code) => ((this.exited = true), resolve(code))));
  }

  static inNetns(ns: string, cmd: string, args: string[]): Child {
    return new Child(spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  get stdout(): string {
    return this.out;
  }

  async line(re: RegExp, what: string): Promise<void> {
    await until(what, () => this.out, (o) => re.test(o) || this.exited);
    assert.match(this.out, re, `${what}: output ${this.out}`);
  }

  stop(): Promise<number | null> {
    if (!this.exited) this.proc.kill('SIGTERM');
    return this.done;
  }
}

describe('connlimit and mirror (real traffic between namespaces)', { skip, timeout: 120_000 }, () => {
  const sb = new Sandbox(sandboxPrefix('f'));
  const nsM = `${sb.prefix}-m`;
  const m0 = `${sb.prefix}-m0`;
  const m1 = `${sb.prefix}-m1`;
  // Ports of this process: the connection count is host-wide per port.
  const PORT = 20000 + (process.pid % 20000);
  const OTHER_PORT = PORT + 1;
  const children: Child[] = [];
  const closers: (() => void)[] = [];

  const nodeIn = (ns: string, script: string): Child => {
    const c = Child.inNetns(ns, process.execPath, ['-e', script]);
    children.push(c);
    return c;
  };

  before(() => {
    sb.up();
    spawnSync('ip', ['netns', 'del', nsM], { stdio: 'ignore' });
    const ip = (args: string[]) => {
      const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
    };
    // The mirror port: m0 in nsA, its peer m1 alone in nsM. No IPv6 on it, so the
    // kernel sends nothing of its own there.
    ip(['netns', 'add', nsM]);
    ip(['-n', sb.nsA, 'link', 'add', m0, 'type', 'veth', 'peer', 'name', m1, 'netns', nsM]);
    for (const [ns, dev] of [[sb.nsA, m0], [nsM, m1]] as const) {
      ip(['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
      ip(['-n', ns, 'link', 'set', dev, 'up']);
    }
  });

  after(async () => {
    for (const c of children) await c.stop();
    for (const close of closers.reverse()) close();
    spawnSync('ip', ['netns', 'del', nsM], { stdio: 'ignore' });
    sb.down();
  });

  test('connlimit: the tracepoint counts real connections per port; SYNs at the limit drop (test run and real), others pass', async () => {
    const xdp = load('connlimit', HOOKS[0]!);
    closers.push(() => xdp.close());
    const shared = { from: xdp, maps: ['limits', 'conns', 'socks', 'stats'] };
    const sock = fnload.LoadedFunction.load('connlimit', 'connlimit_sock', { share: shared });
    closers.push(() => sock.close());
    const tc = load('connlimit', HOOKS[1]!, { share: shared });
    closers.push(() => tc.close());
    const link = tp.attachTracepoint(sock.progFd, 'sock', 'inet_sock_set_state');
    closers.push(() => link.close());

    xdp.set('limits', { [PORT]: 3 });
    const count = (): bigint | undefined => xdp.fields('conns').get(String(PORT))?.value;

    const server = nodeIn(
      sb.nsA,
      `const net = require('net'); let up = 0;
       for (const port of [${PORT}, ${OTHER_PORT}]) for (const host of ['198.18.0.1', '2001:2::1'])
         net.createServer((s) => s.on('error', () => {})).listen(port, host, () => { if (++up === 4) console.log('ready'); });
       setTimeout(() => process.exit(0), 110000);`,
    );
    await server.line(/ready/, 'server listening');

    const client = (host: string, port: number, localPort?: number): Child => {
      const c = Child.inNetns(sb.nsB, 'nc', ['-n', ...(localPort ? ['-p', String(localPort)] : []), host, String(port)]);
      children.push(c);
      return c;
    };
    const clients = [client('198.18.0.1', PORT), client('198.18.0.1', PORT), client('2001:2::1', PORT)];
    // Neither counts: the server's port is unlisted, and the client's local port PORT is
    // an active open (SYN_SENT -> ESTABLISHED).
    client('198.18.0.1', OTHER_PORT, PORT);
    await until('3 established connections counted', count, (n) => n === 3n);
    const established = (ns: string, filter: string): number =>
      spawnSync('ip', ['netns', 'exec', ns, 'ss', '-Htn', 'state', 'established', filter], { encoding: 'utf8', timeout: 10_000 }).stdout.trim().split('\n').filter(Boolean).length;
    await until('the client-side socket on local port PORT is up', () => established(sb.nsB, `sport = :${PORT}`), (n) => n === 1);
    assert.equal(established(sb.nsA, `sport = :${PORT}`), 3, 'the server sees 3 connections on PORT');
    await sleep(200);
    assert.equal(count(), 3n, 'still 3: the unlisted server port and the client-side socket added nothing');
    assert.equal(xdp.fields('conns').size, 1, 'only the listed port has a count');
    assert.equal(xdp.handle('socks').keys().length, 3, 'three counted sockets');

    const syn = (dst: string, port: number, flags: number = TCP_FLAG.SYN): Buffer =>
      frame({ src: dst.includes(':') ? '2001:2::2' : '198.18.0.2', dst, l4: L4.Tcp, sport: 50000, dport: port, tcpFlags: flags });
    for (const [hook, f] of [[HOOKS[0]!, xdp], [HOOKS[1]!, tc]] as const) {
      assert.equal(verdict(f, syn('198.18.0.1', PORT)), hook.drop, `${hook.name}: v4 SYN at the limit (3 of 3)`);
      assert.equal(verdict(f, syn('2001:2::1', PORT)), hook.drop, `${hook.name}: v6 SYN at the limit`);
      assert.equal(verdict(f, syn('198.18.0.1', PORT, TCP_FLAG.ACK)), hook.pass, `${hook.name}: ACK of an existing connection`);
      assert.equal(verdict(f, syn('198.18.0.1', PORT, TCP_FLAG.SYN | TCP_FLAG.ACK)), hook.pass, `${hook.name}: SYN-ACK`);
      assert.equal(verdict(f, syn('198.18.0.1', OTHER_PORT)), hook.pass, `${hook.name}: SYN to an unlisted port`);
    }
    assert.deepEqual(xdp.sum('stats'), { syn_passed: 0n, syn_dropped: 4n, untracked: 0n });
    xdp.set('limits', { [PORT]: 4 });
    assert.equal(verdict(xdp, syn('198.18.0.1', PORT)), XDP_ACTION.PASS, 'below the raised limit (3 of 4)');
    assert.equal(verdict(tc, syn('2001:2::1', PORT)), TCX_ACTION.NEXT, 'tc too');
    assert.deepEqual(xdp.sum('stats'), { syn_passed: 2n, syn_dropped: 4n, untracked: 0n });

    // For real: connlimit_xdp on the server's interface, limit 3 with 3 connections up.
    xdp.set('limits', { [PORT]: 3 });
    const xdpLink = lib.withNetns(sb.nsA, () => lib.attachXdpLink(xdp.progFd, lib.ifindexHere(sb.ifA)!, 'native', `${sb.nsA}:${sb.ifA}`));
    closers.push(() => lib.closeFd(xdpLink));
    const probe = (): number | null => spawnSync('ip', ['netns', 'exec', sb.nsB, 'nc', '-n', '-z', '-w', '2', '198.18.0.1', String(PORT)], { timeout: 10_000 }).status;
    assert.notEqual(probe(), 0, 'a 4th connection cannot be made: its SYNs are dropped');
    assert.ok(xdp.sum('stats').syn_dropped >= 5n, 'dropped by connlimit');
    assert.equal(count(), 3n);

    await clients[0]!.stop();
    await until('a closed connection is no longer counted', count, (n) => n === 2n);
    assert.equal(probe(), 0, 'below the limit a new connection is made');
    await until('the probe connection came and went', count, (n) => n === 2n);
    for (const c of clients) await c.stop();
    await until('every connection closed', count, (n) => n === 0n);
    assert.equal(xdp.handle('socks').keys().length, 0, 'no socket left counted');
  });

  test('mirror (tc): matching packets are copied to the mirror port, the originals go on', async () => {
    const UDP_PORT = PORT + 2;
    const SPORT = PORT + 3;
    const mirror = fnload.LoadedFunction.load('mirror', 'mirror_tc');
    closers.push(() => mirror.close());
    const m0Index = lib.withNetns(sb.nsA, () => lib.ifindexHere(m0)!);
    mirror.set('target', { '0': m0Index });
    mirror.set('match_v4', { '198.18.0.0/24': { proto: 17, port: UDP_PORT } });
    mirror.set('match_v6', { '2001:2::/64': { proto: 17, port: UDP_PORT } });

    // What arrives on m1: flowstats on its XDP hook counts each flow.
    const seen = load('flowstats', HOOKS[0]!);
    closers.push(() => seen.close());
    const seenLink = lib.withNetns(nsM, () => lib.attachXdpLink(seen.progFd, lib.ifindexHere(m1)!, 'native', `${nsM}:${m1}`));
    closers.push(() => lib.closeFd(seenLink));

    // Test run (in nsA, where the target is): which frames match.
    const udp = (src: string, dst: string, sport: number, dport: number): Buffer => frame({ src, dst, l4: L4.Udp, sport, dport });
    const cases: [string, Buffer, boolean][] = [
      ['v4 UDP to the port', udp('198.18.0.2', '198.18.0.1', 40000, UDP_PORT), true],
      ['v4 UDP from the port (reply)', udp('198.18.0.1', '198.18.0.2', UDP_PORT, 40000), true],
      ['v6 UDP to the port', udp('2001:2::2', '2001:2::1', 40000, UDP_PORT), true],
      ['v4 UDP, other port', udp('198.18.0.2', '198.18.0.1', 40000, UDP_PORT + 10), false],
      ['v4 TCP to the port', frame({ src: '198.18.0.2', dst: '198.18.0.1', l4: L4.Tcp, dport: UDP_PORT }), false],
      ['v4 UDP, neither address listed', udp('198.18.5.1', '198.18.6.1', 40000, UDP_PORT), false],
      ['ICMP', frame({ src: '198.18.0.2', dst: '198.18.0.1', l4: L4.Icmp }), false],
      ['ARP', arpFrame(), false],
    ];
    lib.withNetns(sb.nsA, () => {
      for (const [what, fr] of cases) assert.equal(verdict(mirror, fr), TCX_ACTION.NEXT, `${what}: the original continues`);
    });
    const matched = cases.filter((c) => c[2]);
    assert.deepEqual(mirror.sum('stats'), { mirrored: BigInt(matched.length), bytes: BigInt(matched.reduce((s, c) => s + c[1].length, 0)), failed: 0n });
    // A test run's skb is on lo (ifindex 1): a target equal to the packet's own interface is refused.
    lib.withNetns(sb.nsA, () => {
      mirror.set('target', { '0': 1 });
      verdict(mirror, cases[0]![1]);
      mirror.set('target', { '0': m0Index });
    });
    assert.equal(mirror.sum('stats').failed, 1n);

    // Real traffic: mirror on nsA's tc-ingress; UDP from nsB to a receiver in nsA.
    const before = mirror.sum('stats').mirrored;
    const tcxLink = lib.withNetns(sb.nsA, () => lib.attachTcxLink(mirror.progFd, lib.ifindexHere(sb.ifA)!, 'ingress', 'last', `${sb.nsA}:${sb.ifA}`));
    closers.push(() => lib.closeFd(tcxLink));
    const N4 = 20;
    const N6 = 10;
    const receiver = nodeIn(
      sb.nsA,
      `const dgram = require('dgram'); let got = 0, up = 0;
       for (const [type, host] of [['udp4', '198.18.0.1'], ['udp6', '2001:2::1']]) {
         const s = dgram.createSocket(type);
         s.on('message', () => { if (++got === ${N4 + N6}) console.log('got all'); });
         s.bind(${UDP_PORT}, host, () => { if (++up === 2) console.log('ready'); });
       }
       setTimeout(() => process.exit(0), 60000);`,
    );
    await receiver.line(/ready/, 'receiver bound');
    const sender = nodeIn(
      sb.nsB,
      `const dgram = require('dgram');
       const send = (type, src, dst, port, n) => new Promise((done) => {
         const s = dgram.createSocket(type);
         s.bind(${SPORT}, src, async () => {
           for (let i = 0; i < n; i++) await new Promise((ok) => s.send(Buffer.alloc(32), port, dst, ok));
           s.close(); done();
         });
       });
       (async () => {
         await send('udp4', '198.18.0.2', '198.18.0.1', ${UDP_PORT}, ${N4});
         await send('udp6', '2001:2::2', '2001:2::1', ${UDP_PORT}, ${N6});
         await send('udp4', '198.18.0.2', '198.18.0.1', ${UDP_PORT + 10}, 5);
         console.log('sent');
       })();`,
    );
    await sender.line(/sent/, 'sender done');
    await receiver.line(/got all/, 'every original datagram reached the receiver in nsA');

    const flowOnM1 = (src: string, dport: number): bigint =>
      [...seen.fields('flows').entries()].find(([k]) => k.includes(src) && k.includes(`sport: ${SPORT}`) && k.includes(`dport: ${dport},`))?.[1].packets ?? 0n;
    await until('the copies arrived on m1', () => [flowOnM1('198.18.0.2', UDP_PORT), flowOnM1('2001:2::2', UDP_PORT)], ([a, b]) => a === BigInt(N4) && b === BigInt(N6));
    assert.equal(mirror.sum('stats').mirrored - before, BigInt(N4 + N6), 'exactly the matching datagrams were mirrored (no ARP/ND, no other port)');
    assert.equal(flowOnM1('198.18.0.2', UDP_PORT + 10), 0n, 'the other port was not mirrored');
  });
});
