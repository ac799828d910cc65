/**
 * The apply journal as a log: append-only (every write leaves the earlier bytes as they
 * were), replayed by recovery into undo (before the commit point) or release (after),
 * a last line cut short ignored, any other damage refused with JOURNAL_INVALID.
 */
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Journal, journalPath, recover, summarizeJournal } from '../../src/engine/journal.js';
import { executeSteps, type StepIntent } from '../../src/engine/executor.js';
import type { ChainForm } from '../../src/forms/form.js';
import type { PlannedStep } from '../../src/core/types.js';
import { KfnError } from '../../src/core/errors.js';
import { ObjectFiles } from '../../src/core/objects.js';

interface Calls {
  undo: unknown[];
  run: string[];
}

function fakeForm(calls: Calls, failUndo?: unknown): ChainForm {
  return {
    name: 'tailcall',
    ownedMaps: [],
    read: () => ({ chains: [], interfaces: [], missingNetns: [], foreign: [] }),
    compile: () => ({ changes: [], steps: [] }),
    run: (step) => void calls.run.push(step.description),
    undo: (op) => {
      if (op === failUndo) throw new Error('cannot');
      calls.undo.push(op);
    },
    describeUndo: (op) => `undo ${String(op)}`,
    checkStep: () => undefined,
    checkUndo: () => undefined,
    independentUndo: () => false,
    stats: () => [],
    counters: () => ({}),
    shadow: () => {
      throw new Error('not in these tests');
    },
  };
}

const step = (description: string, undo: unknown[], phase: 'prepare' | 'commit' = 'prepare'): PlannedStep =>
  ({ kind: 'load', phase, chain: { netns: 'default', ifname: 'x', hook: 'xdp' }, chainName: 'c', description, op: { op: description }, undo }) as PlannedStep;

const releaseStep = (description: string): PlannedStep =>
  ({ kind: 'release', phase: 'release', chain: { netns: 'default', ifname: 'x', hook: 'xdp' }, chainName: 'c', description, op: { op: 'release', dir: '/x' }, undo: [] }) as PlannedStep;

function invalidCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KfnError, String(e));
    return `${e.code}: ${e.message}`;
  }
  return 'no error';
}

