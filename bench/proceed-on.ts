/**
 * What the proceed-on control word costs per chain hop, against kfn_continue as it was
 * before proceed-on, measured in one run with BPF_PROG_TEST_RUN:
 *
 *   node --import tsx bench/proceed-on.ts [--loads 5] [--runs 7] [--repeat 200000]
 *
 * Needs root and bpf/build/hop_bench.bpf.o (npm run build). For each variant of
 * bpf/hop_bench.bpf.c (see there) it loads chains of 1, 2, 4 and 8 hops (each hop its
 * own object load, chained through its kfn_next slot, as kfn chains instances), runs a
 * 64-byte frame through the head `--repeat` times per run, and takes the median of
 * `--runs` runs of `--loads` separate loads. Per hop = (ns at 4 hops - ns at 1 hop) / 3:
 * beyond 4 hops the x86 JIT's tail-call counter adds a cliff that moves from load to
 * load (KERNEL-NOTES.md), which the 8-hop column shows but the per-hop figure leaves out.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BpfObject, MapHandle, mapInfoByFd, testRun } from '../src/libbpf/index.js';
import { BPF_BUILD } from '../test/helpers/traffic-env.js';

const { values: args } = parseArgs({
  options: {
    loads: { type: 'string', default: '5' },
    runs: { type: 'string', default: '7' },
    repeat: { type: 'string', default: '200000' },
  },
});
const LOADS = Math.max(1, Number(args.loads));
const RUNS = Math.max(1, Number(args.runs));
const REPEAT = Math.max(1000, Number(args.repeat));
const LENGTHS = [1, 2, 4, 8];
const OBJECT = path.join(BPF_BUILD, 'hop_bench.bpf.o');

const VARIANTS = [
  { program: 'hop_plain_xdp', label: 'before proceed-on (tail call on pass)' },
  { program: 'hop_xdp', label: 'proceed-on word in the kfn_proceed map (shipped)' },
  { program: 'hop_global_xdp', label: 'proceed-on word in a .data global' },
] as const;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Loads `hops` instances of `program` chained head to tail; returns the head's fd and a closer. */
function loadChain(program: string, hops: number): { head: number; close: () => void } {
  const objs: BpfObject[] = [];
  const loaded: { progFd: number; next: number }[] = [];
  try {
    for (let i = 0; i < hops; i++) {
      const obj = BpfObject.open(OBJECT);
      objs.push(obj);
      const l = obj.load(program);
      loaded.push({ progFd: l.progFd, next: l.mapFds.kfn_next! });
    }
    for (let i = 0; i + 1 < loaded.length; i++) {
      const slot = loaded[i]!.next;
      const v = Buffer.alloc(4);
      v.writeUInt32LE(loaded[i + 1]!.progFd);
      new MapHandle(slot, mapInfoByFd(slot), 'kfn_next').update(new Uint8Array(4), v);
    }
  } catch (e) {
    for (const o of objs) o.close();
    throw e;
  }
  return { head: loaded[0]!.progFd, close: () => objs.forEach((o) => o.close()) };
}

function measure(program: string, hops: number): number {
  const frame = new Uint8Array(64);
  frame[12] = 0x08; // EtherType IPv4; the hops do not parse further
  const perLoad: number[] = [];
  for (let l = 0; l < LOADS; l++) {
    const chain = loadChain(program, hops);
    try {
      const runs: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const res = testRun(chain.head, { data: frame, repeat: REPEAT }, program);
        if (res.retval !== 2) throw new Error(`${program} x${hops} returned ${res.retval}, expected XDP_PASS (2)`);
        runs.push(res.durationNs);
      }
      perLoad.push(median(runs));
    } finally {
      chain.close();
    }
  }
  return median(perLoad);
}

const rows = VARIANTS.map((v) => {
  const ns = LENGTHS.map((n) => measure(v.program, n));
  return { ...v, ns, perHop: (ns[2]! - ns[0]!) / 3 };
});

const base = rows[0]!;
process.stdout.write(`kfn proceed-on bench, ${new Date().toISOString()}\n`);
process.stdout.write(`BPF_PROG_TEST_RUN, 64-byte frame, ${REPEAT} runs per measurement, median of ${RUNS} runs x ${LOADS} loads\n\n`);
process.stdout.write(`| variant | ${LENGTHS.map((n) => `${n} hop${n === 1 ? '' : 's'} ns`).join(' | ')} | per hop ns (1->4) | vs before |\n`);
process.stdout.write(`|:--|${LENGTHS.map(() => '--:').join('|')}|--:|--:|\n`);
for (const r of rows) {
  const delta = r === base ? '-' : `${r.perHop - base.perHop >= 0 ? '+' : ''}${(r.perHop - base.perHop).toFixed(2)}`;
  process.stdout.write(`| ${r.label} | ${r.ns.join(' | ')} | ${r.perHop.toFixed(2)} | ${delta} |\n`);
}
