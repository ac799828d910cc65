/**
 * Repair of damaged bookkeeping, with traffic as the observer. An XDP chain
 * [visibility (flowstats), drop-bad (blocklist of 198.18.0.3), count (counter)] on the
 * sandbox interface is damaged by hand the way an operator or a script would (rm of
 * pins, `bpftool map update|delete` of slots, a foreign program loaded with `bpftool prog
 * loadall` and written into a slot, `ip link set name`). For each damage: `kfn plan`
 * names it, one `kfn apply` repairs it, `kfn plan --detailed-exitcode` exits 0 and the
 * blocked/allowed verdicts are right again; or plan and apply exit 1 saying what to do
 * while the chain that worked still works. Repairs whose steps have non-trivial undo
 * operations are also failed before every step and must leave the damaged state exactly
 * (bpftool ids, pins, kfn show). A tc-ingress chain gets the slot damages too.
 *
 * Then: no damage (alone, combined, or with the repairing apply killed, or with recovery
 * facing a world that changed) can wedge the host: `kfn destroy --all` always exits 0 and
 * leaves no pin, link or program of kfn's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { BPF_BUILD, OBJECTS } from '../helpers/paths.js';
import { cleanupTestEnv, createTestEnv, writeChain, type ChainSpec, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, runKfn, show, statField, statTexts, type RunResult, type ShowChain } from '../helpers/kfn.js';
import { bpftoolJson, isEmptyDiff, snapshot, waitSameKernel, type BpfSnapshot, type KernelDiff } from '../helpers/bpftool.js';
import { ping, pingUntilOk } from '../helpers/ping.js';

const FOREIGN_OBJECT = 'test_drop_all.bpf.o';
const skip = kernelGate({ objects: [...OBJECTS, FOREIGN_OBJECT] });

/** One way to damage kfn's bookkeeping, and what `kfn plan` must say about it. */
interface Damage {
  name: string;
  drift: RegExp;
  apply: () => void;
  /** What the damage does to traffic before the repair (checked when given). */
  breaks?: 'blocked-passes' | 'allowed-dropped';
}

/**
 * The kernel as in `before`, seen from the pin root, with one exception: an empty program
 * array that no program uses. When a prog array's last user reference goes while another
 * process opens it by id (every `bpftool map show` on this shared host opens every map),
 * the kernel can keep one reference to it for ever; reproduced by removing a kfn_next pin
 * during a loop of `bpftool map show id N`. Such a map holds nothing, and no pin, program or
 * process refers to it: it is not something kfn left.
 */
