/**
 * Packets lost while a function is replaced 100 times under iperf3 UDP load:
 * kfn's atomic slot swap against a naive detach + re-attach, measured in one run.
 *
 *   node --import tsx bench/hitless.ts [--ops 100] [--rate 200M] [--len 1200] [--via api|cli]
 *
 * Needs root, iperf3, bpf/build (npm run build). Creates netns kb-hitNN-a / kb-hitNN-b
 * (NN from the pid; 198.18.8.0/24, IPv6 off, static neighbours), iperf3 -u from b to a,
 * and on kb-hitNN-a0 (XDP, native) one of:
 *
 *   idle   kfn chain [head: flowstats, mid: counter, tail: flowstats], nothing changes
 *   kfn    the same chain; `mid` is replaced `--ops` times (counter@1.0.0 <-> @2.0.0):
 *          each is a full kfn apply (manifests -> live state -> plan -> executor) run
 *          in-process (--via api, default) or as `kfn apply` processes (--via cli)
 *   naive  one flowstats XDP program replaced `--ops` times by detaching its link and
 *          attaching a freshly loaded copy (pre-loaded, maps reused: the gap is only
 *          link_detach -> link_create)
 *
 * Each phase runs for the same time with the operations spread evenly over it. Loss is
 * read from iperf3's JSON (lost_packets) and from the functions' own UDP counters
 * (flowstats proto_stats[UDP]): "not seen" = datagrams iperf3 sent that the function
 * never saw (bypassed during a gap, or dropped before the hook).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BpfObject,
  MapHandle,
  attachXdpLink,
  closeFd,
  detachLink,
  fdById,
  ifindexHere,
  mapInfoByFd,
  openPinned,
  perCpuValues,
  withFd,
  withNetns,
} from '../src/libbpf/index.js';
import { Engine, loadDesired } from '../src/engine/index.js';
import { hasChanges } from '../src/plan/index.js';
import { BPF_BUILD, KfnHarness, kernelFunction, kernelUnavailable, linkStats, run, sandboxPrefix, sandboxUp, sleep, type Sandbox } from '../test/helpers/traffic-env.js';

const { values: args } = parseArgs({
  options: {
    ops: { type: 'string', default: '100' },
    rate: { type: 'string', default: '200M' },
    len: { type: 'string', default: '1200' },
    via: { type: 'string', default: 'api' },
  },
});
const OPS = Math.min(1000, Math.max(1, Number(args.ops)));
const VIA = args.via === 'cli' ? 'cli' : 'api';
const UDP_SLOT = 3; // enum flowstats_proto: FS_PROTO_UDP

// ------------------------------------------------------------------ counters

/** proto_stats[UDP].packets, per-CPU values summed. */
function udpPackets(protoStatsFd: number): bigint {
  const info = mapInfoByFd(protoStatsFd);
  const key = Buffer.alloc(4);
  key.writeUInt32LE(UDP_SLOT);
  const raw = new MapHandle(protoStatsFd, info, 'proto_stats').lookup(key);
  if (!raw) return 0n;
  return perCpuValues(info, raw).reduce((s, v) => s + v.readBigUInt64LE(0), 0n);
}

const udpPacketsAt = (pin: string): bigint => withFd(openPinned(pin), udpPackets);

// ------------------------------------------------------------------ iperf3

interface IperfResult {
  sent: number;
  lost: number;
  received: number;
  seconds: number;
}

