/**
 * Fuzzing the manifest pipeline and the planner (fast-check).
 *
 * (a) Whatever the input — YAML-ish noise, any JS value written as YAML, manifest-shaped
 *     documents with random holes, or the demo manifests with nodes deleted / replaced /
 *     inserted or lines cut — loadDesiredState (the real readObjectInfo on the real objects)
 *     either returns a desired state or throws a KfnError whose code is documented and
 *     whose message is one line. Never any other exception.
 * (b) Valid manifests generated through the same pipeline, against live states built by a
 *     model executor and then disturbed (orphans, drift, edited maps, renamed chains...):
 *     plan, apply on the model, plan again -> no changes.
 *
 * Bounded: small run counts by default (well under 10 s); `npm run fuzz` sets FUZZ_RUNS.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { parseAllDocuments, stringify } from 'yaml';
import { isKfnError, KfnErrors, type KfnError } from '../../src/core/errors.js';
import type { DesiredState, Hook, LiveState } from '../../src/core/types.js';
import { readObjectInfo } from '../../src/libbpf/index.js';
import type { ObjectInfo } from '../../src/libbpf/index.js';
import { loadDesiredState } from '../../src/manifest/index.js';
import { functionsYaml } from '../helpers/workspace.js';
import { hasChanges, plan } from '../../src/plan/index.js';
import { BPF_BUILD, REPO_ROOT } from '../helpers/paths.js';
import {
  arbAnyValue,
  arbChainBody,
  arbManifestShaped,
  arbMutation,
  arbTextEdit,
  arbYamlishText,
  chainDocument,
  editText,
  functionDocuments,
  mutate,
  type FuzzChain,
} from '../fuzz/arbitraries.js';
import { params } from '../fuzz/config.js';
import { applyModel, assertRealizes, perturb, type Perturbation } from '../fuzz/model.js';

const NOW = new Date('2025-01-02T03:04:05.000Z');
const DOCUMENTED = new Set(
  [...fs.readFileSync(path.join(REPO_ROOT, 'docs', 'errors.md'), 'utf8').matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]!),
);

let dir = '';
let file = '';
const infoCache = new Map<string, ObjectInfo>();
/** The real readObjectInfo; results for the shipped objects are memoised (they never change). */
function readInfo(p: string): ObjectInfo {
  if (!p.startsWith(path.join(dir, 'objects') + path.sep)) return readObjectInfo(p);
  let info = infoCache.get(p);
  if (!info) {
    info = readObjectInfo(p);
    infoCache.set(p, info);
  }
  return info;
}

const outcomes = new Map<string, number>();
const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);

/** Writes `text` as the only manifest and runs the pipeline; the outcome must be a state or a KfnError. */
function runPipeline(text: string | Buffer): DesiredState | KfnError {
  fs.writeFileSync(file, text);
  try {
    const d = loadDesiredState(file, { readObjectInfo: readInfo, root: dir });
    count('ok');
    return d;
  } catch (e) {
    if (!isKfnError(e)) {
      const err = e instanceof Error ? (e.stack ?? e.message) : String(e);
      throw new Error(`not a KfnError for input ${JSON.stringify(typeof text === 'string' ? text : text.toString('latin1'))}:\n${err}`);
    }
    const all = e instanceof KfnErrors ? e.errors : [e];
    for (const x of all) {
      assert.ok(isKfnError(x), 'KfnErrors holds KfnErrors');
      assert.match(x.code, /^[A-Z][A-Z0-9_]+$/);
      assert.ok(DOCUMENTED.has(x.code), `error code ${x.code} is not in docs/errors.md: ${x.message}`);
      assert.ok(x.message.length > 0 && !/[\n\r]/.test(x.message), `message is not one line: ${JSON.stringify(x.message)}`);
      assert.ok(x.hint === undefined || !/[\n\r]/.test(x.hint), `hint is not one line: ${JSON.stringify(x.hint)}`);
      count(x.code);
    }
    return e;
  }
}

/** Documents as YAML; null when yaml cannot write the value at all. */
function dump(docs: unknown[]): string | null {
  try {
    return docs.map((d) => stringify(d, { aliasDuplicateObjects: false })).join('---\n');
  } catch {
    return null;
  }
}

// The demo chain with the test helpers' KernelFunctions (objects in the temp dir), plus a ratelimit and a counter.
const DEMO = path.join(REPO_ROOT, 'examples', 'demo');
const demoText = (): string =>
  functionsYaml() +
  '---\n' +
  fs.readFileSync(path.join(DEMO, 'chain.yaml'), 'utf8') +
  '    - name: limit\n      function: ratelimit\n      globals: { rate_pps: 5000, burst: 500 }\n      maps:\n        config: { "0": { rate_pps: 10, burst: 2 } }\n    - function: counter\n';
let demoDocs: unknown[] = [];

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-fuzz-'));
  fs.mkdirSync(path.join(dir, 'objects'));
  for (const f of fs.readdirSync(BPF_BUILD)) if (f.endsWith('.bpf.o')) fs.copyFileSync(path.join(BPF_BUILD, f), path.join(dir, 'objects', f));
  file = path.join(dir, 'manifest.yaml');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  const summary = [...outcomes.entries()].sort(([, a], [, b]) => b - a).map(([k, n]) => `${k}=${n}`).join(' ');
  process.stderr.write(`# fuzz outcomes: ${summary}\n`);
});

