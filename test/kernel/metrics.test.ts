/**
 * `kfn serve` against the real kernel: a chain of built-in functions [blocklist, flowstats,
 * counter] on the XDP hook of a quiet veth pair (no ARP, ND or MLD: only the test's
 * packets), `kfn serve --metrics-addr 127.0.0.1:0` started as a process, /metrics scraped
 * over HTTP and parsed with a Prometheus text parser.
 *
 * Proven: right after apply every instance's packet counter is 0; after 5 echo requests
 * from an allowed source and 3 from a blocked one, blocklist counted 8 packets and 3 drops,
 * flowstats 5 packets of exactly 98 bytes each, counter 5 packets: equal to the traffic
 * sent. Labels are the instance's only; /ready and /healthz answer 200; SIGTERM to the
 * server's pid ends it with exit 0.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kfnExpect, runKfn, type KfnEnv } from '../helpers/kfn.js';
import { CLI } from '../helpers/paths.js';
import { family, parseExposition, value, type Exposition } from '../helpers/prometheus.js';
import { kernelUnavailable, run, sandboxPrefix, sandboxUp, skipUnlessKernel, type Sandbox } from '../helpers/traffic-env.js';

const unavailable = kernelUnavailable(['ping']);
const NET = '198.18.63';
const ALLOWED = 5;
const BLOCKED = 3;
/** Ethernet 14 + IPv4 20 + ICMP 8 + ping's default 56 bytes of data. */
const ECHO_FRAME_BYTES = 98;

describe('kfn serve: per-function counters over HTTP equal the traffic sent', { skip: skipUnlessKernel(unavailable), timeout: 120_000 }, () => {
  const k: KfnEnv = { pinRoot: `/sys/fs/bpf/kfn-test-metrics-${process.pid}`, stateDir: `/tmp/kfn-test-metrics-${process.pid}` };
  const manifests = `${k.stateDir}-manifests`;
  let sb: Sandbox | undefined;
  let server: ChildProcess | undefined;
  let base = '';

  before(async () => {
    for (const d of [k.pinRoot, k.stateDir, manifests]) fs.rmSync(d, { recursive: true, force: true });
    fs.mkdirSync(manifests, { recursive: true });
    sb = sandboxUp(sandboxPrefix('ktmet'), NET, { quiet: true });
    fs.writeFileSync(
      path.join(manifests, 'chain.yaml'),
      `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: edge }
spec:
  hook: xdp
  netns: ${sb.a}
  interfaces: [${sb.a0}]
  functions:
    - name: drop-bad
      function: blocklist@1.0.0
      maps: { blocked_v4: { "${NET}.3/32": 1 } }
    - { name: visibility, function: flowstats }
    - { name: tail, function: counter }
`,
    );
    kfnExpect(k, ['apply', manifests, '--auto-approve'], 0);
    server = spawn(process.execPath, [CLI, 'serve', '--metrics-addr', '127.0.0.1:0'], {
      env: { ...process.env, KFN_PIN_ROOT: k.pinRoot, KFN_STATE_DIR: k.stateDir, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    base = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`kfn serve printed no address in 20 s\n${out}\n${err}`)), 20_000);
      server!.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
      server!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      server!.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`kfn serve exited ${code}\n${out}\n${err}`));
      });
    });
  });

  after(() => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    if (fs.existsSync(k.pinRoot)) runKfn(k, ['destroy', '--all', '--auto-approve'], { timeoutMs: 30_000 });
    sb?.down();
    for (const d of [k.pinRoot, k.stateDir, manifests]) fs.rmSync(d, { recursive: true, force: true });
  });

  async function scrape(): Promise<Exposition> {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    return parseExposition(await res.text());
  }

  // The chain's stack: derived from the manifests path, outside git their absolute path (docs/gitops.md).
  const fnLabels = (instance: string, fn: string) => ({ stack: path.resolve(manifests), chain: 'edge', netns: sb!.a, interface: sb!.a0, hook: 'xdp', instance, function: fn, version: '1.0.0' });

  test('ready and healthy; right after apply every instance counted nothing', async () => {
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const x = await scrape();
    assert.equal(value(x, 'kfn_function_packets_total', fnLabels('drop-bad', 'blocklist')), 0);
    assert.equal(value(x, 'kfn_function_drops_total', fnLabels('drop-bad', 'blocklist')), 0);
    assert.equal(value(x, 'kfn_function_packets_total', fnLabels('visibility', 'flowstats')), 0);
    assert.equal(value(x, 'kfn_function_packets_total', fnLabels('tail', 'counter')), 0);
    assert.equal(value(x, 'kfn_chain_attached', { chain: 'edge' }), 1);
    assert.equal(value(x, 'kfn_chain_drift', { chain: 'edge' }), 0);
  });

  test('after 5 allowed and 3 blocked echo requests the counters are exactly the traffic', async () => {
    const ping = (src: string, n: number): string =>
      run('ip', ['netns', 'exec', sb!.b, 'ping', '-c', String(n), '-i', '0.2', '-W', '1', '-I', src, sb!.ipA], { timeoutMs: 20_000 }).toString();
    assert.match(ping(`${NET}.2`, ALLOWED), new RegExp(`${ALLOWED} packets transmitted, ${ALLOWED} received`));
    assert.throws(() => ping(`${NET}.3`, BLOCKED), /exit|status|Command failed/, 'pings from the blocked source get no reply');

    const x = await scrape();
    assert.equal(value(x, 'kfn_function_packets_total', fnLabels('drop-bad', 'blocklist')), ALLOWED + BLOCKED);
    assert.equal(value(x, 'kfn_function_drops_total', fnLabels('drop-bad', 'blocklist')), BLOCKED);
    assert.equal(value(x, 'kfn_function_packets_total', fnLabels('visibility', 'flowstats')), ALLOWED);
    assert.equal(value(x, 'kfn_function_bytes_total', fnLabels('visibility', 'flowstats')), ALLOWED * ECHO_FRAME_BYTES);
    assert.equal(value(x, 'kfn_function_packets_total', fnLabels('tail', 'counter')), ALLOWED);
    for (const name of ['kfn_function_packets_total', 'kfn_function_bytes_total', 'kfn_function_drops_total']) {
      for (const s of family(x, name).metrics) assert.deepEqual(Object.keys(s.labels ?? {}).sort(), ['chain', 'function', 'hook', 'instance', 'interface', 'netns', 'stack', 'version']);
    }
  });

  test('SIGTERM to the server pid ends it with exit 0', async () => {
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(-1), 10_000);
      server!.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
      process.kill(server!.pid!, 'SIGTERM');
    });
    assert.equal(code, 0);
  });
});
