import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import type { BtfType } from '../../src/libbpf/btf-types.js';
import type { ObjectInfo } from '../../src/libbpf/object-info.js';
import { canonicalJson, sha256Hex } from '../../src/core/digest.js';
import { encodeGlobal, encodeMapEntry } from '../../src/values/index.js';
import { compareSemver, defaultRoot, loadDesiredState, loadManifests, manifestDigest, resolveDesired } from '../../src/manifest/index.js';

const FIX_ABS = fileURLToPath(new URL('../fixtures/manifests/', import.meta.url));
const FIX = path.relative(process.cwd(), FIX_ABS) || '.';
const fx = (p: string) => path.join(FIX, p);
const OBJ = (name: string) => path.join(FIX_ABS, 'objects', name);
const REPO = path.resolve(FIX_ABS, '../../..');

// ------------------------------------------------------------ fake objects

const u8: BtfType = { kind: 'int', name: 'unsigned char', size: 1, signed: false, bool: false, char: false };
const u32: BtfType = { kind: 'int', name: 'unsigned int', size: 4, signed: false, bool: false, char: false };
const lpmV4: BtfType = {
  kind: 'struct',
  name: 'kfn_lpm_v4',
  size: 8,
  members: [
    { name: 'prefixlen', offset: 0, type: u32 },
    { name: 'addr', offset: 4, type: { kind: 'array', elem: u8, length: 4 } },
  ],
};
const nextMap = { name: 'kfn_next', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 };
const SHA = (c: string) => c.repeat(64);

/** Fake objects by file name; everything a real readObjectInfo would return, without ELF. */
const OBJECTS: Record<string, Omit<ObjectInfo, 'path'>> = {
  'blocklist.bpf.o': {
    sha256: SHA('a'),
    programs: [
      { name: 'kfn_blocklist_xdp', section: 'xdp', kind: 'xdp' },
      { name: 'kfn_blocklist_tc', section: 'tc', kind: 'tc' },
      { name: 'helper', section: '.text', kind: 'other' },
    ],
    maps: [
      { name: 'blocked_v4', type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 4, key: lpmV4, value: u32, parameter: true },
      { name: 'jump', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 },
      nextMap,
    ],
    globals: [],
  },
  'ratelimit.bpf.o': {
    sha256: SHA('b'),
    programs: [
      { name: 'kfn_ratelimit', section: 'xdp', kind: 'xdp' },
      { name: 'kfn_ratelimit_tc', section: 'tc', kind: 'tc' },
    ],
    maps: [
      nextMap,
      {
        name: 'cfg',
        type: 'hash',
        keySize: 4,
        valueSize: 8,
        maxEntries: 8,
        parameter: true,
        key: u32,
        value: { kind: 'struct', name: 'rl_cfg', size: 8, members: [{ name: 'limit', offset: 0, type: u32 }, { name: 'burst', offset: 4, type: u32 }] },
      },
    ],
    globals: [
      { name: 'rate_pps', section: '.data', offset: 0, type: u32 },
      { name: 'rate_pps', section: '.rodata', offset: 0, type: u32 },
      { name: 'burst', section: '.rodata', offset: 4, type: u32 },
    ],
  },
  'ratelimit-2.bpf.o': {
    sha256: SHA('c'),
    programs: [{ name: 'kfn_ratelimit', section: 'xdp', kind: 'xdp' }],
    maps: [nextMap],
    globals: [],
  },
  'multi.bpf.o': {
    sha256: SHA('d'),
    programs: [
      { name: 'kfn_multi_xdp', section: 'xdp', kind: 'xdp' },
      { name: 'kfn_other', section: 'xdp', kind: 'xdp' },
      { name: 'kfn_multi', section: 'tc', kind: 'tc' },
    ],
    maps: [nextMap],
    globals: [],
  },
  'tconly.bpf.o': {
    sha256: SHA('e'),
    programs: [{ name: 'kfn_tconly', section: 'tc', kind: 'tc' }],
    maps: [nextMap],
    globals: [],
  },
};

