/**
 * Kernel-side refusals are reported with the operation and the object, and the apply is
 * rolled back: nothing of kfn's is left (bpftool prog/map/link ids, pins under the pin root).
 *
 * (a) A foreign XDP program (counter_xdp loaded through kfn's libbpf layer, attached with an
 *     XDP link, pinned under a bpffs directory of this test's own) holds the interface: plan
 *     warns about it, apply in native mode (and in generic mode) fails with KERNEL_BUSY naming
 *     the interface, the foreign program still runs there untouched.
 * (b) The interface of a saved plan is deleted between `plan -o` and `apply FILE`: refused
 *     (PLAN_STALE / INTERFACE_NOT_FOUND), nothing left; apply from the manifests says
 *     INTERFACE_NOT_FOUND.
 * (c) A saved plan applied after the live state changed (another apply; a map entry edited
 *     with bpftool behind kfn's back) is refused with PLAN_STALE and changes nothing.
 * (d) An object a saved plan loads is rewritten between `plan -o` and `apply FILE`: refused
 *     with OBJECT_CHANGED naming the object, rolled back, nothing left.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BpfObject, attachXdpLink, closeFd, ifindexHere, linkInfoByFd, pinFd, progInfoByFd, withNetns } from '../../src/libbpf/index.js';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type ChainSpec, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, pinDirOf, runKfn, show, type RunResult } from '../helpers/kfn.js';
import { isEmptyDiff, snapshot, waitSameKernel, type BpfSnapshot } from '../helpers/bpftool.js';
import { removeForeign } from '../helpers/tc-foreign.js';
import { BPF_BUILD } from '../helpers/paths.js';

const skip = kernelGate();

/** Loads counter_xdp and attaches it with an XDP link to `ifname` in `netns`; pins link, prog and map under `pinDir`. */
function attachForeignXdp(netns: string, ifname: string, pinDir: string): { progId: number; linkId: number } {
  const obj = BpfObject.open(path.join(BPF_BUILD, 'counter.bpf.o'));
  try {
    const loaded = obj.load('counter_xdp');
    const progId = progInfoByFd(loaded.progFd).id;
    const linkFd = withNetns(netns, () => {
      const ifindex = ifindexHere(ifname);
      if (!ifindex) throw new Error(`no interface ${ifname} in netns ${netns}`);
      return attachXdpLink(loaded.progFd, ifindex, 'native', `${netns}:${ifname} (foreign test program)`);
    });
    try {
      fs.mkdirSync(pinDir, { recursive: true });
      pinFd(linkFd, path.join(pinDir, 'link'));
      pinFd(loaded.progFd, path.join(pinDir, 'prog'));
      pinFd(loaded.mapFds['counts']!, path.join(pinDir, 'counts'));
      return { progId, linkId: linkInfoByFd(linkFd).id };
    } finally {
      closeFd(linkFd);
    }
  } finally {
    obj.close();
  }
}