describe('apply journal', () => {
  let dir: string;
  let calls: Calls;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-journal-'));
    calls = { undo: [], run: [] };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = (): string => journalPath(dir);
  const text = (): string => fs.readFileSync(file(), 'utf8');

  test('append-only: every record leaves the bytes before it unchanged, one line each', () => {
    const j = Journal.begin(dir, 'kfn apply', '/sys/fs/bpf/kfn', 'tailcall');
    const seen = [text()];
    for (let i = 0; i < 50; i++) {
      j.intend([{ description: `step ${i}`, undo: [`u${i}`] }]);
      seen.push(text());
      j.done();
      seen.push(text());
    }
    j.releasing([releaseStep('release a')]);
    seen.push(text());
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.startsWith(seen[i - 1]!), `write ${i} rewrote earlier bytes`);
    // A step's done goes out with the next record, not on its own.
    for (let i = 2; i < seen.length - 1; i += 2) assert.equal(seen[i], seen[i - 1], `done ${i / 2} was written alone`);
    assert.deepEqual(
      seen.at(-1)!.trimEnd().split('\n').map((l) => (JSON.parse(l.slice(65)) as { t: string }).t),
      ['begin', 'intend', ...Array.from({ length: 49 }, () => ['done', 'intend']).flat(), 'done', 'release'],
      'one line per record, in order',
    );
    assert.equal(Number.parseInt((fs.statSync(file()).mode & 0o777).toString(8), 8) & 0o077, 0, 'mode 0600');
    j.finish();
    assert.ok(!fs.existsSync(file()));
  });

  test('before the commit point recovery undoes every started step in reverse, done or not', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1a', 'u1b'] }]);
    j.done();
    j.intend([{ description: 'two', undo: ['u2'] }]);
    j.close();
    const r = recover(dir, fakeForm(calls), '/pins')!;
    assert.equal(r.phase, 'apply');
    assert.deepEqual(r.undone, ['two', 'one']);
    assert.deepEqual(calls.undo, ['u2', 'u1a', 'u1b']);
    assert.deepEqual(calls.run, []);
    assert.equal(r.command, 'kfn apply');
    assert.equal(r.pid, process.pid);
    assert.ok(!fs.existsSync(file()), 'recovery removes the journal');
  });

  test('after the commit point recovery runs the release steps and undoes nothing', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1'] }]);
    j.done();
    j.releasing([releaseStep('release a'), releaseStep('release b')]);
    j.close();
    const r = recover(dir, fakeForm(calls), '/pins')!;
    assert.equal(r.phase, 'release');
    assert.deepEqual(r.released, ['release a', 'release b']);
    assert.deepEqual(calls.run, ['release a', 'release b']);
    assert.deepEqual(calls.undo, []);
  });

  test('a last line cut short is an append that never returned: its step is not undone', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1'] }]);
    j.done();
    j.intend([{ description: 'two', undo: ['u2'] }]);
    j.close();
    const full = text();
    const lines = full.split('\n');
    // Keep one, cut the record of step two in the middle.
    const cut = lines.slice(0, 3).join('\n') + '\n' + lines[3]!.slice(0, 90);
    fs.writeFileSync(file(), cut);
    const r = recover(dir, fakeForm(calls), '/pins')!;
    assert.deepEqual(r.undone, ['one']);
    assert.deepEqual(calls.undo, ['u1']);
  });

  test('a cut-short commit record means the commit point was never passed', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1'] }]);
    j.done();
    j.releasing([releaseStep('release a')]);
    j.close();
    fs.writeFileSync(file(), text().slice(0, -20));
    const r = recover(dir, fakeForm(calls), '/pins')!;
    assert.equal(r.phase, 'apply');
    assert.deepEqual(calls.undo, ['u1']);
    assert.deepEqual(calls.run, []);
  });

  test('an edited, removed, reordered or duplicated line is refused and the journal kept', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1'] }]);
    j.done();
    j.intend([{ description: 'two', undo: ['u2'] }]);
    j.done();
    j.close();
    const original = text();
    const lines = original.split('\n');
    const variants: [string, string][] = [
      ['edited', original.replace('"one"', '"uno"')],
      ['line removed', [lines[0], lines[1], lines[3], lines[4], ''].join('\n')],
      ['lines swapped', [lines[0], lines[3], lines[2], lines[1], lines[4], ''].join('\n')],
      ['line duplicated', [lines[0], lines[1], lines[1], lines[2], ''].join('\n')],
      ['header cut', original.slice(0, 40)],
      ['empty', ''],
      ['older kfn', JSON.stringify({ checksum: 'x', body: { version: 2, steps: [] } })],
    ];
    for (const [what, t] of variants) {
      fs.writeFileSync(file(), t);
      const got = invalidCode(() => recover(dir, fakeForm(calls), '/pins'));
      assert.match(got, /^JOURNAL_INVALID: /, what);
      assert.ok(got.includes(file()), `${what}: the message names the file`);
      assert.equal(text(), t, `${what}: the journal is left for a human`);
    }
    assert.match(invalidCode(() => (fs.writeFileSync(file(), variants[6]![1]), recover(dir, fakeForm(calls), '/pins'))), /older kfn/);
    assert.deepEqual(calls.undo, [], 'nothing was undone on the strength of a bad journal');
    fs.writeFileSync(file(), original);
    assert.deepEqual(recover(dir, fakeForm(calls), '/pins')!.undone, ['two', 'one']);
  });

  test('a journal of another form is refused; begin refuses while one exists', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'fused');
    j.close();
    assert.match(invalidCode(() => recover(dir, fakeForm(calls), '/pins')), /^JOURNAL_INVALID: .*form fused/);
    assert.match(invalidCode(() => Journal.begin(dir, 'kfn apply', '/pins', 'tailcall')), /^JOURNAL_EXISTS: /);
  });

  test('an undo the changed kernel refuses is reported with why, the rest is undone, the journal is kept aside and blocks nothing', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1'] }]);
    j.intend([{ description: 'two', undo: ['bad'] }]);
    j.close();
    const r = recover(dir, fakeForm(calls, 'bad'), '/pins')!;
    assert.deepEqual(r.errors, ['undo bad: cannot']);
    assert.deepEqual(r.undone, ['two', 'one']);
    assert.deepEqual(calls.undo, ['u1'], 'the other steps are still undone');
    assert.ok(!fs.existsSync(file()), 'no journal blocks the next command');
    assert.match(path.basename(r.keptAt!), /^journal\.failed-[0-9TZ.-]+\.json$/);
    assert.ok(fs.readFileSync(r.keptAt!, 'utf8').includes('"bad"'), 'kept as it was, for inspection');
    assert.equal(recover(dir, fakeForm(calls), '/pins'), undefined, 'nothing left to recover');
  });

  test('a release step the changed kernel refuses is reported and the others still run', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1'] }]);
    j.done();
    j.releasing([releaseStep('release a'), releaseStep('release b')]);
    j.close();
    const form = fakeForm(calls);
    form.run = (step) => {
      if (step.description === 'release a') throw new Error('gone');
      calls.run.push(step.description);
    };
    const r = recover(dir, form, '/pins')!;
    assert.deepEqual(r.errors, ['release a: gone']);
    assert.deepEqual(r.released, ['release b']);
    assert.ok(r.keptAt && fs.existsSync(r.keptAt));
  });

  test('an undo operation the form refuses (outside the pin root...) makes the journal invalid: nothing of it runs', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1'] }]);
    j.intend([{ description: 'two', undo: ['/etc'] }]);
    j.close();
    const form = fakeForm(calls);
    form.checkUndo = (op) => (op === '/etc' ? '/etc is outside kfn\'s pin root /pins' : undefined);
    assert.match(invalidCode(() => recover(dir, form, '/pins')), /^JOURNAL_INVALID: .*step 2 \(two\) has an undo operation kfn will not run: \/etc is outside/);
    assert.deepEqual(calls.undo, []);
    assert.ok(fs.existsSync(file()), 'left for a human');
  });

  test('steps announced together: one append, done marks them in order, recovery undoes the ones never run too', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    const before = text().split('\n').length;
    j.intend([
      { description: 'one', undo: ['u1'] },
      { description: 'two', undo: ['u2'] },
      { description: 'three', undo: ['u3'] },
    ]);
    assert.equal(text().split('\n').length, before + 3, 'one intend record per step');
    j.done();
    j.close();
    const shown = summarizeJournal(dir, fakeForm(calls), '/pins');
    assert.deepEqual(shown.steps.map((st) => [st.description, st.done]), [['one', true], ['two', false], ['three', false]]);
    const r = recover(dir, fakeForm(calls), '/pins')!;
    assert.deepEqual(r.undone, ['three', 'two', 'one']);
    assert.deepEqual(calls.undo, ['u3', 'u2', 'u1']);
  });

  test('a done record beyond the announced steps is refused', () => {
    const j = Journal.begin(dir, 'kfn apply', '/pins', 'tailcall');
    j.intend([{ description: 'one', undo: ['u1'] }]);
    j.done();
    j.done();
    j.close();
    assert.match(invalidCode(() => recover(dir, fakeForm(calls), '/pins')), /^JOURNAL_INVALID: .*marks a step done that was not announced \(line 4\)/);
  });
});

