/**
 * Manifest text that used to be misread: a UTF-8 byte-order mark before the first
 * document is accepted (positions stay right), YAML's typed collections under `maps:`
 * are refused instead of losing their entries, and a manifest path that is not a
 * regular file is refused before it is read.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { KfnError } from '../../src/core/errors.js';
import { loadManifests } from '../../src/manifest/load.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-manifest-inputs-'));
const BOM = '\ufeff';
const CHAIN = 'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: edge }\nspec:\n  hook: xdp\n  interfaces: [eth0]\n  functions:\n    - function: counter\n';

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

function loadError(file: string): KfnError {
  try {
    loadManifests(file);
  } catch (e) {
    assert.ok(e instanceof KfnError, String(e));
    return e;
  }
  assert.fail(`${file} loaded`);
}

describe('manifest inputs', () => {
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a byte-order mark before the first document is accepted', () => {
    const m = loadManifests(write('bom.yaml', BOM + CHAIN));
    assert.equal(m.chains.length, 1);
    assert.equal((m.chains[0]!.data as { metadata: { name: string } }).metadata.name, 'edge');
  });

  test('errors after a byte-order mark point at the right line and column', () => {
    const e = loadError(write('bom-bad.yaml', BOM + CHAIN.replace('  hook: xdp', '  hook: xpd')));
    assert.equal(e.code, 'MANIFEST_SCHEMA');
    assert.deepEqual([e.source?.line, e.source?.column], [5, 9]);
  });

  test('!!omap, !!set and !!pairs are refused at their position, never read with entries dropped', () => {
    for (const [tag, body, line] of [
      ['!!omap', '        blocked_v4: !!omap\n          - "10.0.0.0/8": 1\n', 11],
      ['!!set', '        blocked_v4: !!set\n          ? "10.0.0.0/8"\n', 11],
      ['!!pairs', '        blocked_v4: !!pairs\n          - "10.0.0.0/8": 1\n', 11],
    ] as const) {
      const text = CHAIN.replace('    - function: counter\n', `    - function: blocklist\n      maps:\n${body}`);
      const e = loadError(write(`${tag.slice(2)}.yaml`, text));
      assert.equal(e.code, 'MANIFEST_YAML');
      assert.match(e.message, new RegExp(`${tag} is not supported in manifests`));
      assert.equal(e.source?.line, line);
    }
  });

  test('a FIFO or a symlink to /dev/zero is refused at once', () => {
    const fifo = path.join(dir, 'fifo.yaml');
    spawnSync('mkfifo', [fifo]);
    const zero = path.join(dir, 'zero.yaml');
    fs.symlinkSync('/dev/zero', zero);
    for (const [f, what] of [
      [fifo, /is a FIFO/],
      [zero, /is a character device/],
    ] as const) {
      const e = loadError(f);
      assert.equal(e.code, 'MANIFEST_READ');
      assert.match(e.message, what);
    }
    // In a directory, only regular files are read: the same two are skipped, the chain loads.
    write('chain.yaml', CHAIN);
    for (const f of fs.readdirSync(dir)) if (!['fifo.yaml', 'zero.yaml', 'chain.yaml'].includes(f)) fs.rmSync(path.join(dir, f));
    assert.equal(loadManifests(dir).chains.length, 1);
  });
});
