/**
 * The built-in function library through manifest resolution, on the real objects of
 * bpf/build (read with the real readObjectInfo; no kernel): chains use built-ins by name
 * with no KernelFunction; repository functions add versions; a different object under a
 * built-in's name@version is refused unless `shadowsBuiltin: true`; a byte-identical one
 * is the built-in; chain-instance sha256 pins hold for both; a missing built-in object is
 * one error at the reference; listFunctions reports BTF-typed parameters and counters.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import { sha256Hex } from '../../src/core/digest.js';
import { readObjectFile } from '../../src/core/objects.js';
import { readObjectInfo } from '../../src/libbpf/index.js';
import { builtinFunctions, LIBRARY_DIR } from '../../src/library/index.js';
import { listFunctions, loadDesiredState } from '../../src/manifest/index.js';
import { BPF_BUILD } from '../helpers/paths.js';

const objects = ['blocklist', 'allowlist', 'counter', 'flowstats', 'mirror'];
const skip = objects.some((o) => !fs.existsSync(path.join(BPF_BUILD, `${o}.bpf.o`))) ? 'bpf/build is not built (npm run build)' : false;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-library-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A manifest directory of its own (outside any git work tree: it is its own root). */
function repo(files: Record<string, string>, objs: Record<string, string> = {}): string {
  const dir = path.join(tmp, `r${++n}`);
  fs.mkdirSync(path.join(dir, 'objects'), { recursive: true });
  for (const [name, from] of Object.entries(objs)) fs.copyFileSync(path.join(BPF_BUILD, from), path.join(dir, 'objects', name));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

const chain = (fns: string): string => `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: edge }
spec:
  hook: xdp
  interfaces: [eth0]
  functions:
${fns}`;

const kernelFunction = (name: string, version: string, object: string, program: string, extra = ''): string => `---
apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: ${name} }
spec:
  version: ${version}
  object: objects/${object}
  program: ${program}
  hooks: [xdp, tc-ingress, tc-egress]
${extra}`;

const deps = (builtins = builtinFunctions()) => ({ readObjectInfo, builtins });

function errorsOf(fn: () => unknown): KfnError[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KfnError, `expected a KfnError, got ${String(e)}`);
    return e instanceof KfnErrors ? e.errors : [e];
  }
  assert.fail('expected an error');
}

const sha = (o: string): string => sha256Hex(readObjectFile(path.join(BPF_BUILD, `${o}.bpf.o`)));

