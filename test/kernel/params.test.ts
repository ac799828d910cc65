/**
 * Parameters of a live chain [drop-bad: blocklist, limit: ratelimit, count: counter] on
 * XDP: map entries updated in place, drift in a parameter map found and repaired (and
 * left alone under mergeMaps), a global change replacing one instance while its state
 * maps carry over, and a version upgrade whose state map layout changed (state reset).
 * Driven through the CLI with real pings between two throwaway namespaces, observed
 * through bpftool and `kfn show --json --stats`. The subtests build on each other.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect, pinDirOf, show, statField, statTexts, type ShowChain, type ShowInstance, type ShowState } from '../helpers/kfn.js';
import { bpftoolJson, percpuSum } from '../helpers/bpftool.js';
import { ping, pingUntilOk } from '../helpers/ping.js';
import { BPF_BUILD } from '../helpers/paths.js';

const skip = kernelGate();

interface Params {
  /** blocked_v4 entries. */
  blocked: Record<string, number>;
  /** mergeMaps: [blocked_v4]. */
  merge?: boolean;
  /** limit's rate_pps global (.rodata). */
  rate: number;
  /** limit's config["0"].rate_pps (parameter map). */
  cfgRate: number;
  counter: '1.0.0' | '2.0.0';
  /** 1.0.1 is the same object as 1.0.0 (a version change replaces the instance). */
  blocklist?: '1.0.0' | '1.0.1';
}

/** The parts of `kfn plan --json` these tests look at, regrouped per chain as the planner holds them. */
interface PlanInstance {
  name: string;
  action: string;
  reasons: string[];
  identityChanges: { field: string; from?: string; to?: string }[];
  mapChanges: { map: string; drift: boolean; entries: { op: string; keyText: string; fromText?: string; toText?: string }[] }[];
  stateReset?: string[];
}
interface PlanJson {
  changes: { instances: PlanInstance[] }[];
  summary: { add: number; change: number; replace: number; destroy: number };
}

/** The plan JSON contract (schemas/plan-output.schema.json), the fields read here. */
interface PlanContract {
  summary: PlanJson['summary'];
  resource_changes: {
    type: string;
    name: string;
    chain?: string;
    address: string;
    change: {
      actions: string[];
      reasons: { text: string }[];
      identity_changes: { field: string; before: string | null; after: string | null }[];
      map_changes: { map: string; drift: boolean; entries: { op: string; key: string; before?: string; after?: string }[] }[];
      state_reset: string[];
    };
  }[];
}

const ACTION: Record<string, string> = { create: 'create', delete: 'delete', 'create,delete': 'replace', 'no-op': 'noop' };

function fromContract(j: PlanContract): PlanJson {
  const chains = j.resource_changes.filter((r) => r.type === 'kfn_chain');
  return {
    summary: j.summary,
    changes: chains.map((c) => ({
      instances: j.resource_changes
        .filter((r) => r.type === 'kfn_function_instance' && r.chain === c.address)
        .map((r) => {
          const i: PlanInstance = {
            name: r.name,
            action: ACTION[r.change.actions.join(',')] ?? 'update',
            reasons: r.change.reasons.map((x) => x.text),
            identityChanges: r.change.identity_changes.map((v) => ({ field: v.field, ...(v.before === null ? {} : { from: v.before }), ...(v.after === null ? {} : { to: v.after }) })),
            mapChanges: r.change.map_changes.map((m) => ({
              map: m.map,
              drift: m.drift,
              entries: m.entries.map((e) => ({ op: e.op, keyText: e.key, ...(e.before === undefined ? {} : { fromText: e.before }), ...(e.after === undefined ? {} : { toText: e.after }) })),
            })),
          };
          if (r.change.state_reset.length) i.stateReset = r.change.state_reset;
          return i;
        }),
    })),
  };
}

const DST = '198.18.0.1';
const src = (last: number): string => `198.18.0.${last}`;

/** struct kfn_lpm_v4 {__u32 prefixlen; __u8 addr[4];} as bpftool hex bytes. */
function lpmKeyHex(cidr: string): string[] {
  const [addr, len] = cidr.split('/');
  const n = Number(len);
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24, ...addr!.split('.').map(Number)].map((b) => b.toString(16).padStart(2, '0'));
}
const u32Hex = (v: number): string[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24].map((b) => b.toString(16).padStart(2, '0'));

