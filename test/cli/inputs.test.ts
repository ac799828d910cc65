/**
 * Files that are not what they claim to be, and places kfn cannot write, through the
 * CLI (issue 9, "Output and errors" and "Files on disk are inputs"): each is one
 * `error[CODE]` line with a hint (no stack trace), exit 1, and kfn's part of the kernel
 * exactly as before (its pins and what they reach, kfn show, the interface's XDP program).
 *
 * - a read-only state dir (tmpfs mounted ro), a full one (tmpfs of 64 KiB, filled), a
 *   lock file that is a directory, a symlink to a device, a FIFO;
 * - a journal holding `null`, or edited with its checksums recomputed so that its undo
 *   would delete a file outside the pin root or follow a symlink out of it; the journal
 *   of a writer that still runs while the lock file was removed under it;
 * - a saved plan edited with its checksum recomputed (a path outside the pin root, another
 *   host, another pin root); `plan -o` into a missing directory; FIFOs and /dev/zero where
 *   a plan or a manifest is expected; a read-only pin root; a netns that is a regular file;
 *   70,000 invalid keys in one map given to apply.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canonicalJson, sha256Hex } from '../../src/core/digest.js';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { cleanupTestEnv, createTestEnv, writeChain, type ChainSpec, type TestEnv } from '../helpers/workspace.js';
import { assertErrorAndHint, describeRun, kfnExpect, runKfn, type KfnEnv, type RunResult } from '../helpers/kfn.js';
import { assertKfnUnchanged, captureWorld, type World } from '../helpers/world.js';
import { logRecords, logText } from '../helpers/journal-log.js';

const skip = kernelGate();

function mount(args: string[]): void {
  const r = spawnSync('mount', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr}`);
}
const umount = (dir: string): void => void spawnSync('umount', ['-l', dir], { stdio: 'ignore', timeout: 10_000 });

/**
 * stderr is exactly one `error[CODE]: ...` line and its hint, exit 1; nothing on stdout
 * unless `planShown` (apply prints the plan it is about to run before the step that fails).
 */
function oneError(r: RunResult, code: string, args: string[], message?: RegExp, planShown = false): void {
  assertErrorAndHint(r, code, args, message);
  if (!planShown) assert.equal(r.stdout, '', `nothing on stdout\n${describeRun(args, r)}`);
}