async function kernelAsBefore(before: BpfSnapshot, pinRoot: string): Promise<KernelDiff> {
  const d = await waitSameKernel(before, pinRoot, 10_000);
  if (isEmptyDiff(d) || d.pins || Object.values(d.removed).some((l) => l.length)) return d;
  const now = snapshot();
  const used = new Set([...now.progs.values()].flatMap((p) => p.refs.maps));
  const emptyUnusedArray = (id: number): boolean => {
    const m = now.maps.get(id);
    if (!m || m.type !== 'prog_array' || used.has(id)) return false;
    try {
      return (bpftoolJson(['map', 'dump', 'id', String(id)]) as unknown[]).length === 0;
    } catch {
      return true; // freed meanwhile
    }
  };
  return { ...d, added: { ...d.added, maps: d.added.maps.filter((id) => !emptyUnusedArray(id)) } };
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

describe('repair: damaged bookkeeping is repaired by one apply, or refused with a reason, never worse', { skip, timeout: 900_000 }, () => {
  const sb = new Sandbox(sandboxPrefix('r'));
  const renamed = `${sb.prefix}-a9`;
  const foreignDir = `/sys/fs/bpf/kfn-test-repair-foreign-${process.pid}`;
  let env: TestEnv;
  /** bpftool and pins before kfn made anything (the pin root an empty directory). */
  let clean: BpfSnapshot;

  const visibility: FnSpec = { name: 'visibility', function: 'flowstats' };
  const dropBad: FnSpec = { name: 'drop-bad', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.3/32': 1 } } };
  const count: FnSpec = { name: 'count', function: 'counter@1.0.0' };
  const chain = (o: Partial<ChainSpec> = {}): ChainSpec => ({ name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions: [visibility, dropBad, count], ...o });
  const hookOf = (): 'xdp' | 'tc-ingress' => (fs.existsSync(path.join(env.pinRoot, 'chains', sb.nsA, sb.ifA, 'tc-ingress')) ? 'tc-ingress' : 'xdp');
  const chainDir = (ifname = sb.ifA): string => path.join(env.pinRoot, 'chains', sb.nsA, ifname, hookOf());
  const instDir = (name: string): string => {
    const fn = path.join(chainDir(), 'fn');
    const hits = fs.readdirSync(fn).filter((d) => d.startsWith(`${name}@`));
    assert.equal(hits.length, 1, `one pin directory for ${name}: ${hits.join(', ')}`);
    return path.join(fn, hits[0]!);
  };
  const foreignProg = (): string => path.join(foreignDir, hookOf() === 'xdp' ? 'test_drop_xdp' : 'test_drop_tc');
  const slot = (pin: string, prog: string): void => void sh('bpftool', ['map', 'update', 'pinned', pin, 'key', '0', '0', '0', '0', 'value', 'pinned', prog]);

  const blockedReceived = (): number => ping(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2 }).received;
  const allowedReceived = (): number => pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.2', count: 2 }).received;
  function assertVerdicts(what: string): void {
    assert.equal(blockedReceived(), 0, `${what}: 198.18.0.3 must be dropped`);
    assert.equal(allowedReceived(), 2, `${what}: 198.18.0.2 must pass`);
  }

  const theChain = (): ShowChain => {
    const chains = show(env).chains;
    assert.equal(chains.length, 1, JSON.stringify(chains.map((c) => c.chainName)));
    return chains[0]!;
  };

  /** The chain as written (apply checks that it converged). */
  function baseline(spec = chain()): ShowChain {
    writeChain(env, spec);
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    const c = theChain();
    assert.deepEqual(c.drift, []);
    return c;
  }

  function expectPlanShows(d: Damage): RunResult {
    const p = runKfn(env, ['plan', env.manifestDir, '--detailed-exitcode']);
    assert.equal(p.code, 2, `${d.name}: plan sees the damage\n${describeRun(['plan'], p)}`);
    assert.match(p.stdout, d.drift, `${d.name}: plan names the damage`);
    assert.match(p.stdout, / ! .*\(changed outside kfn\)/);
    return p;
  }

  /** Damage, plan, one apply, converged, verdicts right. */
  function repairs(d: Damage): { before: ShowChain; after: ShowChain; plan: RunResult } {
    const before = theChain();
    d.apply();
    if (d.breaks === 'blocked-passes') assert.ok(blockedReceived() > 0, `${d.name}: the damage lets the blocked source through (so the observer sees it)`);
    if (d.breaks === 'allowed-dropped') assert.equal(allowedReceived(), 0, `${d.name}: the damage drops the allowed source`);
    const plan = expectPlanShows(d);
    const r = runKfn(env, ['apply', env.manifestDir, '--auto-approve']);
    assert.equal(r.code, 0, `${d.name}: one apply repairs it\n${describeRun(['apply'], r)}`);
    const again = runKfn(env, ['plan', env.manifestDir, '--detailed-exitcode']);
    assert.equal(again.code, 0, `${d.name}: nothing left to do after the repair\n${describeRun(['plan'], again)}`);
    const after = theChain();
    assert.deepEqual(after.drift, [], `${d.name}: no drift left`);
    assert.deepEqual(
      after.instances.map((i) => i.name),
      ['visibility', 'drop-bad', 'count'],
    );
    assertVerdicts(`after repairing ${d.name}`);
    return { before, after, plan };
  }

  /** For every step N of the repair: fail before it; the kernel must be the damaged state exactly. */
  async function rollsBackAtEveryStep(d: Damage, xdpIf = sb.ifA): Promise<number> {
    const damaged = { bpf: snapshot(), chains: show(env).chains };
    const xdp = (): string => sb.ip(sb.nsA, ['link', 'show', xdpIf]);
    const xdpBefore = xdp();
    for (let n = 1; ; n++) {
      assert.ok(n < 40, 'a repair plan has fewer than 40 steps');
      const r = runKfn(env, ['apply', env.manifestDir, '--auto-approve'], { env: { KFN_TEST_FAIL_AT_STEP: String(n) } });
      if (r.code === 0) return n - 1;
      assert.equal(r.code, 1, describeRun([`KFN_TEST_FAIL_AT_STEP=${n}`, 'apply'], r));
      assert.match(r.stderr, /The kernel is back to the state before apply\./, `${d.name}, fault before step ${n}:\n${r.stderr}`);
      const diff = await kernelAsBefore(damaged.bpf, env.pinRoot);
      assert.ok(isEmptyDiff(diff), `${d.name}, fault before step ${n}: bpftool ids or pins differ from the damaged state:\n${JSON.stringify(diff, null, 2)}`);
      assert.deepEqual(show(env).chains, damaged.chains, `${d.name}, fault before step ${n}: kfn show differs from the damaged state`);
      assert.equal(xdp(), xdpBefore, `${d.name}, fault before step ${n}: the interface runs something else`);
      assert.deepEqual(fs.readdirSync(env.stateDir).filter((f) => f.startsWith('journal')), [], 'no journal left');
    }
  }

  const damages = (): Damage[] => [
    {
      name: "a foreign program in the last instance's kfn_next",
      drift: /! foreign program \d+ \(test_drop_\w+\) is in the chain after count/,
      apply: () => slot(path.join(instDir('count'), 'kfn_next'), foreignProg()),
      breaks: 'allowed-dropped',
    },
    {
      name: "a foreign program in the root's slot",
      drift: /! foreign program \d+ \(test_drop_\w+\) is in the chain after the root/,
      apply: () => slot(path.join(chainDir(), 'root_next'), foreignProg()),
      breaks: 'allowed-dropped',
    },
    {
      name: 'a loop from the last instance back to the first',
      drift: /! the chain loops back to visibility after count/,
      apply: () => slot(path.join(instDir('count'), 'kfn_next'), path.join(instDir('visibility'), 'prog')),
    },
    {
      name: "visibility's kfn_next pin removed (the kernel empties the slot)",
      drift: /! chain bypassed after visibility: its kfn_next pin was removed/,
      apply: () => fs.rmSync(path.join(instDir('visibility'), 'kfn_next')),
      breaks: 'blocked-passes',
    },
    {
      name: 'the root_next pin removed',
      drift: /! chain bypassed after the root: its root_next pin was removed/,
      apply: () => fs.rmSync(path.join(chainDir(), 'root_next')),
      breaks: 'blocked-passes',
    },
    {
      name: "visibility's slot emptied with bpftool map delete",
      drift: /! chain bypassed after visibility: its slot is empty, drop-bad, count no longer reached/,
      apply: () => void sh('bpftool', ['map', 'delete', 'pinned', path.join(instDir('visibility'), 'kfn_next'), 'key', '0', '0', '0', '0']),
      breaks: 'blocked-passes',
    },
    {
      name: 'the root pin removed',
      drift: /! the root program's pin was removed \(prog \d+ still runs through kfn's link\)/,
      apply: () => fs.rmSync(path.join(chainDir(), 'root')),
    },
    {
      name: 'the root link pin removed (detaches the root)',
      drift: /! root link is missing/,
      apply: () => fs.rmSync(path.join(chainDir(), 'link')),
      breaks: 'blocked-passes',
    },
    {
      name: 'the root and its link pin removed (no root left)',
      drift: /! the chain root program is gone/,
      apply: () => {
        fs.rmSync(path.join(chainDir(), 'root'));
        fs.rmSync(path.join(chainDir(), 'link'));
      },
      breaks: 'blocked-passes',
    },
    {
      name: 'the chain meta pin removed',
      drift: /! chain metadata is missing/,
      apply: () => fs.rmSync(path.join(chainDir(), 'meta')),
    },
    {
      name: "drop-bad's maps/ directory removed",
      drift: /! maps of drop-bad were unpinned \(blocked_v4, blocked_v6, stats\)/,
      apply: () => fs.rmSync(path.join(instDir('drop-bad'), 'maps'), { recursive: true }),
    },
    {
      name: "drop-bad's prog pin removed",
      drift: /! the program pin of drop-bad was removed/,
      apply: () => fs.rmSync(path.join(instDir('drop-bad'), 'prog')),
    },
    {
      name: "count's metadata pin removed",
      drift: /! instance count@\w+ has no metadata but runs in the chain/,
      apply: () => fs.rmSync(path.join(instDir('count'), 'meta')),
    },
  ];
  const byName = (part: string): Damage => damages().find((d) => d.name.includes(part))!;

  function rename(from: string, to: string): void {
    sb.ip(sb.nsA, ['link', 'set', from, 'down']);
    sb.ip(sb.nsA, ['link', 'set', from, 'name', to]);
    sb.ip(sb.nsA, ['link', 'set', to, 'up']);
  }

  before(() => {
    env = createTestEnv('repair');
    sb.up();
    fs.rmSync(foreignDir, { recursive: true, force: true });
    fs.mkdirSync(foreignDir, { recursive: true });
    // A program someone loaded by hand: kfn must never unload or unpin it.
    sh('bpftool', ['prog', 'loadall', path.join(BPF_BUILD, FOREIGN_OBJECT), foreignDir]);
    fs.mkdirSync(env.pinRoot, { recursive: true });
    clean = snapshot();
  });
  after(() => {
    cleanupTestEnv(env);
    fs.rmSync(foreignDir, { recursive: true, force: true });
    sb.down();
  });

  for (const [i, d] of damages().entries()) {
    test(`XDP: ${d.name}: plan names it, one apply repairs it, verdicts right`, () => {
      baseline();
      if (i === 0) assertVerdicts('baseline');
      repairs(d);
    });
  }

  test('repairs that re-pin keep the programs, the link and the state: nothing is reloaded or re-attached', () => {
    for (const part of ['root pin removed', 'maps/ directory', 'prog pin', 'chain meta pin']) {
      const b = baseline();
      const dropsBefore = statField(statTexts(show(env, true), show(env, true).chains[0]!.instances[1]!, 'stats')[0]!, 'dropped_v4');
      assert.equal(blockedReceived(), 0);
      const { after } = repairs(byName(part));
      assert.equal(after.rootProgId, b.rootProgId, `${part}: same root`);
      assert.equal(after.linkId, b.linkId, `${part}: same link (the working root was never detached)`);
      assert.deepEqual(
        after.instances.map((i) => i.progId),
        b.instances.map((i) => i.progId),
        `${part}: same instance programs`,
      );
      const s = show(env, true);
      const drops = statField(statTexts(s, s.chains[0]!.instances[1]!, 'stats')[0]!, 'dropped_v4');
      assert.ok(drops >= dropsBefore + 4, `${part}: drop-bad's counters kept counting (${dropsBefore} -> ${drops})`);
    }
  });

  test('a rebuild keeps every instance\'s state (the copies share the old maps)', () => {
    baseline();
    const s0 = show(env, true);
    const drops0 = statField(statTexts(s0, s0.chains[0]!.instances[1]!, 'stats')[0]!, 'dropped_v4');
    assert.equal(blockedReceived(), 0);
    const { after, plan } = repairs(byName('loop'));
    assert.match(plan.stdout, /reloaded as a copy sharing its maps: the damaged chain is rebuilt/);
    assert.match(plan.stdout, /\d+\. rebuild .*: point the root at the fresh \[visibility, drop-bad, count\]/);
    const s1 = show(env, true);
    const drops1 = statField(statTexts(s1, s1.chains[0]!.instances[1]!, 'stats')[0]!, 'dropped_v4');
    assert.ok(drops1 >= drops0 + 4, `dropped_v4 carried over the rebuild (${drops0} -> ${drops1})`);
    assert.equal(after.rootProgId, s0.chains[0]!.rootProgId, 'the root stays: only its slot is swapped');
  });

  for (const part of ["root's slot", 'root_next pin', 'no root left', 'maps/ directory', 'root pin removed']) {
    test(`a repair (${part}) failing before each of its steps leaves the damaged state exactly`, async (t) => {
      baseline();
      byName(part).apply();
      const steps = await rollsBackAtEveryStep(byName(part));
      t.diagnostic(`${part}: fault injected before each of ${steps} steps`);
      kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
      assertVerdicts(`after the repair of ${part}`);
    });
  }

  test('interface renamed, manifest with a glob: the pins follow the interface, the same root keeps running', async (t) => {
    const b = baseline(chain({ interfaces: [`${sb.prefix}-a*`] }));
    rename(sb.ifA, renamed);
    try {
      const d: Damage = { name: 'interface renamed', drift: new RegExp(`! interface ${sb.ifA} was renamed to ${renamed}; the chain still runs there`), apply: () => {} };
      expectPlanShows(d);
      // A failed repair moves the pins back.
      const steps = await rollsBackAtEveryStep(d, renamed);
      t.diagnostic(`rename: fault injected before each of ${steps} steps`);
      kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
      const c = theChain();
      assert.equal(c.attachment.ifname, renamed);
      assert.equal(c.rootProgId, b.rootProgId, 'same root');
      assert.equal(c.linkId, b.linkId, 'same link: never detached');
      assert.ok(fs.existsSync(path.join(env.pinRoot, 'chains', sb.nsA, renamed, 'xdp', 'root')), 'pins under the new name');
      assert.ok(!fs.existsSync(path.join(env.pinRoot, 'chains', sb.nsA, sb.ifA)), 'nothing left under the old name');
      assertVerdicts('after the rename');
    } finally {
      rename(renamed, sb.ifA);
    }
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    assert.equal(theChain().attachment.ifname, sb.ifA);
  });

  test('interface renamed, manifest names the old one: plan and apply exit 1 saying so; the chain keeps working', () => {
    const b = baseline();
    rename(sb.ifA, renamed);
    try {
      for (const args of [['plan', env.manifestDir], ['apply', env.manifestDir, '--auto-approve']]) {
        const r = runKfn(env, args);
        assert.equal(r.code, 1, describeRun(args, r));
        assert.match(r.stderr, new RegExp(`^error\\[INTERFACE_NOT_FOUND\\]: .*interface "${sb.ifA}" not found .*renamed to ${renamed}, where kfn's chain still runs`, 'm'));
        assert.match(r.stderr, new RegExp(`^  hint: name ${renamed} in the manifest`, 'm'));
      }
      assert.equal(theChain().rootProgId, b.rootProgId);
      assertVerdicts('renamed, refused');
    } finally {
      rename(renamed, sb.ifA);
    }
    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
  });

  test('tc-ingress: slot damages are repaired the same way', () => {
    kfnExpect(env, ['destroy', '--all', '--auto-approve'], 0);
    for (const [i, part] of ["last instance's kfn_next", "root's slot", 'root_next pin', "visibility's kfn_next pin", 'root pin removed'].entries()) {
      baseline(chain({ hook: 'tc-ingress' }));
      assert.equal(hookOf(), 'tc-ingress');
      if (i === 0) assertVerdicts('tc baseline');
      repairs(byName(part));
    }
    kfnExpect(env, ['destroy', '--all', '--auto-approve'], 0);
  });

  /** destroy --all exits 0 and nothing of kfn's is left: no pin, link or program; nothing on the hook. */
  async function destroysCleanly(what: string): Promise<void> {
    const r = runKfn(env, ['destroy', '--all', '--auto-approve']);
    assert.equal(r.code, 0, `${what}: destroy --all must succeed\n${describeRun(['destroy', '--all'], r)}`);
    const diff = await kernelAsBefore(clean, env.pinRoot);
    assert.ok(isEmptyDiff(diff), `${what}: something of kfn's is left after destroy --all:\n${JSON.stringify(diff, null, 2)}`);
    assert.doesNotMatch(sb.ip(sb.nsA, ['link', 'show', sb.ifA]), /prog\/xdp/, `${what}: XDP program left on the interface`);
    assert.ok(fs.existsSync(path.join(foreignDir, 'test_drop_xdp')), `${what}: the foreign program's pin is untouched`);
    assert.deepEqual(show(env).chains, []);
  }

  test('no damage wedges the host: after any damage and an apply, destroy --all works and leaves nothing', async () => {
    const all = damages();
    const sequences: Damage[][] = [
      ...all.map((d) => [d]),
      [byName("root's slot"), byName('root pin removed')],
      [byName('maps/ directory'), byName("visibility's kfn_next pin")],
      [byName('chain meta pin'), byName('root and its link'), byName("count's metadata")],
      [byName('loop'), byName("drop-bad's prog pin"), byName('root_next pin')],
    ];
    for (const seq of sequences) {
      const what = seq.map((d) => d.name).join(' + ');
      baseline();
      for (const d of seq) d.apply();
      runKfn(env, ['apply', env.manifestDir, '--auto-approve']);
      await destroysCleanly(what);
    }
    for (const seq of sequences.slice(-2)) {
      // The same damage left as it is: destroy --all straight away.
      baseline();
      for (const d of seq) d.apply();
      await destroysCleanly(`${seq.map((d) => d.name).join(' + ')} (no apply)`);
    }
  });

  test('a repairing apply killed halfway: the next command recovers, destroy --all works', async () => {
    for (const kill of [1, 3]) {
      baseline();
      byName('root_next pin').apply();
      const r = runKfn(env, ['apply', env.manifestDir, '--auto-approve'], { env: { KFN_TEST_KILL_AFTER_STEP: String(kill) } });
      assert.equal(r.code, null, `killed after step ${kill}\n${describeRun(['apply'], r)}`);
      const p = runKfn(env, ['plan', env.manifestDir, '--detailed-exitcode']);
      assert.equal(p.code, 2, describeRun(['plan'], p));
      assert.match(p.stderr, /recovered an interrupted apply/);
      assert.match(p.stdout, /chain bypassed after the root/, 'recovery restored the damaged state, which plan still sees');
      await destroysCleanly(`repair killed after step ${kill}`);
    }
  });

  test('recovery facing a changed world reports what it could not undo, goes on, and wedges nothing', async () => {
    baseline();
    byName('root_next pin').apply();
    // Steps: 1 re-pin the root slot, 2-4 load copies, 5 swap the root slot to them. Killed after 5.
    const r = runKfn(env, ['apply', env.manifestDir, '--auto-approve'], { env: { KFN_TEST_KILL_AFTER_STEP: '5' } });
    assert.equal(r.code, null, describeRun(['apply (killed)'], r));
    // The world changes under the journal: the slot its undo would point back is unpinned again.
    fs.rmSync(path.join(chainDir(), 'root_next'));
    const j = kfnExpect(env, ['journal', 'show'], 0);
    assert.match(j.stdout, /left by an interrupted apply: the next kfn command recovers it/);
    assert.match(j.stdout, /undo: remove /);
    const d = runKfn(env, ['destroy', '--all', '--auto-approve']);
    assert.equal(d.code, 0, describeRun(['destroy --all'], d));
    assert.match(d.stderr, /recovered an interrupted apply/);
    // The slot could not be pointed back: said, with why; the rest was undone; the journal is kept aside, blocking nothing.
    assert.match(d.stderr, /1 operation\(s\) could not run because the kernel changed since \(recovery went on with the rest\): point \S+\/root_next at nothing: open pin \S+: ENOENT/);
    const kept = fs.readdirSync(env.stateDir).filter((f) => f.startsWith('journal'));
    assert.equal(kept.length, 1, kept.join(', '));
    assert.match(kept[0]!, /^journal\.failed-/);
    assert.match(kfnExpect(env, ['journal', 'show'], 0).stdout, /Journals kept for inspection/);
    assert.match(kfnExpect(env, ['journal', 'clear'], 0).stdout, /Removed/);
    assert.deepEqual(fs.readdirSync(env.stateDir).filter((f) => f.startsWith('journal')), []);
    const diff = await kernelAsBefore(clean, env.pinRoot);
    assert.ok(isEmptyDiff(diff), `left after destroy --all:\n${JSON.stringify(diff, null, 2)}`);
  });
});