function bpftool(args: string[]): void {
  const r = spawnSync('bpftool', args, { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `bpftool ${args.join(' ')}: ${r.stderr}${r.stdout}`);
}

describe('chain parameters: in-place maps, drift, mergeMaps, replacement state', { skip }, () => {
  // kt-par + 2 characters from the pid: two runs of this file at once never share namespaces.
  const sb = new Sandbox(`kt-par${(process.pid % 1296).toString(36).padStart(2, '0')}`);
  let env: TestEnv;
  let p: Params = { blocked: { '198.18.0.3/32': 1 }, rate: 100000, cfgRate: 50000, counter: '1.0.0' };

  const chainText = (q: Params): string =>
    [
      'apiVersion: kfn.dev/v1alpha1',
      'kind: Chain',
      'metadata: { name: edge }',
      'spec:',
      '  hook: xdp',
      `  netns: ${sb.nsA}`,
      `  interfaces: [${sb.ifA}]`,
      '  functions:',
      '    - name: drop-bad',
      `      function: blocklist@${q.blocklist ?? '1.0.0'}`,
      '      maps:',
      `        blocked_v4: ${JSON.stringify(q.blocked)}`,
      ...(q.merge ? ['      mergeMaps: [blocked_v4]'] : []),
      '    - name: limit',
      '      function: ratelimit@1.0.0',
      `      globals: { rate_pps: ${q.rate}, burst: 10000 }`,
      '      maps:',
      `        config: { "0": { rate_pps: ${q.cfgRate} } }`,
      '    - name: count',
      `      function: counter@${q.counter}`,
      '',
    ].join('\n');
  const write = (q: Params): void => {
    p = q;
    fs.writeFileSync(path.join(env.manifestDir, 'chain.yaml'), chainText(q));
  };

  const plan = (code: number) => kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], code);
  const planJson = (): PlanJson => fromContract(JSON.parse(kfnExpect(env, ['plan', env.manifestDir, '--json'], 0).stdout) as PlanContract);
  /** Applies, then checks the kernel now matches the manifests (plan --detailed-exitcode exits 0). */
  const apply = (summary: RegExp) => {
    const r = kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    assert.match(r.stdout, summary);
    const after = plan(0);
    assert.match(after.stdout, /No changes\./);
    return r;
  };

  const theChain = (s: ShowState): ShowChain => {
    assert.equal(s.chains.length, 1, `one chain expected, got ${JSON.stringify(s.chains.map((c) => c.chainName))}`);
    const c = s.chains[0]!;
    assert.deepEqual(c.attachment, { hook: 'xdp', ifname: sb.ifA, netns: sb.nsA });
    return c;
  };
  const inst = (c: ShowChain, name: string): ShowInstance => {
    const i = c.instances.find((x) => x.name === name);
    assert.ok(i, `instance ${name} in ${JSON.stringify(c.instances.map((x) => x.name))}`);
    return i;
  };
  const ids = (c: ShowChain): Record<string, number> => Object.fromEntries([['root', c.rootProgId], ['link', c.linkId], ...c.instances.map((i) => [i.name, i.progId])]);
  const mapPin = (c: ShowChain, name: string, map: string): string => {
    const dir = pinDirOf(env, inst(c, name));
    assert.ok(dir.startsWith(path.join(env.pinRoot, 'chains', sb.nsA, sb.ifA, 'xdp', 'fn', `${name}@`)), `pin dir layout: ${dir}`);
    const pin = path.join(dir, 'maps', map);
    assert.ok(fs.existsSync(pin), `${pin} pinned`);
    return pin;
  };
  /** Kernel id of a pinned map (bpftool map show pinned). */
  const mapId = (pin: string): number => (bpftoolJson(['map', 'show', 'pinned', pin]) as { id: number }).id;
  /** blocked_v4 as bpftool dumps it: "a.b.c.d/len" -> value. */
  const blockedLive = (c: ShowChain): Record<string, number> => {
    const dump = bpftoolJson(['map', 'dump', 'pinned', mapPin(c, 'drop-bad', 'blocked_v4')]) as { formatted: { key: { prefixlen: number; addr: number[] }; value: number } }[];
    return Object.fromEntries(dump.map((e) => [`${e.formatted.key.addr.join('.')}/${e.formatted.key.prefixlen}`, Number(e.formatted.value)]));
  };
  /** limit's config["0"] as bpftool dumps it. */
  const configLive = (c: ShowChain): { rate_pps: number; burst: number } => {
    const dump = bpftoolJson(['map', 'dump', 'pinned', mapPin(c, 'limit', 'config')]) as { formatted: { key: number; value: { rate_pps: number; burst: number } } }[];
    assert.equal(dump.length, 1);
    return dump[0]!.formatted.value;
  };
  /** ratelimit stats.passed and the counter's packets, from `kfn show --json --stats`. */
  const counters = () => {
    const s = show(env, true);
    const c = theChain(s);
    const lim = statTexts(s, inst(c, 'limit'), 'stats');
    assert.equal(lim.length, 1, `ratelimit stats: ${JSON.stringify(lim)}`);
    const cnt = statTexts(s, inst(c, 'count'), 'counts');
    assert.equal(cnt.length, 1, `counter counts: ${JSON.stringify(cnt)}`);
    // counter 1.0.0: a plain u64 ("12"); 2.0.0: "{packets: 12, bytes: 1176}".
    const packets = /^\d+$/.test(cnt[0]!) ? Number(cnt[0]) : statField(cnt[0]!, 'packets');
    return { passed: statField(lim[0]!, 'passed'), dropped: statField(lim[0]!, 'dropped'), packets, countText: cnt[0]!, chain: c };
  };
  const blockedPing = (from: number, count = 3) => {
    const r = ping(sb.nsB, DST, { from: src(from), count });
    assert.equal(r.received, 0, `ping from ${src(from)} must be dropped:\n${r.output}`);
    return r;
  };
  const allowedPing = (from: number, count = 3) => {
    const r = pingUntilOk(sb.nsB, DST, { from: src(from), count });
    assert.equal(r.received, count, `ping from ${src(from)} must pass:\n${r.output}`);
    return r;
  };
  /** The InstanceChange of `name` in the plan JSON. */
  const planInstance = (j: PlanJson, name: string): PlanInstance => {
    assert.equal(j.changes.length, 1, JSON.stringify(j.changes));
      const i = j.changes[0]!.instances.find((x) => x.name === name);
    assert.ok(i, `instance ${name} in plan JSON`);
    return i;
  };

  before(() => {
    env = createTestEnv('params');
    assert.equal(env.pinRoot, `/sys/fs/bpf/kfn-test-params-${process.pid}`);
    // counter 2.0.0: same program base name, new `counts` layout.
    fs.copyFileSync(path.join(BPF_BUILD, 'counter_v2.bpf.o'), path.join(env.manifestDir, 'objects', 'counter_v2.bpf.o'));
    fs.appendFileSync(
      path.join(env.manifestDir, 'functions.yaml'),
      [
        '---',
        'apiVersion: kfn.dev/v1alpha1',
        'kind: KernelFunction',
        'metadata: { name: counter }',
        'spec:',
        '  version: 2.0.0',
        '  object: objects/counter_v2.bpf.o',
        '  program: counter',
        '  hooks: [xdp, tc-ingress, tc-egress]',
        '---',
        'apiVersion: kfn.dev/v1alpha1',
        'kind: KernelFunction',
        'metadata: { name: blocklist }',
        'spec:',
        '  version: 1.0.1',
        '  object: objects/blocklist.bpf.o',
        '  program: blocklist',
        '  hooks: [xdp, tc-ingress, tc-egress]',
        '',
      ].join('\n'),
    );
    sb.up();
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('0. apply [blocklist, ratelimit, counter]: 198.18.0.3 dropped, 198.18.0.2 passes', () => {
    write(p);
    apply(/Apply complete! Resources: 4 added, 0 changed, 0 replaced, 0 destroyed\./);
    blockedPing(3);
    allowedPing(2);
    const c = theChain(show(env));
    assert.deepEqual(
      c.instances.map((i) => [i.name, i.identity.function, i.identity.version]),
      [
        ['drop-bad', 'blocklist', '1.0.0'],
        ['limit', 'ratelimit', '1.0.0'],
        ['count', 'counter', '1.0.0'],
      ],
    );
    assert.deepEqual(blockedLive(c), { '198.18.0.3/32': 1 });
    assert.deepEqual(configLive(c), { rate_pps: 50000, burst: 0 });
    assert.equal(sb.xdpProgIdA(), c.rootProgId);
  });

  test('1. change a blocked prefix and the config rate: updated in place, same programs', () => {
    const c0 = theChain(show(env));
    write({ ...p, blocked: { '198.18.0.2/32': 1 }, cfgRate: 20000 });
    const pl = plan(2).stdout;
    assert.match(pl, /Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy\./, pl);
    assert.match(pl, /^ {6}~ drop-bad +blocklist@1\.0\.0/m, pl);
    assert.match(pl, /^ {10}\+ blocked_v4\["198\.18\.0\.2\/32"\] = 1$/m, pl);
    assert.match(pl, /^ {10}- blocked_v4\["198\.18\.0\.3\/32"\]$/m, pl);
    assert.match(pl, /^ {6}~ limit +ratelimit@1\.0\.0/m, pl);
    assert.match(pl, /^ {10}~ config\["0"\]: \{rate_pps: 50000, burst: 0\} -> \{rate_pps: 20000, burst: 0\}$/m, pl);
    assert.match(pl, /^ {8}count +counter@1\.0\.0/m, pl);
    assert.doesNotMatch(pl, /forces replacement|-\/\+|changed outside kfn/, pl);

    apply(/Resources: 0 added, 2 changed, 0 replaced, 0 destroyed\./);
    const c1 = theChain(show(env));
    assert.deepEqual(ids(c1), ids(c0), 'root, link and every instance program id unchanged');
    // Independent views of the new parameters: bpftool on the pinned maps, and kfn show.
    assert.deepEqual(blockedLive(c1), { '198.18.0.2/32': 1 });
    assert.deepEqual(configLive(c1), { rate_pps: 20000, burst: 0 });
    assert.deepEqual(
      inst(c1, 'limit').maps.config?.map((e) => [e.keyText, e.valueText]),
      [['0', '{rate_pps: 20000, burst: 0}']],
    );
    blockedPing(2);
    allowedPing(3);
  });

  test('2a. drift: an extra entry added with bpftool is shown and removed by apply', () => {
    const c0 = theChain(show(env));
    bpftool(['map', 'update', 'pinned', mapPin(c0, 'drop-bad', 'blocked_v4'), 'key', 'hex', ...lpmKeyHex('198.18.0.9/32'), 'value', 'hex', ...u32Hex(1)]);
    assert.deepEqual(blockedLive(c0), { '198.18.0.2/32': 1, '198.18.0.9/32': 1 });

    const pl = plan(2).stdout;
    assert.match(pl, /^ {8}! - blocked_v4\["198\.18\.0\.9\/32"\] \(changed outside kfn\)$/m, pl);
    assert.match(pl, /Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy\./, pl);
    const mc = planInstance(planJson(), 'drop-bad').mapChanges;
    assert.deepEqual(
          mc.map((m) => ({ map: m.map, drift: m.drift, entries: m.entries.map((e) => [e.op, e.keyText]) })),
      [{ map: 'blocked_v4', drift: true, entries: [['remove', '198.18.0.9/32']] }],
    );

    apply(/Resources: 0 added, 1 changed, 0 replaced, 0 destroyed\./);
    const c1 = theChain(show(env));
    assert.deepEqual(blockedLive(c1), { '198.18.0.2/32': 1 }, 'the extra entry is gone');
    assert.deepEqual(ids(c1), ids(c0), 'repaired in place');
  });

  test('2b. drift: a changed value is shown and put back', () => {
    const c0 = theChain(show(env));
    bpftool(['map', 'update', 'pinned', mapPin(c0, 'drop-bad', 'blocked_v4'), 'key', 'hex', ...lpmKeyHex('198.18.0.2/32'), 'value', 'hex', ...u32Hex(7)]);
    const pl = plan(2).stdout;
    assert.match(pl, /^ {8}! ~ blocked_v4\["198\.18\.0\.2\/32"\]: 7 -> 1 \(changed outside kfn\)$/m, pl);
    const mc = planInstance(planJson(), 'drop-bad').mapChanges;
    assert.equal(mc.length, 1);
    assert.equal(mc[0]!.drift, true);
      assert.deepEqual(mc[0]!.entries.map((e) => [e.op, e.keyText, e.fromText, e.toText]), [['change', '198.18.0.2/32', '7', '1']]);

    apply(/Resources: 0 added, 1 changed, 0 replaced, 0 destroyed\./);
    const c1 = theChain(show(env));
    assert.deepEqual(blockedLive(c1), { '198.18.0.2/32': 1 });
    assert.deepEqual(ids(c1), ids(c0));
  });

  test('2c. drift: a deleted entry is shown and restored (and blocks again)', () => {
    const c0 = theChain(show(env));
    bpftool(['map', 'delete', 'pinned', mapPin(c0, 'drop-bad', 'blocked_v4'), 'key', 'hex', ...lpmKeyHex('198.18.0.2/32')]);
    allowedPing(2, 2); // the deletion really took effect in the datapath
    const pl = plan(2).stdout;
    assert.match(pl, /^ {8}! \+ blocked_v4\["198\.18\.0\.2\/32"\] = 1 \(changed outside kfn\)$/m, pl);
    const mc = planInstance(planJson(), 'drop-bad').mapChanges;
    assert.equal(mc.length, 1);
    assert.equal(mc[0]!.drift, true);
      assert.deepEqual(mc[0]!.entries.map((e) => [e.op, e.keyText]), [['add', '198.18.0.2/32']]);

    apply(/Resources: 0 added, 1 changed, 0 replaced, 0 destroyed\./);
    const c1 = theChain(show(env));
    assert.deepEqual(blockedLive(c1), { '198.18.0.2/32': 1 });
    assert.deepEqual(ids(c1), ids(c0));
    blockedPing(2);
  });

  test('2d. mergeMaps: [blocked_v4]: an extra entry added with bpftool is kept, plan stays empty', () => {
    const c0 = theChain(show(env));
    write({ ...p, merge: true });
    // Switching to merge mode alone changes nothing in the kernel.
    assert.match(plan(0).stdout, /No changes\./);
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);

    bpftool(['map', 'update', 'pinned', mapPin(c0, 'drop-bad', 'blocked_v4'), 'key', 'hex', ...lpmKeyHex('198.18.0.3/32'), 'value', 'hex', ...u32Hex(1)]);
    const pl = plan(0).stdout;
    assert.match(pl, /No changes\./, pl);
    assert.doesNotMatch(pl, /changed outside kfn/, pl);
    const j = planJson();
    assert.deepEqual(j.summary, { add: 0, change: 0, replace: 0, destroy: 0 });
      assert.ok(j.changes.every((ch) => ch.instances.every((i) => i.mapChanges.length === 0)), JSON.stringify(j.changes));

    apply(/Resources: 0 added, 0 changed, 0 replaced, 0 destroyed\.|No changes/);
    const c1 = theChain(show(env));
    assert.deepEqual(blockedLive(c1), { '198.18.0.2/32': 1, '198.18.0.3/32': 1 }, 'the bpftool entry survives apply');
    assert.deepEqual(ids(c1), ids(c0));
    blockedPing(3); // and it is live: 198.18.0.3 is dropped

    // A listed key is still managed in merge mode.
    bpftool(['map', 'update', 'pinned', mapPin(c0, 'drop-bad', 'blocked_v4'), 'key', 'hex', ...lpmKeyHex('198.18.0.2/32'), 'value', 'hex', ...u32Hex(7)]);
    const pl2 = plan(2).stdout;
    assert.match(pl2, /^ {8}! ~ blocked_v4\["198\.18\.0\.2\/32"\]: 7 -> 1 \(changed outside kfn\)$/m, pl2);
    assert.doesNotMatch(pl2, /198\.18\.0\.3/, pl2);
    apply(/Resources: 0 added, 1 changed, 0 replaced, 0 destroyed\./);
    assert.deepEqual(blockedLive(theChain(show(env))), { '198.18.0.2/32': 1, '198.18.0.3/32': 1 });
  });

  test('2e. mergeMaps: a replacement keeps the unlisted entries; back to declarative removes them', () => {
    const c0 = theChain(show(env));
    // blocklist 1.0.1 is the same object under another version: the instance is replaced.
    write({ ...p, blocklist: '1.0.1' });
    const pl = plan(2).stdout;
    assert.match(pl, /^ {4}-\/\+ drop-bad +blocklist@1\.0\.1 +[0-9a-f]{12} # forces replacement$/m, pl);
    assert.match(pl, /Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy\./, pl);
    assert.doesNotMatch(pl, /state will be reset|198\.18\.0\.3/, pl);
    apply(/Resources: 0 added, 0 changed, 1 replaced, 0 destroyed\./);
    const c1 = theChain(show(env));
    assert.notEqual(ids(c1)['drop-bad'], ids(c0)['drop-bad'], 'drop-bad got a new program');
    assert.deepEqual(blockedLive(c1), { '198.18.0.2/32': 1, '198.18.0.3/32': 1 }, 'the entry kfn does not manage survived the replacement');
    blockedPing(3);

    // Back to declarative: the unlisted entry is now removed.
    write({ ...p, merge: false });
    const pl3 = plan(2).stdout;
    assert.match(pl3, /- blocked_v4\["198\.18\.0\.3\/32"\]/, pl3);
    apply(/Resources: 0 added, 1 changed, 0 replaced, 0 destroyed\./);
    assert.deepEqual(blockedLive(theChain(show(env))), { '198.18.0.2/32': 1 });
    allowedPing(3);
  });

  test('3. change a global: limit replaced, others kept, state maps carried over', () => {
    allowedPing(3, 5);
    const b = counters();
    const ids0 = ids(b.chain);
    const limPin0 = pinDirOf(env, inst(b.chain, 'limit'));
    const stateIds0 = { stats: mapId(mapPin(b.chain, 'limit', 'stats')), bucket: mapId(mapPin(b.chain, 'limit', 'bucket')) };
    assert.ok(b.passed >= 5 && b.packets >= 5, `counters before: ${JSON.stringify({ passed: b.passed, packets: b.packets })}`);
    assert.equal(percpuSum(mapPin(b.chain, 'limit', 'stats'), 0, 'passed'), b.passed, 'bpftool agrees with kfn show');

    write({ ...p, rate: 90000 });
    const pl = plan(2).stdout;
    assert.match(pl, /^ {4}-\/\+ limit +ratelimit@1\.0\.0 +[0-9a-f]{12} # forces replacement$/m, pl);
    assert.match(pl, /^ {10}~ globals\.rate_pps: 100000 -> 90000 # forces replacement$/m, pl);
    assert.match(pl, /Plan: 0 to add, \d+ to change, 1 to replace, 0 to destroy\./, pl);
    assert.doesNotMatch(pl, /state will be reset/, pl);
    const li = planInstance(planJson(), 'limit');
    assert.equal(li.action, 'replace');
    assert.deepEqual(li.identityChanges, [{ field: 'globals.rate_pps', from: '100000', to: '90000' }]);
    assert.ok(!li.stateReset || li.stateReset.length === 0, `no state reset: ${JSON.stringify(li.stateReset)}`);

    apply(/Resources: 0 added, \d+ changed, 1 replaced, 0 destroyed\./);
    const m = counters();
    const ids1 = ids(m.chain);
    assert.notEqual(ids1.limit, ids0.limit, 'limit got a new program');
    assert.notEqual(pinDirOf(env, inst(m.chain, 'limit')), limPin0, 'and a new pin dir');
    assert.equal(inst(m.chain, 'limit').identity.version, '1.0.0');
    for (const k of ['root', 'link', 'drop-bad', 'count']) assert.equal(ids1[k], ids0[k], `${k} unchanged`);
    assert.deepEqual(
      { stats: mapId(mapPin(m.chain, 'limit', 'stats')), bucket: mapId(mapPin(m.chain, 'limit', 'bucket')) },
      stateIds0,
      'the new limit program took over the very same state maps',
    );
    assert.deepEqual(configLive(m.chain), { rate_pps: 20000, burst: 0 }, 'parameter map written into the new instance');
    assert.ok(m.passed >= b.passed, `stats.passed carried over: ${b.passed} -> ${m.passed}`);
    assert.ok(m.packets >= b.packets, `counts untouched: ${b.packets} -> ${m.packets}`);

    const sent = allowedPing(3, 5).transmitted;
    const a = counters();
    assert.ok(a.passed >= b.passed + sent, `ratelimit stats.passed kept counting: before ${b.passed}, after ${a.passed}, sent ${sent}`);
    assert.ok(a.packets >= b.packets + sent, `counter counts kept counting: before ${b.packets}, after ${a.packets}, sent ${sent}`);
    assert.equal(a.dropped, 0, 'nothing rate-limited');
    assert.equal(percpuSum(mapPin(a.chain, 'limit', 'stats'), 0, 'passed'), a.passed, 'bpftool reads the same carried-over map');
  });

  test('4. upgrade counter 1.0.0 -> 2.0.0: counts layout changed, state reset', () => {
    allowedPing(3, 5);
    const b = counters();
    const ids0 = ids(b.chain);
    const countsId0 = mapId(mapPin(b.chain, 'count', 'counts'));
    assert.match(b.countText, /^\d+$/, 'counter 1.0.0 counts is a u64');
    assert.ok(b.packets >= 20, `enough packets counted before the upgrade: ${b.packets}`);

    write({ ...p, counter: '2.0.0' });
    const pl = plan(2).stdout;
    assert.match(pl, /^ {4}-\/\+ count +counter@2\.0\.0 +[0-9a-f]{12} # forces replacement$/m, pl);
    assert.match(pl, /~ version: "1\.0\.0" -> "2\.0\.0" # forces replacement/, pl);
    assert.match(pl, /^ {10}~ counts: state will be reset\b/m, pl);
    assert.match(pl, /Plan: 0 to add, \d+ to change, 1 to replace, 0 to destroy\./, pl);
    const j = planJson();
    const ci = planInstance(j, 'count');
    assert.equal(ci.action, 'replace');
    assert.deepEqual(ci.stateReset, ['counts']);
    for (const other of ['drop-bad', 'limit']) {
      const o = planInstance(j, other);
      assert.equal(o.action, 'noop', `${other}: ${JSON.stringify(o.reasons)}`);
      assert.ok(!o.stateReset || o.stateReset.length === 0);
    }

    apply(/Resources: 0 added, \d+ changed, 1 replaced, 0 destroyed\./);
    const m = counters();
    const ids1 = ids(m.chain);
    assert.notEqual(ids1.count, ids0.count, 'count got a new program');
    for (const k of ['root', 'link', 'drop-bad', 'limit']) assert.equal(ids1[k], ids0[k], `${k} unchanged`);
    assert.equal(inst(m.chain, 'count').identity.version, '2.0.0');
    assert.notEqual(mapId(mapPin(m.chain, 'count', 'counts')), countsId0, 'counter 2.0.0 has a new counts map');
    assert.match(m.countText, /^\{packets: \d+, bytes: \d+\}$/, `counter 2.0.0 counts is {packets, bytes}: ${m.countText}`);
    assert.ok(m.packets < b.packets, `counts restarted: ${b.packets} before, ${m.packets} right after`);

    const sent = allowedPing(3, 5).transmitted;
    const a = counters();
    assert.ok(a.packets >= m.packets + sent, `counter 2.0.0 counts the new pings: ${m.packets} -> ${a.packets}, sent ${sent}`);
    assert.ok(a.packets < b.packets, `only packets since the upgrade: ${a.packets} < ${b.packets} before it`);
    assert.ok(statField(a.countText, 'bytes') >= sent * 98, `bytes counted: ${a.countText}`);
    // State maps of the other functions were not touched by the upgrade.
    assert.ok(a.passed >= b.passed + sent, `ratelimit kept counting: ${b.passed} -> ${a.passed}`);
  });
});