describe('executor: what is announced before it runs', () => {
  const independentForm = (calls: Calls, failRun?: string): ChainForm => {
    const form = fakeForm(calls);
    form.independentUndo = (op) => typeof op === 'string' && op.startsWith('rm ');
    form.run = (st) => {
      if (st.description === failRun) throw new Error('refused');
      calls.run.push(st.description);
    };
    return form;
  };
  const recorder = (log: string[][]) => ({
    intend: (steps: readonly StepIntent[]) => void log.push(steps.map((st) => st.description)),
    done: () => undefined,
    releasing: () => undefined,
  });
  const plan = (steps: PlannedStep[]) => ({ steps }) as unknown as Parameters<typeof executeSteps>[0];
  const steps = [
    step('load a', ['rm a']),
    step('load b', ['rm b']),
    step('point root', []),
    step('attach', ['detach'], 'commit'),
    step('record', ['rm rec', 'restore meta'], 'commit'),
    step('load c', ['rm c'], 'commit'),
    step('load d', ['rm d'], 'commit'),
  ];

  test('a run of steps whose undo is independent is announced at once; any other step alone, just before it runs', () => {
    const calls: Calls = { undo: [], run: [] };
    const log: string[][] = [];
    executeSteps(plan(steps), { form: independentForm(calls), run: { pinRoot: '/pins', now: () => new Date(0), objects: new ObjectFiles() }, recorder: recorder(log), emit: () => undefined });
    assert.deepEqual(log, [['load a', 'load b', 'point root'], ['attach'], ['record'], ['load c', 'load d']]);
    assert.deepEqual(calls.run, steps.map((st) => st.description));
  });

  test('a failure rolls back only the steps that started, not the ones merely announced', () => {
    const calls: Calls = { undo: [], run: [] };
    const log: string[][] = [];
    assert.throws(
      () => executeSteps(plan(steps), { form: independentForm(calls, 'load b'), run: { pinRoot: '/pins', now: () => new Date(0), objects: new ObjectFiles() }, recorder: recorder(log), emit: () => undefined }),
      /refused/,
    );
    assert.deepEqual(log, [['load a', 'load b', 'point root']]);
    assert.deepEqual(calls.undo, ['rm b', 'rm a']);
  });
});
