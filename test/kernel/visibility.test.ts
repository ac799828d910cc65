/**
 * `kfn stats`, `kfn top` and `kfn show --stats` against the real kernel: a chain
 * [blocklist 198.18.0.3/32, flowstats] on the veth of namespace A counts UDP datagrams
 * that namespace B sends (from test-created namespaces only). The link is kept quiet
 * (static neighbours, no IPv6 in B) so that every packet the chain sees is one the test
 * sent: the counters must equal the sender's counts exactly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect, runKfn } from '../helpers/kfn.js';
import { NetPeer } from '../helpers/net-peer.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import { assertMatchesSchema } from '../helpers/schemas.js';
import { eventually } from '../helpers/poll.js';

const skip = kernelGate();
/** 16 bytes of payload (the peer's datagrams) in whole frames, as the chain counts them. */
const FRAME = 14 + 20 + 8 + 16;
const GOOD = '198.18.0.2';
const BLOCKED = '198.18.0.3';

interface Rate {
  total: number;
  interval: number;
  per_second: number;
}
type Counts<T> = Record<'packets' | 'bytes' | 'passed' | 'drops', T>;
interface StatsJson {
  chains: { name: string; interface: string; instances: { name: string; function: string; counters: Counts<number | null> }[] }[];
}
interface TopJson {
  interval_seconds: number;
  sort: string;
  flow_count: number;
  flows_not_shown: number;
  flows: { family: number; protocol: string; protocol_number: number; src: string; sport: number; dst: string; dport: number; packets: Rate; bytes: Rate }[];
  functions: { name: string; counters: Counts<Rate | null> }[];
}