describe('kernel refusals: reported with operation and object, rolled back', { skip }, () => {
  const sb = new Sandbox(`kt-rf${(process.pid % 1296).toString(36).padStart(2, '0')}`);
  /** An extra veth pair inside nsA, deleted by test (b). */
  const extraA = `${sb.prefix}-x0`;
  const extraB = `${sb.prefix}-x1`;
  const foreignDir = `/sys/fs/bpf/kfn-test-refusals-foreign-${process.pid}`;
  let env: TestEnv;
  let planDir = '';

  const drop = (...prefixes: string[]): FnSpec => ({ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: Object.fromEntries(prefixes.map((p) => [p, 1])) } });
  const count: FnSpec = { name: 'count', function: 'counter' };
  const chain = (functions: FnSpec[], o: { ifname?: string; mode?: 'native' | 'generic' } = {}): ChainSpec => ({
    name: 'edge',
    hook: 'xdp',
    netns: sb.nsA,
    interfaces: [o.ifname ?? sb.ifA],
    mode: o.mode ?? 'native',
    functions,
  });

  /** stderr's first line is `error[CODE]: ...` (after a rollback report for apply) with a hint, no stack trace. */
  function assertRefused(r: RunResult, args: string[], codes: string[], message?: RegExp): string {
    const what = describeRun(args, r);
    assert.equal(r.code, 1, what);
    const lines = r.stderr.replace(/\n$/, '').split('\n');
    const at = lines.findIndex((l) => l.startsWith('error['));
    assert.ok(at >= 0, `no error line\n${what}`);
    if (at > 0) assert.match(lines.slice(0, at).join('\n'), /The kernel is back to the state before apply\./, `rollback incomplete\n${what}`);
    const m = /^error\[([A-Z_]+)\]: (.*)$/.exec(lines[at]!)!;
    assert.ok(codes.includes(m[1]!), `code ${m[1]} not in ${codes.join('/')}\n${what}`);
    assert.match(lines[at + 1] ?? '', /^ {2}hint: \S/, `no hint\n${what}`);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at .+:\d+:\d+/, `stack trace\n${what}`);
    if (message) assert.match(m[2]!, message, what);
    return m[1]!;
  }

  /** Nothing of kfn's in the kernel beyond what `before` had, nothing new pinned under the pin root. */
  async function assertSameKernel(before: BpfSnapshot, what: string): Promise<void> {
    const d = await waitSameKernel(before, env.pinRoot);
    assert.ok(isEmptyDiff(d), `${what}: kernel differs:\n${JSON.stringify({ added: d.added, removed: d.removed, pins: d.pins }, null, 1)}`);
  }

  const liveChains = () => show(env).chains;

  before(() => {
    env = createTestEnv('refusals');
    planDir = path.join(env.stateDir, 'plans');
    fs.mkdirSync(planDir, { recursive: true });
    sb.up();
  });
  after(() => {
    removeForeign(foreignDir);
    cleanupTestEnv(env);
    sb.down();
  });

  test('(a) a foreign XDP program holds the interface: plan warns, apply fails with KERNEL_BUSY naming it, nothing of kfn left', async () => {
    const foreign = attachForeignXdp(sb.nsA, sb.ifA, foreignDir);
    try {
      await refusedNextToForeign(foreign);
    } finally {
      removeForeign(foreignDir);
    }
    assert.equal(sb.xdpProgIdA(), undefined, 'the foreign program is gone once its link pin is removed');
  });

  async function refusedNextToForeign(foreign: { progId: number }): Promise<void> {
    assert.equal(sb.xdpProgIdA(), foreign.progId, 'the foreign program runs on the interface');
    const before = snapshot();

    writeChain(env, chain([count, drop('198.18.0.3/32')]));
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout + p.stderr, new RegExp(`foreign XDP program 'counter_xdp' \\(id ${foreign.progId}\\) is attached to ${sb.ifA} \\(netns ${sb.nsA}\\)`), describeRun(['plan'], p));
    const pj = JSON.parse(kfnExpect(env, ['plan', env.manifestDir, '--json'], 0).stdout) as { foreign_programs: { prog_id: number; interface: string }[] };
    assert.deepEqual(pj.foreign_programs.map((f) => [f.prog_id, f.interface]), [[foreign.progId, sb.ifA]], 'plan --json lists the foreign program');

    for (const mode of ['native', 'generic'] as const) {
      writeChain(env, chain([count, drop('198.18.0.3/32')], { mode }));
      const args = ['apply', env.manifestDir, '--auto-approve'];
      const r = runKfn(env, args);
      const code = assertRefused(r, args, ['KERNEL_BUSY'], new RegExp(`^attach XDP \\(${mode}\\) on ${sb.nsA}:${sb.ifA}/xdp: (EBUSY|EEXIST) `));
      assert.equal(code, 'KERNEL_BUSY');
      await assertSameKernel(before, `after the refused ${mode} apply`);
      assert.deepEqual(liveChains(), [], `no kfn chain after the refused ${mode} apply`);
      assert.equal(sb.xdpProgIdA(), foreign.progId, `the foreign program still runs after the ${mode} attempt`);
    }
    // kfn's pin root holds no chain (only, at most, empty bookkeeping directories).
    const pins = fs.existsSync(env.pinRoot) ? spawnSync('find', [env.pinRoot, '-type', 'f'], { encoding: 'utf8' }).stdout.trim() : '';
    assert.equal(pins, '', `pins left under ${env.pinRoot}`);
    // kfn destroy never touches the foreign program.
    kfnExpect(env, ['destroy', '--all', '--auto-approve'], 0);
    assert.equal(sb.xdpProgIdA(), foreign.progId);
  }

  test('(b) the interface of a saved plan is deleted before apply FILE: refused, nothing left', async (t) => {
    sb.ip(sb.nsA, ['link', 'add', extraA, 'type', 'veth', 'peer', 'name', extraB]);
    sb.ip(sb.nsA, ['link', 'set', extraA, 'up']);
    sb.ip(sb.nsA, ['link', 'set', extraB, 'up']);
    const before = snapshot();
    writeChain(env, chain([count, drop('198.18.0.3/32')], { ifname: extraA }));
    const file = path.join(planDir, 'gone.plan');
    kfnExpect(env, ['plan', env.manifestDir, '-o', file], 0);
    sb.ip(sb.nsA, ['link', 'del', extraA]); // takes its peer with it

    const args = ['apply', file];
    const code = assertRefused(runKfn(env, args), args, ['PLAN_STALE', 'INTERFACE_NOT_FOUND'], new RegExp(`${path.basename(file)}|${extraA}`));
    t.diagnostic(`apply of the saved plan after the interface was deleted: ${code}`);
    await assertSameKernel(before, 'after apply of the stale plan');
    assert.deepEqual(liveChains(), []);

    const fromManifests = ['apply', env.manifestDir, '--auto-approve'];
    assertRefused(runKfn(env, fromManifests), fromManifests, ['INTERFACE_NOT_FOUND'], new RegExp(`interface "${extraA}" not found in netns ${sb.nsA}`));
    await assertSameKernel(before, 'after apply of manifests naming the missing interface');
  });

  test('(d) an object rewritten after the plan was saved is refused with OBJECT_CHANGED, nothing left', async () => {
    const before = snapshot();
    writeChain(env, chain([drop('198.18.0.3/32')]));
    const file = path.join(planDir, 'object.plan');
    kfnExpect(env, ['plan', env.manifestDir, '-o', file], 0);
    const planned = (JSON.parse(fs.readFileSync(file, 'utf8')) as { plan: { steps: { op: { desired?: { objectPath: string } } }[] } }).plan.steps.flatMap((s) => s.op.desired?.objectPath ?? []);
    assert.ok(planned.length > 0, 'the plan loads an object');
    const object = planned[0]!;
    const original = fs.readFileSync(object);
    assert.ok(object.startsWith(env.manifestDir), `the plan loads this test's copy of the object, not ${object}`);
    try {
      fs.writeFileSync(object, Buffer.concat([original, Buffer.alloc(8)]));
      const args = ['apply', file];
      assertRefused(runKfn(env, args), args, ['OBJECT_CHANGED'], new RegExp(`object ${object.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} changed since the plan was made`));
      await assertSameKernel(before, 'after apply of a plan whose object changed');
      assert.deepEqual(liveChains(), []);
    } finally {
      fs.writeFileSync(object, original);
    }
  });

  test('(c) a saved plan applied after the live state changed is refused with PLAN_STALE and changes nothing', async () => {
    writeChain(env, chain([count, drop('198.18.0.3/32')]));
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);

    // 1. Someone applied something else since the plan was made.
    writeChain(env, chain([count, drop('198.18.0.3/32', '198.18.0.128/25')]));
    const file = path.join(planDir, 'stale.plan');
    kfnExpect(env, ['plan', env.manifestDir, '-o', file], 0);
    writeChain(env, chain([drop('198.18.0.3/32'), count]));
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    let before = snapshot();
    let chains = liveChains();
    const args = ['apply', file];
    assertRefused(runKfn(env, args), args, ['PLAN_STALE'], /stale: the live kernel state changed since it was made/);
    await assertSameKernel(before, 'after the stale plan (other apply)');
    assert.deepEqual(liveChains(), chains);

    // 2. A map entry edited behind kfn's back (bpftool), after a fresh plan.
    const file2 = path.join(planDir, 'stale2.plan');
    writeChain(env, chain([drop('198.18.0.3/32', '198.18.0.128/25'), count]));
    kfnExpect(env, ['plan', env.manifestDir, '-o', file2], 0);
    const inst = chains[0]!.instances.find((i) => i.name === 'drop')!;
    const pin = path.join(pinDirOf(env, inst), 'maps', 'blocked_v4');
    // struct kfn_lpm_v4 { __u32 prefixlen; __u8 addr[4]; } = 198.18.0.9/32
    const upd = spawnSync('bpftool', ['map', 'update', 'pinned', pin, 'key', 'hex', '20', '00', '00', '00', 'c6', '12', '00', '09', 'value', 'hex', '01', '00', '00', '00'], { encoding: 'utf8' });
    assert.equal(upd.status, 0, `bpftool map update ${pin}: ${upd.stderr}`);
    before = snapshot();
    chains = liveChains();
    assertRefused(runKfn(env, ['apply', file2]), ['apply', file2], ['PLAN_STALE']);
    await assertSameKernel(before, 'after the stale plan (edited map)');
    assert.deepEqual(liveChains(), chains, 'the edited entry is still there: the stale plan did nothing');

    // A fresh plan sees the edit as drift and repairs it.
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /198\.18\.0\.9\/32.*changed outside kfn|changed outside kfn/, describeRun(['plan'], p));
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);

    // Finally destroy leaves nothing of kfn.
    kfnExpect(env, ['destroy', env.manifestDir, '--auto-approve'], 0);
    assert.deepEqual(liveChains(), []);
    assert.equal(sb.xdpProgIdA(), undefined, 'no XDP program left on the interface');
  });
});
