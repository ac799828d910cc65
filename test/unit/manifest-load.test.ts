import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import { loadManifests, MAX_MANIFEST_BYTES } from '../../src/manifest/load.js';
import { SCHEMA_DIR } from '../../src/manifest/schema.js';

const FIX_ABS = fileURLToPath(new URL('../fixtures/manifests/', import.meta.url));
/** Fixture paths as a user would type them (relative to cwd), so messages are predictable. */
const FIX = path.relative(process.cwd(), FIX_ABS) || '.';
const fx = (p: string) => path.join(FIX, p);

/** Every KfnError thrown by fn (the members of a KfnErrors, or the single one). */
function errorsOf(fn: () => unknown): KfnError[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KfnError, `expected a KfnError, got ${String(e)}`);
    if (e instanceof KfnErrors) {
      assert.ok(e.errors.length > 1, 'KfnErrors is only for several errors');
      return e.errors;
    }
    return [e];
  }
  assert.fail('expected an error');
}

/** `CODE file:line:col: message` lines, the way the CLI shows them. */
const lines = (errs: KfnError[]) => errs.map((e) => `${e.code} ${e.message}`);

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-manifest-load-'));
}

describe('loadManifests: valid input', () => {
  test('one file with several documents (and an empty one)', () => {
    const l = loadManifests(fx('valid-multidoc.yaml'));
    assert.equal(l.target, path.resolve(fx('valid-multidoc.yaml')));
    assert.deepEqual(l.files, [fx('valid-multidoc.yaml')]);
    assert.deepEqual(
      l.documents.map((d) => [d.kind, d.data.metadata.name, d.index]),
      [
        ['KernelFunction', 'blocklist', 0],
        ['KernelFunction', 'ratelimit', 2],
        ['Chain', 'edge', 3],
      ],
    );
    assert.equal(l.functions.length, 2);
    assert.equal(l.chains.length, 1);
    const fn = l.functions[1]!;
    assert.equal(fn.data.spec.version, '2.1.0-rc.1');
    assert.equal(fn.data.spec.program, 'kfn_ratelimit');
    assert.equal(fn.absFile, path.resolve(fx('valid-multidoc.yaml')));
    assert.deepEqual(fn.source, { file: fx('valid-multidoc.yaml'), line: 14, column: 9 });

    const chain = l.chains[0]!;
    assert.deepEqual(chain.data.spec.interfaces, ['veth-a', 'veth-*']);
    assert.equal(chain.data.spec.netns, 'kfn-demo-a');
    assert.equal(chain.data.spec.mode, 'generic');
    // u64 beyond 2^53 stays exact (bigint); small integers are plain numbers
    assert.deepEqual(chain.data.spec.functions[1]!.globals, { rate_pps: 18446744073709551615n, burst: 2000 });
  });

  test('locate() gives the position of any path, keys on request, nearest ancestor otherwise', () => {
    const chain = loadManifests(fx('valid-multidoc.yaml')).chains[0]!;
    const f = fx('valid-multidoc.yaml');
    assert.deepEqual(chain.locate(['spec', 'functions', 1, 'globals', 'burst']), { file: f, line: 33, column: 57 });
    assert.deepEqual(chain.locate(['spec', 'functions', 1, 'globals', 'burst'], { key: true }), { file: f, line: 33, column: 50 });
    assert.deepEqual(chain.locate(['spec', 'interfaces', 1]), { file: f, line: 27, column: 26 });
    assert.deepEqual(chain.locate(['spec', 'functions', 0]), { file: f, line: 30, column: 7 });
    // absent path: deepest existing ancestor
    assert.deepEqual(chain.locate(['spec', 'functions', 0, 'maps', 'nope']), { file: f, line: 30, column: 7 });
    assert.deepEqual(chain.locate(['spec', 'position'], { key: true }), { file: f, line: 24, column: 1 });
  });

  test('a directory is read recursively in sorted order; dotfiles and other extensions ignored', () => {
    const l = loadManifests(fx('valid-dir'));
    assert.deepEqual(l.files, [
      fx('valid-dir/a-first.yaml'),
      fx('valid-dir/chains/edge.yaml'),
      fx('valid-dir/functions/blocklist.yaml'),
      fx('valid-dir/functions/ratelimit.yml'),
    ]);
    assert.deepEqual(
      l.documents.map((d) => `${d.kind}/${d.data.metadata.name}`),
      ['Chain/edge', 'KernelFunction/blocklist', 'KernelFunction/ratelimit'],
    );
    assert.equal(l.chains[0]!.data.spec.position, 'first');
    assert.deepEqual(l.chains[0]!.source, { file: fx('valid-dir/chains/edge.yaml'), line: 3, column: 19 });
  });

  test('schemas are loaded from the schemas/ directory of the installation', () => {
    assert.ok(fs.existsSync(path.join(SCHEMA_DIR, 'chain.schema.json')));
    assert.ok(fs.existsSync(path.join(SCHEMA_DIR, 'kernelfunction.schema.json')));
    for (const f of ['chain.schema.json', 'kernelfunction.schema.json']) {
      const s = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, f), 'utf8')) as { $schema: string };
      assert.match(s.$schema, /json-schema\.org\/draft-07/);
    }
  });
});

