/**
 * Per-packet cost of kfn's chains, for the record: BPF_PROG_TEST_RUN of a 64-byte UDP
 * frame through
 *
 *   kfn      a real kfn chain, root + n counter functions (bpf/counter.bpf.c: one per-CPU
 *            counter, then kfn_continue), applied by the engine to an ifb interface
 *   hand     the same root and counter objects loaded with libbpf and chained by hand
 *   inlined  the n counters inlined in one program (bench/bpf/inlined.bpf.c): the floor
 *   empty    an XDP program that only passes (bench/bpf/empty.bpf.c): the harness
 *
 * for n = 1..16, each loaded afresh --loads times (the JIT places programs anew at every
 * load, and tail-call costs move with it). A load is measured as the median of 3 test
 * runs of --repeat packets; the table gives the median over loads, their spread
 * (max - min) and the ns per hop above the floor ((chain - inlined) / n). After every
 * run the counters must have counted every packet in every function.
 *
 *   node --import tsx bench/perpacket.ts [--max 16] [--loads 5] [--repeat 200000]
 *
 * Needs root and the built objects (npm run build, bench/bpf).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BpfObject, MapHandle, mapInfoByFd, openPinned, perCpuValues, testRun, withFd, XDP_ACTION } from '../src/libbpf/index.js';
import { Engine, loadDesired } from '../src/engine/index.js';
import { frame, L4 } from '../test/helpers/packets.js';
import { BENCH_BUILD, BPF_BUILD, IfbNetns, KfnInstall, benchPrefix, buildBenchObjects, kernelUnavailable, machine, median, report, type Row } from './lib.js';

const { values: args } = parseArgs({
  options: {
    max: { type: 'string', default: '16' },
    loads: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '200000' },
  },
});
const MAX = Math.min(16, Math.max(1, Number(args.max)));
const LOADS = Math.max(1, Number(args.loads));
const REPEAT = Math.max(1000, Number(args.repeat));
const RUNS = 3;

const why = kernelUnavailable(['make', 'clang']);
if (why) {
  process.stderr.write(`bench/perpacket: cannot run: ${why}\n`);
  process.exit(1);
}
buildBenchObjects();

const PACKET = frame({ src: '198.18.0.2', dst: '198.18.0.1', l4: L4.Udp, sport: 40000, dport: 53, payload: 64 - 14 - 20 - 8 });
if (PACKET.length !== 64) throw new Error(`bench frame is ${PACKET.length} bytes`);
const progress = (msg: string): void => void process.stderr.write(`bench/perpacket: ${msg}\n`);

/** ns per packet of `progFd`: the median of RUNS test runs of REPEAT packets. */
function measure(progFd: number, label: string): number {
  const ns: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const res = testRun(progFd, { data: PACKET, repeat: REPEAT }, label);
    if (res.retval !== XDP_ACTION.PASS) throw new Error(`${label}: verdict ${res.retval}, expected XDP_PASS`);
    ns.push(res.durationNs);
  }
  return median(ns);
}

/** Every CPU's count in a one-entry per-CPU counter map (fd), summed; `key` for multi-entry maps. */
function counted(mapFd: number, key = 0): bigint {
  const info = mapInfoByFd(mapFd);
  const k = Buffer.alloc(4);
  k.writeUInt32LE(key);
  const raw = new MapHandle(mapFd, info, 'counts').lookup(k)!;
  return perCpuValues(info, raw).reduce((sum, v) => sum + v.readBigUInt64LE(0), 0n);
}

const EXPECTED = BigInt(RUNS * REPEAT);
function checkCounts(label: string, counts: bigint[]): void {
  const bad = counts.findIndex((c) => c !== EXPECTED);
  if (bad >= 0) throw new Error(`${label}: function ${bad + 1} counted ${counts[bad]} packets, expected ${EXPECTED}: the chain did not run every function`);
}

// ------------------------------------------------------------------ variants

function emptyOnce(): number {
  const obj = BpfObject.open(path.join(BENCH_BUILD, 'empty.bpf.o'));
  try {
    return measure(obj.load('empty').progFd, 'empty');
  } finally {
    obj.close();
  }
}

function inlinedOnce(n: number): number {
  const obj = BpfObject.open(path.join(BENCH_BUILD, 'inlined.bpf.o'));
  try {
    const g = obj.globals().find((v) => v.name === 'n_fns')!;
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(n);
    const loaded = obj.load('inlined', { globals: [{ section: g.section, offset: g.offset, bytes }] });
    const ns = measure(loaded.progFd, `inlined n=${n}`);
    checkCounts(`inlined n=${n}`, Array.from({ length: n }, (_, i) => counted(loaded.mapFds['counts']!, i)));
    return ns;
  } finally {
    obj.close();
  }
}

function handOnce(n: number): number {
  const objects: BpfObject[] = [];
  const open = (name: string): BpfObject => {
    const o = BpfObject.open(path.join(BPF_BUILD, `${name}.bpf.o`));
    objects.push(o);
    return o;
  };
  try {
    const root = open('root').load('kfn_root_xdp');
    const fns = Array.from({ length: n }, () => open('counter').load('counter_xdp'));
    const link = (slotFd: number, progFd: number): void => {
      const v = Buffer.alloc(4);
      v.writeUInt32LE(progFd);
      new MapHandle(slotFd, mapInfoByFd(slotFd), 'kfn_next').update(new Uint8Array(4), v);
    };
    // Back to front, as kfn does: nothing reaches a function before its successor is set.
    for (let i = n - 1; i > 0; i--) link(fns[i - 1]!.mapFds['kfn_next']!, fns[i]!.progFd);
    link(root.mapFds['kfn_next']!, fns[0]!.progFd);
    const ns = measure(root.progFd, `hand n=${n}`);
    checkCounts(`hand n=${n}`, fns.map((f) => counted(f.mapFds['counts']!)));
    return ns;
  } finally {
    objects.forEach((o) => o.close());
  }
}

