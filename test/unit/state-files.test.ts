/**
 * The files kfn keeps or is handed are inputs: the lock guards the inode it locked, the
 * journal is judged (shape, checksum, owner, writer, pin root, every operation's paths)
 * before recovery runs any of it, saved plans are read only as regular files of this
 * user. No kernel needed: a plain directory stands in for the pin root (the path checks
 * do not care which file system holds it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canonicalJson, sha256Hex } from '../../src/core/digest.js';
import { KfnError } from '../../src/core/errors.js';
import type { Plan } from '../../src/core/types.js';
import { Engine } from '../../src/engine/index.js';
import { processStartTime } from '../../src/engine/host.js';
import { inspectJournal, journalPath, recover, type JournalBody } from '../../src/engine/journal.js';
import { acquireLock } from '../../src/engine/lock.js';
import { isPlanFile, loadPlan, savePlan } from '../../src/engine/plan-file.js';
import { tailcallForm } from '../../src/forms/tailcall/index.js';
import { tryLockExclusive } from '../../src/libbpf/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-state-files-'));
const pinRoot = path.join(tmp, 'pins');
const chains = path.join(pinRoot, 'chains');
const inst = path.join(chains, 'ns', 'eth0', 'xdp', 'fn', 'drop@abc123');

function stateDir(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  return d;
}

function expectKfnError(fn: () => unknown, code: string, message?: RegExp): KfnError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KfnError, `expected KfnError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    assert.ok(e.hint, `${code} has a hint`);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return e;
  }
  assert.fail(`expected ${code}`);
}

async function expectRejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof KfnError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

function journalBody(undo: unknown[], extra: Partial<JournalBody> = {}): JournalBody {
  return {
    version: 2,
    form: 'tailcall',
    pid: 999_999_99,
    writer: { pid: 999_999_99, startTime: '1', bootId: null },
    command: 'kfn apply (test)',
    startedAt: new Date(0).toISOString(),
    pinRoot,
    phase: 'apply',
    steps: [{ description: 'load something', undo, done: true }],
    release: [],
    ...extra,
  };
}

/** A journal as kfn writes it, checksum included (so only the content checks can refuse it). */
function writeJournal(dir: string, body: unknown, mode = 0o600): string {
  const file = journalPath(dir);
  fs.writeFileSync(file, JSON.stringify({ checksum: sha256Hex(canonicalJson(body)), body }), { mode });
  fs.chmodSync(file, mode);
  return file;
}

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('lock file', () => {
  test('a lock file replaced between flock and the check is relocked on what the path names now', async () => {
    const dir = stateDir('lock-race');
    const file = path.join(dir, 'lock');
    const moved = path.join(dir, 'lock-old');
    let replaced = 0;
    const lock = await acquireLock(dir, 'test', 0, {
      afterFlock: (f) => {
        if (replaced++ > 0) return;
        fs.renameSync(f, moved);
        fs.writeFileSync(f, '', { mode: 0o600 });
      },
    });
    try {
      assert.equal(replaced, 2, 'flocked twice: the replaced inode, then the one the path names');
      const probe = (p: string): boolean => {
        const fd = fs.openSync(p, 'r+');
        try {
          return tryLockExclusive(fd);
        } finally {
          fs.closeSync(fd);
        }
      };
      assert.equal(probe(file), false, 'the inode the path names is the one locked');
      assert.equal(probe(moved), true, 'the replaced inode is not held');
      assert.match(fs.readFileSync(file, 'utf8'), /"command":"test"/);
    } finally {
      lock.release();
    }
  });

  test('a lock file that is a directory, a symlink to a device, or a FIFO: LOCK_FILE_INVALID at once', async () => {
    const cases: [string, (f: string) => void, RegExp][] = [
      ['directory', (f) => fs.mkdirSync(f), /is a directory/],
      ['symlink to /dev/null', (f) => fs.symlinkSync('/dev/null', f), /is a symbolic link/],
      ['FIFO', (f) => void spawnSync('mkfifo', [f]), /is a FIFO/],
    ];
    for (const [what, make, message] of cases) {
      const dir = stateDir(`lock-${what.replace(/\W+/g, '-')}`);
      make(path.join(dir, 'lock'));
      await expectRejects(acquireLock(dir, 'test'), 'LOCK_FILE_INVALID', message);
    }
  });

  test('a state dir owned by someone else is refused (they could plant a journal)', async () => {
    const dir = stateDir('foreign-owner');
    fs.chownSync(dir, 65534, 65534);
    await expectRejects(acquireLock(dir, 'test'), 'STATE_DIR_UNUSABLE', /belongs to uid 65534/);
  });
});