describe('loadManifests: errors carry code, file:line:column and a one-line message', () => {
  const cases: [string, string[]][] = [
    ['yaml-syntax.yaml', ['MANIFEST_YAML load-errors/yaml-syntax.yaml:7:3: Flow sequence in block collection must be sufficiently indented and end with a ]']],
    ['duplicate-key.yaml', ['MANIFEST_YAML load-errors/duplicate-key.yaml:7:3: duplicate key "hook" (first at line 5)']],
    // 1 and "1" are the same key once loaded: refused rather than one silently dropped
    ['duplicate-key-types.yaml', ['MANIFEST_YAML load-errors/duplicate-key-types.yaml:10:22: duplicate key "1" (first at line 10)']],
    ['unknown-kind.yaml', ['MANIFEST_KIND load-errors/unknown-kind.yaml:2:7: kind: unknown kind "Chian" (expected KernelFunction or Chain or Probe)']],
    ['api-version.yaml', ['MANIFEST_API_VERSION load-errors/api-version.yaml:1:13: apiVersion: unsupported "kfn.dev/v1" (expected kfn.dev/v1alpha1)']],
    [
      'unknown-field.yaml',
      ['MANIFEST_SCHEMA load-errors/unknown-field.yaml:11:7: spec.functions[1].mapz: unknown field (allowed: name, function, sha256, maps, mergeMaps, globals, proceedOn)'],
    ],
    ['mode-on-tc.yaml', ["FIELD_NOT_APPLICABLE load-errors/mode-on-tc.yaml:7:3: spec.mode: only applies to hook xdp (this chain's hook is tc-egress)"]],
    ['position-on-xdp.yaml', ["FIELD_NOT_APPLICABLE load-errors/position-on-xdp.yaml:9:3: spec.position: only applies to tc hooks (this chain's hook is xdp)"]],
    ['not-mapping.yaml', ['MANIFEST_SCHEMA load-errors/not-mapping.yaml:1:1: a manifest document must be a mapping, got a sequence']],
    [
      'kernelfunction-schema.yaml',
      [
        'MANIFEST_SCHEMA load-errors/kernelfunction-schema.yaml:5:12: spec.version: expected string, got number',
        'MANIFEST_SCHEMA load-errors/kernelfunction-schema.yaml:7:11: spec.sha256: invalid value "abc" (expected 64 hex digits)',
        'MANIFEST_SCHEMA load-errors/kernelfunction-schema.yaml:8:10: spec.hooks: must have at least 1 item',
      ],
    ],
    [
      'schema-many.yaml',
      [
        "MANIFEST_SCHEMA load-errors/schema-many.yaml:3:19: metadata.name: invalid value \"Edge\" (expected 1-63 lower-case letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
        'MANIFEST_SCHEMA load-errors/schema-many.yaml:5:9: spec.hook: "xpd" is not one of xdp, tc-ingress, tc-egress',
        'MANIFEST_SCHEMA load-errors/schema-many.yaml:6:16: spec.interfaces[0]: invalid value "eth0;reboot" (expected an interface name or glob: 1-15 letters, digits or . _ @ + - * ?)',
        'MANIFEST_SCHEMA load-errors/schema-many.yaml:6:37: spec.interfaces[2]: duplicate of spec.interfaces[1] ("eth1")',
        'MANIFEST_SCHEMA load-errors/schema-many.yaml:6:43: spec.interfaces[3]: invalid value "ünïcode" (expected an interface name or glob: 1-15 letters, digits or . _ @ + - * ?)',
        "MANIFEST_SCHEMA load-errors/schema-many.yaml:7:10: spec.netns: invalid value \"a/b\" (expected 1-64 letters, digits, '.', '_' or '-')",
        'MANIFEST_SCHEMA load-errors/schema-many.yaml:9:7: spec.functions[0].function: required field missing',
        'MANIFEST_SCHEMA load-errors/schema-many.yaml:10:17: spec.functions[1].function: invalid value "blocklist@1.0" (expected a KernelFunction name, optionally with @version (blocklist or blocklist@1.2.0))',
        "MANIFEST_SCHEMA load-errors/schema-many.yaml:12:9: spec.functions[1].maps[\"bad-name\"]: invalid name \"bad-name\" (expected a C identifier: letters, digits and '_')",
        'MANIFEST_SCHEMA load-errors/schema-many.yaml:13:13: spec.functions[1].maps.ok: expected object, got number',
      ],
    ],
  ];
  for (const [file, expected] of cases) {
    test(file, () => {
      const errs = errorsOf(() => loadManifests(fx(`load-errors/${file}`)));
      assert.deepEqual(
        lines(errs),
        expected.map((l) => l.replace(' load-errors/', ` ${fx('load-errors')}/`)),
      );
      for (const e of errs) {
        assert.ok(!e.message.includes('\n'), 'one-line message');
        assert.ok(e.hint && e.hint.length > 0, 'every error has a hint');
        assert.equal(e.source?.file, fx(`load-errors/${file}`));
      }
    });
  }

  test('hints suggest the closest spelling', () => {
    assert.equal(errorsOf(() => loadManifests(fx('load-errors/unknown-field.yaml')))[0]!.hint, 'did you mean "maps"?');
    assert.equal(errorsOf(() => loadManifests(fx('load-errors/unknown-kind.yaml')))[0]!.hint, 'did you mean "Chain"?');
    assert.equal(
      errorsOf(() => loadManifests(fx('load-errors/kernelfunction-schema.yaml')))[0]!.hint,
      'quote the value so YAML reads it as a string',
    );
  });

  test('errors of all files of a directory are collected, in file order', () => {
    const errs = errorsOf(() => loadManifests(fx('multi-file')));
    assert.deepEqual(lines(errs), [
      `MANIFEST_SCHEMA ${fx('multi-file/a.yaml')}:8:12: spec.program: invalid value "7up" (expected a C identifier: letters, digits and '_')`,
      `MANIFEST_API_VERSION ${fx('multi-file/a.yaml')}:10:13: apiVersion: unsupported "kfn.dev/v2" (expected kfn.dev/v1alpha1)`,
      `MANIFEST_SCHEMA ${fx('multi-file/sub/b.yml')}:7:14: spec.functions: must have at least 1 item`,
    ]);
  });

  test('a directory without manifests: MANIFEST_EMPTY', () => {
    const [e] = errorsOf(() => loadManifests(fx('empty-dir')));
    assert.equal(e!.code, 'MANIFEST_EMPTY');
    assert.equal(e!.message, `${fx('empty-dir')}: no manifests found`);
  });

  test('a file without documents: MANIFEST_EMPTY', () => {
    const [e] = errorsOf(() => loadManifests(fx('comments-only.yaml')));
    assert.equal(e!.code, 'MANIFEST_EMPTY');
    assert.equal(e!.message, `${fx('comments-only.yaml')}: no manifests found`);
  });

  test('a missing path: MANIFEST_NOT_FOUND', () => {
    const [e] = errorsOf(() => loadManifests(fx('does-not-exist')));
    assert.equal(e!.code, 'MANIFEST_NOT_FOUND');
    assert.equal(e!.message, `${fx('does-not-exist')}: no such file or directory`);
  });

  test('files over 4 MiB are refused before parsing, and reported with the other files', () => {
    const dir = tmpDir();
    try {
      fs.writeFileSync(path.join(dir, 'big.yaml'), `# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`);
      fs.writeFileSync(path.join(dir, 'c.yaml'), 'apiVersion: kfn.dev/v1alpha1\nkind: Nope\n');
      const errs = errorsOf(() => loadManifests(dir));
      assert.deepEqual(lines(errs), [
        `MANIFEST_TOO_LARGE ${path.join(dir, 'big.yaml')}: file is ${MAX_MANIFEST_BYTES + 3} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`,
        `MANIFEST_KIND ${path.join(dir, 'c.yaml')}:2:7: kind: unknown kind "Nope" (expected KernelFunction or Chain or Probe)`,
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('YAML alias bombs are refused, not expanded', () => {
    const dir = tmpDir();
    try {
      const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
      for (let i = 1; i < 9; i++) bomb.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(10).fill(`*${'abcdefghij'[i - 1]}`).join(',')}]`);
      fs.writeFileSync(path.join(dir, 'bomb.yaml'), `${bomb.join('\n')}\n`);
      const [e] = errorsOf(() => loadManifests(dir));
      assert.equal(e!.code, 'MANIFEST_YAML');
      assert.ok(!e!.message.includes('\n'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('property: any document either loads or fails with KfnErrors only (never a raw exception)', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'm.yaml');
    const base = {
      apiVersion: 'kfn.dev/v1alpha1',
      kind: 'Chain',
      metadata: { name: 'edge' },
      spec: { hook: 'xdp', interfaces: ['eth0'], functions: [{ function: 'blocklist' }] },
    };
    try {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string(),
            fc.jsonValue().map((v) => stringify(v)),
            fc
              .record({ field: fc.constantFrom('hook', 'interfaces', 'functions', 'netns', 'mode', 'position', 'extra'), value: fc.jsonValue() })
              .map(({ field, value }) => stringify({ ...base, spec: { ...base.spec, [field]: value } })),
          ),
          (text) => {
            fs.writeFileSync(file, text);
            try {
              loadManifests(file);
            } catch (e) {
              if (!(e instanceof KfnError)) throw e;
              const all = e instanceof KfnErrors ? e.errors : [e];
              for (const x of all) assert.ok(!x.message.includes('\n'), `multi-line message: ${x.message}`);
            }
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('property: interface names are accepted exactly when they match the schema pattern', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'm.yaml');
    const re = /^[A-Za-z0-9._@+*?-]{1,15}$/;
    try {
      fc.assert(
        fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.stringMatching(/^[A-Za-z0-9._@+*?;/ -]{0,17}$/)), (ifname) => {
          const doc = {
            apiVersion: 'kfn.dev/v1alpha1',
            kind: 'Chain',
            metadata: { name: 'edge' },
            spec: { hook: 'xdp', interfaces: [ifname], functions: [{ function: 'blocklist' }] },
          };
          fs.writeFileSync(file, stringify(doc));
          let ok = true;
          try {
            loadManifests(file);
          } catch (e) {
            assert.ok(e instanceof KfnError);
            ok = false;
          }
          assert.equal(ok, re.test(ifname), JSON.stringify(ifname));
        }),
        { numRuns: 300 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loadManifests: a UTF-8 byte-order mark', () => {
  const CHAIN = 'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: edge }\nspec:\n  hook: xdp\n  interfaces: [eth0]\n  functions:\n    - function: counter\n';

  test('before the first document is accepted, and positions after it are those of the text as written', () => {
    const dir = tmpDir();
    try {
      const file = path.join(dir, 'bom.yaml');
      fs.writeFileSync(file, `\ufeff${CHAIN}`);
      const l = loadManifests(file);
      assert.deepEqual(l.chains.map((c) => c.data.metadata.name), ['edge']);
      fs.writeFileSync(path.join(dir, 'plain.yaml'), CHAIN);
      const plain = loadManifests(path.join(dir, 'plain.yaml')).chains[0]!.source;
      assert.deepEqual([l.chains[0]!.source.line, l.chains[0]!.source.column], [plain.line, plain.column], 'the mark shifts nothing');
      fs.writeFileSync(file, `\ufeff${CHAIN.replace('hook: xdp', 'hook: xpd')}`);
      const errs = errorsOf(() => loadManifests(file));
      assert.equal(errs.length, 1, lines(errs).join('\n'));
      assert.equal(errs[0]!.code, 'MANIFEST_SCHEMA');
      assert.deepEqual([errs[0]!.source?.line, errs[0]!.source?.column], [5, 9]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
