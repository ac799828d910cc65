/**
 * The control plane at fleet scale: kfn against bpftool/ip doing the same kernel work,
 * in one run, on one netns full of ifb interfaces (XDP generic; this kernel has no
 * dummy driver).
 *
 *   node --import tsx bench/control-plane.ts [--interfaces 100] [--max 200] [--runs 5] [--deploys 3]
 *
 * Every chain is the same 5 functions (blocklist with 2 entries, allowlist with 2
 * entries, percpu_test, counter, counter v2). They verify in a few ms each; ratelimit
 * is left out because its verification (120-240 ms a load here) would be nearly all of
 * everyone's time. The manifests: chain `edge` on every interface but the first, and
 * chain `edge-0`, the same functions with this host's own blocklist entry, on the first.
 * Measured:
 *
 *   deploy     `kfn apply` of 100 chains on an empty host, against a shell loop of one
 *              bpftool/nsenter process per operation (the same loads, entries, slot
 *              writes and attaches) and against one `bpftool batch` of the same
 *   no-op plan `kfn plan` with nothing to do, on 20 / 100 / 200 interfaces (100 / 500 /
 *              1000 instances: three hosts, each its own netns and installation, planned
 *              in turn so that the machine's drift moves all sizes alike), against
 *              `node -e 0`; and its peak RSS
 *   one entry  the blocklist entry of `edge-0` changed on the 100-interface host (`kfn
 *              apply`), against one `bpftool map update`; every other chain must be left
 *              exactly as it was
 *   documents  `kfn validate` of the 1000 instances written as one Chain document per
 *              interface, against the two documents above (for the record)
 *
 * Needs root, bpftool, ip, nsenter, make/clang (bench/bpf) and `npm run build`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../src/engine/index.js';
import { attachmentKey, type LiveState } from '../src/core/types.js';
import {
  BENCH_BUILD,
  BPF_BUILD,
  IfbNetns,
  KfnInstall,
  benchPrefix,
  buildBenchObjects,
  kernelUnavailable,
  machine,
  median,
  mustRun,
  quiet,
  report,
  s,
  timed,
  x,
  type Row,
} from './lib.js';

const { values: args } = parseArgs({
  options: {
    interfaces: { type: 'string', default: '100' },
    max: { type: 'string', default: '200' },
    runs: { type: 'string', default: '5' },
    deploys: { type: 'string', default: '3' },
  },
});
const N = Number(args.interfaces);
const MAX = Math.max(N, Number(args.max));
const SMALL = Math.max(1, Math.round(MAX / 10));
const RUNS = Math.max(1, Number(args.runs));
const DEPLOYS = Math.max(1, Number(args.deploys));
const FNS = 5;

const why = kernelUnavailable(['nsenter', 'make', 'clang']);
if (why) {
  process.stderr.write(`bench/control-plane: cannot run: ${why}\n`);
  process.exit(1);
}
buildBenchObjects();

const prefix = benchPrefix('kbf');
const ns = new IfbNetns(`${prefix}-ns`, prefix, MAX);
const kfn = new KfnInstall(`${prefix}-kfn`);

/** A host for the no-op plans: its own netns of ifb interfaces and its own kfn installation. */
interface Host {
  ns: IfbNetns;
  kfn: KfnInstall;
}
const benchHost: Host = { ns, kfn };
const basePins = `/sys/fs/bpf/${prefix}-base`;
const progress = (msg: string): void => void process.stderr.write(`bench/control-plane: ${msg}\n`);

// ------------------------------------------------------------------ manifests

const FUNCTIONS: [name: string, version: string, object: string, program: string][] = [
  ['blocklist', '1.0.0', 'blocklist', 'blocklist'],
  ['allowlist', '1.0.0', 'allowlist', 'allowlist'],
  ['percpu_test', '1.0.0', 'percpu_test', 'percpu_test'],
  ['counter', '1.0.0', 'counter', 'counter'],
  ['counter', '2.0.0', 'counter_v2', 'counter'],
];

// Objects must live inside the manifest root: copies of bpf/build's.
for (const [, , object] of FUNCTIONS) kfn.write(`objects/${object}.bpf.o`, fs.readFileSync(path.join(BPF_BUILD, `${object}.bpf.o`)));

function functionsYaml(): string {
  return FUNCTIONS.map(
    ([name, version, object, program]) => `apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: ${name} }
spec:
  version: ${version}
  object: objects/${object}.bpf.o
  program: ${program}
  hooks: [xdp]
`,
  ).join('---\n');
}

