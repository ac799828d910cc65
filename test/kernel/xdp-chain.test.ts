/**
 * A blocklist + flowstats chain on XDP, driven end to end through the CLI with real
 * packets between two throwaway namespaces, observed independently through ip(8) and
 * bpftool. The subtests build on each other and run in order.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type ChainSpec, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect, pinDirOf, show, statField, statTexts, type ShowChain, type ShowState } from '../helpers/kfn.js';
import { percpuSum, progExists, progInfo, waitProgsGone } from '../helpers/bpftool.js';
import { ping, pingUntilOk } from '../helpers/ping.js';

const skip = kernelGate();
const FS_PROTO_ICMP = 1; // enum flowstats_proto in bpf/flowstats.bpf.c

describe('xdp chain: blocklist + flowstats', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('x'));
  let env: TestEnv;
  /** Every program id kfn created during this file (root and instances). */
  const created = new Set<number>();

  const dropBad = (blocked: string): FnSpec => ({ name: 'drop-bad', function: 'blocklist@1.0.0', maps: { blocked_v4: { [blocked]: 1 } } });
  const visibility: FnSpec = { name: 'visibility', function: 'flowstats' };
  const chain = (functions: FnSpec[]): ChainSpec => ({ name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions });

  const theChain = (s: ShowState): ShowChain => {
    assert.equal(s.chains.length, 1, `one chain expected, got ${JSON.stringify(s.chains.map((c) => c.chainName))}`);
    const c = s.chains[0]!;
    assert.deepEqual(c.attachment, { hook: 'xdp', ifname: sb.ifA, netns: sb.nsA });
    return c;
  };
  const inst = (c: ShowChain, name: string) => {
    const i = c.instances.find((x) => x.name === name);
    assert.ok(i, `instance ${name} in ${JSON.stringify(c.instances.map((x) => x.name))}`);
    return i;
  };
  const remember = (c: ShowChain): void => {
    created.add(c.rootProgId);
    for (const i of c.instances) created.add(i.progId);
  };
  /** flowstats ICMP packets and blocklist dropped_v4, from `kfn show --json --stats`. */
  const counters = () => {
    const s = show(env, true);
    const c = theChain(s);
    const icmpLine = statTexts(s, inst(c, 'visibility'), 'proto_stats').find((t) => t.startsWith(`[${FS_PROTO_ICMP}] `));
    assert.ok(icmpLine, 'proto_stats has an ICMP slot');
    const blk = statTexts(s, inst(c, 'drop-bad'), 'stats');
    assert.equal(blk.length, 1, `blocklist stats: ${JSON.stringify(blk)}`);
    return { icmp: statField(icmpLine, 'packets'), droppedV4: statField(blk[0]!, 'dropped_v4'), chain: c };
  };
  const src = (last: number) => `198.18.0.${last}`;

  before(() => {
    env = createTestEnv('xdp');
    sb.up();
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('1. apply [blocklist, flowstats]: blocked source dropped, others pass and are counted', async () => {
    writeChain(env, chain([dropBad('198.18.0.3/32'), visibility]));
    const r = kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    assert.match(r.stdout, /Apply complete! Resources: 3 added, 0 changed, 0 replaced, 0 destroyed\./);

    const blocked = ping(sb.nsB, src(1), { from: src(3), count: 3 });
    assert.equal(blocked.received, 0, `ping from the blocked source must fail:\n${blocked.output}`);
    const allowed = pingUntilOk(sb.nsB, src(1), { from: src(2), count: 3 });
    assert.equal(allowed.received, 3, `ping from an allowed source must pass:\n${allowed.output}`);

    const { icmp, droppedV4, chain: c } = counters();
    assert.equal(icmp, 3, 'flowstats counted exactly the 3 allowed echo requests (blocked ones never reach it)');
    assert.equal(droppedV4, 3, 'blocklist dropped the 3 blocked echo requests');
    // The same counter, read by bpftool straight from the pinned map.
    assert.equal(percpuSum(path.join(pinDirOf(env, inst(c, 'visibility')), 'maps', 'proto_stats'), FS_PROTO_ICMP, 'packets'), 3);

    assert.deepEqual(
      c.instances.map((i) => [i.name, i.identity.function]),
      [
        ['drop-bad', 'blocklist'],
        ['visibility', 'flowstats'],
      ],
    );
    // Independent observers: ip(8) sees kfn's root on the interface, bpftool knows it by name.
    assert.equal(sb.xdpProgIdA(), c.rootProgId, 'ip link shows prog/xdp with the chain root id');
    assert.match(sb.ip(sb.nsA, ['link', 'show', sb.ifA]), /prog\/xdp id \d+ name kfn_root_xdp/);
    assert.equal(progInfo(c.rootProgId).name, 'kfn_root_xdp');
    for (const i of c.instances) assert.ok(progExists(i.progId), `instance ${i.name} prog ${i.progId} loaded`);
    remember(c);
  });

  test('2. right after apply, plan has no changes', () => {
    const r = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    assert.match(r.stdout, /No changes\./);
  });

  test('3. reorder (flowstats first): plan shows only a reorder; blocked packets now counted, still dropped', () => {
    writeChain(env, chain([visibility, dropBad('198.18.0.3/32')]));
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /Plan: 0 to add, [1-9]\d* to change, 0 to replace, 0 to destroy\./);
    assert.match(p.stdout, /order: \[drop-bad, visibility\] -> \[visibility, drop-bad\]/);

    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    const before = counters();
    assert.deepEqual(
      before.chain.instances.map((i) => i.name),
      ['visibility', 'drop-bad'],
    );
    assert.equal(before.icmp, 3, 'counters survive the reorder (maps are kept)');
    remember(before.chain);

    const blocked = ping(sb.nsB, src(1), { from: src(3), count: 4 });
    assert.equal(blocked.received, 0, `still dropped after the reorder:\n${blocked.output}`);
    const now = counters();
    assert.equal(now.icmp, before.icmp + 4, 'flowstats (now first) counted every blocked echo request');
    assert.equal(now.droppedV4, before.droppedV4 + 4);
    assert.equal(sb.xdpProgIdA(), now.chain.rootProgId, 'same root still attached');

    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
  });

  test('4. change the blocked prefix: in-place map update, same programs', () => {
    const s0 = theChain(show(env));
    writeChain(env, chain([visibility, dropBad('198.18.0.2/32')]));
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy\./);
    assert.match(p.stdout, /~ chain "edge"/);
    assert.match(p.stdout, /~ drop-bad\b/);
    assert.match(p.stdout, /\+ blocked_v4\["198\.18\.0\.2\/32"\] = 1/);
    assert.match(p.stdout, /- blocked_v4\["198\.18\.0\.3\/32"\]/);
    assert.doesNotMatch(p.stdout, /forces replacement/);

    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    const s1 = theChain(show(env));
    assert.equal(s1.rootProgId, s0.rootProgId, 'root program unchanged');
    assert.equal(s1.linkId, s0.linkId, 'link unchanged');
    assert.deepEqual(
      s1.instances.map((i) => [i.name, i.progId]),
      s0.instances.map((i) => [i.name, i.progId]),
      'instance program ids unchanged by an in-place map update',
    );
    assert.deepEqual(
      inst(s1, 'drop-bad').maps.blocked_v4?.map((e) => e.keyText),
      ['198.18.0.2/32'],
    );

    const nowBlocked = ping(sb.nsB, src(1), { from: src(2), count: 3 });
    assert.equal(nowBlocked.received, 0, `198.18.0.2 is now blocked:\n${nowBlocked.output}`);
    const nowAllowed = pingUntilOk(sb.nsB, src(1), { from: src(3), count: 3 });
    assert.equal(nowAllowed.received, 3, `198.18.0.3 is now allowed:\n${nowAllowed.output}`);
  });

  test('5. remove flowstats, then destroy: nothing left in the kernel or under the pin root', async () => {
    const s0 = theChain(show(env));
    const vis = inst(s0, 'visibility');
    const visDir = pinDirOf(env, vis);
    writeChain(env, chain([dropBad('198.18.0.2/32')]));
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /0 to add, \d+ to change, 0 to replace, 1 to destroy\./);
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);

    const s1 = theChain(show(env));
    assert.deepEqual(
      s1.instances.map((i) => i.name),
      ['drop-bad'],
    );
    remember(s1);
    assert.ok(!fs.existsSync(visDir), `flowstats pins removed (${visDir})`);
    assert.deepEqual(await waitProgsGone([vis.progId]), [], `flowstats prog ${vis.progId} unloaded`);
    const stillBlocked = ping(sb.nsB, src(1), { from: src(2), count: 2 });
    assert.equal(stillBlocked.received, 0, 'the blocklist still works without flowstats');

    const d = kfnExpect(env, ['destroy', env.manifestDir, '--auto-approve'], 0);
    assert.match(d.stdout, /Resources: 0 added, 0 changed, 0 replaced, 2 destroyed\./, 'the chain and its one instance');
    assert.equal(sb.xdpProgIdA(), undefined, 'no XDP program on the interface');
    assert.doesNotMatch(sb.ip(sb.nsA, ['link', 'show', sb.ifA]), / xdp(generic|drv|offload)? |prog\/xdp/);
    const chainsDir = path.join(env.pinRoot, 'chains');
    const leftovers = fs.existsSync(chainsDir) ? fs.readdirSync(chainsDir, { recursive: true }) : [];
    assert.deepEqual(leftovers, [], 'no chains left under the pin root');
    assert.deepEqual(show(env).chains, []);
    assert.ok(created.size >= 5, `tracked program ids: ${[...created].join(', ')}`);
    assert.deepEqual(await waitProgsGone(created), [], 'none of the programs kfn created is still loaded');
    const ok = pingUntilOk(sb.nsB, src(1), { from: src(2), count: 2 });
    assert.equal(ok.received, 2, 'traffic flows again');
  });

  test('6. IPv6: blocked_v6 drops a v6 source; removing the entry lets it through', async () => {
    const v6 = (entries: Record<string, number>): FnSpec => ({ name: 'drop-bad', function: 'blocklist@1.0.0', maps: { blocked_v6: entries } });
    writeChain(env, chain([v6({ '2001:2::2/128': 1 })]));
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    const c0 = theChain(show(env));
    remember(c0);

    const blocked = ping(sb.nsB, '2001:2::1', { v6: true, count: 2 });
    assert.equal(blocked.received, 0, `v6 ping from the blocked source must fail:\n${blocked.output}`);
    const s = show(env, true);
    const dropped = statField(statTexts(s, inst(theChain(s), 'drop-bad'), 'stats')[0]!, 'dropped_v6');
    assert.ok(dropped > 0, `dropped_v6 = ${dropped}`);

    // Maps a manifest does not mention are left alone: empty it explicitly.
    writeChain(env, chain([v6({})]));
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /- blocked_v6\["2001:2::2\/128"\]/);
    assert.match(p.stdout, /0 to replace/);
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    assert.equal(theChain(show(env)).instances[0]!.progId, c0.instances[0]!.progId, 'map update in place');
    // Neighbour discovery was being dropped too: give it a few rounds (~2 s) to settle.
    const ok = pingUntilOk(sb.nsB, '2001:2::1', { v6: true, count: 2, tries: 4 });
    assert.equal(ok.received, 2, `v6 ping passes once unblocked:\n${ok.output}`);

    kfnExpect(env, ['destroy', env.manifestDir, '--auto-approve'], 0);
    assert.equal(sb.xdpProgIdA(), undefined);
    assert.deepEqual(await waitProgsGone(created), []);
  });
});
