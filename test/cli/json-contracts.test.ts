/**
 * The JSON contracts of the real CLI: `kfn plan --json` for a create, an update in place,
 * a reorder with copies, a replacement, drift and a delete; `kfn show --json` and
 * `--json --stats` on a live chain; `kfn validate --json` for valid and invalid manifests.
 * Each document is validated with ajv against schemas/*-output.schema.json and read for
 * what it must say. A saved plan (`-out=FILE`) renders with `kfn show FILE` (text and
 * JSON, the same as plan printed) and `kfn apply FILE` applies it.
 * The subtests build on each other, on one XDP chain between two throwaway namespaces.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect, pinDirOf, show } from '../helpers/kfn.js';
import { pingUntilOk } from '../helpers/ping.js';
import { assertMatchesSchema } from '../helpers/schemas.js';

const skip = kernelGate();

/** The parts of the plan contract read here (the schema checks the rest). */
interface Resource {
  address: string;
  type: 'kfn_chain' | 'kfn_function_instance';
  name: string;
  change: {
    actions: string[];
    before: Record<string, unknown> | null;
    after: Record<string, unknown> | null;
    action_reason: string | null;
    reasons: { code: string }[];
    replace_paths?: string[];
    map_changes?: { map: string; drift: boolean; entries: { op: string; key: string; before?: string; after?: string }[] }[];
  };
}
interface PlanDoc {
  has_changes: boolean;
  summary: { add: number; change: number; replace: number; destroy: number };
  resource_changes: Resource[];
  resource_drift: { address: string; drift: string[]; maps: { address: string; map: string }[] }[];
  planned_steps: { index: number; kind: string; phase: string; address: string; description: string }[];
}

/** A decoded value (numbers inside too): a decimal string is only right beyond 2^53. */
function numbersAreNumbers(v: unknown, where: string): void {
  if (typeof v === 'string' && /^-?\d+$/.test(v)) assert.ok(!Number.isSafeInteger(Number(v)), `${where}: ${v} is a number written as text`);
  else if (Array.isArray(v)) v.forEach((x, i) => numbersAreNumbers(x, `${where}[${i}]`));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) numbersAreNumbers(x, `${where}.${k}`);
}