const reads: string[] = [];
function fakeReadObjectInfo(p: string): ObjectInfo {
  reads.push(p);
  const o = OBJECTS[path.basename(p)];
  if (!o) throw new KfnError('OBJECT_INVALID', `${path.basename(p)}: not an ELF file`, { hint: 'rebuild it' });
  return { path: p, ...structuredClone(o) };
}

function errorsOf(fn: () => unknown): KfnError[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KfnError, `expected a KfnError, got ${String(e)}`);
    if (e instanceof KfnErrors) return e.errors;
    return [e];
  }
  assert.fail('expected an error');
}
const lines = (errs: KfnError[]) => errs.map((e) => `${e.code} ${e.message}`);
const resolveFx = (dir: string, root?: string) => loadDesiredState(fx(dir), { readObjectInfo: fakeReadObjectInfo, root });

beforeEach(() => {
  reads.length = 0;
});

const R = (p: string) => fx(`resolve/${p}`);

describe('resolveDesired: valid manifests', () => {
  test('resolves functions, programs per hook, typed map entries (sorted by key) and globals', () => {
    const d = resolveFx('resolve/ok');
    assert.equal(d.revision, undefined);
    assert.deepEqual(
      d.chains.map((c) => [c.name, c.hook, c.netns, c.interfaces, c.mode, c.position, c.source]),
      [
        ['edge', 'xdp', 'kfn-demo-a', ['veth-a', 'veth-*'], 'native', 'last', { file: R('ok/chains.yaml'), line: 3, column: 19 }],
        ['inner', 'tc-ingress', 'default', ['eth1'], 'native', 'first', { file: R('ok/chains.yaml'), line: 21, column: 19 }],
      ],
    );
    const [dropBad, limit] = d.chains[0]!.instances;
    const text = (k: string) => encodeMapEntry(OBJECTS['blocklist.bpf.o']!.maps[0]!, k, 1);
    // Every map of the object but the chaining slot is recorded by layout digest.
    const stateNames = OBJECTS['blocklist.bpf.o']!.maps.map((m) => m.name).filter((n) => n !== 'kfn_next');
    assert.deepEqual(Object.keys(dropBad!.stateMaps ?? {}).sort(), stateNames.sort());
    for (const digest of Object.values(dropBad!.stateMaps ?? {})) assert.match(digest, /^[0-9a-f]{64}$/);
    const { stateMaps: _state, ...dropBadRest } = dropBad!;
    assert.deepEqual(dropBadRest, {
      name: 'drop-bad',
      identity: { function: 'blocklist', version: '1.0.0', sha256: SHA('a'), program: 'kfn_blocklist_xdp', globals: {} },
      objectPath: OBJ('blocklist.bpf.o'),
      maps: {
        blocked_v4: {
          name: 'blocked_v4',
          entries: [
            // 10.0.0.0/8 before 198.18.0.3/32: sorted by hex key (prefixlen first, little-endian)
            // bytes as the kernel stores them; the texts are the values layer's rendering
            { key: '080000000a000000', value: '01000000', keyText: text('10.0.0.0/8').keyText, valueText: text('10.0.0.0/8').valueText },
            { key: '20000000c6120003', value: '01000000', keyText: text('198.18.0.3/32').keyText, valueText: text('198.18.0.3/32').valueText },
          ],
          source: { file: R('ok/chains.yaml'), line: 12, column: 9 },
        },
      },
      source: { file: R('ok/chains.yaml'), line: 9, column: 7 },
    });
    assert.deepEqual(limit!.identity, {
      function: 'ratelimit',
      version: '1.0.0',
      sha256: SHA('b'),
      program: 'kfn_ratelimit',
      // rate_pps exists in .data and .rodata: .rodata is preferred (same bytes here; the choice is in the type)
      globals: {
        rate_pps: { value: '10270000', valueText: encodeGlobal(OBJECTS['ratelimit.bpf.o']!.globals[1]!, 10000).valueText },
        burst: { value: 'd0070000', valueText: encodeGlobal(OBJECTS['ratelimit.bpf.o']!.globals[2]!, 2000).valueText },
      },
    });
    // the same object in another hook: the tc program of blocklist
    const inner = d.chains[1]!.instances[0]!;
    assert.equal(inner.name, 'blocklist', 'instance name defaults to the function name');
    assert.equal(inner.identity.program, 'kfn_blocklist_tc');
    // each object is read once, by its real path
    assert.deepEqual(reads, [OBJ('blocklist.bpf.o'), OBJ('ratelimit.bpf.o')]);
  });

  test('manifestDigest covers the resolved chains, not positions or checkout paths', () => {
    const a = resolveFx('resolve/ok');
    const b = loadDesiredState(path.join(FIX_ABS, 'resolve/ok'), { readObjectInfo: fakeReadObjectInfo });
    assert.notDeepEqual(a.chains[0]!.source, b.chains[0]!.source);
    assert.equal(a.manifestDigest, b.manifestDigest);
    assert.match(a.manifestDigest, /^[0-9a-f]{64}$/);
    assert.equal(a.manifestDigest, manifestDigest(a.chains));
    // any desired change changes it
    const changed = structuredClone(a.chains);
    changed[0]!.instances[0]!.maps.blocked_v4!.entries[0]!.value = '02000000';
    assert.notEqual(manifestDigest(changed), a.manifestDigest);
    const stripped = a.chains.map(({ source: _s, interfaceSources: _is, instances, ...c }) => ({
      ...c,
      instances: instances.map(({ source: _i, objectPath: _o, maps, ...i }) => ({
        ...i,
        maps: Object.fromEntries(Object.entries(maps).map(([k, { source: _m, ...m }]) => [k, m])),
      })),
    }));
    assert.equal(a.manifestDigest, sha256Hex(canonicalJson(stripped)));
  });

  test('a manifest directory of the valid fixtures resolves with the default root (the git repository)', () => {
    assert.equal(defaultRoot(fx('resolve/ok')), REPO);
    assert.equal(defaultRoot(fx('resolve/ok/chains.yaml')), REPO);
    const d = resolveDesired(loadManifests(fx('valid-dir')), { readObjectInfo: fakeReadObjectInfo });
    assert.deepEqual(
      d.chains[0]!.instances.map((i) => [i.name, i.identity.function, i.identity.program]),
      [
        ['blocklist', 'blocklist', 'kfn_blocklist_tc'],
        ['limit', 'ratelimit', 'kfn_ratelimit_tc'],
      ],
    );
  });

  test('program resolution: exact name, then NAME_xdp / NAME_tc, else the only program of the kind', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-manifest-prog-'));
    try {
      fs.copyFileSync(OBJ('multi.bpf.o'), path.join(dir, 'multi.bpf.o'));
      fs.writeFileSync(
        path.join(dir, 'm.yaml'),
        [
          'apiVersion: kfn.dev/v1alpha1',
          'kind: KernelFunction',
          'metadata: { name: multi }',
          'spec: { version: 2.0.0, object: multi.bpf.o, program: kfn_multi, hooks: [xdp, tc-egress] }',
          '---',
          'apiVersion: kfn.dev/v1alpha1',
          'kind: KernelFunction',
          'metadata: { name: other }',
          'spec: { version: 1.0.0, object: multi.bpf.o, program: kfn_other, hooks: [xdp] }',
          '---',
          'apiVersion: kfn.dev/v1alpha1',
          'kind: Chain',
          'metadata: { name: x }',
          'spec: { hook: xdp, interfaces: [eth0], functions: [{ function: multi }, { function: other }] }',
          '---',
          'apiVersion: kfn.dev/v1alpha1',
          'kind: Chain',
          'metadata: { name: t }',
          'spec: { hook: tc-egress, interfaces: [eth0], functions: [{ function: multi }] }',
          '',
        ].join('\n'),
      );
      const d = resolveDesired(loadManifests(dir), { readObjectInfo: fakeReadObjectInfo });
      assert.deepEqual(
        d.chains.map((c) => c.instances.map((i) => i.identity.program)),
        [['kfn_multi_xdp', 'kfn_other'], ['kfn_multi']],
      );
      assert.equal(reads.length, 1, 'one object file, read once');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('compareSemver orders versions as semver does', () => {
    assert.deepEqual(
      ['10.0.0', '9.0.0', '1.0.0', '1.0.0-rc.1', '1.0.0-alpha.2', '1.0.0-alpha.10', '1.0.0-alpha'].sort(compareSemver),
      ['1.0.0-alpha', '1.0.0-alpha.2', '1.0.0-alpha.10', '1.0.0-rc.1', '1.0.0', '9.0.0', '10.0.0'],
    );
  });
});

describe('resolveDesired: errors, all collected in one pass', () => {
  test('duplicates: KernelFunction name@version, Chain name, instance name', () => {
    assert.deepEqual(lines(errorsOf(() => resolveFx('resolve/duplicates'))), [
      `MANIFEST_DUPLICATE ${R('duplicates/functions.yaml')}:11:19: KernelFunction "blocklist@1.0.0" is defined twice (first at ${R('duplicates/functions.yaml')}:3:19)`,
      `MANIFEST_DUPLICATE ${R('duplicates/chains.yaml')}:9:13: chain "edge": instance name "blocklist" is used twice (first at ${R('duplicates/chains.yaml')}:8:17)`,
      `MANIFEST_DUPLICATE ${R('duplicates/chains.yaml')}:14:19: Chain "edge" is defined twice (first at ${R('duplicates/chains.yaml')}:3:19)`,
    ]);
  });

  test('function references and hooks', () => {
    const errs = errorsOf(() => resolveFx('resolve/refs'));
    assert.deepEqual(lines(errs), [
      `FUNCTION_NOT_FOUND ${R('refs/chain.yaml')}:8:17: chain "edge" function "nosuch": no KernelFunction "nosuch" is defined`,
      `FUNCTION_AMBIGUOUS ${R('refs/chain.yaml')}:9:17: chain "edge" function "ratelimit": "ratelimit" is defined in 2 versions (1.0.0, 2.0.0)`,
      `FUNCTION_VERSION_NOT_FOUND ${R('refs/chain.yaml')}:11:17: chain "edge" function "rl3": "ratelimit" has no version 3.0.0`,
      `HOOK_NOT_SUPPORTED_BY_FUNCTION ${R('refs/chain.yaml')}:13:17: chain "edge" function "bl": blocklist@1.0.0 does not support hook tc-egress (hooks: xdp, tc-ingress)`,
      `HOOK_NOT_SUPPORTED_BY_FUNCTION ${R('refs/chain.yaml')}:15:17: chain "edge" function "rl": ratelimit@2.0.0 does not support hook tc-egress (hooks: xdp)`,
    ]);
    assert.equal(errs[0]!.hint, 'defined functions: blocklist@1.0.0, ratelimit@1.0.0, ratelimit@2.0.0');
    assert.equal(errs[1]!.hint, 'say which one, e.g. "ratelimit@2.0.0"');
    assert.equal(errs[2]!.hint, 'defined versions of ratelimit: 1.0.0, 2.0.0');
  });

  test('objects and programs: missing, sha256 pin, unreadable, no program, ambiguous program', () => {
    const errs = errorsOf(() => resolveFx('resolve/functions-bad'));
    const f = R('functions-bad/functions.yaml');
    assert.deepEqual(lines(errs), [
      `OBJECT_NOT_FOUND ${f}:6:11: function "missing@1.0.0": object ../../objects/missing.bpf.o not found (looked for ${OBJ('missing.bpf.o')})`,
      `OBJECT_SHA256_MISMATCH ${f}:15:11: function "pinned@1.0.0": object ../../objects/blocklist.bpf.o has sha256 aaaaaaaaaaaa…, the manifest pins 0123456789ab…`,
      `OBJECT_INVALID ${f}:23:11: function "garbage@1.0.0": garbage.bpf.o: not an ELF file`,
      `PROGRAM_NOT_FOUND ${f}:32:10: function "tconly@1.0.0": no xdp program in ../../objects/tconly.bpf.o (programs: kfn_tconly (tc))`,
      `PROGRAM_NOT_FOUND ${f}:40:12: function "misnamed@1.0.0": no xdp program named "kfn_blocklst" or "kfn_blocklst_xdp" in ../../objects/blocklist.bpf.o (programs: kfn_blocklist_xdp (xdp), kfn_blocklist_tc (tc), helper (other))`,
      `PROGRAM_AMBIGUOUS ${f}:45:19: function "multi@1.0.0": 2 xdp programs in ../../objects/multi.bpf.o (kfn_multi_xdp, kfn_other)`,
      `OBJECT_NOT_FOUND ${f}:65:11: function "dir@1.0.0": object ../../objects is not a regular file (${path.join(FIX_ABS, 'objects')})`,
    ]);
    // the full digest is in the hint, to update the pin on purpose
    assert.match(errs[1]!.hint!, new RegExp(`spec\\.sha256: ${SHA('a')}$`));
    // readObjectInfo's own error kept its code and hint, and got the manifest position
    assert.equal(errs[2]!.hint, 'rebuild it');
    // the chain's references to broken functions add no noise (their error is reported once)
    assert.ok(errs.every((e) => e.source?.file === f));
    // blocklist.bpf.o used by two functions: read once
    assert.equal(reads.filter((r) => r.endsWith('blocklist.bpf.o')).length, 1);
  });

  test('objects outside the root are refused (lexically, and for a missing absolute path)', () => {
    const root = path.join(FIX_ABS, 'resolve/outside-root');
    const f = R('outside-root/function.yaml');
    assert.deepEqual(lines(errorsOf(() => resolveFx('resolve/outside-root', root))), [
      `OBJECT_OUTSIDE_ROOT ${f}:6:11: function "blocklist@1.0.0": object ../../objects/blocklist.bpf.o resolves to ${OBJ('blocklist.bpf.o')}, outside the root ${root}`,
      `OBJECT_OUTSIDE_ROOT ${f}:14:11: function "absolute@1.0.0": object /nonexistent/kfn/absolute.bpf.o resolves to /nonexistent/kfn/absolute.bpf.o, outside the root ${root}`,
    ]);
    assert.deepEqual(reads, [], 'nothing outside the root is read');
  });

  test('a symlink escaping the root is refused; one staying inside is followed', () => {
    const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-manifest-link-')));
    try {
      const m = path.join(base, 'manifests');
      fs.mkdirSync(path.join(m, 'objs'), { recursive: true });
      fs.mkdirSync(path.join(base, 'outside'));
      fs.copyFileSync(OBJ('blocklist.bpf.o'), path.join(base, 'outside', 'blocklist.bpf.o'));
      fs.copyFileSync(OBJ('ratelimit.bpf.o'), path.join(m, 'objs', 'ratelimit.bpf.o'));
      fs.symlinkSync('../outside/blocklist.bpf.o', path.join(m, 'escape.bpf.o'));
      fs.symlinkSync('objs/ratelimit.bpf.o', path.join(m, 'inside.bpf.o'));
      const fn = (name: string, obj: string) =>
        `apiVersion: kfn.dev/v1alpha1\nkind: KernelFunction\nmetadata: { name: ${name} }\nspec:\n  version: 1.0.0\n  object: ${obj}\n  hooks: [xdp]\n`;
      fs.writeFileSync(path.join(m, 'a.yaml'), fn('escape', 'escape.bpf.o'));
      fs.writeFileSync(path.join(m, 'b.yaml'), fn('inside', 'inside.bpf.o'));
      // no .git above a temp directory: the root is the manifest directory itself
      assert.equal(defaultRoot(m), m);
      const errs = errorsOf(() => loadDesiredState(m, { readObjectInfo: fakeReadObjectInfo }));
      assert.deepEqual(lines(errs), [
        `OBJECT_OUTSIDE_ROOT ${path.join(m, 'a.yaml')}:6:11: function "escape@1.0.0": object escape.bpf.o resolves to ${path.join(base, 'outside', 'blocklist.bpf.o')}, outside the root ${m}`,
      ]);
      assert.deepEqual(reads, [path.join(m, 'objs', 'ratelimit.bpf.o')], 'the inside symlink is read by its real path');
      // with a wider root both are fine
      fs.writeFileSync(
        path.join(m, 'c.yaml'),
        'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: e }\nspec: { hook: xdp, interfaces: [eth0], functions: [{ function: escape }, { function: inside }] }\n',
      );
      const d = loadDesiredState(m, { readObjectInfo: fakeReadObjectInfo, root: base });
      assert.deepEqual(
        d.chains[0]!.instances.map((i) => i.objectPath),
        [path.join(base, 'outside', 'blocklist.bpf.o'), path.join(m, 'objs', 'ratelimit.bpf.o')],
      );
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  test('maps and globals: unknown map, non-parameter maps, too many entries, bad values, duplicate keys, unknown global', () => {
    const errs = errorsOf(() => resolveFx('resolve/values-bad'));
    const c = R('values-bad/chain.yaml');
    assert.deepEqual(lines(errs), [
      `VALUE_INVALID ${c}:13:11: chain "edge" function "drop-bad": blocked_v4["198.18.0.300/32"]: expected IPv4 prefix (a.b.c.d/len), got "198.18.0.300/32"`,
      `VALUE_DUPLICATE_KEY ${c}:14:11: chain "edge" function "drop-bad": blocked_v4["198.18.0.3/32"] is the same key as "198.18.0.3"`,
      `VALUE_INVALID ${c}:15:28: chain "edge" function "drop-bad": blocked_v4["198.18.0.0/24"]: expected u32 (0..4294967295), got -1`,
      `MAP_NOT_FOUND ${c}:16:9: chain "edge" function "drop-bad": blocklist@1.0.0 has no map "blocked_v9"`,
      `MAP_NOT_FOUND ${c}:17:9: chain "edge" function "drop-bad": "kfn_next" is kfn's chaining map and cannot be set`,
      `MAP_NOT_FOUND ${c}:18:9: chain "edge" function "drop-bad": "jump" is a prog_array map, not a parameter map`,
      `MAP_TOO_MANY_ENTRIES ${c}:22:9: chain "edge" function "too-many": blocked_v4 has 5 entries, the map holds at most 4`,
      `VALUE_INVALID ${c}:28:35: chain "edge" function "limit": cfg["1"].burst: expected u32 (0..4294967295), got -1`,
      `VALUE_INVALID ${c}:29:11: chain "edge" function "limit": cfg["x"]: expected u32 (0..4294967295), got "x"`,
      `VALUE_INVALID ${c}:32:20: chain "edge" function "limit": cfg["2"].burst: expected u32 (0..4294967295), got 1.5`,
      `VALUE_INVALID ${c}:25:28: chain "edge" function "limit": rate_pps: expected u32 (0..4294967295), got -5`,
      `GLOBAL_NOT_FOUND ${c}:25:32: chain "edge" function "limit": ratelimit@1.0.0 has no global "brust"`,
    ]);
    const byMsg = (s: string) => errs.find((e) => e.message.includes(s))!;
    assert.equal(byMsg('blocked_v9').hint, 'did you mean "blocked_v4"? parameter maps of blocklist@1.0.0: blocked_v4 (lpm_trie)');
    assert.equal(byMsg('"brust"').hint, 'did you mean "burst"? globals of ratelimit@1.0.0: rate_pps (.data), rate_pps (.rodata), burst (.rodata)');
    assert.match(byMsg('same key').hint!, new RegExp(`first at ${c.replace(/[.]/g, '\\.')}:12:11`));
  });

  test('chains claiming the same interface name on the same netns and hook conflict', () => {
    const c = R('conflict/chains.yaml');
    assert.deepEqual(lines(errorsOf(() => resolveFx('resolve/conflict'))), [
      `CHAIN_CONFLICT ${c}:23:16: chain "b": interface "veth-*" (netns default, hook xdp) is also claimed by chain "a" at ${c}:14:22`,
    ]);
  });

  test('errors of load and resolve never escape as raw exceptions for a readObjectInfo that throws anything', () => {
    const errs = errorsOf(() =>
      loadDesiredState(fx('resolve/ok'), {
        readObjectInfo: () => {
          throw new TypeError('boom\nsecond line');
        },
      }),
    );
    assert.deepEqual(
      errs.map((e) => [e.code, e.message]),
      [
        ['OBJECT_INVALID', `${R('ok/functions.yaml')}:6:11: function "blocklist@1.0.0": cannot read object ../../objects/blocklist.bpf.o: boom`],
        ['OBJECT_INVALID', `${R('ok/functions.yaml')}:15:11: function "ratelimit@1.0.0": cannot read object ../../objects/ratelimit.bpf.o: boom`],
      ],
    );
  });
});
