/**
 * IPFIX export against the real kernel: a flowstats chain on the veth of namespace A
 * counts a known number of UDP datagrams and pings from namespace B; `kfn export --once`
 * sends the flows from namespace A to a collector in namespace B, where tshark (started
 * by the test) captures them; tshark's decode of the records equals the traffic.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect, show } from '../helpers/kfn.js';
import { decodeIpfixPcap } from '../helpers/ipfix-decode.js';

const skip = kernelGate({ tools: ['tshark'] });
const DATAGRAMS = 37;
const PAYLOAD = 32;
const PINGS = 4;

/** Sends `n` UDP datagrams of PAYLOAD bytes from 198.18.0.2:40001 to 198.18.0.1:5353, inside namespace `ns`. */
function sendUdp(ns: string, n: number): void {
  const js = `const s=require('dgram').createSocket('udp4');let i=0;s.bind(40001,'198.18.0.2',()=>{const go=()=>{if(i++>=${n})return s.close();s.send(Buffer.alloc(${PAYLOAD},7),5353,'198.18.0.1',go)};go()});`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `udp sender: ${r.stderr}`);
}

describe('kfn export: IPFIX records of real flows, decoded by tshark', { skip }, () => {
  let env: TestEnv;
  const sb = new Sandbox(sandboxPrefix('i'));
  let capture: ChildProcess | undefined;

  before(() => {
    env = createTestEnv('ipfix');
    sb.up();
  });
  after(() => {
    if (capture?.pid && capture.exitCode === null) capture.kill('SIGKILL');
    cleanupTestEnv(env);
    sb.down();
  });

  test('every flow the chain saw reaches the collector with its packet and byte counts', async () => {
    writeChain(env, { name: 'vis', netns: sb.nsA, interfaces: [sb.ifA], functions: [{ name: 'flows', function: 'flowstats' }] });
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    sendUdp(sb.nsB, DATAGRAMS);
    const ping = spawnSync('ip', ['netns', 'exec', sb.nsB, 'ping', '-6', '-c', String(PINGS), '-i', '0.2', '-W', '1', '2001:2::1'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);

    const pcap = path.join(env.stateDir, 'collector.pcap');
    capture = spawn('ip', ['netns', 'exec', sb.nsB, 'tshark', '-q', '-i', sb.ifB, '-f', 'udp dst port 4739', '-w', pcap, '-a', 'duration:30'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    capture.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; i < 100 && !/Capturing on/.test(err); i++) await sleep(100);
    assert.match(err, /Capturing on/, `tshark did not start: ${err}`);

    const r = kfnExpect(env, ['export', '--once', '--netns', sb.nsA, '--collector', '198.18.0.2:4739'], 0);
    const m = /Exported (\d+) flow record\(s\) in (\d+) IPFIX message/.exec(r.stdout);
    assert.ok(m, r.stdout);
    for (let i = 0; i < 50 && !(fs.existsSync(pcap) && fs.statSync(pcap).size > 100); i++) await sleep(100);
    await sleep(500);
    const done = new Promise((res) => capture!.once('exit', res));
    capture.kill('SIGINT');
    await done;

    const flows = decodeIpfixPcap(pcap);
    assert.equal(flows.length, Number(m[1]), `tshark decodes every record kfn says it sent: ${JSON.stringify(flows)}`);
    const udp = flows.filter((f) => f.src === '198.18.0.2' && f.sport === 40001 && f.dst === '198.18.0.1' && f.dport === 5353 && f.protocol === 17);
    assert.equal(udp.length, 1, JSON.stringify(flows));
    assert.equal(udp[0]!.packets, DATAGRAMS, 'every datagram sent');
    assert.equal(udp[0]!.octets, DATAGRAMS * (14 + 20 + 8 + PAYLOAD), 'bytes as the chain counts them: whole frames');
    assert.equal(udp[0]!.endReason, 4, 'export --once ends every flow (forced end)');
    const echo = flows.filter((f) => f.src === '2001:2::2' && f.dst === '2001:2::1' && f.protocol === 58);
    assert.ok(echo.length >= 1 && echo.reduce((n, f) => n + f.packets, 0) >= PINGS, `the IPv6 echo requests: ${JSON.stringify(echo)}`);

    // The same numbers kfn show reads from the flow table.
    const vis = show(env, true).chains[0]!.instances[0]!;
    assert.ok((vis.stats?.flows ?? []).some((l) => l.includes(`packets: ${DATAGRAMS}`)), JSON.stringify(vis.stats?.flows));
  });

  test('a collector HOST:PORT that is not one is a one-line USAGE error', () => {
    const r = kfnExpect(env, ['export', '--once', '--collector', 'nowhere'], 1);
    assert.match(r.stderr, /^error\[USAGE\]: invalid collector "nowhere"\n  hint: /);
  });
});
