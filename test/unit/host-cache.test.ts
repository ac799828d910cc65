/**
 * `kfn --version`'s host report, cached per boot (libbpf/host-cache.ts): probed once, then
 * read back while kfn, the boot, the kernel release and the libbpf file are the same;
 * probed again when any of them changes; a cache file that is not a small regular file
 * of kfn's own user, writable by it alone, of the expected shape, is not believed.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedHostReport } from '../../src/libbpf/host-cache.js';
import { FeatureState, KernelFeature, type HostReport } from '../../src/libbpf/host-features.js';

describe('host report cache', () => {
  let dir = '';
  let lib = '';
  let probes = 0;
  const report = (): HostReport => ({
    libbpf: { ok: true, version: '1.1', path: lib },
    kernel: { release: '6.18.0', machine: 'x86_64', features: [{ feature: KernelFeature.Btf, state: FeatureState.Yes, detail: '/sys/kernel/btf/vmlinux' }] },
  });
  const probe = async (): Promise<HostReport> => {
    probes++;
    return report();
  };
  const cacheFile = (): string => path.join(dir, 'state', 'host-report.json');

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-hostcache-'));
    lib = path.join(dir, 'libbpf.so.1');
    fs.writeFileSync(lib, 'not really a library');
    probes = 0;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('probed once, then read back; another kfn version or kernel release probes again', async () => {
    const state = path.join(dir, 'state');
    assert.deepEqual(await cachedHostReport(state, '0.1.0', '6.18.0', probe), report());
    assert.deepEqual(await cachedHostReport(state, '0.1.0', '6.18.0', probe), report());
    assert.equal(probes, 1);
    await cachedHostReport(state, '0.2.0', '6.18.0', probe);
    assert.equal(probes, 2);
    await cachedHostReport(state, '0.2.0', '6.19.0', probe);
    assert.equal(probes, 3);
  });

  test('a replaced libbpf, or another KFN_LIBBPF_PATH, probes again', async () => {
    const state = path.join(dir, 'state');
    await cachedHostReport(state, '0.1.0', 'r', probe);
    fs.rmSync(lib);
    fs.writeFileSync(lib, 'another build of it');
    await cachedHostReport(state, '0.1.0', 'r', probe);
    assert.equal(probes, 2);
    process.env.KFN_LIBBPF_PATH = lib;
    try {
      await cachedHostReport(state, '0.1.0', 'r', probe);
      assert.equal(probes, 3);
    } finally {
      delete process.env.KFN_LIBBPF_PATH;
    }
  });

  test('a report without libbpf is never cached: the failure is reported fresh every time', async () => {
    const failing = async (): Promise<HostReport> => {
      probes++;
      return { libbpf: { ok: false, error: 'cannot load', code: 'LIBBPF_UNAVAILABLE' }, kernel: { release: 'r', machine: 'm', features: [] } };
    };
    const state = path.join(dir, 'state');
    await cachedHostReport(state, '0.1.0', 'r', failing);
    await cachedHostReport(state, '0.1.0', 'r', failing);
    assert.equal(probes, 2);
    assert.equal(fs.existsSync(cacheFile()), false);
  });

  test('a cache file writable by others, of another shape, a FIFO or a symlink is not believed (and never blocks)', async () => {
    const state = path.join(dir, 'state');
    await cachedHostReport(state, '0.1.0', 'r', probe);
    const good = fs.readFileSync(cacheFile(), 'utf8');
    fs.chmodSync(cacheFile(), 0o666);
    await cachedHostReport(state, '0.1.0', 'r', probe);
    assert.equal(probes, 2, 'group/other-writable');
    fs.writeFileSync(cacheFile(), JSON.stringify({ key: JSON.parse(good).key, report: { libbpf: { ok: true } } }));
    await cachedHostReport(state, '0.1.0', 'r', probe);
    assert.equal(probes, 3, 'wrong shape');
    fs.rmSync(cacheFile());
    execFileSync('mkfifo', [cacheFile()]);
    await cachedHostReport(state, '0.1.0', 'r', probe);
    assert.equal(probes, 4, 'FIFO');
    fs.rmSync(cacheFile());
    const elsewhere = path.join(dir, 'elsewhere.json');
    fs.writeFileSync(elsewhere, good);
    fs.symlinkSync(elsewhere, cacheFile());
    await cachedHostReport(state, '0.1.0', 'r', probe);
    assert.equal(probes, 5, 'symlink');
  });

  test('a state dir kfn cannot write only means probing every time', async () => {
    const notADir = path.join(dir, 'file');
    fs.writeFileSync(notADir, '');
    assert.deepEqual(await cachedHostReport(notADir, '0.1.0', 'r', probe), report());
    await cachedHostReport(notADir, '0.1.0', 'r', probe);
    assert.equal(probes, 2);
  });
});