describe('JSON contracts: plan, show and validate output against their schemas', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('j'));
  let env: TestEnv;
  let chainFile: string;
  const planFile = (): string => path.join(env.stateDir, 'saved.plan');

  const fn = {
    a: (blocked: Record<string, number>): FnSpec => ({ name: 'a', function: 'blocklist@1.0.0', maps: { blocked_v4: blocked } }),
    b: { name: 'b', function: 'counter' } as FnSpec,
    c: { name: 'c', function: 'flowstats' } as FnSpec,
    d: (rate: number): FnSpec => ({ name: 'd', function: 'ratelimit', globals: { rate_pps: rate, burst: 10000 } }),
  };
  const write = (functions: FnSpec[]): void => {
    chainFile = writeChain(env, { name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions });
  };
  const address = (name?: string): string => `chain.edge[${JSON.stringify(`${sb.nsA}:${sb.ifA}/xdp`)}]${name ? `.fn.${name}` : ''}`;
  const resource = (p: PlanDoc, name?: string): Resource => {
    const r = p.resource_changes.find((x) => x.address === address(name));
    assert.ok(r, `${address(name)} in ${JSON.stringify(p.resource_changes.map((x) => x.address))}`);
    return r;
  };

  /** `kfn plan --json` (exit 2 with changes under --detailed-exitcode), schema-checked. */
  const plan = (what: string, changes = true): PlanDoc => {
    const r = kfnExpect(env, ['plan', env.manifestDir, '--json', '--detailed-exitcode'], changes ? 2 : 0);
    const doc = JSON.parse(r.stdout) as PlanDoc;
    assertMatchesSchema('plan', doc, `kfn plan --json (${what})`);
    assert.equal(doc.has_changes, changes);
    return doc;
  };
  const apply = (): void => void kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
  const converged = (): void => void plan('after apply', false);

  before(() => {
    env = createTestEnv('jsonc');
    sb.up();
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('validate --json: valid manifests', () => {
    write([fn.a({ '198.18.0.3/32': 1 }), fn.b, fn.c, fn.d(100000)]);
    const r = kfnExpect(env, ['validate', env.manifestDir, '--json'], 0);
    const doc = JSON.parse(r.stdout) as { valid: boolean; error_count: number; chains: { name: string; functions: { name: string; function: string }[] }[] };
    assertMatchesSchema('validate', doc, 'kfn validate --json (valid)');
    assert.equal(doc.valid, true);
    assert.deepEqual(doc.chains.map((c) => [c.name, c.functions.map((f) => `${f.name}:${f.function}`)]), [['edge', ['a:blocklist', 'b:counter', 'c:flowstats', 'd:ratelimit']]]);
  });

  test('validate --json: invalid manifests, every error with its place', () => {
    const bad = path.join(env.stateDir, 'bad');
    fs.mkdirSync(path.join(bad, 'objects'), { recursive: true });
    fs.cpSync(path.join(env.manifestDir, 'objects'), path.join(bad, 'objects'), { recursive: true });
    fs.copyFileSync(path.join(env.manifestDir, 'functions.yaml'), path.join(bad, 'functions.yaml'));
    const text = fs
      .readFileSync(chainFile, 'utf8')
      .replace('function: counter', 'function: countr')
      .replace('"198.18.0.3/32":1', '"198.18.0.300/32":1');
    fs.writeFileSync(path.join(bad, 'chain.yaml'), text);
    const r = kfnExpect(env, ['validate', bad, '--json'], 1);
    assert.equal(r.stderr, '', 'with --json the errors are in the document, not on stderr');
    const doc = JSON.parse(r.stdout) as { valid: boolean; error_count: number; diagnostics: { code: string; file: string | null; line: number | null; message: string }[] };
    assertMatchesSchema('validate', doc, 'kfn validate --json (invalid)');
    assert.equal(doc.valid, false);
    assert.equal(doc.error_count, doc.diagnostics.length);
    const lineOf = (needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
    const found = doc.diagnostics.map((d) => [d.code, d.file === null ? null : path.basename(d.file), d.line]);
    assert.deepEqual(found.sort(), [
      ['FUNCTION_NOT_FOUND', 'chain.yaml', lineOf('countr')],
      ['VALUE_INVALID', 'chain.yaml', lineOf('198.18.0.300')],
    ].sort(), JSON.stringify(doc.diagnostics, null, 2));
  });

  test('create: plan -out=FILE saves the plan that --json prints; show FILE renders it; apply FILE applies it', () => {
    const saved = kfnExpect(env, ['plan', env.manifestDir, `-out=${planFile()}`, '-json'], 0);
    const doc = JSON.parse(saved.stdout) as PlanDoc;
    assertMatchesSchema('plan', doc, 'kfn plan -out=FILE -json (create)');
    assert.deepEqual(resource(doc).change.actions, ['create']);
    for (const n of ['a', 'b', 'c', 'd']) assert.deepEqual(resource(doc, n).change.actions, ['create'], n);
    assert.deepEqual(resource(doc, 'a').change.after?.maps, { blocked_v4: { '198.18.0.3/32': '1' }, blocked_v6: {} }, 'every parameter map, the unmentioned one empty');
    assert.deepEqual(doc.summary, { add: 5, change: 0, replace: 0, destroy: 0 });
    assert.deepEqual(doc.planned_steps.map((s) => s.kind), ['load-root', 'attach', 'load', 'load', 'load', 'load', 'swap']);

    const shownJson = kfnExpect(env, ['show', planFile(), '--json'], 0);
    assert.equal(shownJson.stdout, saved.stdout, 'show FILE --json prints the document plan printed');
    assertMatchesSchema('plan', JSON.parse(shownJson.stdout), 'kfn show FILE --json');

    const text = kfnExpect(env, ['plan', env.manifestDir], 0).stdout;
    const shownText = kfnExpect(env, ['show', planFile()], 0).stdout;
    assert.equal(shownText, text, 'show FILE prints the plan as plan prints it');
    assert.match(shownText, /# chain "edge" on .* will be created/);

    const applied = kfnExpect(env, ['apply', planFile()], 0);
    assert.ok(applied.stdout.startsWith(shownText.trimEnd()), 'apply FILE shows the saved plan first');
    assert.match(applied.stdout, /Apply complete! Resources: 5 added, 0 changed, 0 replaced, 0 destroyed\./);
    const live = show(env);
    assert.deepEqual(live.chains.map((c) => c.instances.map((i) => i.name)), [['a', 'b', 'c', 'd']]);
    converged();
  });

  test('show --json and --json --stats on the live chain', () => {
    const ok = pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.2', count: 3 });
    assert.equal(ok.received, 3, ok.output);
    const plain = JSON.parse(kfnExpect(env, ['show', '--json'], 0).stdout) as { chains: { instances: Record<string, unknown>[] }[] };
    assertMatchesSchema('show', plain, 'kfn show --json');
    assert.ok(plain.chains[0]!.instances.every((i) => !('stats' in i)), 'no stats without --stats');

    const withStats = JSON.parse(kfnExpect(env, ['show', '--json', '--stats'], 0).stdout) as {
      chains: { address: string; instances: { address: string; name: string; maps: Record<string, unknown>; stats: Record<string, { entries: { value: unknown; key?: unknown }[] }> }[] }[];
    };
    assertMatchesSchema('show', withStats, 'kfn show --json --stats');
    const chain = withStats.chains[0]!;
    assert.equal(chain.address, address());
    assert.deepEqual(chain.instances.map((i) => i.address), ['a', 'b', 'c', 'd'].map(address));
    assert.deepEqual(chain.instances[0]!.maps, { blocked_v4: [{ key: '198.18.0.3/32', value: '1' }], blocked_v6: [] });
    for (const i of chain.instances) {
      assert.ok(Object.keys(i.stats).length > 0, `${i.name} has state maps`);
      for (const [m, st] of Object.entries(i.stats)) {
        st.entries.forEach((e, n) => {
          numbersAreNumbers(e.value, `${i.name}.stats.${m}[${n}].value`);
          numbersAreNumbers(e.key, `${i.name}.stats.${m}[${n}].key`);
        });
      }
    }
    const counts = chain.instances.find((i) => i.name === 'b')!.stats.counts!.entries[0]!.value;
    assert.equal(typeof counts, 'number');
    assert.ok((counts as number) >= 3, `the counter saw the 3 echo requests: ${String(counts)}`);
  });

  test('update in place: a map entry added', () => {
    write([fn.a({ '198.18.0.3/32': 1, '198.18.0.9/32': 1 }), fn.b, fn.c, fn.d(100000)]);
    const doc = plan('update in place');
    const a = resource(doc, 'a');
    assert.deepEqual(a.change.actions, ['update']);
    assert.equal(a.change.action_reason, 'maps_differ');
    assert.deepEqual(a.change.map_changes, [{ map: 'blocked_v4', drift: false, entries: [{ op: 'add', key: '198.18.0.9/32', after: '1' }] }]);
    for (const n of ['b', 'c', 'd']) assert.deepEqual(resource(doc, n).change.actions, ['no-op'], n);
    assert.deepEqual(doc.planned_steps.map((s) => s.kind), ['update-maps', 'record', 'record']);
    apply();
    converged();
  });

  test('reorder [a,b,c,d] -> [d,b,c,a]: b and c are reloaded as copies because their successors change', () => {
    write([fn.d(100000), fn.b, fn.c, fn.a({ '198.18.0.3/32': 1, '198.18.0.9/32': 1 })]);
    const doc = plan('reorder');
    assert.deepEqual(resource(doc).change.actions, ['update']);
    assert.equal(resource(doc).change.action_reason, 'reordered');
    for (const n of ['b', 'c']) {
      const r = resource(doc, n);
      assert.deepEqual(r.change.actions, ['update'], n);
      assert.equal(r.change.action_reason, 'successor_changed', n);
    }
    for (const n of ['a', 'd']) assert.deepEqual(resource(doc, n).change.reasons.map((r) => r.code), ['moved', 'copied'], n);
    const copies = doc.planned_steps.filter((s) => s.kind === 'load-copy').map((s) => s.address);
    assert.deepEqual([...copies].sort(), ['a', 'b', 'c', 'd'].map(address).sort());
    apply();
    converged();
  });

  test('replace: a global forces replacement, created before the old one is deleted', () => {
    write([fn.d(200000), fn.b, fn.c, fn.a({ '198.18.0.3/32': 1, '198.18.0.9/32': 1 })]);
    const doc = plan('replace');
    const d = resource(doc, 'd');
    assert.deepEqual(d.change.actions, ['create', 'delete']);
    assert.deepEqual(d.change.replace_paths, ['globals.rate_pps']);
    assert.equal((d.change.before as { globals: Record<string, string> }).globals.rate_pps, '100000');
    assert.equal((d.change.after as { globals: Record<string, string> }).globals.rate_pps, '200000');
    const kinds = doc.planned_steps.map((s) => `${s.kind} ${s.address}`);
    assert.ok(kinds.indexOf(`load-replacement ${address('d')}`) < kinds.indexOf(`release ${address('d')}`), kinds.join('\n'));
    apply();
    converged();
  });

  test('drift: an entry written outside kfn shows in resource_drift and as a drifted map change', () => {
    const live = show(env);
    const a = live.chains[0]!.instances.find((i) => i.name === 'a')!;
    const pin = path.join(pinDirOf(env, a), 'maps', 'blocked_v4');
    // struct kfn_lpm_v4 {prefixlen 32; 198.18.0.7} -> 1
    const r = spawnSync('bpftool', ['map', 'update', 'pinned', pin, 'key', 'hex', '20', '00', '00', '00', 'c6', '12', '00', '07', 'value', 'hex', '01', '00', '00', '00'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const doc = plan('drift');
    assert.deepEqual(doc.resource_drift, [{ address: address(), drift: [], hook: 'xdp', interface: sb.ifA, netns: sb.nsA, maps: [{ address: address('a'), map: 'blocked_v4' }] }]);
    const change = resource(doc, 'a').change;
    assert.deepEqual(change.map_changes, [{ map: 'blocked_v4', drift: true, entries: [{ op: 'remove', key: '198.18.0.7/32', before: '1' }] }]);
    assert.deepEqual(change.reasons.map((x) => x.code), ['maps_differ', 'map_drift']);
    apply();
    converged();
  });

  test('delete: the chain leaves the manifests', () => {
    fs.rmSync(chainFile);
    const doc = plan('delete');
    assert.deepEqual(resource(doc).change.actions, ['delete']);
    assert.equal(resource(doc).change.after, null);
    for (const n of ['a', 'b', 'c', 'd']) {
      const r = resource(doc, n);
      assert.deepEqual(r.change.actions, ['delete'], n);
      assert.equal(r.change.after, null);
      assert.equal(typeof (r.change.before as { prog_id: unknown }).prog_id, 'number');
    }
    assert.deepEqual(doc.planned_steps.map((s) => s.kind), ['detach-release']);
    apply();
    converged();
    assert.deepEqual(show(env).chains, []);
  });
});
