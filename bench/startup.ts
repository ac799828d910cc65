/**
 * Start-up: `kfn --version`, `kfn validate examples/demo` and `kfn plan` on an empty host
 * (the demo chain on interfaces that do not exist, a private pin root) against `node -e 0`,
 * run interleaved so that all of them see the same machine.
 *
 *   node --import tsx bench/startup.ts [--runs 15]
 *
 * `--version` and `validate` need no root; the plan row is skipped without it. Also
 * lists the packages each loads (bench/probe.mjs): `kfn --version` must load neither
 * koffi, ajv nor pino-pretty (the warm-up run probes the host once for this boot;
 * later runs read the report it cached in the state dir).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, KfnInstall, REPO, machine, median, probed, report, s, timed, x, type Row } from './lib.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const RUNS = Math.max(3, Number(args.runs));
const root = process.getuid?.() === 0;
const kfn = root ? new KfnInstall('kbs-startup') : undefined;
const demo = path.join(REPO, 'examples/demo');

/** The demo chain on interfaces that do not exist (a glob matching none): the plan reads the host and has nothing to do. */
function emptyHostManifest(k: KfnInstall): string {
  const chain = fs.readFileSync(path.join(demo, 'chain.yaml'), 'utf8').replace(/netns: .*/, 'netns: default').replace(/interfaces: \[.*\]/, 'interfaces: ["kbs-none-*"]');
  return k.write('chain.yaml', chain);
}

interface Probe {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  goal?: { ratio: number; text: string };
}

const probes: Probe[] = [
  { name: 'node -e 0', argv: ['-e', '0'] },
  { name: 'kfn --version', argv: [CLI, '--version'], goal: { ratio: 1.5, text: '<= 1.5x node -e 0' } },
  { name: 'kfn validate examples/demo', argv: [CLI, 'validate', demo], goal: { ratio: 2.5, text: '<= 2.5x node -e 0' } },
  ...(kfn ? [{ name: 'kfn plan, empty host', argv: [CLI, 'plan', emptyHostManifest(kfn)], env: kfn.env }] : []),
];

for (const p of probes) {
  const r = timed(process.execPath, p.argv, { env: p.env });
  if (r.code !== 0) throw new Error(`${p.name} exited ${r.code}: ${r.stderr}`);
}
const times = new Map<string, number[]>(probes.map((p) => [p.name, []]));
for (let i = 0; i < RUNS; i++) for (const p of probes) times.get(p.name)!.push(timed(process.execPath, p.argv, { env: p.env }).ms);

const node = median(times.get('node -e 0')!);
const rows: Row[] = probes.slice(1).map((p) => {
  const ms = median(times.get(p.name)!);
  const row: Row = { work: p.name, kfn: s(ms), baseline: `node -e 0: ${s(node)}`, ratio: x(ms / node) };
  if (p.goal) {
    row.goal = p.goal.text;
    row.met = ms <= p.goal.ratio * node;
  }
  return row;
});
const forbidden = ['koffi', 'ajv', 'pino-pretty'];
for (const p of probes.slice(1)) {
  const { packages } = probed(p.argv, p.env).probe;
  const row: Row = { work: `  packages ${p.name} loads`, kfn: packages.join(', ') || 'none', baseline: '-', ratio: '-' };
  if (p.name === 'kfn --version') {
    row.goal = `none of ${forbidden.join(', ')}`;
    // koffi's native part is the package @koromix/koffi-<platform>.
    row.met = !packages.some((x) => forbidden.includes(x) || x.startsWith('@koromix/koffi'));
  }
  rows.push(row);
}
report('start-up', rows, [
  `${new Date().toISOString()}; ${machine()}.`,
  `Median of ${RUNS} interleaved runs; whole processes, wall clock.${root ? '' : ' Not root: the plan row is left out.'}`,
]);
