/**
 * The files kfn keeps are inputs: the lock guards the inode it locked, and the journal
 * (an append-only log of checksummed lines, src/engine/journal.ts) is judged (file type,
 * owner, shape of every record, writer, pin root) before recovery runs any of it. The
 * journals here are written line by line with recomputed checksums, as an attacker who
 * can write files would: only the content checks can refuse them. No kernel needed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { KfnError } from '../../src/core/errors.js';
import { processStartTime } from '../../src/engine/provenance.js';
import { journalPath, recover } from '../../src/engine/journal.js';
import { acquireLock } from '../../src/engine/lock.js';
import type { ChainForm } from '../../src/forms/form.js';
import { tryLockExclusive } from '../../src/libbpf/index.js';
import { tailcallForm } from '../../src/forms/tailcall/index.js';
import { compile } from '../../src/forms/tailcall/compile.js';
import { plan } from '../../src/plan/index.js';
import { Engine } from '../../src/engine/index.js';
import type { Plan } from '../../src/core/types.js';
import { NOW, FN, dChain, dInst, desired, liveState } from './plan-fixtures.js';
import { beginRecord, logText, writeJournalLog as writeJournal } from '../helpers/journal-log.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-state-files-'));
const pinRoot = path.join(tmp, 'pins');

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

/** A form that records what recovery asks of it, so a test sees that nothing ran. */
function recordingForm(): { form: ChainForm; undone: unknown[] } {
  const undone: unknown[] = [];
  const form = {
    name: 'tailcall',
    undo: (op: unknown) => void undone.push(op),
    run: () => assert.fail('nothing is released in these journals'),
    describeUndo: (op: unknown) => JSON.stringify(op),
    checkStep: () => undefined,
    checkUndo: () => undefined,
    independentUndo: () => false,
  } as unknown as ChainForm;
  return { form, undone };
}

const begin = (extra: Record<string, unknown> = {}): Record<string, unknown> => beginRecord(pinRoot, extra);