describe('kfn stats, kfn top and show --stats with real traffic', { skip }, () => {
  let env: TestEnv;
  const sb = new Sandbox(sandboxPrefix('v'));
  let peer: NetPeer | undefined;
  /** Every datagram sent so far, per source and destination port. */
  const sent = new Map<string, number>();
  const total = (): number => [...sent.values()].reduce((n, v) => n + v, 0);

  const send = async (src: string, dport: number, n: number): Promise<void> => {
    const r = await peer!.must(`udp 198.18.0.1 ${dport} ${n} ${src}`);
    assert.equal(r.sent, n);
    sent.set(`${src} ${dport}`, (sent.get(`${src} ${dport}`) ?? 0) + n);
  };
  const stats = (): StatsJson => {
    const r = kfnExpect(env, ['stats', '--json'], 0);
    const doc = JSON.parse(r.stdout) as StatsJson;
    assertMatchesSchema('stats', doc, 'kfn stats --json');
    return doc;
  };
  const counters = (doc: StatsJson, instance: string): Counts<number | null> => {
    const i = doc.chains.flatMap((c) => c.instances).find((x) => x.name === instance);
    assert.ok(i, `instance ${instance} in ${JSON.stringify(doc)}`);
    return i.counters;
  };
  /** Until the chain has counted every datagram sent (veth delivers on the peer's softirq, a moment later). */
  const settled = async (): Promise<StatsJson> => {
    let last: StatsJson | undefined;
    await eventually('the chain counted every datagram sent', () => counters((last = stats()), 'drop-bad').packets === total(), 40);
    return last!;
  };

  before(async () => {
    env = createTestEnv('visibility');
    sb.up();
    const mac = (ns: string, dev: string): string => (JSON.parse(sb.ip(ns, ['-j', 'link', 'show', dev])) as { address: string }[])[0]!.address;
    // No ARP and no IPv6 (router solicitations, MLD) on the link: A's hook sees only the test's datagrams.
    sb.ip(sb.nsB, ['neigh', 'replace', '198.18.0.1', 'lladdr', mac(sb.nsA, sb.ifA), 'dev', sb.ifB, 'nud', 'permanent']);
    for (const a of [GOOD, BLOCKED]) sb.ip(sb.nsA, ['neigh', 'replace', a, 'lladdr', mac(sb.nsB, sb.ifB), 'dev', sb.ifA, 'nud', 'permanent']);
    const off = spawn('ip', ['netns', 'exec', sb.nsB, 'sysctl', '-qw', `net.ipv6.conf.${sb.ifB}.disable_ipv6=1`], { stdio: 'ignore' });
    assert.equal(await new Promise((r) => off.once('exit', r)), 0, 'IPv6 off in namespace B');
    peer = await NetPeer.start(sb.nsB);
    writeChain(env, {
      name: 'vis',
      netns: sb.nsA,
      interfaces: [sb.ifA],
      functions: [
        { name: 'drop-bad', function: 'blocklist', maps: { blocked_v4: { [`${BLOCKED}/32`]: 1 } } },
        { name: 'flows', function: 'flowstats' },
      ],
    });
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
  });
  after(async () => {
    await peer?.stop();
    cleanupTestEnv(env);
    sb.down();
  });

  test('kfn stats --json: per function, exactly the datagrams sent (packets, bytes, passed, dropped)', async () => {
    await send(GOOD, 5353, 25);
    await send(GOOD, 9999, 3);
    await send(BLOCKED, 5353, 7);
    const doc = await settled();
    assert.deepEqual(
      doc.chains.map((c) => [c.name, c.interface, c.instances.map((i) => i.function)]),
      [['vis', sb.ifA, ['blocklist', 'flowstats']]],
    );
    assert.deepEqual(counters(doc, 'drop-bad'), { packets: 35, bytes: null, passed: 28, drops: 7 }, 'blocklist saw all, dropped the blocked source');
    assert.deepEqual(counters(doc, 'flows'), { packets: 28, bytes: 28 * FRAME, passed: 28, drops: null }, 'flowstats saw what blocklist passed, in whole frames');

    const text = kfnExpect(env, ['stats'], 0).stdout;
    assert.match(text, /^ {2}1 {2}drop-bad {2}blocklist@1\.0\.0 +35 +- +28 +7$/m);
    assert.match(text, new RegExp(`^ {2}2 {2}flows {5}flowstats@1\\.0\\.0 +28 +${28 * FRAME} +28 +-$`, 'm'));
  });

  test('kfn top --once --json: rates of what was sent between its two readings; flows as IPv4 with ports and protocol names', async () => {
    const before = counters(await settled(), 'drop-bad');
    const child = spawn(process.execPath, [CLI, '--log-format', 'json', '--log-level', 'info', 'top', '--once', '--json', '--interval', '4s'], {
      cwd: REPO_ROOT,
      env: { ...process.env, KFN_PIN_ROOT: env.pinRoot, KFN_STATE_DIR: env.stateDir, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const firstReading = new Promise<void>((resolve, reject) => {
      readline.createInterface({ input: child.stderr }).on('line', (l) => {
        err += l + '\n';
        if (l.includes('first reading of the counters taken')) resolve();
      });
      child.once('exit', () => reject(new Error(`kfn top exited before its first reading:\n${err}`)));
    });
    try {
      await firstReading;
      await send(GOOD, 7777, 11);
      await send(BLOCKED, 5353, 5);
    } finally {
      if ((await exited) !== 0) assert.fail(`kfn top exited non-zero:\n${err}\n${out}`);
    }
    const doc = JSON.parse(out) as TopJson;
    assertMatchesSchema('top', doc, 'kfn top --once --json');
    assert.doesNotMatch(out, /::ffff:/);
    assert.ok(doc.interval_seconds >= 4, `two readings 4s apart: ${doc.interval_seconds}`);

    // The one flow that grew in the interval comes first; the older flows are still there, idle.
    const [top, ...rest] = doc.flows;
    assert.deepEqual([top!.family, top!.protocol, top!.protocol_number, top!.src, top!.dst, top!.dport], [4, 'udp', 17, GOOD, '198.18.0.1', 7777]);
    assert.ok(top!.sport > 0, 'the source port');
    assert.deepEqual([top!.packets.total, top!.packets.interval, top!.bytes.total, top!.bytes.interval], [11, 11, 11 * FRAME, 11 * FRAME]);
    assert.ok(Math.abs(top!.packets.per_second - 11 / doc.interval_seconds) < 1e-9, `rate = interval / seconds: ${JSON.stringify(top)}`);
    const old = rest.filter((f) => f.src === GOOD && f.dport === 5353);
    assert.deepEqual(old.map((f) => [f.protocol, f.packets.total, f.packets.interval, f.packets.per_second]), [['udp', 25, 0, 0]]);
    assert.equal(doc.flow_count, 3, 'three flows passed blocklist (the blocked source never reaches flowstats)');
    assert.equal(doc.flows_not_shown, 0);

    const fn = (name: string) => doc.functions.find((f) => f.name === name)!.counters;
    assert.deepEqual(fn('drop-bad').drops, { total: (before.drops ?? 0) + 5, interval: 5, per_second: 5 / doc.interval_seconds });
    assert.deepEqual([fn('drop-bad').packets!.interval, fn('drop-bad').passed!.interval], [16, 11]);
    assert.deepEqual([fn('flows').packets!.total, fn('flows').packets!.interval, fn('flows').bytes!.interval], [39, 11, 11 * FRAME]);
    assert.equal(fn('flows').drops, null, 'flowstats counts no drops');

    // Sorted by bytes and limited: the count of what is left out.
    const lim = JSON.parse(kfnExpect(env, ['top', '--once', '--json', '--interval', '200ms', '--sort', 'bytes', '--limit', '1'], 0).stdout) as TopJson;
    assertMatchesSchema('top', lim, 'kfn top --once --json --limit 1');
    assert.deepEqual([lim.sort, lim.flows.length, lim.flow_count, lim.flows_not_shown], ['bytes', 1, 3, 2]);
    // No traffic in this interval: ordered by total bytes, the busiest flow of all.
    assert.deepEqual([lim.flows[0]!.dport, lim.flows[0]!.bytes.total], [5353, 25 * FRAME]);
  });

  test('kfn show --stats: flows busiest first, IPv4 as IPv4, protocols by name, no padding; a limit and --all', async () => {
    await settled();
    const text = kfnExpect(env, ['show', '--stats'], 0).stdout;
    assert.doesNotMatch(text, /::ffff:|\bpad\b|family/);
    const flowLines = text.split('\n').filter((l) => /^\s+udp\s+198\.18\.0\.2:\d+\s+198\.18\.0\.1:\d+/.test(l));
    assert.deepEqual(
      flowLines.map((l) => l.trim().split(/\s+/).slice(2, 5)),
      [
        ['198.18.0.1:5353', '25', String(25 * FRAME)],
        ['198.18.0.1:7777', '11', String(11 * FRAME)],
        ['198.18.0.1:9999', '3', String(3 * FRAME)],
      ],
      `flows by packets, most first:\n${text}`,
    );
    assert.match(text, /flows: 3 flows, most packets first/);
    // proto_stats by protocol name: every UDP datagram that got past blocklist.
    assert.match(text, /^\s+proto_stats: \[udp\] \{packets: 39, bytes: \d+\}$/m);
    assert.doesNotMatch(text, /proto_stats: \[3\] /);

    const one = kfnExpect(env, ['show', '--stats', '--limit', '1'], 0).stdout;
    assert.equal(one.split('\n').filter((l) => /^\s+udp\s+198\.18/.test(l)).length, 1);
    assert.match(one, /\.\.\. 2 more flows \(--limit N or --all shows them\)/);
    const all = kfnExpect(env, ['show', '--stats', '--all'], 0).stdout;
    assert.equal(all.split('\n').filter((l) => /^\s+udp\s+198\.18/.test(l)).length, 3);
    assert.doesNotMatch(all, /more (flows|entries)/);
  });

  test('live kfn top (not a terminal): a frame per interval, then a clean exit on SIGINT', async () => {
    const child = spawn(process.execPath, [CLI, 'top', '--interval', '300ms'], {
      cwd: REPO_ROOT,
      env: { ...process.env, KFN_PIN_ROOT: env.pinRoot, KFN_STATE_DIR: env.stateDir, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await eventually('two frames', () => (out.match(/^Flows /gm) ?? []).length >= 2, 200);
    } finally {
      child.kill('SIGINT'); // the process this test started, by its handle
    }
    assert.equal(await exited, 0, err);
    assert.doesNotMatch(out, /\x1b\[/, 'no redraw codes when stdout is not a terminal');
    assert.match(out, /udp\s+198\.18\.0\.2:\d+\s+198\.18\.0\.1:5353/);
  });

  test('bad input: one error line with a hint, exit 1, no stack trace', () => {
    for (const [args, code] of [
      [['top', '--once', '--chain', 'nope'], 'CHAIN_NOT_FOUND'],
      [['stats', '--interface', 'nope0'], 'INTERFACE_NOT_FOUND'],
      [['top', '--once', '--interval', 'soon'], 'USAGE'],
      [['top', '--interval', '1s', '--json'], 'USAGE'],
      [['show', '--stats', '--limit', '0'], 'USAGE'],
    ] as const) {
      const r = runKfn(env, [...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^error\\[${code}\\]: [^\\n]+\\n {2}hint: [^\\n]+\\n$`), args.join(' '));
    }
  });
});