describe('inputs that are not what they claim, and places kfn cannot write: one error line, the kernel untouched', { skip, timeout: 300_000 }, () => {
  const sb = new Sandbox(sandboxPrefix('w'));
  let env: TestEnv;
  let work = '';
  const mounts: string[] = [];
  const victim = `/tmp/kfn-test-inputs-victim-${process.pid}`;
  const nsFile = `/var/run/netns/kfn-test-nsfile-${process.pid}`;
  const chain = (o: Partial<ChainSpec> = {}): ChainSpec => ({
    name: 'edge',
    hook: 'xdp',
    netns: sb.nsA,
    interfaces: [sb.ifA],
    mode: 'generic',
    functions: [{ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.3/32': 1 } } }],
    ...o,
  });

  const world = (): World => captureWorld(env, sb);
  const unchanged = (w: World, what: string): Promise<void> => assertKfnUnchanged(env, sb, w, what);
  const at = (over: Partial<KfnEnv>): KfnEnv => ({ ...env, ...over });
  /** A manifest dir beside the test env's, with its functions and objects and one chain file. */
  function manifestsWith(name: string, write: (dir: string) => void): string {
    const dir = path.join(work, name);
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(env.manifestDir, 'functions.yaml'), path.join(dir, 'functions.yaml'));
    fs.cpSync(path.join(env.manifestDir, 'objects'), path.join(dir, 'objects'), { recursive: true });
    write(dir);
    return dir;
  }

  before(() => {
    env = createTestEnv('inputs');
    work = path.join(env.stateDir, 'work');
    fs.mkdirSync(work, { recursive: true });
    sb.up();
    writeChain(env, chain());
    fs.writeFileSync(victim, 'must survive\n');
  });
  after(() => {
    for (const m of mounts.reverse()) umount(m);
    for (const m of mounts) fs.rmSync(m, { recursive: true, force: true });
    fs.rmSync(nsFile, { force: true });
    fs.rmSync(victim, { force: true });
    cleanupTestEnv(env);
    sb.down();
  });

  test('a read-only state dir: apply fails STATE_DIR_UNUSABLE before any change; plan still works', async () => {
    const dir = path.join(work, 'ro-state');
    fs.mkdirSync(dir);
    mount(['-t', 'tmpfs', '-o', 'ro,mode=0700', 'tmpfs', dir]);
    mounts.push(dir);
    const w = world();
    oneError(runKfn(at({ stateDir: dir }), ['apply', env.manifestDir, '--auto-approve']), 'STATE_DIR_UNUSABLE', ['apply (ro state dir)'], /read-only \(EROFS\)/);
    kfnExpect(at({ stateDir: dir }), ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    await unchanged(w, 'read-only state dir');
  });

  test('a full state dir: apply fails STATE_DIR_UNUSABLE before any change', async () => {
    const dir = path.join(work, 'full-state');
    fs.mkdirSync(dir);
    mount(['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir]);
    mounts.push(dir);
    // dd stops with ENOSPC once the file system is full: that is the point.
    spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'fill')}`, 'bs=4k', 'count=64'], { stdio: 'ignore' });
    assert.equal(spawnSync('sh', ['-c', `echo x > ${path.join(dir, 'probe')}`], { stdio: 'ignore' }).status !== 0, true, 'the state dir is full');
    const w = world();
    oneError(runKfn(at({ stateDir: dir }), ['apply', env.manifestDir, '--auto-approve']), 'STATE_DIR_UNUSABLE', ['apply (full state dir)'], /no space left on the device \(ENOSPC\)/);
    await unchanged(w, 'full state dir');
  });

  test('a lock file that is a directory, a symlink to a device, or a FIFO: LOCK_FILE_INVALID, nothing changed', async () => {
    const w = world();
    for (const [what, make, why] of [
      ['directory', (f: string) => fs.mkdirSync(f), /is a directory/],
      ['symlink to /dev/zero', (f: string) => fs.symlinkSync('/dev/zero', f), /symbolic link/],
      ['FIFO', (f: string) => void spawnSync('mkfifo', [f]), /FIFO/],
    ] as const) {
      const dir = path.join(work, `lock-${what.replace(/\W+/g, '-')}`);
      fs.mkdirSync(dir, { mode: 0o700 });
      make(path.join(dir, 'lock'));
      for (const args of [['apply', env.manifestDir, '--auto-approve'], ['destroy', '--all', '--auto-approve']]) {
        oneError(runKfn(at({ stateDir: dir }), args, { timeoutMs: 20_000 }), 'LOCK_FILE_INVALID', [`(lock file: ${what})`, ...args], why);
      }
    }
    await unchanged(w, 'bad lock files');
  });

  test('plan -o into a missing directory: PLAN_FILE_WRITE before planning, nothing written', async () => {
    const w = world();
    const out = path.join(work, 'nosuch', 'p.plan');
    oneError(runKfn(env, ['plan', env.manifestDir, '-o', out]), 'PLAN_FILE_WRITE', ['plan -o'], /nosuch does not exist/);
    assert.ok(!fs.existsSync(path.dirname(out)));
    await unchanged(w, 'plan -o');
  });

  test('a read-only pin root: apply fails PIN_ROOT_READ_ONLY before any change; plan still works', async () => {
    const mnt = `/sys/fs/bpf/kfn-test-ropin-${process.pid}`;
    fs.mkdirSync(mnt, { recursive: true });
    mount(['-t', 'bpf', '-o', 'ro', 'bpf', mnt]);
    mounts.push(mnt);
    const ro = at({ pinRoot: path.join(mnt, 'kfn'), stateDir: path.join(work, 'ropin-state') });
    const w = world();
    oneError(runKfn(ro, ['apply', env.manifestDir, '--auto-approve']), 'PIN_ROOT_READ_ONLY', ['apply (ro pin root)'], /read-only file system/, true);
    kfnExpect(ro, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.ok(!fs.existsSync(path.join(ro.stateDir, 'journal.json')), 'refused before a journal was begun');
    await unchanged(w, 'read-only pin root');
  });

  test('FIFOs and /dev/zero where a manifest or a plan is expected: refused at once, never read', async () => {
    const fifo = path.join(work, 'in.yaml');
    spawnSync('mkfifo', [fifo]);
    const zero = path.join(work, 'zero.plan');
    fs.symlinkSync('/dev/zero', zero);
    const w = world();
    // A FIFO opened for reading blocks until a writer comes: the command ending at all is part of the proof.
    oneError(runKfn(env, ['apply', fifo, '--auto-approve'], { timeoutMs: 20_000 }), 'MANIFEST_READ', ['apply FIFO'], /FIFO/);
    oneError(runKfn(env, ['plan', zero], { timeoutMs: 20_000 }), 'MANIFEST_READ', ['plan /dev/zero'], /character device/);
    oneError(runKfn(env, ['validate', '/dev/zero'], { timeoutMs: 20_000 }), 'MANIFEST_READ', ['validate /dev/zero'], /character device/);
    await unchanged(w, 'FIFOs');
  });

  test('a netns that is a regular file under /var/run/netns: NETNS_NOT_FOUND, not EINVAL from setns', async () => {
    fs.mkdirSync(path.dirname(nsFile), { recursive: true });
    fs.writeFileSync(nsFile, '');
    const dir = manifestsWith('nsfile', (d) => writeChain({ ...env, manifestDir: d }, chain({ netns: path.basename(nsFile) })));
    const w = world();
    for (const args of [['plan', dir], ['apply', dir, '--auto-approve']]) {
      oneError(runKfn(env, args), 'NETNS_NOT_FOUND', [`${args[0]} (netns is a file)`], new RegExp(`network namespace "${path.basename(nsFile)}"`));
    }
    await unchanged(w, 'netns file');
  });

  test('apply with 70,000 invalid keys in one map: bounded error lines, no stack trace, nothing changed', async () => {
    const dir = manifestsWith('many-keys', (d) => {
      const lines = ['apiVersion: kfn.dev/v1alpha1', 'kind: Chain', 'metadata: { name: edge }', 'spec:', '  hook: xdp', `  netns: ${sb.nsA}`, `  interfaces: [${sb.ifA}]`, '  functions:', '    - function: blocklist@1.0.0', '      maps:', '        blocked_v4:'];
      for (let i = 0; i < 70_000; i++) lines.push(`          "not-a-prefix-${i}": 1`);
      fs.writeFileSync(path.join(d, 'chain.yaml'), lines.join('\n') + '\n');
    });
    const w = world();
    const r = runKfn(env, ['apply', dir, '--auto-approve']);
    const what = describeRun(['apply (70,000 invalid keys)'], r);
    assert.equal(r.code, 1, what);
    assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace\n${what}`);
    const lines = r.stderr.replace(/\n$/, '').split('\n');
    assert.ok(lines.every((l) => /^error\[VALUE_INVALID\]: \S/.test(l) || /^ {2}(hint|-->|at) ?\S?/.test(l) || /^ {2}\S/.test(l)), what.slice(0, 4000));
    assert.equal(lines.filter((l) => l.startsWith('error[')).length, 101, 'the first 100 errors and one line counting the rest');
    assert.match(r.stderr, /69900 more errors not shown \(70000 in all\)/);
    await unchanged(w, '70,000 invalid keys');
  });

  describe('journals and plans edited with recomputed checksums', () => {
    const journal = (): string => path.join(env.stateDir, 'journal.json');

    /** The journal an apply killed after its first step leaves, as records. */
    function killedJournal(): { text: string; records: Record<string, unknown>[] } {
      const killed = runKfn(env, ['apply', env.manifestDir, '--auto-approve'], { env: { KFN_TEST_KILL_AFTER_STEP: '1' } });
      assert.equal(killed.code, null, describeRun(['apply (killed)'], killed));
      const text = fs.readFileSync(journal(), 'utf8');
      return { text, records: logRecords(text) };
    }

    /** The records with the undo of the first step replaced. */
    function withUndo(records: Record<string, unknown>[], undo: unknown[]): string {
      const out = structuredClone(records);
      const step = out.find((r) => r.t === 'intend');
      assert.ok(step, 'the killed apply journaled a step');
      step.undo = undo;
      return logText(out);
    }

    test('a journal holding null, or whose undo points outside the pin root or through a symlink: JOURNAL_INVALID, nothing run', async () => {
      kfnExpect(env, ['destroy', '--all', '--auto-approve'], 0);
      writeChain(env, chain());
      const w0 = world();
      const original = killedJournal();
      const evil = path.join(env.pinRoot, 'chains', 'evil');
      fs.mkdirSync(path.join(evil, 'x'), { recursive: true });
      fs.symlinkSync('/tmp', path.join(evil, 'x', 'xdp'));
      const cases: [string, string, RegExp][] = [
        ['null', 'null\n', /line 1/],
        ['null, checksum recomputed', logText([null]), /line 1 is not a record/],
        ['outside the pin root', withUndo(original.records, [{ op: 'unpinTree', dir: victim }]), new RegExp(`${victim} is outside kfn's pin root`)],
        ['through a symlink', withUndo(original.records, [{ op: 'unpinTree', dir: path.join(evil, 'x', 'xdp', 'fn', `${path.basename(victim)}@abc123`) }]), /evil\/x\/xdp is a symbolic link/],
      ];
      for (const [what, text, reason] of cases) {
        fs.writeFileSync(journal(), text, { mode: 0o600 });
        for (const args of [['show'], ['plan', env.manifestDir], ['apply', env.manifestDir, '--auto-approve'], ['destroy', '--all', '--auto-approve']]) {
          oneError(runKfn(env, args), 'JOURNAL_INVALID', [`(journal: ${what})`, ...args], reason);
        }
        const j = JSON.parse(kfnExpect(env, ['journal', 'show', '--json'], 0).stdout) as { state: string; reason: string };
        assert.equal(j.state, 'invalid', what);
        assert.match(j.reason, reason, what);
        assert.ok(fs.existsSync(victim), `${what}: the victim file survives`);
        assert.equal(fs.readFileSync(journal(), 'utf8'), text, `${what}: the journal is left for a human`);
      }
      fs.rmSync(evil, { recursive: true });
      // The real journal still recovers what the killed apply did.
      fs.writeFileSync(journal(), original.text, { mode: 0o600 });
      const r = kfnExpect(env, ['plan', env.manifestDir], 0);
      assert.match(r.stderr, /recovered an interrupted apply/);
      await unchanged(w0, 'after recovery');
      // journal clear is the way out of a bad one, and needs no --force for it.
      fs.writeFileSync(journal(), 'null\n', { mode: 0o600 });
      assert.match(kfnExpect(env, ['journal', 'clear'], 0).stdout, /Removed/);
      assert.ok(!fs.existsSync(journal()));
      kfnExpect(env, ['plan', env.manifestDir], 0);
    });

    test('the journal of a writer that still runs, with the lock file removed under it: never recovered, apply fails LOCKED naming it', async () => {
      kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
      const w = world();
      const mod = (f: string): string => JSON.stringify(path.join(REPO_ROOT, 'src', 'engine', f));
      // An apply that stops after journaling a step (undoing it would unpin the live chain).
      const code = `
        const { acquireLock } = await import(${mod('lock.ts')});
        const { Journal } = await import(${mod('journal.ts')});
        const fs = (await import('node:fs')).default;
        const dir = ${JSON.stringify(env.stateDir)};
        const lock = await acquireLock(dir, 'kfn apply (held by test)');
        const j = Journal.begin(dir, 'kfn apply (held by test)', ${JSON.stringify(env.pinRoot)}, 'tailcall');
        j.intend([{ description: 'a step that never ends', undo: [{ op: 'unpinTree', dir: ${JSON.stringify(path.join(env.pinRoot, 'chains', sb.nsA, sb.ifA, 'xdp'))} }] }]);
        process.stdout.write('ready\\n');
        process.stdin.on('data', () => { j.close(); fs.rmSync(${JSON.stringify(journal())}); lock.release(); process.exit(0); });
        setTimeout(() => process.exit(1), 60000);
      `;
      const holder: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve, reject) => {
          holder.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          holder.on('exit', (c) => reject(new Error(`holder exited ${c}`)));
        });
        fs.rmSync(path.join(env.stateDir, 'lock'));
        oneError(runKfn(env, ['apply', env.manifestDir, '--auto-approve']), 'LOCKED', ['apply (journal of a live writer)'], new RegExp(`still runs: pid ${holder.pid} \\(kfn apply \\(held by test\\)`));
        oneError(runKfn(env, ['destroy', '--all', '--auto-approve']), 'LOCKED', ['destroy --all (journal of a live writer)']);
        oneError(runKfn(env, ['journal', 'clear', '--force']), 'LOCKED', ['journal clear --force (journal of a live writer)']);
        // A read-only command leaves a live writer's journal alone and still answers.
        const s = runKfn(env, ['show']);
        assert.equal(s.code, 0, describeRun(['show'], s));
        assert.ok(fs.existsSync(journal()), 'the live journal is untouched');
        const j = JSON.parse(kfnExpect(env, ['journal', 'show', '--json'], 0).stdout) as { state: string; writer: { pid: number; running: boolean } };
        assert.deepEqual([j.state, j.writer.pid, j.writer.running], ['live', holder.pid, true]);
        await unchanged(w, 'a live journal');
      } finally {
        holder.stdin!.end('done\n');
        await new Promise((r) => (holder.exitCode !== null ? r(null) : holder.on('exit', r)));
      }
      kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    });

    test('a saved plan edited with its checksum recomputed: another host or pin root, or a step outside the pin root, is refused; nothing runs', async () => {
      writeChain(env, chain({ functions: [{ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.2/32': 1 } } }] }));
      const file = path.join(work, 'p.plan');
      kfnExpect(env, ['plan', env.manifestDir, '-o', file], 0);
      type Step = { phase: string; kind: string; description: string; op: Record<string, unknown>; undo: unknown[] };
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { plan: { host: { machineId: string; bootId: string }; pinRoot: string; steps: Step[] } };
      assert.ok(doc.plan.steps.some((s) => s.op.op === 'write-entries'), `the plan updates the map in place: ${doc.plan.steps.map((s) => s.op.op).join(' ')}`);
      const w = world();
      const save = (name: string, edit: (p: typeof doc.plan) => void): string => {
        const p = structuredClone(doc.plan);
        edit(p);
        const f = path.join(work, name);
        fs.writeFileSync(f, JSON.stringify({ kind: 'kfn-plan', checksum: sha256Hex(canonicalJson(p)), plan: p }, null, 2) + '\n', { mode: 0o600 });
        return f;
      };
      const cases: [string, (p: typeof doc.plan) => void, string, RegExp][] = [
        ['outside.plan', (p) => void p.steps.push({ ...p.steps[0]!, phase: 'release', kind: 'release', op: { op: 'release', dir: victim }, undo: [] }), 'PLAN_INVALID', new RegExp(`${victim} is outside kfn's pin root`)],
        ['entries.plan', (p) => void (p.steps.find((x) => x.op.op === 'write-entries')!.op.map = '/etc/passwd'), 'PLAN_INVALID', /\/etc\/passwd is outside kfn's pin root/],
        ['undo.plan', (p) => void (p.steps.find((x) => x.op.op === 'write-entries')!.undo = [{ op: 'unpinTree', dir: victim }]), 'PLAN_INVALID', new RegExp(`${victim} is outside kfn's pin root`)],
        ['elsewhere.plan', (p) => void (p.host.machineId = '0123456789abcdef0123456789abcdef'), 'PLAN_MISMATCH', /made on host .* \(machine-id 0123456789ab\)/],
        ['reboot.plan', (p) => void (p.host.bootId = '00000000-0000-0000-0000-000000000000'), 'PLAN_MISMATCH', /before a reboot/],
        ['pinroot.plan', (p) => void (p.pinRoot = '/sys/fs/bpf/kfn-elsewhere'), 'PLAN_MISMATCH', /pin root \/sys\/fs\/bpf\/kfn-elsewhere/],
      ];
      for (const [name, edit, code, message] of cases) oneError(runKfn(env, ['apply', save(name, edit)]), code, [`apply ${name}`], message);
      assert.equal(fs.readFileSync(victim, 'utf8'), 'must survive\n');
      await unchanged(w, 'tampered plans');
      kfnExpect(env, ['apply', file], 0);
      kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    });
  });
});