const UNDO = { op: 'unpinTree', dir: path.join(pinRoot, 'chains', 'ns', 'eth0', 'xdp', 'fn', 'drop@abc123') };

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('lock file', () => {
  test('a lock file replaced between flock and the check is relocked on what the path names now', async () => {
    const dir = stateDir('lock-race');
    const file = path.join(dir, 'lock');
    const moved = path.join(dir, 'lock-old');
    let replaced = 0;
    const lock = await acquireLock(dir, 'test', 0, undefined, {
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
  test('a well-formed journal of a dead writer is recovered (the checks below refuse only what is wrong)', () => {
    const dir = stateDir('journal-ok');
    const { form, undone } = recordingForm();
    writeJournal(dir, [begin(), { t: 'intend', description: 'load drop', undo: [UNDO] }, { t: 'done' }]);
    const report = recover(dir, form, pinRoot)!;
    assert.deepEqual(report.undone, ['load drop']);
    assert.deepEqual(undone, [UNDO]);
    assert.equal(fs.existsSync(journalPath(dir)), false);
  });

  test('null, a string, a record of no known kind, or a malformed step, checksums recomputed: JOURNAL_INVALID naming the line, nothing run', () => {
    const cases: [string, unknown[], RegExp][] = [
      ['null header', [null], /line 1 is not a record/],
      ['null step', [begin(), null], /line 2 is not a record/],
      ['a string', [begin(), 'rm -rf /'], /line 2 is not a record/],
      ['unknown kind', [begin(), { t: 'exec', cmd: 'rm -rf /' }], /line 2 is of no known kind/],
      ['undo not a list', [begin(), { t: 'intend', description: 'x', undo: 'rm -rf /' }], /line 2 is a malformed step/],
      ['header without pin root', [begin({ pinRoot: undefined })], /line 1 has no pinRoot/],
    ];
    for (const [what, records, message] of cases) {
      const dir = stateDir(`journal-${what.replace(/\W+/g, '-')}`);
      const file = writeJournal(dir, records);
      const before = fs.readFileSync(file, 'utf8');
      const { form, undone } = recordingForm();
      expectKfnError(() => recover(dir, form, pinRoot), 'JOURNAL_INVALID', message);
      assert.deepEqual(undone, [], `${what}: nothing undone`);
      assert.equal(fs.readFileSync(file, 'utf8'), before, `${what}: the journal is left for a human`);
    }
  });

  test('a journal that is a FIFO, a symlink, writable by others or owned by another user is refused without reading it', () => {
    const good = logText([begin(), { t: 'intend', description: 'x', undo: [UNDO] }]);
    const cases: [string, (f: string) => void, RegExp][] = [
      ['FIFO', (f) => void spawnSync('mkfifo', [f]), /FIFO/],
      ['symlink', (f) => (fs.writeFileSync(`${f}.real`, good, { mode: 0o600 }), fs.symlinkSync(`${f}.real`, f)), /symbolic link/],
      ['dangling symlink', (f) => fs.symlinkSync('/nonexistent-kfn-journal', f), /symbolic link/],
      ['world-writable', (f) => (fs.writeFileSync(f, good), fs.chmodSync(f, 0o666)), /writable/],
      ['other owner', (f) => (fs.writeFileSync(f, good, { mode: 0o600 }), fs.chownSync(f, 65534, 65534)), /65534|owned|belongs/],
    ];
    for (const [what, make, message] of cases) {
      const dir = stateDir(`journal-file-${what.replace(/\W+/g, '-')}`);
      make(journalPath(dir));
      const { form, undone } = recordingForm();
      // A FIFO opened for reading would block forever: the test finishing is part of the proof.
      expectKfnError(() => recover(dir, form, pinRoot), 'JOURNAL_INVALID', message);
      assert.deepEqual(undone, [], `${what}: nothing undone`);
    }
  });

  test('the journal of a writer that still runs is never recovered (LOCKED naming it), even with no lock held', async () => {
    const dir = stateDir('journal-live');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const writer = { pid: child.pid!, startTime: processStartTime(child.pid!), bootId: fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() };
      const file = writeJournal(dir, [begin({ pid: child.pid, writer }), { t: 'intend', description: 'load drop', undo: [UNDO] }]);
      const { form, undone } = recordingForm();
      expectKfnError(() => recover(dir, form, pinRoot), 'LOCKED', new RegExp(`pid ${child.pid} .*still runs|still runs: pid ${child.pid}`));
      assert.deepEqual(undone, [], 'the live apply is not undone under its feet');
      assert.ok(fs.existsSync(file));
      // Same pid, another start time: a recycled pid, so the writer is dead and the journal recovered.
      writeJournal(dir, [begin({ pid: child.pid, writer: { ...writer, startTime: '1' } }), { t: 'intend', description: 'load drop', undo: [UNDO] }]);
      assert.deepEqual(recover(dir, form, pinRoot)!.undone, ['load drop']);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a journal of another pin root is left to the kfn managing it (JOURNAL_EXISTS), nothing run', () => {
    const dir = stateDir('journal-other-root');
    const file = writeJournal(dir, [begin({ pinRoot: '/sys/fs/bpf/other-kfn' }), { t: 'intend', description: 'x', undo: [{ op: 'unpinTree', dir: '/sys/fs/bpf/other-kfn/chains/a/b/xdp' }] }]);
    const { form, undone } = recordingForm();
    expectKfnError(() => recover(dir, form, pinRoot), 'JOURNAL_EXISTS', /other-kfn/);
    assert.deepEqual(undone, []);
    assert.ok(fs.existsSync(file));
  });
});

describe('steps read back from a plan or a journal name only kfn\'s own pins', () => {
  const pinRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-pins-'));
  after(() => fs.rmSync(pinRoot, { recursive: true, force: true }));
  const live = liveState();
  const planned = plan(
    desired(dChain('edge', ['eth0'], [dInst('a', FN.blocklist, { blocked_v4: { '198.18.0.3/32': '1' } }), dInst('b', FN.flowstats)], { hook: 'tc-ingress' })),
    live,
    { now: NOW },
  );
  const { steps } = compile(planned, { pinRoot, live });

  test('every step kfn compiles passes the check', () => {
    assert.ok(steps.length >= 4);
    for (const s of steps) assert.equal(tailcallForm.checkStep(s, pinRoot), undefined, s.description);
  });

  test('an edited step is refused with why: outside the pin root, not canonical, not of the layout, through a symlink, unknown', () => {
    const load = steps.find((s) => s.kind === 'load')!;
    const dir = (load.op as { dir: string }).dir;
    const edits: [string, unknown, RegExp][] = [
      ['outside', { ...load, op: { ...(load.op as object), dir: '/etc' } }, /\/etc is outside kfn's pin root/],
      ['dot-dot', { ...load, op: { ...(load.op as object), dir: `${dir}/../../../../../../etc` } }, /not a canonical path/],
      ['not layout', { ...load, op: { ...(load.op as object), dir: path.join(pinRoot, 'chains', 'x') } }, /not a instance-dir of kfn's layout/],
      ['unknown op', { ...load, op: { op: 'rm-rf', dir } }, /"rm-rf" is not an operation/],
      ['undo outside', { ...load, undo: [{ op: 'unpinTree', dir: '/home' }] }, /\/home is outside/],
      ['undo stopAt', { ...load, undo: [{ op: 'unpinTree', dir, stopAt: '/' }] }, /stops at \/, not at the pin root/],
      ['slot not a slot', { ...load, op: { op: 'set-slot', slot: path.join(path.dirname(dir), '..', 'meta'), prog: null } }, /not a canonical path|is not a slot/],
    ];
    for (const [what, step, re] of edits) assert.match(String(tailcallForm.checkStep(step, pinRoot)), re, what);
    // A symbolic link on the way down (bpffs allows them) could lead anywhere.
    fs.mkdirSync(path.join(pinRoot, 'chains'), { recursive: true });
    fs.symlinkSync('/tmp', path.join(pinRoot, 'chains', 'default'));
    assert.match(String(tailcallForm.checkStep(load, pinRoot)), /chains\/default is a symbolic link/);
    fs.rmSync(path.join(pinRoot, 'chains', 'default'));
  });

  test('the engine checks every plan but the ones it compiled itself: a copy edited in memory is refused before anything runs', async () => {
    const engine = new Engine({ paths: { pinRoot, stateDir: stateDir('own-plans') }, now: () => NOW });
    const own = engine.plan(desired(dChain('edge', ['eth0'], [dInst('a', FN.flowstats)])), live);
    const edited = structuredClone(own) as Plan;
    const load = edited.steps.find((st) => st.kind === 'load')!;
    (load.op as { dir: string }).dir = '/etc';
    await assert.rejects(
      engine.transaction('test', 0, async (tx) => tx.apply(edited)),
      (e: unknown) => e instanceof KfnError && e.code === 'PLAN_INVALID' && /step \d+ of the plan .* \/etc is outside kfn's pin root/.test(e.message),
    );
    assert.ok(!fs.existsSync(journalPath(path.join(tmp, 'own-plans'))), 'no journal was begun');
    assert.doesNotThrow(() => engine.checkPlan(own), 'what the engine compiled passes the check it skips');
  });

  test("main's own operations pass: stack records, probe dirs, proceed-on words, companions", () => {
    const chain = path.join(pinRoot, 'chains', 'default', 'eth0', 'xdp');
    const inst = path.join(chain, 'fn', 'a@abc123');
    const probe = path.join(pinRoot, 'probes', 'p@abc123');
    const ok: unknown[] = [
      { op: 'unpin', pin: path.join(pinRoot, 'stacks', 'netops%2Fmanifests') },
      { op: 'writeProceedOn', pin: path.join(inst, 'kfn_proceed'), proceedOn: ['pass'] },
      { op: 'probeDetach', dir: probe },
      { op: 'unpinTree', dir: probe },
      { op: 'writeMeta', pin: path.join(probe, 'meta'), meta: { kind: 'probe' } },
      { op: 'setSlotId', slot: path.join(chain, 'root_next'), progId: 7, tag: 'ab', name: 'x' },
      { op: 'restoreRoot', dir: chain },
    ];
    for (const u of ok) assert.equal(tailcallForm.checkUndo(u, pinRoot), undefined, JSON.stringify(u));
    const stepOk = (op: unknown): string | undefined => tailcallForm.checkStep({ phase: 'commit', description: 'x', op, undo: [] }, pinRoot);
    assert.equal(stepOk({ op: 'write-proceed-on', pin: path.join(inst, 'kfn_proceed'), proceedOn: ['pass', 'drop'] }), undefined);
    assert.equal(stepOk({ op: 'patch-proceed-on', pin: path.join(inst, 'meta'), proceedOn: ['pass'] }), undefined);
    assert.equal(stepOk({ op: 'patch-probe-stack', pin: path.join(probe, 'meta'), stack: 's' }), undefined);
    assert.equal(stepOk({ op: 'probe-release', dir: probe }), undefined);
    assert.equal(stepOk({ op: 'probe-attach', dir: probe, name: 'p', target: { hook: 'tracepoint', tracepoint: 'a/b' } }), undefined);
    assert.equal(stepOk({ op: 'probe-load', dir: probe, desired: { objectPath: '/o.bpf.o' } }), undefined);
    assert.equal(stepOk({ op: 'release', dir: chain, stack: { pin: path.join(pinRoot, 'stacks', 's'), meta: null } }), undefined);
    assert.match(String(stepOk({ op: 'release', dir: chain, stack: { pin: '/etc/passwd', meta: null } })), /outside/);
    assert.match(String(stepOk({ op: 'write-proceed-on', pin: path.join(inst, 'kfn_proceed'), proceedOn: ['maybe'] })), /proceed-on is malformed/);
  });
});