function spawnBounded(cmd: string, argv: string[], timeoutMs: number): { done: Promise<string>; pid: number | undefined } {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<string>((resolve, reject) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${argv.join(' ')} exited ${code ?? signal}: ${err || out.slice(0, 500)}`));
    }),
  );
  return { done, pid: child.pid };
}

async function iperfRun(sb: Sandbox, seconds: number, during: () => Promise<void>): Promise<IperfResult> {
  const limit = (seconds + 15) * 1000;
  const server = spawnBounded('ip', ['netns', 'exec', sb.a, 'iperf3', '-s', '-1', '-B', sb.ipA, '-J'], limit);
  await sleep(400);
  const client = spawnBounded('ip', ['netns', 'exec', sb.b, 'iperf3', '-c', sb.ipA, '-u', '-b', args.rate!, '-l', args.len!, '-t', String(seconds), '-J'], limit);
  await sleep(1000);
  await during();
  const j = JSON.parse(await client.done) as { end: { sum: { packets: number; lost_packets: number; seconds: number } } };
  await server.done.catch(() => '');
  const s = j.end.sum;
  return { sent: s.packets, lost: s.lost_packets, received: s.packets - s.lost_packets, seconds: s.seconds };
}

// ------------------------------------------------------------------ phases

interface Row {
  phase: string;
  ops: number;
  opMs: number;
  iperf: IperfResult;
  seen: bigint;
  chainDiff?: bigint;
  rxDropped: number;
  rcvbufErrors: number;
  /** naive: median time the hook ran no program (link_detach -> link_create). */
  gapMs?: number;
}

/** UDP RcvbufErrors of a netns (/proc/net/snmp is per netns): datagrams the socket had no room for. */
function udpRcvbufErrors(ns: string): number {
  const lines = run('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/);
  return Number(vals[names.indexOf('RcvbufErrors')]);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function paced(ops: number, paceMs: number, op: (i: number) => void | Promise<void>, times: number[]): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) {
    const wait = t0 + i * paceMs - performance.now();
    if (wait > 0) await sleep(wait);
    const s = performance.now();
    await op(i);
    times.push(performance.now() - s);
  }
}

function fmtTable(rows: Row[]): string {
  const head = ['phase', 'ops', 'op ms', 'gap ms', 'iperf3 sent', 'iperf3 lost', 'lost %', 'socket rcvbuf drops', 'fn saw (UDP)', 'not seen by fn', 'head-tail', 'veth rx_dropped'];
  const body = rows.map((r) => [
    r.phase,
    String(r.ops),
    r.ops ? r.opMs.toFixed(2) : '-',
    r.gapMs === undefined ? (r.ops ? '0' : '-') : r.gapMs.toFixed(2),
    String(r.iperf.sent),
    String(r.iperf.lost),
    ((100 * r.iperf.lost) / Math.max(1, r.iperf.sent)).toFixed(3),
    String(r.rcvbufErrors),
    String(r.seen),
    String(BigInt(r.iperf.sent) - r.seen),
    r.chainDiff === undefined ? '-' : String(r.chainDiff),
    String(r.rxDropped),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ') + ' |';
  return [line(head), '|' + w.map((n, i) => (i === 0 ? ':' : '') + '-'.repeat(n + 1) + (i === 0 ? '' : ':')).join('|') + '|', ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const why = kernelUnavailable(['iperf3']);
  if (why) throw new Error(`cannot run: ${why}`);
  const sb = sandboxUp(sandboxPrefix('kb-hit'), '198.18.8', { quiet: true });
  const h = new KfnHarness('bench-hitless');
  let naive: { linkFd: number; obj: BpfObject } | undefined;
  let naiveMaps: Record<string, number> = {};
  try {
    h.write(
      'functions.yaml',
      [
        kernelFunction(h, 'flowstats', '1.0.0', 'flowstats.bpf.o', 'flowstats'),
        kernelFunction(h, 'counter', '1.0.0', 'counter.bpf.o', 'counter'),
        kernelFunction(h, 'counter', '2.0.0', 'counter.bpf.o', 'counter'),
      ].join('---\n'),
    );
    const chain = (v: string): string =>
      `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: bench }
spec:
  hook: xdp
  netns: ${sb.a}
  interfaces: [${sb.a0}]
  mode: native
  functions:
    - { name: head, function: flowstats }
    - { name: mid, function: counter@${v} }
    - { name: tail, function: flowstats }
`;
    let version = '1.0.0';
    // The same engine the CLI uses: lock, recovery, journal, steps, convergence check.
    const engine = new Engine({ paths: { pinRoot: h.pinRoot, stateDir: h.stateDir }, command: 'bench/hitless' });
    const kfnApply = async (): Promise<void> => {
      version = version === '1.0.0' ? '2.0.0' : '1.0.0';
      h.write('chain.yaml', chain(version));
      if (VIA === 'cli') {
        h.apply();
        return;
      }
      const desired = loadDesired(h.dir);
      await engine.transaction('bench/hitless', 0, async (tx) => {
        const live = tx.readLive([sb.a]);
        const p = engine.plan(desired, live);
        if (!hasChanges(p)) throw new Error('bench: plan has no changes');
        tx.apply(p, { live, converge: desired });
      });
    };
    const liveChain = () => engine.readLive([sb.a]).chains[0]!;
    const headTail = (): { head: bigint; tail: bigint } => {
      const c = liveChain();
      const pin = (name: string): string => path.join(c.instances.find((i) => i.name === name)!.pinDir, 'maps', 'proto_stats');
      return { head: udpPacketsAt(pin('head')), tail: udpPacketsAt(pin('tail')) };
    };

    const gaps: number[] = [];
    // Naive: one flowstats program straight on the hook, its state maps kept across loads.
    const ifindex = withNetns(sb.a, () => ifindexHere(sb.a0)!);
    const loadNaive = (): { progFd: number; obj: BpfObject } => {
      const obj = BpfObject.open(path.join(BPF_BUILD, 'flowstats.bpf.o'));
      const loaded = obj.load('flowstats_xdp', { reuseMapFds: naiveMaps });
      if (!Object.keys(naiveMaps).length) {
        // Keep our own fds to the state maps for the following loads and for reading.
        naiveMaps = { proto_stats: dupFd(loaded.mapFds['proto_stats']!), flows: dupFd(loaded.mapFds['flows']!) };
      }
      return { progFd: loaded.progFd, obj };
    };
    const naiveReplace = (): void => {
      const next = loadNaive(); // outside the gap
      withNetns(sb.a, () => {
        const g0 = performance.now();
        detachLink(naive!.linkFd, 'naive');
        const linkFd = attachXdpLink(next.progFd, ifindex, 'native', 'naive');
        gaps.push(performance.now() - g0);
        closeFd(naive!.linkFd);
        naive!.obj.close();
        naive = { linkFd, obj: next.obj };
      });
    };

    // Warm-up (no traffic): how long one operation takes, to pace every phase alike.
    h.write('chain.yaml', chain(version));
    h.apply();
    const warmKfn: number[] = [];
    for (let i = 0; i < 6; i++) {
      const s = performance.now();
      await kfnApply();
      warmKfn.push(performance.now() - s);
    }
    const paceMs = Math.max(100, Math.ceil(1.5 * median(warmKfn)));
    const seconds = Math.ceil((OPS * paceMs) / 1000) + 3;
    process.stderr.write(`bench: ${OPS} ops per phase, one every ${paceMs} ms; iperf3 -u -b ${args.rate} -l ${args.len} -t ${seconds}; kfn via ${VIA}\n`);

    const rows: Row[] = [];
    const rx = (): number => linkStats(sb.a, sb.a0).rxDropped;

    for (const phase of ['idle', 'kfn'] as const) {
      const c0 = headTail();
      const d0 = rx();
      const r0 = udpRcvbufErrors(sb.a);
      const times: number[] = [];
      const ops = phase === 'idle' ? 0 : OPS;
      const iperf = await iperfRun(sb, seconds, () => paced(ops, paceMs, kfnApply, times));
      await sleep(200);
      const c1 = headTail();
      rows.push({
        phase: phase === 'idle' ? 'idle (kfn chain, no change)' : `kfn: replace mid (${VIA === 'api' ? 'executor' : 'kfn apply'})`,
        ops,
        opMs: median(times),
        iperf,
        seen: c1.tail - c0.tail,
        chainDiff: c1.head - c0.head - (c1.tail - c0.tail),
        rxDropped: rx() - d0,
        rcvbufErrors: udpRcvbufErrors(sb.a) - r0,
      });
      process.stderr.write(`bench: ${phase} done\n`);
    }

    h.ok(['destroy', '--all', '--auto-approve']);
    {
      const first = loadNaive();
      const linkFd = withNetns(sb.a, () => attachXdpLink(first.progFd, ifindex, 'native', 'naive'));
      naive = { linkFd, obj: first.obj };
      const s0 = udpPackets(naiveMaps['proto_stats']!);
      const d0 = rx();
      const r0 = udpRcvbufErrors(sb.a);
      const times: number[] = [];
      const iperf = await iperfRun(sb, seconds, () => paced(OPS, paceMs, naiveReplace, times));
      await sleep(200);
      rows.push({
        phase: 'naive: detach + attach',
        ops: OPS,
        opMs: median(times),
        gapMs: median(gaps),
        iperf,
        seen: udpPackets(naiveMaps['proto_stats']!) - s0,
        rxDropped: rx() - d0,
        rcvbufErrors: udpRcvbufErrors(sb.a) - r0,
      });
      process.stderr.write('bench: naive done\n');
    }

    const out = [
      `kfn hitless bench, ${new Date().toISOString()}`,
      `${OPS} replaces per phase, one every ${paceMs} ms, iperf3 -u -b ${args.rate} -l ${args.len} -t ${seconds} (${sb.b} -> ${sb.a}, XDP native on ${sb.a0})`,
      '',
      fmtTable(rows),
      '',
      'op ms: median time of one operation (kfn: manifests + live state + plan + executor, or the whole kfn apply process with --via cli;',
      'naive: load + detach + attach);',
      'gap ms: median time the hook ran no program (kfn: none, one slot update); socket rcvbuf drops: UDP RcvbufErrors',
      'in the receiver netns (loss after the hook); not seen by fn: datagrams iperf3 sent that the function (kfn: tail)',
      'never counted (-1: iperf3 does not count its UDP stream-setup datagram); head-tail: lost inside the kfn chain.',
    ].join('\n');
    process.stdout.write(out + '\n');
  } finally {
    if (naive) {
      try {
        withNetns(sb.a, () => detachLink(naive!.linkFd, 'naive'));
      } catch {
        // interface already gone
      }
      closeFd(naive.linkFd);
      naive.obj.close();
    }
    for (const fd of Object.values(naiveMaps)) closeFd(fd);
    h.cleanup();
    sb.down();
  }
}

/** A second fd to the same map (by id): the object closes its own map fds on close(). */
function dupFd(fd: number): number {
  return fdById('map', mapInfoByFd(fd).id);
}

await main();