const prefix = benchPrefix('kbp');
const ns = new IfbNetns(`${prefix}-ns`, prefix, 1);
const kfn = new KfnInstall(`${prefix}-kfn`);
kfn.write('objects/counter.bpf.o', fs.readFileSync(path.join(BPF_BUILD, 'counter.bpf.o')));
kfn.write(
  'functions.yaml',
  `apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: counter }
spec: { version: 1.0.0, object: objects/counter.bpf.o, program: counter, hooks: [xdp] }
`,
);
const engine = new Engine({ paths: { pinRoot: kfn.pinRoot, stateDir: kfn.stateDir }, command: 'bench/perpacket' });

async function kfnOnce(n: number): Promise<number> {
  kfn.write(
    'chain.yaml',
    `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: pp }
spec:
  hook: xdp
  netns: ${ns.name}
  interfaces: [${ns.ifnames[0]}]
  mode: generic
  functions: [${Array.from({ length: n }, (_, i) => `{ name: c${i + 1}, function: counter }`).join(', ')}]
`,
  );
  const desired = loadDesired(kfn.dir, { revision: false });
  await engine.transaction('bench/perpacket', 0, async (tx) => {
    const live = tx.readLive([ns.name]);
    tx.apply(engine.plan(desired, live), { live, converge: desired });
  });
  const chain = engine.readLive([ns.name]).chains[0]!;
  try {
    const ns0 = withFd(openPinned(path.join(chain.pinDir, 'root')), (fd) => measure(fd, `kfn n=${n}`));
    checkCounts(
      `kfn n=${n}`,
      chain.instances.map((i) => withFd(openPinned(path.join(i.pinDir, 'maps', 'counts')), (fd) => counted(fd))),
    );
    return ns0;
  } finally {
    await engine.transaction('bench/perpacket', 0, async (tx) => {
      const live = tx.readLive([ns.name]);
      tx.apply(engine.planDestroy(live), { live });
    });
  }
}

// ------------------------------------------------------------------ run

interface Figures {
  median: number;
  spread: number;
}
const figures = (xs: number[]): Figures => ({ median: median(xs), spread: Math.max(...xs) - Math.min(...xs) });
const f1 = (v: number): string => v.toFixed(1);

async function main(): Promise<void> {
  const empty = figures(Array.from({ length: LOADS }, emptyOnce));
  const rows: Row[] = [];
  const table: string[] = [
    '| n | empty | inlined (floor) | hand-chained | kfn chain | spread inlined / hand / kfn | ns per hop above the floor: hand / kfn | kfn / hand |',
    '|--:|------:|----------------:|-------------:|----------:|----------------------------:|---------------------------------------:|-----------:|',
  ];
  for (let n = 1; n <= MAX; n++) {
    const inl: number[] = [];
    const hand: number[] = [];
    const chain: number[] = [];
    // Interleaved, so that every variant sees the same machine.
    for (let l = 0; l < LOADS; l++) {
      inl.push(inlinedOnce(n));
      hand.push(handOnce(n));
      chain.push(await kfnOnce(n));
    }
    const [fi, fh, fk] = [figures(inl), figures(hand), figures(chain)];
    progress(`n=${n}: inlined ${f1(fi.median)} hand ${f1(fh.median)} kfn ${f1(fk.median)} ns`);
    table.push(
      `| ${n} | ${f1(empty.median)} | ${f1(fi.median)} | ${f1(fh.median)} | ${f1(fk.median)} | ${f1(fi.spread)} / ${f1(fh.spread)} / ${f1(fk.spread)} | ${f1((fh.median - fi.median) / n)} / ${f1((fk.median - fi.median) / n)} | ${(fk.median / fh.median).toFixed(2)} |`,
    );
    if (n === MAX) {
      rows.push({ work: `root + ${n} functions, ns per packet (median of ${LOADS} loads)`, kfn: `${f1(fk.median)} ns`, baseline: `hand-chained ${f1(fh.median)} ns; inlined ${f1(fi.median)} ns; empty ${f1(empty.median)} ns`, ratio: `${(fk.median / fh.median).toFixed(2)}x hand` });
      rows.push({ work: '  ns per hop above the floor', kfn: f1((fk.median - fi.median) / n), baseline: `hand-chained ${f1((fh.median - fi.median) / n)}`, ratio: '-' });
    }
  }
  report('per packet: kfn chains against the same functions inlined and hand-chained (BPF_PROG_TEST_RUN, for the record)', rows, [
    table.join('\n'),
    '',
    `${new Date().toISOString()}; ${machine()}; 64-byte UDP frame, ${RUNS} runs of ${REPEAT} packets per load, ${LOADS} loads per variant and n.`,
    'ns per packet as the kernel measures a test run (its mean); spread = max - min over the loads.',
  ]);
}

await main();