describe('journal: judged before anything of it runs', () => {
  const ops = {
    inside: { op: 'unpinTree', dir: inst },
    outside: { op: 'unpinTree', dir: '/etc' },
    dotdot: { op: 'unpinTree', dir: `${chains}/ns/eth0/xdp/fn/../../../../../../../etc` },
    stopAt: { op: 'unpinTree', dir: inst, stopAt: '/' },
    shape: { op: 'unpinTree', dir: path.join(chains, 'ns', 'eth0') },
    entries: { op: 'writeEntries', map: path.join(inst, 'maps', 'blocked_v4'), entries: [{ key: 'zz', value: null }] },
    attach: { op: 'attachRoot', chainDir: path.join(chains, 'ns', 'eth0', 'xdp'), attachment: { netns: 'ns', ifname: 'eth1', hook: 'xdp' }, mode: 'auto', position: 'last' },
    unknown: { op: 'rm -rf', dir: inst },
  };

  before(() => fs.mkdirSync(inst, { recursive: true }));

  const judge = (dir: string) => inspectJournal(dir, tailcallForm, pinRoot);

  test('null, not JSON, no checksum, a modified body: invalid, with the reason', () => {
    const dir = stateDir('j-garbage');
    const cases: [string, RegExp][] = [
      ['null', /not a kfn journal/],
      ['{"checksum":', /not JSON/],
      [JSON.stringify({ checksum: 'x', body: journalBody([ops.inside]) }), /failed its checksum/],
      [JSON.stringify({ checksum: sha256Hex(canonicalJson(null)), body: null }), /the body is not an object/],
    ];
    for (const [text, reason] of cases) {
      fs.writeFileSync(journalPath(dir), text, { mode: 0o600 });
      const s = judge(dir);
      assert.equal(s.state, 'invalid', text);
      if (s.state === 'invalid') assert.match(s.reason, reason);
    }
  });

  test('recomputed checksums do not help: an operation outside the pin root, through .., or of the wrong shape is refused', () => {
    const dir = stateDir('j-paths');
    const cases: [unknown, RegExp][] = [
      [ops.outside, /\/etc is outside kfn's pin root/],
      [ops.dotdot, /is not a canonical path/],
      [ops.stopAt, /stops at \/, not at the pin root/],
      [ops.shape, /is not a chain-dir or instance-dir of kfn's layout/],
      [ops.entries, /entries are not hex/],
      [ops.attach, /is not the pin directory of ns\/eth1\/xdp/],
      [ops.unknown, /not an undo operation of the tailcall form/],
    ];
    for (const [op, reason] of cases) {
      writeJournal(dir, journalBody([ops.inside, op]));
      const s = judge(dir);
      assert.equal(s.state, 'invalid', JSON.stringify(op));
      if (s.state === 'invalid') assert.match(s.reason, reason);
    }
    writeJournal(dir, journalBody([ops.inside]));
    assert.equal(judge(dir).state, 'pending', 'the same journal with kfn\'s own paths only');
  });

  test('a symlink inside the pin root is never followed', () => {
    const dir = stateDir('j-symlink');
    const victim = fs.mkdtempSync(path.join(tmp, 'victim-'));
    fs.writeFileSync(path.join(victim, 'precious'), 'x');
    fs.mkdirSync(path.join(chains, 'evil', 'eth0'), { recursive: true });
    fs.symlinkSync(victim, path.join(chains, 'evil', 'eth0', 'xdp'));
    writeJournal(dir, journalBody([{ op: 'unpinTree', dir: path.join(chains, 'evil', 'eth0', 'xdp', 'fn', 'x@abc') }]));
    const s = judge(dir);
    assert.equal(s.state, 'invalid');
    if (s.state === 'invalid') assert.match(s.reason, /evil\/eth0\/xdp is a symbolic link/);
    assert.ok(fs.existsSync(path.join(victim, 'precious')));
  });

  test('a journal that is a FIFO, a symlink, writable by others or owned by another user is refused without reading it', () => {
    const dir = stateDir('j-files');
    const file = journalPath(dir);
    const good = journalBody([ops.inside]);
    const cases: [() => void, RegExp][] = [
      [() => void spawnSync('mkfifo', [file]), /is a FIFO/],
      [() => fs.symlinkSync('/dev/zero', file), /is a symbolic link/],
      [() => writeJournal(dir, good, 0o666), /writable by other users/],
      [
        () => {
          writeJournal(dir, good);
          fs.chownSync(file, 65534, 65534);
        },
        /belongs to uid 65534/,
      ],
    ];
    for (const [make, reason] of cases) {
      fs.rmSync(file, { force: true });
      make();
      const s = judge(dir);
      assert.equal(s.state, 'invalid');
      if (s.state === 'invalid') assert.match(s.reason, reason);
    }
  });

  test('the journal of a running writer is live (never recovered); of a dead one, pending; of another pin root, left to that kfn', async () => {
    const dir = stateDir('j-writer');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const startTime = processStartTime(child.pid!);
      assert.ok(startTime, 'start time of the child');
      writeJournal(dir, journalBody([ops.inside], { pid: child.pid!, writer: { pid: child.pid!, startTime, bootId: null } }));
      assert.equal(judge(dir).state, 'live');
      // The same pid with another start time is a reused pid: not the writer.
      writeJournal(dir, journalBody([ops.inside], { pid: child.pid!, writer: { pid: child.pid!, startTime: `${startTime}9`, bootId: null } }));
      assert.equal(judge(dir).state, 'pending');
    } finally {
      child.kill('SIGKILL');
    }
    writeJournal(dir, journalBody([ops.inside], { pinRoot: '/sys/fs/bpf/kfn-elsewhere' }));
    assert.equal(judge(dir).state, 'other-pin-root');
  });

  test('recovery records an undo the world refuses, runs the rest, and keeps the journal aside', () => {
    const dir = stateDir('j-recover');
    const doomed = path.join(chains, 'ns', 'eth0', 'xdp', 'fn', 'gone@def456');
    fs.mkdirSync(doomed, { recursive: true });
    const body = journalBody([
      { op: 'unpinTree', dir: doomed },
      // No such pin any more: this one cannot run.
      { op: 'setSlot', slot: path.join(inst, 'kfn_next'), prog: null },
    ]);
    writeJournal(dir, body);
    const s = judge(dir);
    assert.equal(s.state, 'pending');
    if (s.state !== 'pending') return;
    const report = recover(dir, tailcallForm, s.body, pinRoot);
    assert.equal(report.errors.length, 1, JSON.stringify(report.errors));
    assert.match(report.errors[0]!, /^point \S+\/kfn_next at nothing: /);
    assert.ok(!fs.existsSync(doomed), 'the undo that could run, ran');
    assert.deepEqual(report.undone, ['load something']);
    assert.ok(report.keptAt && fs.existsSync(report.keptAt), 'kept for inspection');
    assert.ok(!fs.existsSync(journalPath(dir)), 'and out of the way: nothing is blocked');
    const engine = new Engine({ paths: { pinRoot, stateDir: dir } });
    assert.deepEqual(engine.journalStatus().kept, [report.keptAt]);
  });

  test('kfn journal clear: never a live journal, a pending one only with --force', async () => {
    const dir = stateDir('j-clear');
    const engine = new Engine({ paths: { pinRoot, stateDir: dir } });
    writeJournal(dir, journalBody([ops.inside]));
    await expectRejects(engine.clearJournal(false), 'JOURNAL_EXISTS', /can still be recovered/);
    assert.deepEqual(await engine.clearJournal(true), [journalPath(dir)]);
    fs.writeFileSync(journalPath(dir), 'null', { mode: 0o600 });
    assert.equal(engine.journalStatus().state, 'invalid');
    assert.deepEqual(await engine.clearJournal(false), [journalPath(dir)], 'an invalid journal needs no --force');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      writeJournal(dir, journalBody([ops.inside], { pid: child.pid!, writer: { pid: child.pid!, startTime: processStartTime(child.pid!), bootId: null } }));
      await expectRejects(engine.clearJournal(true), 'LOCKED', new RegExp(`pid ${child.pid}`));
      assert.ok(fs.existsSync(journalPath(dir)));
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('saved plans: inputs checked before use', () => {
  const dir = path.join(tmp, 'plans');
  before(() => fs.mkdirSync(dir, { recursive: true }));

  const plan = (over: Partial<Plan> = {}): Plan => ({
    createdAt: new Date(0).toISOString(),
    liveFingerprint: 'f'.repeat(64),
    manifestDigest: 'd'.repeat(64),
    changes: [],
    foreign: [],
    warnings: [],
    summary: { add: 0, change: 0, replace: 0, destroy: 0 },
    formatVersion: 2,
    form: 'tailcall',
    pinRoot,
    host: { machineId: 'm', bootId: 'b', hostname: 'h' },
    steps: [],
    ...over,
  });

  test('plan -o into a missing directory: PLAN_FILE_WRITE, nothing written', () => {
    expectKfnError(() => savePlan(path.join(dir, 'nosuch', 'p.plan'), plan()), 'PLAN_FILE_WRITE', /nosuch does not exist/);
    expectKfnError(() => savePlan(path.join(dir, 'p.plan', 'x'), plan()), 'PLAN_FILE_WRITE');
  });

  test('a FIFO, /dev/zero, a directory or a plan writable by others is refused without hanging or reading it', () => {
    const fifo = path.join(dir, 'fifo.plan');
    spawnSync('mkfifo', [fifo]);
    const zero = path.join(dir, 'zero.plan');
    fs.symlinkSync('/dev/zero', zero);
    const shared = path.join(dir, 'shared.plan');
    savePlan(shared, plan());
    fs.chmodSync(shared, 0o666);
    for (const [file, why] of [
      [fifo, /is a FIFO/],
      [zero, /is a character device/],
      [dir, /is a directory/],
      [shared, /writable by other users/],
    ] as const) {
      assert.equal(isPlanFile(file), file === shared, `isPlanFile(${file})`);
      expectKfnError(() => loadPlan(file), 'PLAN_FILE_INVALID', why);
    }
  });

  test('a plan with a recomputed checksum but parts missing is refused', () => {
    const file = path.join(dir, 'partial.plan');
    const p = plan() as unknown as Record<string, unknown>;
    delete p.summary;
    fs.writeFileSync(file, JSON.stringify({ kind: 'kfn-plan', checksum: sha256Hex(canonicalJson(p)), plan: p }), { mode: 0o600 });
    expectKfnError(() => loadPlan(file), 'PLAN_FILE_INVALID', /its summary is missing/);
  });

  test('apply refuses a plan of another host, boot or pin root, and any step outside the pin root, before touching anything', async () => {
    const engine = new Engine({ paths: { pinRoot, stateDir: stateDir('p-apply') } });
    const step = (op: unknown): Plan['steps'][number] => ({ kind: 'release', phase: 'release', chain: { netns: 'ns', ifname: 'eth0', hook: 'xdp' }, chainName: 'edge', description: 'release', op, undo: [] });
    const here = engine.plan({ chains: [], manifestDigest: 'd' }, { chains: [], interfaces: [], missingNetns: [], foreign: [] }).host!;
    const cases: [Plan, string, RegExp][] = [
      [plan({ host: { ...here, machineId: 'another-machine' } }), 'PLAN_MISMATCH', /made on host/],
      [plan({ host: undefined }), 'PLAN_MISMATCH', /records no host/],
      [plan({ host: { ...here, bootId: 'an-earlier-boot' } }), 'PLAN_MISMATCH', /before a reboot/],
      [plan({ host: here, pinRoot: '/sys/fs/bpf/another' }), 'PLAN_MISMATCH', /pin root \/sys\/fs\/bpf\/another/],
      [plan({ host: here, steps: [step({ op: 'release', dir: '/etc' })] }), 'PLAN_INVALID', /step 1 .* \/etc is outside kfn's pin root/],
      [plan({ host: here, steps: [step({ op: 'release', dir: inst, extra: 1 }), step({ op: 'unpin', pin: path.join(inst, 'prog') })] }), 'PLAN_INVALID', /step 2 .*not a root_next_old pin|step 2 .*not a chain-pin/],
    ];
    for (const [p, code, message] of cases) {
      await expectRejects(
        engine.transaction('test', 0, async (tx) => tx.apply(p, { live: { chains: [], interfaces: [], missingNetns: [], foreign: [] } })),
        code,
        message,
      );
    }
    assert.ok(fs.existsSync('/etc/passwd'));
  });
});