/** A chain of the 5 functions on `ifnames`. */
function chainYaml(name: string, netns: string, ifnames: readonly string[], blocked = '198.18.0.3/32'): string {
  return `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: ${name} }
spec:
  hook: xdp
  netns: ${netns}
  interfaces: [${ifnames.join(', ')}]
  mode: generic
  functions:
    - name: drop-bad
      function: blocklist
      maps:
        blocked_v4: { "${blocked}": 1 }
        blocked_v6: { "2001:2::dead/128": 1 }
    - name: allow
      function: allowlist
      maps:
        allowed_v4: { "0.0.0.0/0": 1 }
        allowed_v6: { "::/0": 1 }
    - name: weigh
      function: percpu_test
    - name: count
      function: counter@1.0.0
    - name: bytes
      function: counter@2.0.0
`;
}

/** The manifests of `count` chains on `host`, in its installation's manifest dir or (with objects) in `dir`. */
function writeManifests(count: number, opts: { blocked0?: string; perInterface?: boolean; dir?: string; host?: Host } = {}): void {
  const { ns: on, kfn: install } = opts.host ?? benchHost;
  const docs = opts.perInterface
    ? on.ifnames.slice(0, count).map((ifname, i) => chainYaml(`edge-${i}`, on.name, [ifname], i === 0 ? opts.blocked0 : undefined))
    : [chainYaml('edge-0', on.name, [on.ifnames[0]!], opts.blocked0), ...(count > 1 ? [chainYaml('edge', on.name, on.ifnames.slice(1, count))] : [])];
  const root = opts.dir ?? install.dir;
  fs.mkdirSync(path.join(root, 'objects'), { recursive: true });
  if (opts.dir) for (const [, , o] of FUNCTIONS) fs.copyFileSync(path.join(BPF_BUILD, `${o}.bpf.o`), path.join(root, 'objects', `${o}.bpf.o`));
  fs.writeFileSync(path.join(root, 'functions.yaml'), functionsYaml());
  fs.writeFileSync(path.join(root, 'chains.yaml'), docs.join('---\n'));
}

// ------------------------------------------------------------------ baseline

const bytes = (...xs: number[]): string => xs.join(' ');
const u32le = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
const V6_DEAD = [0x20, 0x01, 0, 2, ...new Array<number>(10).fill(0), 0xde, 0xad];

/**
 * The bpftool commands that do kfn's kernel work for `count` chains: per chain the root
 * and 5 function loads (maps pinned), the 4 parameter entries, 5 slot writes and the
 * attach. kfn also creates and writes a metadata map per chain and instance; the
 * baseline does not (it is less work than kfn's).
 */
function baselineCommands(count: number): { dirs: string[]; commands: { argv: string[]; netns: boolean }[] } {
  const xo = path.join(BENCH_BUILD, 'xdp-only');
  const dirs: string[] = [];
  const commands: { argv: string[]; netns: boolean }[] = [];
  const cmd = (netns: boolean, ...argv: string[]): void => void commands.push({ argv, netns });
  for (let i = 0; i < count; i++) {
    const d = `${basePins}/${i}`;
    const fn = (k: number): string => `${d}/f${k}`;
    dirs.push(d, ...FUNCTIONS.map((_, k) => fn(k)));
    cmd(false, 'prog', 'load', `${xo}/root.bpf.o`, `${d}/root`, 'pinmaps', `${d}/root_maps`);
    FUNCTIONS.forEach(([, , object], k) => cmd(false, 'prog', 'load', `${xo}/${object}.bpf.o`, `${fn(k)}/prog`, 'pinmaps', `${fn(k)}/maps`));
    // Multi-byte keys and values are separate words, as bpftool wants them.
    const update = (map: string, key: number[], value: number[]): void => cmd(false, 'map', 'update', 'pinned', map, 'key', bytes(...key), 'value', bytes(...value));
    update(`${fn(0)}/maps/blocked_v4`, [...u32le(32), 198, 18, 0, 3], u32le(1));
    update(`${fn(0)}/maps/blocked_v6`, [...u32le(128), ...V6_DEAD], u32le(1));
    update(`${fn(1)}/maps/allowed_v4`, [...u32le(0), 0, 0, 0, 0], u32le(1));
    update(`${fn(1)}/maps/allowed_v6`, [...u32le(0), ...new Array<number>(16).fill(0)], u32le(1));
    for (let k = FNS - 1; k >= 0; k--) {
      const slot = k === 0 ? `${d}/root_maps/kfn_next` : `${fn(k - 1)}/maps/kfn_next`;
      cmd(false, 'map', 'update', 'pinned', slot, 'key', '0 0 0 0', 'value', 'pinned', `${fn(k)}/prog`);
    }
    cmd(true, 'net', 'attach', 'xdpgeneric', 'pinned', `${d}/root`, 'dev', ns.ifnames[i]!);
  }
  return { dirs, commands };
}