describe('built-in function library', { skip }, () => {
  test('the catalog names objects of this installation that exist, one per name@version', () => {
    const all = builtinFunctions();
    assert.equal(path.resolve(LIBRARY_DIR), path.resolve(BPF_BUILD));
    assert.deepEqual(all.map((f) => f.name).sort(), ['allowlist', 'blocklist', 'connlimit', 'counter', 'flowstats', 'mirror', 'ratelimit']);
    for (const f of all) assert.ok(fs.statSync(f.objectPath).isFile(), f.objectPath);
    assert.equal(new Set(all.map((f) => `${f.name}@${f.version}`)).size, all.length);
  });

  test('a chain of built-ins resolves with no KernelFunction: objects from the installation, parameters from BTF', () => {
    const dir = repo({
      'chain.yaml': chain(`    - function: blocklist@1.0.0
      maps: { blocked_v4: { "198.18.0.3/32": 1 } }
    - function: flowstats
    - name: tail
      function: counter
`),
    });
    const d = loadDesiredState(dir, deps());
    const [blk, fs1, tail] = d.chains[0]!.instances;
    assert.deepEqual(
      [blk, fs1, tail].map((i) => [i!.name, i!.identity.function, i!.identity.version, i!.identity.program, i!.identity.sha256, i!.objectPath]),
      [
        ['blocklist', 'blocklist', '1.0.0', 'blocklist_xdp', sha('blocklist'), path.join(BPF_BUILD, 'blocklist.bpf.o')],
        ['flowstats', 'flowstats', '1.0.0', 'flowstats_xdp', sha('flowstats'), path.join(BPF_BUILD, 'flowstats.bpf.o')],
        ['tail', 'counter', '1.0.0', 'counter_xdp', sha('counter'), path.join(BPF_BUILD, 'counter.bpf.o')],
      ],
    );
    assert.deepEqual(Object.keys(blk!.maps).sort(), ['blocked_v4', 'blocked_v6']);
    assert.equal(blk!.maps.blocked_v4!.entries[0]!.keyText, '198.18.0.3/32');
  });

  test("the built-in connlimit carries its tracepoint program as a companion; examples/functions/connlimit.yaml is the same function", { skip: fs.existsSync(path.join(BPF_BUILD, 'connlimit.bpf.o')) ? false : 'connlimit.bpf.o not built' }, () => {
    const use = chain('    - function: connlimit\n      maps: { limits: { "443": 100 } }\n');
    const builtin = loadDesiredState(repo({ 'chain.yaml': use }), deps()).chains[0]!.instances[0]!;
    const companions = [{ program: 'connlimit_sock', attach: { kind: 'tracepoint', tracepoint: 'sock/inet_sock_set_state' } }];
    assert.deepEqual([builtin.identity.program, builtin.identity.companions], ['connlimit_xdp', companions]);
    const example = fs.readFileSync(new URL('../../examples/functions/connlimit.yaml', import.meta.url), 'utf8').replace('../../bpf/build/', 'objects/');
    const vendored = loadDesiredState(repo({ 'chain.yaml': use, 'connlimit.yaml': example }, { 'connlimit.bpf.o': 'connlimit.bpf.o' }), deps()).chains[0]!.instances[0]!;
    assert.deepEqual(vendored.identity, builtin.identity, 'the example and the built-in are one identity');
  });

  test('without builtins in the deps nothing is built in (the old resolution, unchanged)', () => {
    const dir = repo({ 'chain.yaml': chain('    - function: counter\n') });
    const errs = errorsOf(() => loadDesiredState(dir, { readObjectInfo }));
    assert.deepEqual(
      errs.map((e) => [e.code, e.hint]),
      [['FUNCTION_NOT_FOUND', 'no KernelFunction manifest was loaded']],
    );
  });

  test('an unknown name lists the built-ins and the repository functions', () => {
    const dir = repo({ 'chain.yaml': chain('    - function: nosuch\n') + kernelFunction('mine', '1.0.0', 'c.bpf.o', 'counter') }, { 'c.bpf.o': 'counter.bpf.o' });
    const errs = errorsOf(() => loadDesiredState(dir, deps()));
    assert.equal(errs.length, 1);
    assert.equal(errs[0]!.code, 'FUNCTION_NOT_FOUND');
    assert.match(errs[0]!.message, /chain\.yaml:8:\d+: chain "edge" function "nosuch": no function "nosuch": kfn has no built-in of that name and no KernelFunction defines it$/);
    assert.equal(
      errs[0]!.hint,
      'built-in functions: allowlist@1.0.0, blocklist@1.0.0, connlimit@1.0.0, counter@1.0.0, flowstats@1.0.0, mirror@1.0.0, ratelimit@1.0.0; defined by KernelFunctions: mine@1.0.0',
    );
  });

  test('repository versions add to a built-in name: unversioned is ambiguous, each version resolves to its own object', () => {
    const funcs = kernelFunction('counter', '2.0.0', 'c2.bpf.o', 'counter');
    const both = repo({ 'chain.yaml': chain('    - { name: a, function: counter@1.0.0 }\n    - { name: b, function: counter@2.0.0 }\n') + funcs }, { 'c2.bpf.o': 'counter_v2.bpf.o' });
    const d = loadDesiredState(both, deps());
    assert.deepEqual(
      d.chains[0]!.instances.map((i) => [i.identity.version, i.identity.sha256]),
      [
        ['1.0.0', sha('counter')],
        ['2.0.0', sha('counter_v2')],
      ],
    );
    const bare = repo({ 'chain.yaml': chain('    - function: counter\n') + funcs }, { 'c2.bpf.o': 'counter_v2.bpf.o' });
    const errs = errorsOf(() => loadDesiredState(bare, deps()));
    assert.deepEqual(
      errs.map((e) => [e.code, e.message.replace(/^.*?: chain/, 'chain'), e.hint]),
      [['FUNCTION_AMBIGUOUS', 'chain "edge" function "counter": "counter" is defined in 2 versions (1.0.0 built in, 2.0.0)', 'say which one, e.g. "counter@2.0.0"']],
    );
  });

  test("a KernelFunction with a built-in's name@version and the same object is the built-in (vendored)", () => {
    const dir = repo({ 'chain.yaml': chain('    - function: counter\n') + kernelFunction('counter', '1.0.0', 'counter.bpf.o', 'counter') }, { 'counter.bpf.o': 'counter.bpf.o' });
    const d = loadDesiredState(dir, deps());
    const i = d.chains[0]!.instances[0]!;
    assert.equal(i.identity.sha256, sha('counter'));
    assert.equal(i.objectPath, fs.realpathSync(path.join(dir, 'objects', 'counter.bpf.o')));
  });

  test("another object under a built-in's name@version is refused, unless shadowsBuiltin: true", () => {
    const files = (extra: string) => ({ 'chain.yaml': chain('    - function: counter@1.0.0\n') + kernelFunction('counter', '1.0.0', 'c.bpf.o', 'counter', extra) });
    const objs = { 'c.bpf.o': 'counter_v2.bpf.o' };
    const errs = errorsOf(() => loadDesiredState(repo(files(''), objs), deps()));
    assert.deepEqual(
      errs.map((e) => e.code),
      ['FUNCTION_SHADOWS_BUILTIN'],
    );
    assert.match(errs[0]!.message, /chain\.yaml:12:\d+: KernelFunction "counter@1\.0\.0" has the name and version of a built-in function with another object \(/);
    assert.match(errs[0]!.hint!, /set spec\.shadowsBuiltin: true/);

    const d = loadDesiredState(repo(files('  shadowsBuiltin: true\n'), objs), deps());
    assert.equal(d.chains[0]!.instances[0]!.identity.sha256, sha('counter_v2'));
  });

  test('a chain-instance sha256 pin holds for a built-in and for a repository function', () => {
    const ok = repo({
      'chain.yaml': chain(`    - function: blocklist@1.0.0
      sha256: "${sha('blocklist').toUpperCase()}"
    - function: mine
      sha256: "${sha('counter')}"
`) + kernelFunction('mine', '1.0.0', 'c.bpf.o', 'counter'),
    }, { 'c.bpf.o': 'counter.bpf.o' });
    assert.equal(loadDesiredState(ok, deps()).chains[0]!.instances.length, 2);

    const zeros = '0'.repeat(64);
    const bad = repo({
      'chain.yaml': chain(`    - function: blocklist@1.0.0
      sha256: "${zeros}"
    - function: mine
      sha256: "${zeros}"
`) + kernelFunction('mine', '1.0.0', 'c.bpf.o', 'counter'),
    }, { 'c.bpf.o': 'counter.bpf.o' });
    const errs = errorsOf(() => loadDesiredState(bad, deps()));
    assert.deepEqual(
      errs.map((e) => [e.code, e.source?.line, e.message.replace(/^.*?: chain/, 'chain')]),
      [
        ['OBJECT_SHA256_MISMATCH', 9, `chain "edge" function "blocklist": the built-in blocklist@1.0.0 has sha256 ${sha('blocklist').slice(0, 12)}…, the chain pins 000000000000…`],
        ['OBJECT_SHA256_MISMATCH', 11, `chain "edge" function "mine": mine@1.0.0 has sha256 ${sha('counter').slice(0, 12)}…, the chain pins 000000000000…`],
      ],
    );
    assert.match(errs[0]!.hint!, new RegExp(`pin sha256: ${sha('blocklist')}$`));
  });

  test('a built-in on a hook it lacks, and a state map set from a manifest, are refused like any function', () => {
    const dir = repo({
      'chain.yaml': chain(`    - function: mirror
    - function: blocklist
      maps: { stats: { "0": { seen: 1 } } }
`),
    });
    const errs = errorsOf(() => loadDesiredState(dir, deps()));
    assert.deepEqual(
      errs.map((e) => [e.code, e.source?.line]),
      [
        ['HOOK_NOT_SUPPORTED_BY_FUNCTION', 8],
        ['MAP_NOT_FOUND', 10],
      ],
    );
    assert.match(errs[0]!.message, /the built-in mirror@1\.0\.0 does not support hook xdp \(hooks: tc-ingress, tc-egress\)$/);
  });

  test('a built-in whose object is missing from the installation: one error, at its first reference, naming the object', () => {
    const empty = path.join(tmp, 'no-objects');
    fs.mkdirSync(empty, { recursive: true });
    const dir = repo({ 'chain.yaml': chain('    - function: counter\n') });
    const errs = errorsOf(() => loadDesiredState(dir, deps(builtinFunctions(empty))));
    assert.deepEqual(
      errs.map((e) => [e.code, e.source?.line]),
      [['OBJECT_NOT_FOUND', 8]],
    );
    assert.match(errs[0]!.message, new RegExp(`built-in function "counter@1\\.0\\.0": its object ${path.join(empty, 'counter.bpf.o').replace(/[.]/g, '\\.')} is missing from this kfn installation$`));
  });

  test('listFunctions: built-ins with BTF-typed parameters and counters, plus the repository functions of a path', () => {
    const builtins = listFunctions(undefined, deps());
    const blk = builtins.find((f) => f.name === 'blocklist')!;
    assert.equal(blk.origin.kind, 'builtin');
    assert.deepEqual([...blk.parameters].sort(), ['blocked_v4', 'blocked_v6']);
    assert.deepEqual(blk.info!.maps.find((m) => m.name === 'stats')!.counters, [
      { kind: 'packets', field: 'seen' },
      { kind: 'drops', field: 'dropped_v4' },
      { kind: 'drops', field: 'dropped_v6' },
    ]);
    assert.deepEqual(builtins.find((f) => f.name === 'counter')!.info!.maps.find((m) => m.name === 'counts')!.counters, [{ kind: 'packets' }]);

    const dir = repo({ 'f.yaml': kernelFunction('counter', '2.0.0', 'c2.bpf.o', 'counter') }, { 'c2.bpf.o': 'counter_v2.bpf.o' });
    const withRepo = listFunctions(dir, deps());
    assert.deepEqual(
      withRepo.filter((f) => f.name === 'counter').map((f) => [f.version, f.origin.kind]),
      [
        ['1.0.0', 'builtin'],
        ['2.0.0', 'repository'],
      ],
    );
  });
});
