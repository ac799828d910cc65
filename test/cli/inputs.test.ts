/**
 * Files that are not what they claim to be, and places kfn cannot write, through the
 * CLI: each is one `error[CODE]` line with a hint (no stack trace), and the kernel is
 * exactly as before (bpftool ids and pins, kfn show, the interface's XDP program).
 *
 * - a read-only state dir (tmpfs mounted ro), a full one (tmpfs of 64 KiB, filled), a
 *   lock file that is a directory, a symlink to a device, a FIFO;
 * - a journal holding `null`, or edited with its checksum recomputed so that its undo
 *   would delete a file outside the pin root or follow a symlink out of it; the journal
 *   of a writer that still runs while the lock file was removed under it;
 * - a saved plan edited with its checksum recomputed (a path outside the pin root, another
 *   host); `plan -o` into a missing directory; FIFOs and /dev/zero where a plan or a
 *   manifest is expected; a read-only pin root; a netns that is a regular file.
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
import { describeRun, kfnExpect, runKfn, type KfnEnv, type RunResult } from '../helpers/kfn.js';
import { assertKfnUnchanged, captureWorld, type World } from '../helpers/world.js';

const skip = kernelGate();

function mount(args: string[]): void {
  const r = spawnSync('mount', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr}`);
}
const umount = (dir: string): void => void spawnSync('umount', ['-l', dir], { stdio: 'ignore', timeout: 10_000 });

describe('inputs that are not what they claim, and places kfn cannot write: one error line, the kernel untouched', { skip, timeout: 300_000 }, () => {
  const sb = new Sandbox(sandboxPrefix('i'));
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

  /** stderr is exactly one `error[CODE]: ...` line and its hint; nothing on stdout but what `stdout` allows. */
  function oneError(r: RunResult, code: string, args: string[], message?: RegExp): void {
    const what = describeRun(args, r);
    assert.equal(r.code, 1, what);
    const lines = r.stderr.replace(/\n$/, '').split('\n');
    assert.equal(lines.length, 2, `one error line and one hint line\n${what}`);
    assert.match(lines[0]!, new RegExp(`^error\\[${code}\\]: \\S`), what);
    assert.match(lines[1]!, /^ {2}hint: \S/, what);
    if (message) assert.match(lines[0]!, message, what);
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
    const fill = spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'fill')}`, 'bs=4k', 'count=64'], { stdio: 'ignore' });
    assert.notEqual(fill.status, null);
    const w = world();
    oneError(runKfn(at({ stateDir: dir }), ['apply', env.manifestDir, '--auto-approve']), 'STATE_DIR_UNUSABLE', ['apply (full state dir)'], /no space left on the device \(ENOSPC\)/);
    await unchanged(w, 'full state dir');
  });

  test('a lock file that is a directory, a symlink to a device, or a FIFO: LOCK_FILE_INVALID, nothing changed', async () => {
    const w = world();
    for (const [what, make] of [
      ['directory', (f: string) => fs.mkdirSync(f)],
      ['symlink to /dev/zero', (f: string) => fs.symlinkSync('/dev/zero', f)],
      ['FIFO', (f: string) => void spawnSync('mkfifo', [f])],
    ] as const) {
      const dir = path.join(work, `lock-${what.replace(/\W+/g, '-')}`);
      fs.mkdirSync(dir, { mode: 0o700 });
      make(path.join(dir, 'lock'));
      for (const args of [['apply', env.manifestDir, '--auto-approve'], ['destroy', '--all', '--auto-approve']]) {
        oneError(runKfn(at({ stateDir: dir }), args, { timeoutMs: 20_000 }), 'LOCK_FILE_INVALID', [`(lock file: ${what})`, ...args]);
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
    oneError(runKfn(ro, ['apply', env.manifestDir, '--auto-approve']), 'PIN_ROOT_READ_ONLY', ['apply (ro pin root)'], /read-only file system/);
    kfnExpect(ro, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    await unchanged(w, 'read-only pin root');
  });

  test('FIFOs and /dev/zero where a manifest or a plan is expected: refused at once, never read', async () => {
    const fifo = path.join(work, 'in.yaml');
    spawnSync('mkfifo', [fifo]);
    const zero = path.join(work, 'zero.plan');
    fs.symlinkSync('/dev/zero', zero);
    const w = world();
    oneError(runKfn(env, ['apply', fifo, '--auto-approve'], { timeoutMs: 20_000 }), 'MANIFEST_READ', ['apply FIFO'], /is a FIFO, not a regular file/);
    oneError(runKfn(env, ['plan', zero], { timeoutMs: 20_000 }), 'MANIFEST_READ', ['plan /dev/zero'], /is a character device/);
    oneError(runKfn(env, ['show', fifo], { timeoutMs: 20_000 }), 'PLAN_FILE_INVALID', ['show FIFO'], /is a FIFO/);
    await unchanged(w, 'FIFOs');
  });

  test('a netns that is a regular file under /var/run/netns: NETNS_NOT_FOUND, not EINVAL from setns', () => {
    fs.writeFileSync(nsFile, '');
    const dir = path.join(work, 'nsfile');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(env.manifestDir, 'functions.yaml'), path.join(dir, 'functions.yaml'));
    fs.cpSync(path.join(env.manifestDir, 'objects'), path.join(dir, 'objects'), { recursive: true });
    writeChain({ ...env, manifestDir: dir }, chain({ netns: path.basename(nsFile) }));
    oneError(runKfn(env, ['plan', dir]), 'NETNS_NOT_FOUND', ['plan (netns is a file)'], new RegExp(`network namespace "${path.basename(nsFile)}" does not exist`));
  });

  describe('journals and plans edited with a recomputed checksum', () => {
    const journal = (): string => path.join(env.stateDir, 'journal.json');
    const withChecksum = (body: unknown): string => JSON.stringify({ checksum: sha256Hex(canonicalJson(body)), body });

    function killedJournal(): { body: Record<string, unknown> & { steps: { undo: unknown[] }[] } } {
      const killed = runKfn(env, ['apply', env.manifestDir, '--auto-approve'], { env: { KFN_TEST_KILL_AFTER_STEP: '1' } });
      assert.equal(killed.code, null, describeRun(['apply (killed)'], killed));
      return JSON.parse(fs.readFileSync(journal(), 'utf8')) as never;
    }

    test('a journal holding null, or whose undo points outside the pin root or through a symlink: JOURNAL_INVALID, nothing run', async () => {
      kfnExpect(env, ['destroy', '--all', '--auto-approve'], 0);
      writeChain(env, chain());
      const w0 = world();
      const original = killedJournal();
      fs.mkdirSync(path.join(env.pinRoot, 'chains', 'evil', 'x'), { recursive: true });
      fs.symlinkSync('/tmp', path.join(env.pinRoot, 'chains', 'evil', 'x', 'xdp'));
      const outside = structuredClone(original.body);
      outside.steps[0]!.undo = [{ op: 'unpinTree', dir: victim }];
      const through = structuredClone(original.body);
      through.steps[0]!.undo = [{ op: 'unpinTree', dir: path.join(env.pinRoot, 'chains', 'evil', 'x', 'xdp', 'fn', `${path.basename(victim)}@a1`) }];
      for (const [what, text, reason] of [
        ['null', 'null', /not a kfn journal/],
        ['outside the pin root', withChecksum(outside), new RegExp(`${victim} is outside kfn's pin root`)],
        ['through a symlink', withChecksum(through), /evil\/x\/xdp is a symbolic link/],
      ] as const) {
        fs.writeFileSync(journal(), text, { mode: 0o600 });
        for (const args of [['show'], ['plan', env.manifestDir], ['apply', env.manifestDir, '--auto-approve'], ['destroy', '--all', '--auto-approve']]) {
          oneError(runKfn(env, args), 'JOURNAL_INVALID', [`(journal: ${what})`, ...args], reason);
        }
        const j = kfnExpect(env, ['journal', 'show', '--json'], 0);
        assert.equal((JSON.parse(j.stdout) as { state: string }).state, 'invalid');
        assert.ok(fs.existsSync(victim), `${what}: the victim file survives`);
        assert.equal(fs.readFileSync(journal(), 'utf8'), text, `${what}: the journal is left for a human`);
      }
      fs.rmSync(path.join(env.pinRoot, 'chains', 'evil'), { recursive: true });
      // The real journal still recovers; journal clear is the way out of a bad one.
      fs.writeFileSync(journal(), JSON.stringify(original), { mode: 0o600 });
      const r = kfnExpect(env, ['plan', env.manifestDir], 0);
      assert.match(r.stderr, /recovered an interrupted apply/);
      await unchanged(w0, 'after recovery');
      fs.writeFileSync(journal(), 'null', { mode: 0o600 });
      assert.match(kfnExpect(env, ['journal', 'clear'], 0).stdout, /Removed/);
      kfnExpect(env, ['plan', env.manifestDir], 0);
    });

    test('the journal of a writer that still runs, with the lock file removed under it: never recovered, apply fails LOCKED naming it', async () => {
      kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
      const w = world();
      const mod = (f: string) => JSON.stringify(path.join(REPO_ROOT, 'src', 'engine', f));
      const code = `
        const { acquireLock } = await import(${mod('lock.ts')});
        const { Journal } = await import(${mod('journal.ts')});
        const dir = ${JSON.stringify(env.stateDir)};
        const lock = await acquireLock(dir, 'kfn apply (held by test)');
        const j = Journal.begin(dir, { command: 'kfn apply (held by test)', pinRoot: ${JSON.stringify(env.pinRoot)}, form: 'tailcall', netns: [], before: '' });
        j.intend('a step that never ends', [{ op: 'unpinTree', dir: ${JSON.stringify(path.join(env.pinRoot, 'chains', sb.nsA, sb.ifA, 'xdp'))} }]);
        process.stdout.write('ready\\n');
        process.stdin.on('data', () => { j.finish(); lock.release(); process.exit(0); });
        setTimeout(() => process.exit(1), 30000);
      `;
      const holder: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve, reject) => {
          holder.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          holder.on('exit', (c) => reject(new Error(`holder exited ${c}`)));
        });
        fs.rmSync(path.join(env.stateDir, 'lock'));
        const r = runKfn(env, ['apply', env.manifestDir, '--auto-approve']);
        oneError(r, 'LOCKED', ['apply (journal of a live writer)'], new RegExp(`an apply is still running: pid ${holder.pid} \\(kfn apply \\(held by test\\)`));
        oneError(runKfn(env, ['destroy', '--all', '--auto-approve']), 'LOCKED', ['destroy --all (journal of a live writer)']);
        const s = runKfn(env, ['show']);
        assert.equal(s.code, 0, describeRun(['show'], s));
        assert.ok(fs.existsSync(path.join(env.stateDir, 'journal.json')), 'the live journal is untouched');
        const j = JSON.parse(kfnExpect(env, ['journal', 'show', '--json'], 0).stdout) as { state: string; writer: { pid: number; running: boolean } };
        assert.deepEqual([j.state, j.writer.pid, j.writer.running], ['live', holder.pid, true]);
        await unchanged(w, 'a live journal');
      } finally {
        holder.stdin!.end('done\n');
        await new Promise((r) => (holder.exitCode !== null ? r(null) : holder.on('exit', r)));
      }
      kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    });

    test('a saved plan edited with its checksum recomputed: another host, or a step outside the pin root, is refused; nothing runs', async () => {
      writeChain(env, chain({ functions: [{ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.2/32': 1 } } }] }));
      const file = path.join(work, 'p.plan');
      kfnExpect(env, ['plan', env.manifestDir, '-o', file], 0);
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { plan: { host: { machineId: string }; steps: { op: Record<string, unknown> }[] } };
      const w = world();
      const save = (name: string, edit: (p: typeof doc.plan) => void): string => {
        const p = structuredClone(doc.plan);
        edit(p);
        const f = path.join(work, name);
        fs.writeFileSync(f, JSON.stringify({ kind: 'kfn-plan', checksum: sha256Hex(canonicalJson(p)), plan: p }, null, 2), { mode: 0o600 });
        return f;
      };
      const outside = save('outside.plan', (p) => {
        p.steps.push({ ...p.steps[0]!, phase: 'release', kind: 'release', op: { op: 'release', dir: victim }, undo: [] } as never);
      });
      oneError(runKfn(env, ['apply', outside]), 'PLAN_INVALID', ['apply outside.plan'], new RegExp(`${victim} is outside kfn's pin root`));
      const entries = save('entries.plan', (p) => {
        const s = p.steps.find((x) => x.op.op === 'write-entries')!;
        s.op.map = '/etc/passwd';
      });
      oneError(runKfn(env, ['apply', entries]), 'PLAN_INVALID', ['apply entries.plan'], /\/etc\/passwd is outside kfn's pin root/);
      const elsewhere = save('elsewhere.plan', (p) => void (p.host.machineId = '0123456789abcdef0123456789abcdef'));
      oneError(runKfn(env, ['apply', elsewhere]), 'PLAN_MISMATCH', ['apply elsewhere.plan'], /made on host .* \(machine-id 0123456789ab\)/);
      assert.ok(fs.existsSync(victim));
      await unchanged(w, 'tampered plans');
      kfnExpect(env, ['apply', file], 0);
    });
  });
});