function resetBaseline(): void {
  ns.reset();
  fs.rmSync(basePins, { recursive: true, force: true });
}

/** Interfaces of the bench netns with an XDP program attached. */
function xdpAttached(): number {
  const links = JSON.parse(mustRun('ip', ['-j', '-n', ns.name, 'link', 'show']).stdout) as { xdp?: unknown }[];
  return links.filter((l) => l.xdp !== undefined).length;
}

/** One process per operation, as a shell script would run them. */
function shellLoop(count: number): number {
  const { dirs, commands } = baselineCommands(count);
  const lines = [`mkdir -p ${dirs.join(' ')}`, ...commands.map((c) => `${c.netns ? `${ns.nsenter.join(' ')} ` : ''}bpftool ${c.argv.join(' ')}`)];
  const script = path.join(path.dirname(kfn.stateDir), 'baseline-loop.sh');
  fs.writeFileSync(script, `set -e\n${lines.join('\n')}\n`);
  const ms = mustRun('bash', [script]).ms;
  if (xdpAttached() < count) throw new Error('the shell loop did not attach every root');
  return ms;
}

/** The same commands in one `bpftool batch`, run in the netns (nsenter keeps bpffs visible). */
function batch(count: number): number {
  const { dirs, commands } = baselineCommands(count);
  const file = path.join(path.dirname(kfn.stateDir), 'baseline.batch');
  fs.writeFileSync(file, commands.map((c) => c.argv.join(' ')).join('\n') + '\n');
  const t0 = performance.now();
  mustRun('mkdir', ['-p', ...dirs]);
  const r = timed(ns.nsenter[0]!, [...ns.nsenter.slice(1), 'bpftool', 'batch', 'file', file]);
  const ms = performance.now() - t0;
  // bpftool 7.1 ends a batch whose every command succeeded with a stale errno
  // ("reading batch file failed: File exists", exit 255): judge it by its work instead.
  const stale = r.code === 255 && /^Error: reading batch file failed: File exists\s*$/.test(r.stderr);
  if (r.code !== 0 && !stale) throw new Error(`bpftool batch exited ${r.code}: ${r.stderr.slice(-2000)}`);
  if (xdpAttached() < count) throw new Error(`bpftool batch did not attach every root: ${r.stderr.slice(-2000)}`);
  return ms;
}

// ------------------------------------------------------------------ kfn

const engine = new Engine({ paths: { pinRoot: kfn.pinRoot, stateDir: kfn.stateDir }, command: 'bench/control-plane' });
const readLive = (): LiveState => engine.readLive([ns.name]);
const changedKey = attachmentKey({ netns: ns.name, ifname: ns.ifnames[0]!, hook: 'xdp' });

/** Per attachment: the program ids and map entries kfn reads back (what "left exactly as it was" means). */
function chainPictures(live: LiveState): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of live.chains) {
    out.set(attachmentKey(c.attachment), JSON.stringify([c.rootProgId, c.linkId, c.attached, c.drift, c.instances.map((i) => [i.name, i.progId, i.maps])]));
  }
  return out;
}

const nodeStart = (): number => timed(process.execPath, ['-e', '0']).ms;

/** The kernel frees removed programs and maps in the background: let that finish before timing. */
const settle = (): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);

interface PlanFigures {
  ms: number;
  node: number;
  rssMb: number;
}

/**
 * No-op plans of every host in turn, RUNS rounds, each round with its own `node -e 0`:
 * a drift of the machine's speed during the rounds moves every size alike.
 */
function noopPlans(hosts: readonly { host: Host; count: number }[]): PlanFigures[] {
  settle();
  const plan = (h: Host, opts: { probe?: boolean } = {}) => h.kfn.kfn(['plan', h.kfn.dir, '--detailed-exitcode'], opts); // exit 2 would throw
  for (const { host } of hosts) plan(host); // warms the page cache
  const plans = hosts.map(() => [] as number[]);
  const nodes: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    nodes.push(nodeStart());
    hosts.forEach(({ host }, i) => plans[i]!.push(plan(host).ms));
  }
  return hosts.map(({ host, count }, i) => {
    const rss = plan(host, { probe: true }).probe!.rssMb;
    progress(`no-op plan of ${count * FNS} instances: ${s(median(plans[i]!))} (node -e 0 ${s(median(nodes))}), peak RSS ${rss.toFixed(0)} MB`);
    return { ms: median(plans[i]!), node: median(nodes), rssMb: rss };
  });
}

