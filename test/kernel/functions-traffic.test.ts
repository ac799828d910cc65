/**
 * The function library with real traffic, through manifests and `kfn apply` (the
 * libbpf-level proofs are in functions-bpf.test.ts): UDP from two IPv4 and two IPv6
 * sources of namespace b (198.18.23.2/.3, 2001:2::2/::3) to receivers in namespace a,
 * through chains on a's veth. Neighbours are static and router solicitations off, so
 * the datagrams are the only IP unicast on the wire; receivers count per source.
 *
 *   allowlist  listed sources arrive, the others do not, IPv4 and IPv6; a source added
 *              in place arrives from the next packet (same program).
 *   ratelimit  a bounded flood from each of two prefixes with their own rule: each passes
 *              burst + rate x T (T: from the flood's first to last packet as flowstats,
 *              ahead of it in the chain, saw them), within 2 packets + 2 %; what the
 *              receiver got equals the rule bucket's `passed`; `passed + dropped` equals
 *              the packets that reached the hook.
 *   mirror     on tc-ingress, copies go out of a third veth to namespace c, where a
 *              capture (dumpcap) sees exactly the matching datagrams, byte for byte,
 *              and `ip -s link` counts as many; every datagram still reaches a.
 *   flowstats  per-flow packets equal what the senders sent and the receiver got, for
 *              each of the four sources; bytes are the frames' length.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { NetPeer } from '../helpers/net-peer.js';
import { UdpSender } from '../helpers/traffic-sender.js';
import { KfnHarness, kernelFunction, linkStats, run, runQuiet, sandboxPrefix, sandboxUp, sleep, type Sandbox } from '../helpers/traffic-env.js';
import { Engine } from '../../src/engine/index.js';
import type { LiveInstance } from '../../src/core/types.js';
import type { MapStats } from '../../src/forms/form.js';
import { readPcap } from '../../src/packets/pcap.js';
import ipaddr from 'ipaddr.js';

const skip = kernelGate({ objects: ['root.bpf.o', 'allowlist.bpf.o', 'ratelimit.bpf.o', 'mirror.bpf.o', 'flowstats.bpf.o'], tools: ['dumpcap'] });
const NET = '198.18.23';
const V4 = { a: `${NET}.1`, good: `${NET}.2`, other: `${NET}.3` };
const V6 = { a: '2001:2::1', good: '2001:2::2', other: '2001:2::3' };

describe('the function library with real traffic through kfn apply', { skip, timeout: 300_000 }, () => {
  let sb: Sandbox | undefined;
  let h: KfnHarness | undefined;
  let rx: NetPeer | undefined;
  let tx: NetPeer | undefined;
  let nsC = '';
  const senders: UdpSender[] = [];

  const functions = (): void => {
    const mirror = `apiVersion: kfn.dev/v1alpha1\nkind: KernelFunction\nmetadata: { name: mirror }\nspec:\n  version: 1.0.0\n  object: ${h!.object('mirror.bpf.o')}\n  hooks: [tc-ingress, tc-egress]\n`;
    h!.write('functions.yaml', [...['allowlist', 'ratelimit', 'flowstats'].map((f) => kernelFunction(h!, f, '1.0.0', `${f}.bpf.o`, f)), mirror].join('---\n'));
  };
  const chain = (hook: string, functionsYaml: string): void => {
    h!.write('chain.yaml', `apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: lib }\nspec:\n  hook: ${hook}\n  netns: ${sb!.a}\n  interfaces: [${sb!.a0}]\n  functions:\n${functionsYaml}`);
  };
  const engine = (): Engine => new Engine({ paths: { pinRoot: h!.pinRoot, stateDir: h!.stateDir } });
  const instance = (name: string): LiveInstance => {
    const i = engine().readLive().chains.find((c) => c.chainName === 'lib')?.instances.find((x) => x.name === name);
    assert.ok(i, `instance ${name} is live`);
    return i;
  };
  /** Every entry of the instance's state maps (kfn's own stats reader, no limit). */
  const stats = (name: string): MapStats[] => engine().form.stats(instance(name), 1_000_000);
  const entriesOf = (name: string, map: string): MapStats['entries'] => stats(name).find((s) => s.map === map)?.entries ?? [];
  const u64 = (v: unknown, field: string): number => Number((v as Record<string, bigint | number>)[field]);
  /** The flow of `src` to `dport` in flowstats' table. */
  const flow = (name: string, src: string, dport: number): { packets: number; bytes: number; first: bigint; last: bigint } | undefined => {
    for (const e of entriesOf(name, 'flows')) {
      const k = e.key as { saddr: string; dport: number };
      if (String(k.saddr).replace(/^::ffff:/, '') !== src || Number(k.dport) !== dport) continue;
      const v = e.value as Record<string, bigint>;
      return { packets: Number(v.packets), bytes: Number(v.bytes), first: BigInt(v.first_ns!), last: BigInt(v.last_ns!) };
    }
    return undefined;
  };
  const received = async (port: number, before: Record<string, number> = {}): Promise<Record<string, number>> => {
    const now = await rx!.settledUdpCounts(port);
    return Object.fromEntries([V4.good, V4.other, V6.good, V6.other].map((s) => [s, (now[s] ?? 0) - (before[s] ?? 0)]));
  };
  const send = async (to: string, port: number, n: number, from: string): Promise<void> => void (await tx!.must(`udp ${to} ${port} ${n} ${from}`));

  before(async () => {
    sb = sandboxUp(sandboxPrefix('kt-ft'), NET);
    h = new KfnHarness('fn-traffic');
    run('ip', ['-n', sb.b, 'addr', 'add', `${V6.other}/64`, 'dev', sb.b0, 'nodad']);
    const mac = (ns: string, dev: string): string => (JSON.parse(run('ip', ['-j', '-n', ns, 'link', 'show', dev])) as { address: string }[])[0]!.address;
    for (const [ns, dev, peer, addrs] of [
      [sb.b, sb.b0, mac(sb.a, sb.a0), [V4.a, V6.a]],
      [sb.a, sb.a0, mac(sb.b, sb.b0), [V4.good, V4.other, V6.good, V6.other]],
    ] as const) {
      run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${dev}.router_solicitations=0`]);
      for (const ip of addrs) run('ip', ['-n', ns, 'neigh', 'replace', ip, 'lladdr', peer, 'nud', 'permanent', 'dev', dev]);
    }
    // The mirror's target: a veth from a to namespace c, silent (no addresses, no IPv6).
    nsC = `${sb.prefix}-c`;
    runQuiet('ip', ['netns', 'del', nsC]);
    run('ip', ['netns', 'add', nsC]);
    run('ip', ['link', 'add', `${sb.prefix}-m0`, 'netns', sb.a, 'type', 'veth', 'peer', 'name', `${sb.prefix}-m1`, 'netns', nsC]);
    for (const [ns, dev] of [[sb.a, `${sb.prefix}-m0`], [nsC, `${sb.prefix}-m1`]] as const) {
      run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
      run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
    functions();
    rx = await NetPeer.start(sb.a);
    tx = await NetPeer.start(sb.b);
    for (const port of [7300, 7301, 7400, 7500]) await rx.must(`ulisten ${port}`);
  });

  after(async () => {
    try {
      for (const s of senders) s.kill();
      await tx?.stop();
      await rx?.stop();
      h?.cleanup();
    } finally {
      if (nsC) runQuiet('ip', ['netns', 'del', nsC]);
      sb?.down();
    }
  });

  test('allowlist: listed sources pass, the others are dropped, IPv4 and IPv6', async () => {
    const allow = (v4: string[]) =>
      `    - name: allow\n      function: allowlist\n      maps:\n        allowed_v4: { ${v4.map((a) => `"${a}/32": 1`).join(', ')} }\n        allowed_v6: { "${V6.good}/128": 1, "fe80::/10": 1 }\n`;
    chain('xdp', allow([V4.good]));
    h!.apply();
    const dropped0 = u64(entriesOf('allow', 'stats')[0]?.value, 'dropped');
    await send(V4.a, 7400, 30, V4.good);
    await send(V4.a, 7400, 20, V4.other);
    await send(V6.a, 7400, 25, V6.good);
    await send(V6.a, 7400, 15, V6.other);
    assert.deepEqual(await received(7400), { [V4.good]: 30, [V4.other]: 0, [V6.good]: 25, [V6.other]: 0 });
    assert.ok(u64(entriesOf('allow', 'stats')[0]?.value, 'dropped') - dropped0 >= 35, 'the allowlist counted the drops');

    const prog = instance('allow').progId;
    const before = await received(7400);
    chain('xdp', allow([V4.good, V4.other]));
    h!.apply();
    assert.equal(instance('allow').progId, prog, 'the list changed in place');
    await send(V4.a, 7400, 20, V4.other);
    assert.equal((await received(7400, before))[V4.other], 20, 'the added source arrives');
  });

  test('ratelimit: each prefix passes burst + rate x time of a bounded flood', async (t) => {
    const rules = { [V4.good]: { rate: 200, burst: 20 }, [V4.other]: { rate: 50, burst: 10 } };
    chain(
      'xdp',
      `    - { name: fs, function: flowstats }\n    - name: limit\n      function: ratelimit\n      globals: { rate_pps: 100000, burst: 10000 }\n      maps:\n        rules_v4:\n${Object.entries(rules)
        .map(([a, r]) => `          "${a}/32": { rate_pps: ${r.rate}, burst: ${r.burst} }\n`)
        .join('')}`,
    );
    h!.apply();
    const floods = Object.keys(rules).map((src) => new UdpSender(sb!.b, V4.a, 7500, 1000, 2500, src));
    senders.push(...floods);
    await Promise.all(floods.map((f) => f.started));
    await sleep(2000); // the floods stop by themselves after 2.5 s
    const reports = await Promise.all(floods.map((f) => f.stop(15_000)));
    const got = await received(7500);
    const buckets = new Map(entriesOf('limit', 'buckets_v4').map((e) => [String(e.keyText), e.value]));
    for (const [i, [src, r]] of Object.entries(rules).entries()) {
      const f = flow('fs', src, 7500);
      assert.ok(f, `flowstats saw the flood from ${src}`);
      const seconds = Number(f.last - f.first) / 1e9;
      const expected = r.burst + r.rate * seconds;
      const bucket = buckets.get(`${src}/32`);
      assert.ok(bucket, `a bucket for ${src}/32`);
      const passed = u64(bucket, 'passed');
      t.diagnostic(`${src}: sent ${reports[i]!.sent}, reached the hook ${f.packets} over ${seconds.toFixed(3)} s, passed ${passed} (expected ${expected.toFixed(1)}), received ${got[src]}`);
      assert.ok(f.packets > expected * 2, `the flood (${f.packets}) is well over the rate`);
      assert.ok(Math.abs(passed - expected) <= 2 + expected * 0.02, `passed ${passed}, expected ${expected.toFixed(1)} within 2 + 2 %`);
      assert.equal(got[src], passed, 'the receiver got exactly what the bucket passed');
      assert.equal(passed + u64(bucket, 'dropped'), f.packets, 'every packet that reached the hook was passed or dropped');
    }
  });

  test('mirror: the capture on the mirror interface sees a copy of exactly the matching packets', async () => {
    const m0 = `${sb!.prefix}-m0`;
    const m1 = `${sb!.prefix}-m1`;
    const ifindex = (JSON.parse(run('ip', ['-j', '-n', sb!.a, 'link', 'show', m0])) as { ifindex: number }[])[0]!.ifindex;
    chain(
      'tc-ingress',
      `    - name: tap\n      function: mirror\n      maps:\n        target: { "0": ${ifindex} }\n        match_v4: { "${V4.good}/32": { proto: 17, port: 7300 } }\n        match_v6: { "${V6.good}/128": { proto: 17, port: 7300 } }\n`,
    );
    h!.apply();
    const pcap = path.join(h!.dir, 'mirror.pcap');
    const rx0 = linkStats(nsC, m1).rxPackets;
    const cap: ChildProcess = spawn('ip', ['netns', 'exec', nsC, 'dumpcap', '-i', m1, '-P', '-w', pcap, '-a', 'duration:30'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const capExited = new Promise<void>((resolve) => cap.on('exit', () => resolve()));
    let capErr = '';
    cap.stderr!.on('data', (d: Buffer) => (capErr += d.toString()));
    try {
      // dumpcap says "Capturing on" once it captures; bounded wait.
      for (let i = 0; i < 100 && !capErr.includes('Capturing on'); i++) await sleep(100);
      assert.match(capErr, /Capturing on/, 'the capture started');
      const before = await received(7300);
      const before1 = await received(7301);
      await send(V4.a, 7300, 20, V4.good); // match
      await send(V4.a, 7301, 10, V4.good); // another port
      await send(V4.a, 7300, 10, V4.other); // another source
      await send(V6.a, 7300, 15, V6.good); // match
      await send(V6.a, 7300, 5, V6.other); // another source
      assert.deepEqual(await received(7300, before), { [V4.good]: 20, [V4.other]: 10, [V6.good]: 15, [V6.other]: 5 }, 'the originals all arrive');
      assert.equal((await received(7301, before1))[V4.good], 10);
      await sleep(300);
    } finally {
      if (cap.exitCode === null) cap.kill('SIGINT');
      await capExited;
    }
    const frames = readPcap(fs.readFileSync(pcap), pcap).packets.map((p) => Buffer.from(p.data));
    const seen = frames.map(udpOf);
    const want = (ip: string) => seen.filter((s) => s && s.src === ip && s.dport === 7300).length;
    assert.equal(want(V4.good), 20, 'every matching IPv4 datagram was copied');
    assert.equal(want(V6.good), 15, 'every matching IPv6 datagram was copied');
    assert.equal(frames.length, 35, `nothing else was copied: ${JSON.stringify(seen.filter((s) => !(s && s.dport === 7300 && (s.src === V4.good || s.src === V6.good))))}`);
    assert.equal(linkStats(nsC, m1).rxPackets - rx0, 35, 'ip -s link counts the copies on the mirror interface');
    const st = entriesOf('tap', 'stats')[0]?.value;
    assert.equal(u64(st, 'mirrored'), 35);
    assert.equal(u64(st, 'bytes'), frames.reduce((n, f) => n + f.length, 0), 'the copies are the frames, byte for byte in length');
  });

  test('flowstats: per-flow counts equal the senders\' counts', async () => {
    chain('xdp', '    - { name: fs, function: flowstats }\n');
    h!.apply();
    const sent: [string, string, number][] = [
      [V4.a, V4.good, 41],
      [V4.a, V4.other, 17],
      [V6.a, V6.good, 23],
      [V6.a, V6.other, 9],
    ];
    const before = await received(7301);
    for (const [to, from, n] of sent) await send(to, 7301, n, from);
    const got = await received(7301, before);
    for (const [, from, n] of sent) {
      const f = flow('fs', from, 7301);
      assert.ok(f, `a flow from ${from}`);
      assert.equal(got[from], n, `the receiver got ${n} from ${from}`);
      assert.equal(f.packets, n, `flowstats counted the ${n} datagrams from ${from}`);
      // 16-byte payload + UDP 8 + IPv4 20 / IPv6 40 + Ethernet 14.
      assert.equal(f.bytes, n * (from.includes(':') ? 78 : 58), `bytes of ${from}`);
    }
  });
});

/** Source address and UDP destination port of an Ethernet frame, or undefined. */
function udpOf(f: Buffer): { src: string; dport: number } | undefined {
  const type = f.readUInt16BE(12);
  if (type === 0x0800 && f[23] === 17) {
    const ihl = (f[14]! & 0xf) * 4;
    return { src: ipaddr.fromByteArray([...f.subarray(26, 30)]).toString(), dport: f.readUInt16BE(14 + ihl + 2) };
  }
  if (type === 0x86dd && f[20] === 17) return { src: ipaddr.fromByteArray([...f.subarray(22, 38)]).toString(), dport: f.readUInt16BE(54 + 2) };
  return undefined;
}
