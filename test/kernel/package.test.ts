/**
 * The installable package, end to end: the working tree is copied to a scratch directory
 * without dist/ or bpf/build/, `npm pack` there builds both (prepack) and packs them;
 * `npm install -g --prefix PREFIX` installs the tarball (dependencies from npm's cache or
 * the registry, no install scripts, no install-scripts warning); the `kfn` that PREFIX/bin
 * puts on the PATH answers --version, lists its built-in functions (objects inside the
 * installed package, byte-identical to this checkout's build), and validates, plans and
 * applies a manifest of built-in functions only, against the real kernel: a blocked
 * source's pings are dropped, an allowed one's answered, the counter counts them.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256Hex } from '../../src/core/digest.js';
import { readObjectFile } from '../../src/core/objects.js';
import { builtinFunctions } from '../../src/library/index.js';
import { BPF_BUILD, REPO_ROOT } from '../helpers/paths.js';
import { kernelUnavailable, sandboxPrefix, sandboxUp, skipUnlessKernel, type Sandbox } from '../helpers/traffic-env.js';

const unavailable = kernelUnavailable(['ping', 'npm', 'clang', 'make', 'tar']);
const NET = '198.18.65';

describe('npm pack + npm install -g: the installed kfn works on the real kernel', { skip: skipUnlessKernel(unavailable), timeout: 600_000 }, () => {
  const work = `/tmp/kfn-test-package-${process.pid}`;
  const src = path.join(work, 'src');
  const prefix = path.join(work, 'prefix');
  const manifests = path.join(work, 'manifests');
  const pinRoot = `/sys/fs/bpf/kfn-test-package-${process.pid}`;
  const stateDir = path.join(work, 'state');
  let tarball = '';
  let sb: Sandbox | undefined;

  const env = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}`, KFN_PIN_ROOT: pinRoot, KFN_STATE_DIR: stateDir, NO_COLOR: '1' });
  /** The installed kfn, found on the PATH (no node, no path to this checkout). */
  const kfn = (args: string[], timeout = 60_000) => {
    const r = spawnSync('kfn', args, { cwd: work, env: env(), encoding: 'utf8', input: '', timeout });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = (args: string[], code = 0) => {
    const r = kfn(args);
    assert.equal(r.code, code, `kfn ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  before(() => {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(pinRoot, { recursive: true, force: true });
    fs.mkdirSync(src, { recursive: true });
    // The files of a clone (tracked, plus new ones not ignored): no dist/, no bpf/build/.
    const files = execFileSync('git', ['-C', REPO_ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const f of files) {
      const from = path.join(REPO_ROOT, f);
      if (!fs.existsSync(from) || !fs.statSync(from).isFile()) continue;
      fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      fs.copyFileSync(from, path.join(src, f));
    }
    assert.ok(!fs.existsSync(path.join(src, 'dist')) && !fs.existsSync(path.join(src, 'bpf', 'build')));
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(src, 'node_modules'));
    sb = sandboxUp(sandboxPrefix('ktpkg'), NET);
  });

  after(() => {
    if (fs.existsSync(pinRoot) && fs.existsSync(path.join(prefix, 'bin', 'kfn'))) kfn(['destroy', '--all', '--auto-approve']);
    sb?.down();
    fs.rmSync(pinRoot, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('npm pack builds (prepack) and packs the CLI, the function library and the schemas', () => {
    const r = spawnSync('npm', ['pack', '--pack-destination', work, '--json'], { cwd: src, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(work, info!.filename);
    const packed = new Set(info!.files.map((f) => f.path));
    for (const f of ['dist/cli/main.js', 'dist/cli/kfn.cjs', 'dist/cli/kfn.cjs.cache', 'bpf/build/root.bpf.o', 'schemas/chain.schema.json', 'schemas/kernelfunction.schema.json', 'package.json', 'README.md']) assert.ok(packed.has(f), f);
    for (const b of builtinFunctions()) assert.ok(packed.has(`bpf/build/${path.basename(b.objectPath)}`), b.name);
    for (const f of packed) assert.doesNotMatch(f, /^(src|test|node_modules|bench)\/|\.map$|bad_verifier\.bpf\.o$/, f);
    assert.ok(fs.statSync(tarball).size > 0);
  });

  test('npm install -g --prefix puts a kfn on the PATH without install scripts or their warning', () => {
    const r = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: work, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /install-scripts|ERR!/);
    assert.ok(fs.existsSync(path.join(prefix, 'bin', 'kfn')));
  });

  test('kfn --version: kfn, libbpf and the kernel features', () => {
    const r = ok(['--version']);
    const version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `kfn ${version}`);
    assert.match(lines[1]!, /^libbpf \d+\.\d+ \(\/.*libbpf\.so/);
    for (const f of ['BTF', 'XDP link', 'tcx']) assert.match(r.stdout, new RegExp(`^  ${f} +yes `, 'm'), r.stdout);
    // Tracepoints also need tracefs mounted (scripts/bootstrap.sh mounts it).
    assert.match(r.stdout, new RegExp(`^  tracepoints +${fs.existsSync('/sys/kernel/tracing/events') ? 'yes' : 'no'} `, 'm'), r.stdout);
  });

  test('kfn functions: the built-ins, from the installed package, byte-identical to this build', () => {
    const j = JSON.parse(ok(['functions', '--json']).stdout) as { functions: { name: string; version: string; origin: string; object: string; sha256: string; parameters: { name: string }[] }[] };
    const installed = fs.realpathSync(path.join(prefix, 'lib', 'node_modules', 'kfn', 'bpf', 'build'));
    assert.deepEqual(
      j.functions.map((f) => `${f.name}@${f.version}`).sort(),
      builtinFunctions().map((b) => `${b.name}@${b.version}`).sort(),
    );
    for (const f of j.functions) {
      assert.equal(f.origin, 'builtin');
      assert.equal(path.dirname(f.object), installed, f.object);
      assert.equal(f.sha256, sha256Hex(readObjectFile(path.join(BPF_BUILD, path.basename(f.object)))), `${f.name}: the package's build differs from this checkout's`);
    }
    assert.deepEqual(j.functions.find((f) => f.name === 'blocklist')!.parameters.map((p) => p.name).sort(), ['blocked_v4', 'blocked_v6']);
    assert.match(ok(['functions']).stdout, /^blocklist@1\.0\.0 {2}built in$/m);
  });

  test('validate, plan and apply a manifest of built-in functions only; the chain runs', () => {
    fs.mkdirSync(manifests, { recursive: true });
    fs.writeFileSync(
      path.join(manifests, 'edge.yaml'),
      `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: edge }
spec:
  hook: xdp
  netns: ${sb!.a}
  interfaces: [${sb!.a0}]
  functions:
    - name: drop-bad
      function: blocklist@1.0.0
      maps: { blocked_v4: { "${NET}.3/32": 1 } }
    - { name: tail, function: counter }
`,
    );
    assert.match(ok(['validate', manifests]).stdout, /^Success! 1 chain\(s\), 2 function instance\(s\) in .* are valid\.$/m);
    assert.match(ok(['plan', manifests, '--detailed-exitcode'], 2).stdout, /Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy\./);
    assert.match(ok(['apply', manifests, '--auto-approve']).stdout, /Apply complete! Resources: 3 added/);
    assert.match(ok(['plan', manifests, '--detailed-exitcode'], 0).stdout, /No changes/);

    const ping = (from: string) => spawnSync('ip', ['netns', 'exec', sb!.b, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '-I', from, sb!.ipA], { encoding: 'utf8', timeout: 20_000 }).status;
    assert.equal(ping(`${NET}.2`), 0, 'the allowed source is answered');
    assert.notEqual(ping(`${NET}.3`), 0, 'the blocked source is dropped');
    const show = JSON.parse(ok(['show', '--json', '--stats']).stdout) as { chains: { name: string; instances: { name: string; sha256: string; stats: Record<string, { entries: { value_text: string }[] }> }[] }[] };
    const edge = show.chains.find((c) => c.name === 'edge')!;
    const blk = edge.instances.find((i) => i.name === 'drop-bad')!;
    assert.equal(blk.sha256, sha256Hex(readObjectFile(path.join(BPF_BUILD, 'blocklist.bpf.o'))));
    const stats = blk.stats.stats!.entries[0]!.value_text;
    assert.match(stats, /dropped_v4: 3/);
    assert.match(ok(['destroy', manifests, '--auto-approve']).stdout, /Destroy complete! Resources: .* 3 destroyed\./);
  });
});