describe('fuzz: manifest pipeline', () => {
  before(() => {
    demoDocs = parseAllDocuments(demoText()).map((d) => d.toJS());
    // The base of the mutation property must itself be valid.
    const d = runPipeline(demoText());
    assert.ok(!isKfnError(d), `demo manifests do not load: ${isKfnError(d) ? d.message : ''}`);
    assert.deepEqual(
      d.chains[0]!.instances.map((i) => i.name),
      ['drop-bad', 'visibility', 'limit', 'counter'],
    );
  });

  test('YAML-ish text: a desired state or a KfnError', () => {
    fc.assert(fc.property(arbYamlishText, (text) => void runPipeline(text)), params(200));
  });

  test('arbitrary bytes: a desired state or a KfnError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => void runPipeline(Buffer.from(bytes))), params(100));
  });

  test('any JS value written as YAML documents: a desired state or a KfnError', () => {
    fc.assert(
      fc.property(fc.array(arbAnyValue, { minLength: 1, maxLength: 3 }), (docs) => {
        const text = dump(docs);
        fc.pre(text !== null);
        runPipeline(text);
      }),
      params(150),
    );
  });

  test('manifest-shaped documents with random fields: a desired state or a KfnError', () => {
    fc.assert(
      fc.property(fc.array(arbManifestShaped, { minLength: 1, maxLength: 4 }), fc.boolean(), (docs, withFunctions) => {
        const all = withFunctions ? [...functionDocuments('objects'), ...docs] : docs;
        const text = dump(all);
        fc.pre(text !== null);
        runPipeline(text);
      }),
      params(200),
    );
  });

  test('demo manifests with nodes deleted, replaced, inserted or copied: a desired state or a KfnError', () => {
    fc.assert(
      fc.property(fc.array(arbMutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const text = dump(mutate(demoDocs, mutations));
        fc.pre(text !== null);
        runPipeline(text);
      }),
      params(250),
    );
  });

  test('demo manifest text with lines deleted, duplicated, swapped or characters inserted / cut: a desired state or a KfnError', () => {
    const base = demoText();
    fc.assert(fc.property(fc.array(arbTextEdit, { minLength: 1, maxLength: 4 }), (edits) => void runPipeline(editText(base, edits))), params(150));
  });
});

// ------------------------------------------------------------------ (b) convergence

const IFACES: Record<string, string[]> = { default: ['eth0', 'eth1', 'veth-a'], n1: ['veth-a', 'veth-b'] };
const PATTERNS: Record<string, string[]> = {
  default: ['eth0', 'eth1', 'veth-a', 'eth?', '*', 'veth-*', 'nomatch*'],
  n1: ['veth-a', 'veth-b', 'veth-?', '*', 'x*'],
};
const HOOKS: Hook[] = ['xdp', 'tc-ingress', 'tc-egress'];

function interfacesOf(): LiveState['interfaces'] {
  let idx = 1;
  return Object.entries(IFACES).flatMap(([netns, names]) => names.map((ifname) => ({ netns, ifname, ifindex: ++idx })));
}

/** At most one chain per (netns, hook), each on a random set of interface patterns. */
const arbManifests: fc.Arbitrary<string> = fc
  .tuple(
    ...Object.keys(IFACES).flatMap((netns) =>
      HOOKS.map((hook) =>
        fc.option(
          fc.record({ body: arbChainBody([hook]), patterns: fc.uniqueArray(fc.constantFrom(...PATTERNS[netns]!), { minLength: 1, maxLength: 3 }) }),
          { nil: undefined, freq: 2 },
        ).map((c) => c && chainDocument(`ch-${netns}-${hook}`, c.body as FuzzChain, { netns: netns === 'default' ? undefined : netns, interfaces: c.patterns })),
      ),
    ),
  )
  .map((chains) => dump([...functionDocuments('objects'), ...chains.filter((c) => c !== undefined)])!);

const arbPerturbation: fc.Arbitrary<Perturbation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('orphan' as const, 'drift' as const, 'detach' as const, 'mode' as const, 'rename' as const, 'drop-chain' as const, 'foreign' as const), chain: fc.nat(), inst: fc.nat() }),
  fc.record({ kind: fc.constant('edit-map' as const), chain: fc.nat(), inst: fc.nat(), entry: fc.nat() }),
  fc.record({ kind: fc.constant('old-global' as const), chain: fc.nat(), inst: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), chain: fc.nat(), inst: fc.nat(), other: fc.nat() }),
);

describe('fuzz: generated manifests converge on the model', () => {
  const desiredOf = (text: string): DesiredState => {
    const d = runPipeline(text);
    if (isKfnError(d)) assert.fail(`generated manifests are invalid: ${d.message}\n${text}`);
    return d;
  };

  test('plan(desired, model(plan(desired, live))) has no changes, for live = model(earlier manifests) disturbed', () => {
    const empty: LiveState = { chains: [], interfaces: interfacesOf(), missingNetns: [], foreign: [] };
    fc.assert(
      fc.property(arbManifests, arbManifests, fc.array(arbPerturbation, { maxLength: 5 }), (before, now, ps) => {
        const d0 = desiredOf(before);
        const live = perturb(applyModel(plan(d0, empty, { now: NOW }), empty), ps);
        const d = desiredOf(now);
        const p = plan(d, live, { now: NOW });
        const s = p.summary;
        assert.equal(hasChanges(p), s.add + s.change + s.replace + s.destroy > 0, 'summary agrees with hasChanges');
        const applied = applyModel(p, live);
        assertRealizes(d, applied);
        const p2 = plan(d, applied, { now: NOW });
        assert.equal(hasChanges(p2), false, JSON.stringify(p2.changes.filter((c) => c.action !== 'noop'), null, 1));
        assert.deepEqual(p2.summary, { add: 0, change: 0, replace: 0, destroy: 0 });
        assert.deepEqual(applyModel(p2, applied), applied, 'an empty plan is a fixed point');
      }),
      params(60),
    );
  });
});