function main(): void {
  const rows: Row[] = [];
  const notes: string[] = [];

  // Loop, batch and kfn take turns, each from the same empty host, so that a drift of the
  // machine's speed during the run moves all three alike; the last deploy stays for what follows.
  writeManifests(N);
  const loops: number[] = [];
  const batches: number[] = [];
  const deploys: number[] = [];
  for (let r = 0; r < DEPLOYS; r++) {
    const round = DEPLOYS > 1 ? ` (round ${r + 1} of ${DEPLOYS})` : '';
    progress(`baseline shell loop, ${N} chains${round}`);
    resetBaseline();
    loops.push(shellLoop(N));
    resetBaseline();
    progress(`baseline bpftool batch, ${N} chains${round}`);
    batches.push(batch(N));
    resetBaseline();
    progress(`kfn apply, ${N} chains on an empty host${round}`);
    deploys.push(kfn.kfn(['apply', kfn.dir, '--auto-approve']).ms);
    if (r < DEPLOYS - 1) kfn.kfn(['destroy', '--all', '--auto-approve']);
  }
  const [loop, bat, deploy] = [median(loops), median(batches), median(deploys)];
  rows.push({ work: `deploy ${FNS} functions x ${N} interfaces (kfn apply)`, kfn: s(deploy), baseline: `shell loop of bpftool/nsenter: ${s(loop)}`, ratio: `${x(loop / deploy)} faster`, goal: '>= 3x faster', met: deploy * 3 <= loop });
  rows.push({ work: '  the same deploy', kfn: s(deploy), baseline: `one bpftool batch: ${s(bat)}`, ratio: x(deploy / bat), goal: '<= 1.5x', met: deploy <= 1.5 * bat });

  progress('one entry changed');
  const before = chainPictures(readLive());
  const changeTimes: number[] = [];
  const summaries = new Set<string>();
  for (const [r, blocked] of ['198.18.0.4/32', '198.18.0.3/32', '198.18.0.4/32', '198.18.0.3/32'].entries()) {
    writeManifests(N, { blocked0: blocked });
    const t = kfn.kfn(['apply', kfn.dir, '--auto-approve']);
    if (r > 0) changeTimes.push(t.ms); // the first one warms the page cache
    summaries.add(/Resources:.*$/m.exec(t.stdout)?.[0] ?? t.stdout.slice(-300));
  }
  const oneChanged = summaries.size === 1 && summaries.has('Resources: 0 added, 1 changed, 0 replaced, 0 destroyed.');
  if (!oneChanged) notes.push(`one entry changed: apply said ${[...summaries].join(' / ')}`);
  const after = chainPictures(readLive());
  const untouched = [...before].filter(([key, pic]) => key !== changedKey && after.get(key) === pic).length;
  const onlyThat = untouched === N - 1 && before.get(changedKey) !== undefined && before.get(changedKey) === after.get(changedKey);
  const pin = readLive().chains.find((c) => c.chainName === 'edge-0')!.instances[0]!.pinDir;
  const entry = ['key', ...bytes(...u32le(32), 198, 18, 0, 3).split(' '), 'value', ...bytes(...u32le(1)).split(' ')];
  const bpftoolUpdate = median(Array.from({ length: RUNS }, () => mustRun('bpftool', ['map', 'update', 'pinned', `${pin}/maps/blocked_v4`, ...entry]).ms));
  const change = median(changeTimes);
  rows.push({
    work: `one entry changed, ${N}-interface host (kfn apply)`,
    kfn: `${s(change)}; ${untouched} of ${N - 1} other chains untouched`,
    baseline: `bpftool map update: ${s(bpftoolUpdate)}`,
    ratio: x(change / bpftoolUpdate),
    goal: '<= 0.5 s, only that chain',
    met: change <= 500 && onlyThat && oneChanged,
  });

  progress(`two more hosts: ${SMALL} and ${MAX} chains`);
  const small: Host = { ns: new IfbNetns(`${prefix}-ns-s`, `${prefix}s`, SMALL), kfn: new KfnInstall(`${prefix}-kfn-s`) };
  const large: Host = { ns: new IfbNetns(`${prefix}-ns-l`, `${prefix}l`, MAX), kfn: new KfnInstall(`${prefix}-kfn-l`) };
  for (const [host, count] of [[small, SMALL], [large, MAX]] as const) {
    writeManifests(count, { host, dir: host.kfn.dir });
    host.kfn.kfn(['apply', host.kfn.dir, '--auto-approve']);
  }
  const [atSmall, atN, atMax] = noopPlans([
    { host: small, count: SMALL },
    { host: benchHost, count: N },
    { host: large, count: MAX },
  ]) as [PlanFigures, PlanFigures, PlanFigures];
  for (const host of [small, large]) host.kfn.kfn(['destroy', '--all', '--auto-approve']);

  progress(`kfn apply, ${N} -> ${SMALL} chains`);
  writeManifests(SMALL);
  const shrink = kfn.kfn(['apply', kfn.dir, '--auto-approve']).ms;

  progress(`kfn apply, ${SMALL} -> ${MAX} chains`);
  writeManifests(MAX);
  const grow = kfn.kfn(['apply', kfn.dir, '--auto-approve']).ms;

  const beyond = (p: PlanFigures): number => p.ms - p.node;
  const perInstance = (a: PlanFigures, b: PlanFigures, na: number, nb: number): number => (b.ms - a.ms) / ((nb - na) * FNS);
  const slopeLow = perInstance(atSmall, atN, SMALL, N);
  const slopeHigh = perInstance(atN, atMax, N, MAX);
  rows.push({
    work: `no-op plan, ${SMALL * FNS} / ${N * FNS} / ${MAX * FNS} instances`,
    kfn: `${s(atSmall.ms)} / ${s(atN.ms)} / ${s(atMax.ms)}`,
    baseline: `node -e 0: ${s(atMax.node)}`,
    ratio: `${s(beyond(atMax))} beyond start-up at ${MAX * FNS}`,
    goal: '<= 0.3 s beyond',
    met: beyond(atMax) <= 300,
  });
  rows.push({
    work: '  growth per instance',
    kfn: `${(slopeLow * 1000).toFixed(0)} us (${SMALL * FNS}->${N * FNS}), ${(slopeHigh * 1000).toFixed(0)} us (${N * FNS}->${MAX * FNS})`,
    baseline: '-',
    ratio: x(slopeHigh / slopeLow),
    goal: 'linear (<= 1.5x)',
    met: slopeHigh <= 1.5 * Math.max(slopeLow, 0.01),
  });
  rows.push({ work: `  peak RSS of the ${MAX * FNS}-instance plan`, kfn: `${atMax.rssMb.toFixed(0)} MB`, baseline: '-', ratio: '-', goal: '< 150 MB', met: atMax.rssMb < 150 });

  progress('validate, two documents against one per interface');
  const perInterfaceDir = path.join(path.dirname(kfn.dir), 'per-interface');
  writeManifests(MAX, { perInterface: true, dir: perInterfaceDir });
  const validate = (dir: string): number => median(Array.from({ length: RUNS }, () => kfn.kfn(['validate', dir]).ms));
  const two = validate(kfn.dir);
  const perIf = validate(perInterfaceDir);
  rows.push({ work: `validate ${MAX * FNS} instances as ${MAX} Chain documents`, kfn: s(perIf), baseline: `as 2 documents: ${s(two)}`, ratio: x(perIf / two) });

  rows.push({ work: `remove ${N - SMALL} of ${N} chains (kfn apply)`, kfn: s(shrink), baseline: '-', ratio: '-' });
  rows.push({ work: `add ${MAX - SMALL} chains to ${SMALL} (kfn apply)`, kfn: s(grow), baseline: '-', ratio: '-' });
  progress('kfn destroy --all');
  const destroy = kfn.kfn(['destroy', '--all', '--auto-approve']).ms;
  rows.push({ work: `destroy ${MAX} chains (kfn destroy --all)`, kfn: s(destroy), baseline: '-', ratio: '-' });

  notes.push(
    `${new Date().toISOString()}; ${machine()}.`,
    `Median of ${RUNS} runs (no-op plan, node -e 0, validate, bpftool map update; one entry changed: of 3 applies); deploys: median of ${DEPLOYS} rounds of loop, batch and kfn in turn, each from an empty host.`,
    'kfn times are whole `kfn` processes (Node start-up, manifests, live state, plan, apply, convergence check).',
    'The baselines load XDP-only builds of the same sources (bench/bpf) and attach with netlink (bpftool net attach xdpgeneric);',
    'kfn attaches BPF links and also writes a metadata map per chain and instance, which the baselines do not.',
  );
  report(`control-plane: ${FNS}-function chains on ifb interfaces (XDP generic)`, rows, notes);
}

try {
  main();
} finally {
  quiet('rm', ['-rf', basePins]);
}
