/**
 * `kfn test` and `kfn plan --packets` against the real kernel, through the CLI: packet
 * cases for a blocklist + rate limit + flowstats chain on XDP and an allowlist chain on
 * tc ingress (IPv4, IPv6, 802.1Q-tagged frames, a TCP SYN flood as an ordered
 * sequence), run through private shadows with BPF_PROG_TEST_RUN.
 *
 * - With no network namespace or interface of the manifests in existence, every case
 *   passes (exit 0); the JSON report follows its schema and the JUnit file parses.
 * - A wrong expectation fails with the case named, and exit 1.
 * - With both chains applied to a veth and their counters moved by real traffic, the
 *   kernel is identical before and after `kfn test`: bpftool's program, map and link ids,
 *   the pins, every pinned map's contents (counters included), `kfn show --json --stats`,
 *   the XDP program on the interface.
 * - `kfn plan --packets` on a change that adds a blocked prefix lists exactly the cases
 *   whose source is in that prefix as PASS -> DROP at drop-bad, in text and in JSON, and
 *   changes nothing either.
 * - A shadow of 16 instances (markers included: 33 tail calls, the kernel's limit) names
 *   the deciding instance; one of 17 is built without markers and still gets verdicts right.
 * - The live shadow finds an instance's object by sha256 among the manifests' objects when
 *   the recorded file moved; a case it cannot build is noted, not compared, and the plan
 *   is still made.
 * - Test runs happen in a private netns holding only a loopback device.
 * - In-process, running the cases leaves no fd open (shadows hold fds only, so nothing
 *   of theirs outlives them).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { spawnSync } from 'node:child_process';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { chainYaml, cleanupTestEnv, createTestEnv, writeChain, type ChainSpec, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect, runKfn, show } from '../helpers/kfn.js';
import { bpftoolJson, isEmptyDiff, snapshot, waitSameKernel } from '../helpers/bpftool.js';
import { pingUntilOk } from '../helpers/ping.js';
import { BPF_BUILD, OBJECTS, REPO_ROOT } from '../helpers/paths.js';
import { Engine, loadDesired, reportPassed } from '../../src/engine/index.js';
import { buildFrame, loadPacketTests } from '../../src/packets/index.js';
import { tailcallForm } from '../../src/forms/tailcall/index.js';
import { PrivateNetns, listInterfacesHere } from '../../src/libbpf/index.js';
import ipaddr from 'ipaddr.js';

const EXTRA_OBJECTS = ['allowlist.bpf.o', 'shadow_mark.bpf.o'];
const skip = kernelGate({ objects: [...OBJECTS, ...EXTRA_OBJECTS] });

const ALLOWLIST_FUNCTION = `
---
apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: allowlist }
spec:
  version: 1.0.0
  object: objects/allowlist.bpf.o
  program: allowlist
  hooks: [xdp, tc-ingress, tc-egress]
`;

/** Cases of the XDP chain: drop-bad (blocklist), limit (ratelimit, 5 packets in all for 198.18.5.0/24), visibility. */
const EDGE_CASES = `apiVersion: kfn.dev/v1alpha1
kind: PacketTest
metadata: { name: edge-cases }
spec:
  chain: edge
  cases:
    - name: v4 allowed source passes the whole chain
      packet: { ip: { src: 198.18.0.2, dst: 198.18.0.1 }, icmp: {} }
      expect: pass
    - name: v4 blocked host is dropped by the blocklist
      packet: { ip: { src: 198.18.0.3, dst: 198.18.0.1 }, icmp: {} }
      expect: drop
      decidedBy: drop-bad
    - name: v4 source in a blocked prefix is dropped
      packet: { ip: { src: 198.18.1.77, dst: 198.18.0.1 }, tcp: { dst: 443, flags: [syn] } }
      expect: drop
      decidedBy: drop-bad
    - name: v6 allowed source passes
      packet: { ip: { src: "2001:2::2", dst: "2001:2::1" }, udp: { dst: 53 } }
      expect: pass
    - name: v6 blocked host is dropped
      packet: { ip: { src: "2001:2::dead", dst: "2001:2::1" }, icmpv6: {} }
      expect: drop
      decidedBy: drop-bad
    - name: a VLAN tag does not hide a blocked v4 source
      packet: { eth: { vlan: { id: 100, priority: 3 } }, ip: { src: 198.18.0.3, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: drop
      decidedBy: drop-bad
    - name: a VLAN-tagged v6 packet from an allowed source passes
      packet: { eth: { vlan: { id: 7 } }, ip: { src: "2001:2::2", dst: "2001:2::1" }, tcp: { dst: 22, flags: [syn] } }
      expect: pass
    - name: client 7 of 198.18.2.0/24
      packet: { ip: { src: 198.18.2.7, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: pass
    - name: client 200 of 198.18.2.0/24 behind a VLAN tag
      packet: { eth: { vlan: { id: 42 } }, ip: { src: 198.18.2.200, dst: 198.18.0.1 }, tcp: { dst: 80, flags: [syn] } }
      expect: pass
    - name: the neighbour 198.18.3.1 is not in that prefix
      packet: { ip: { src: 198.18.3.1, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: pass
    - name: a TCP SYN flood from 198.18.5.0/24 is cut after its burst, other sources are not
      sequence:
        - packet: { ip: { src: 198.18.5.9, dst: 198.18.0.1 }, tcp: { src: 41000, dst: 80, flags: [syn] } }
          repeat: 8
          expect: [{ pass: 5 }, { drop: 3, decidedBy: limit }]
        - packet: { ip: { src: 198.18.0.2, dst: 198.18.0.1 }, tcp: { dst: 80, flags: [syn] } }
          expect: pass
        - packet: { ip: { src: 198.18.5.10, dst: 198.18.0.1 }, tcp: { dst: 80, flags: [syn] } }
          repeat: 2
          expect: drop
          decidedBy: limit
    - name: a blocked source never reaches the rate limit
      sequence:
        - packet: { ip: { src: 198.18.1.1, dst: 198.18.0.1 }, tcp: { dst: 80, flags: [syn] } }
          repeat: 10
          expect: drop
          decidedBy: drop-bad
        - packet: { ip: { src: 198.18.5.9, dst: 198.18.0.1 }, tcp: { dst: 80, flags: [syn] } }
          repeat: 6
          expect: { pass: 5, drop: 1 }
`;

/** Cases of the tc chain: allow (allowlist of 198.18.0.0/24 and 2001:2::/64). */
const ALLOW_CASES = `apiVersion: kfn.dev/v1alpha1
kind: PacketTest
metadata: { name: allow-cases }
spec:
  chain: allow
  cases:
    - name: v4 listed source passes
      packet: { ip: { src: 198.18.0.2, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: pass
    - name: v4 unlisted source is dropped
      packet: { ip: { src: 198.18.9.9, dst: 198.18.0.1 }, tcp: { dst: 22, flags: [syn] } }
      expect: drop
      decidedBy: allow
    - name: v6 listed source passes
      packet: { ip: { src: "2001:2::2", dst: "2001:2::1" }, icmpv6: {} }
      expect: pass
    - name: v6 unlisted source is dropped
      packet: { ip: { src: "2001:2:0:1::1", dst: "2001:2::1" }, icmpv6: {} }
      expect: drop
      decidedBy: allow
    - name: a VLAN-tagged unlisted v4 source is dropped
      packet: { eth: { vlan: { id: 100 } }, ip: { src: 198.18.9.9, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: drop
      decidedBy: allow
`;

const WRONG_CASES = `apiVersion: kfn.dev/v1alpha1
kind: PacketTest
metadata: { name: wrong }
spec:
  chain: edge
  cases:
    - name: allowed source passes
      packet: { ip: { src: 198.18.0.2, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: pass
    - name: blocked host wrongly expected to pass
      packet: { ip: { src: 198.18.0.3, dst: 198.18.0.1 }, udp: { dst: 53 } }
      expect: pass
    - name: flood wrongly expected to be cut after 6
      packet: { ip: { src: 198.18.5.1, dst: 198.18.0.1 }, tcp: { dst: 80, flags: [syn] } }
      repeat: 8
      expect: [{ pass: 6 }, { drop: 2, decidedBy: limit }]
`;

/** The cases whose source lies in 198.18.2.0/24. */
const IN_NEW_PREFIX = ['client 7 of 198.18.2.0/24', 'client 200 of 198.18.2.0/24 behind a VLAN tag'];

interface TestJson {
  format_version: string;
  passed: boolean;
  summary: { cases: number; passed: number; failed: number; errors: number; packets: number };
  chains: { name: string; hook: string; instances: string[]; knows_decider: boolean }[];
  cases: { test: string; case: string; result: string; steps: { outcomes: { verdict: string; decided_by: string | null; count: number }[] }[] }[];
}

interface PlanPacketsJson {
  packet_changes: {
    cases: number;
    changed: number;
    summary: { address: string; text: string; count: number }[];
    changes: { test: string; case: string; packet: number; count: number; before: { verdict: string; decided_by: string | null }; after: { verdict: string; decided_by: string | null } }[];
  } | null;
}

describe('kfn test and kfn plan --packets: shadow chains', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('q'));
  let env: TestEnv;
  let casesDir = '';

  const edge = (blockedV4: Record<string, number>): ChainSpec => ({
    name: 'edge',
    hook: 'xdp',
    netns: sb.nsA,
    interfaces: [sb.ifA],
    mode: 'generic',
    functions: [
      { name: 'drop-bad', function: 'blocklist@1.0.0', maps: { blocked_v4: blockedV4, blocked_v6: { '2001:2::dead/128': 1 } } },
      // rate_pps 0: a rule's bucket never refills, exactly `burst` packets pass: no clock in the verdicts.
      { name: 'limit', function: 'ratelimit', maps: { rules_v4: { '198.18.5.0/24': { rate_pps: 0, burst: 5 } as unknown as number } } },
      { name: 'visibility', function: 'flowstats' },
    ],
  });
  const allow: ChainSpec = {
    name: 'allow',
    hook: 'tc-ingress',
    netns: sb.nsA,
    interfaces: [sb.ifA],
    functions: [{ name: 'allow', function: 'allowlist', maps: { allowed_v4: { '198.18.0.0/24': 1 }, allowed_v6: { '2001:2::/64': 1 } } }],
  };
  const BLOCKED = { '198.18.0.3/32': 1, '198.18.1.0/24': 1 };

  const cases = (name: string): string => path.join(casesDir, name);
  const kfnTest = (packets: string, code: number, extra: string[] = []) => kfnExpect(env, ['test', env.manifestDir, '--packets', packets, ...extra], code);

  before(() => {
    env = createTestEnv('shadow');
    for (const o of EXTRA_OBJECTS) fs.copyFileSync(path.join(BPF_BUILD, o), path.join(env.manifestDir, 'objects', o));
    const functions = path.join(env.manifestDir, 'functions.yaml');
    if (!/name: allowlist\b/.test(fs.readFileSync(functions, 'utf8'))) fs.appendFileSync(functions, ALLOWLIST_FUNCTION);
    writeChain(env, edge(BLOCKED), 'edge.yaml');
    writeChain(env, allow, 'allow.yaml');
    casesDir = path.join(env.stateDir, 'cases');
    for (const [dir, file, text] of [
      ['good', 'edge.yaml', EDGE_CASES],
      ['good', 'allow.yaml', ALLOW_CASES],
      ['wrong', 'wrong.yaml', WRONG_CASES],
    ] as const) {
      fs.mkdirSync(cases(dir), { recursive: true });
      fs.writeFileSync(path.join(cases(dir), file), text);
    }
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('1. every case passes, with no netns or interface of the manifests on the host; JSON per its schema, JUnit parses', () => {
    assert.ok(!sb.exists(), 'the manifests name namespaces that do not exist yet');
    const junit = path.join(env.stateDir, 'junit.xml');
    const r = kfnTest(cases('good'), 0, ['--junit', junit]);
    assert.match(r.stdout, /^ {2}edge \(xdp\): drop-bad -> limit -> visibility$/m);
    assert.match(r.stdout, /^ {2}allow \(tc-ingress\): allow$/m);
    assert.match(r.stdout, /^PASS {2}edge-cases \/ v4 blocked host is dropped by the blocklist: drop by drop-bad; expected drop by drop-bad$/m);
    assert.match(r.stdout, /^PASS {2}edge-cases \/ v4 allowed source passes the whole chain: pass \(end of chain\); expected pass$/m);
    assert.match(r.stdout, /^ {8}step 1: pass x5, drop x3 by limit; expected pass x5, drop x3 by limit$/m);
    assert.match(r.stdout, /^PASS {2}allow-cases \/ v6 unlisted source is dropped: drop by allow; expected drop by allow$/m);
    assert.match(r.stdout, /\nOK\. 17 cases: 17 passed, 0 failed \(42 packets\)\.\n$/);

    const j = JSON.parse(kfnTest(cases('good'), 0, ['--json']).stdout) as TestJson;
    const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas', 'test-output.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    assert.ok(validate(j), JSON.stringify(validate.errors, null, 2));
    assert.equal(j.passed, true);
    assert.deepEqual(j.summary, { cases: 17, passed: 17, failed: 0, errors: 0, packets: 42 });
    assert.deepEqual(j.chains.map((c) => [c.name, c.hook, c.instances, c.knows_decider]), [
      ['allow', 'tc-ingress', ['allow'], true],
      ['edge', 'xdp', ['drop-bad', 'limit', 'visibility'], true],
    ]);
    const flood = j.cases.find((c) => c.case.startsWith('a TCP SYN flood'))!;
    assert.deepEqual(flood.steps.map((s) => s.outcomes), [
      [
        { verdict: 'pass', decided_by: null, count: 5 },
        { verdict: 'drop', decided_by: 'limit', count: 3 },
      ],
      [{ verdict: 'pass', decided_by: null, count: 1 }],
      [{ verdict: 'drop', decided_by: 'limit', count: 2 }],
    ]);

    assert.doesNotMatch(fs.readFileSync(junit, 'utf8'), /<failure|<error/);
    const py = spawnSync('python3', ['-c', 'import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); print(r.get("tests"), r.get("failures"), len(r.findall("testsuite")), len(r.findall(".//testcase")))', junit], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    assert.equal(py.stdout.trim(), '17 0 2 17');
  });

  test('2. a wrong expectation fails with the case named, exit 1; the right case in the same file passes', () => {
    const junit = path.join(env.stateDir, 'wrong.xml');
    const r = kfnTest(cases('wrong'), 1, ['--junit', junit]);
    assert.match(r.stdout, /^PASS {2}wrong \/ allowed source passes: /m);
    assert.match(r.stdout, /^FAIL {2}wrong \/ blocked host wrongly expected to pass: drop by drop-bad; expected pass$/m);
    assert.match(r.stdout, /^ {8}packet 1 \(udp 198\.18\.0\.3:40000 > 198\.18\.0\.1:53, 42 bytes\): expected pass, got drop$/m);
    assert.match(r.stdout, /^FAIL {2}wrong \/ flood wrongly expected to be cut after 6: pass x5, drop x3 by limit; expected pass x6, drop x2 by limit$/m);
    assert.match(r.stdout, /^ {8}packet 6 \(tcp 198\.18\.5\.1:40000 > 198\.18\.0\.1:80 \[syn\], 54 bytes\): expected pass, got drop$/m);
    assert.match(r.stdout, /FAILED\. 3 cases: 1 passed, 2 failed \(10 packets\)\.\n$/);
    const xml = fs.readFileSync(junit, 'utf8');
    assert.match(xml, /<testcase classname="wrong" name="blocked host wrongly expected to pass" file="[^"]+wrong\.yaml" line="10">\n {6}<failure type="verdict" message="packet 1: expected pass, got drop">/);
    assert.equal((xml.match(/<failure /g) ?? []).length, 2);
  });

  test('3. a chain or decidedBy the manifests do not have is refused before anything runs', () => {
    const bad = path.join(casesDir, 'bad.yaml');
    fs.writeFileSync(bad, WRONG_CASES.replace('chain: edge', 'chain: edgy'));
    let r = runKfn(env, ['test', env.manifestDir, '--packets', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error\[PACKET_CHAIN_NOT_FOUND\]: .*bad\.yaml:\d+:\d+: PacketTest "wrong" names chain "edgy", which the manifests do not define\n {2}hint: chains defined: allow, edge\n$/);
    fs.writeFileSync(bad, WRONG_CASES.replace('decidedBy: limit', 'decidedBy: limiter'));
    r = runKfn(env, ['test', env.manifestDir, '--packets', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[PACKET_DECIDER_NOT_FOUND\]: .*bad\.yaml:\d+:\d+: case "flood wrongly expected to be cut after 6": decidedBy "limiter" is not an instance of chain "edge"\n {2}hint: instances of edge, in packet order: drop-bad, limit, visibility/);
    assert.equal(r.stdout, '');
  });

  /** Every observable of the live kernel under our pin root. */
  function world() {
    const pins: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else pins.push(p);
      }
    };
    walk(env.pinRoot);
    const maps: Record<string, unknown> = {};
    for (const p of pins.sort()) {
      if (spawnSync('bpftool', ['map', 'show', 'pinned', p], { stdio: 'ignore' }).status !== 0) continue; // a program or link pin
      maps[p] = bpftoolJson(['map', 'dump', 'pinned', p]);
    }
    return { show: show(env, true), maps, xdp: sb.xdpProgIdA() };
  }

  test('4. with both chains live and counting real traffic, kfn test leaves the kernel exactly as it was', async () => {
    sb.up();
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    const ok = pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.2', count: 3 });
    assert.equal(ok.received, 3, ok.output);
    // Nothing reaches the hooks any more: no neighbour discovery or MLD can move a counter while we compare.
    sb.ip(sb.nsB, ['link', 'set', sb.ifB, 'down']);
    const live = show(env, true);
    assert.deepEqual(live.chains.map((c) => c.chainName).sort(), ['allow', 'edge']);
    const flows = live.chains.find((c) => c.chainName === 'edge')!.instances.find((i) => i.name === 'visibility')!;
    assert.ok(Object.values(flows.stats ?? {}).flat().some((l) => /packets: [1-9]/.test(l)), `live counters moved: ${JSON.stringify(flows.stats)}`);

    const bpfBefore = snapshot();
    const before = world();
    kfnTest(cases('good'), 0);
    kfnTest(cases('wrong'), 1);
    const d = await waitSameKernel(bpfBefore, env.pinRoot);
    assert.ok(isEmptyDiff(d), `bpftool ids or pins changed:\n${JSON.stringify(d, null, 2)}`);
    assert.deepEqual(world(), before, 'pinned maps (parameters, counters, slots), kfn show --stats and the XDP attachment are unchanged');

    // The comparison sees live counters: one real packet through the chains changes it.
    sb.ip(sb.nsB, ['link', 'set', sb.ifB, 'up']);
    assert.equal(pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.2', count: 1 }).received, 1);
    sb.ip(sb.nsB, ['link', 'set', sb.ifB, 'down']);
    assert.notDeepEqual(world().maps, before.maps, 'real traffic moves the counters world() compares');
  });

  test('5. plan --packets on an added blocked prefix: exactly the cases in it go PASS -> DROP at drop-bad, in text and JSON', async () => {
    const bpfBefore = snapshot();
    const before = world();
    writeChain(env, edge({ ...BLOCKED, '198.18.2.0/24': 1 }), 'edge.yaml');

    const r = kfnExpect(env, ['plan', env.manifestDir, '--packets', cases('good'), '--detailed-exitcode'], 2);
    assert.match(r.stdout, /\+ blocked_v4\["198\.18\.2\.0\/24"\] = 1/);
    const section = r.stdout.slice(r.stdout.indexOf('Packet tests'));
    assert.match(section, /^Packet tests \(17 cases, 42 packets through shadows of the live and the planned chains\):\n {2}! 2 packets change verdict PASS -> DROP at drop-bad on [^\n]+\/xdp \(netns [^)]+\):\n/);
    const listed = [...section.matchAll(/^ {6}edge-cases \/ (.+): packet 1 \(/gm)].map((m) => m[1]);
    assert.deepEqual(listed, IN_NEW_PREFIX);
    assert.equal((section.match(/^ {2}! /gm) ?? []).length, 1, 'one group of changes, nothing else changes');

    const j = JSON.parse(kfnExpect(env, ['plan', env.manifestDir, '--packets', cases('good'), '--json'], 0).stdout) as PlanPacketsJson;
    const pc = j.packet_changes!;
    assert.equal(pc.cases, 17);
    assert.equal(pc.changed, 2);
    assert.deepEqual(pc.summary.map((s) => s.text), ['2 packets change verdict PASS -> DROP at drop-bad']);
    assert.deepEqual(
      pc.changes.map((c) => [c.test, c.case, c.packet, c.count, c.before, c.after]),
      IN_NEW_PREFIX.map((name) => ['edge-cases', name, 1, 1, { verdict: 'pass', decided_by: null }, { verdict: 'drop', decided_by: 'drop-bad' }]),
    );

    const d = await waitSameKernel(bpfBefore, env.pinRoot);
    assert.ok(isEmptyDiff(d), `bpftool ids or pins changed:\n${JSON.stringify(d, null, 2)}`);
    assert.deepEqual(world(), before, 'plan --packets changed nothing live');
  });

  test('6. plan --packets with no change: no packet changes verdict; without --packets the JSON says null', () => {
    writeChain(env, edge(BLOCKED), 'edge.yaml');
    const r = kfnExpect(env, ['plan', env.manifestDir, '--packets', cases('good')], 0);
    assert.match(r.stdout, /Packet tests: no packet changes verdict \(17 cases, 42 packets through shadows of the live and the planned chains\)\./);
    assert.match(r.stdout, /No changes\./);
    const j = JSON.parse(kfnExpect(env, ['plan', env.manifestDir, '--json'], 0).stdout) as PlanPacketsJson;
    assert.equal(j.packet_changes, null);
  });

  test('7. in-process: testPackets closes every fd it opened (shadows, netns), whatever the verdicts', () => {
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    const engine = new Engine({ paths: { pinRoot: env.pinRoot, stateDir: env.stateDir } });
    const desired = loadDesired(env.manifestDir);
    const good = loadPacketTests(cases('good'));
    const wrong = loadPacketTests(cases('wrong'));
    engine.testPackets(desired, good); // libbpf and koffi open what they keep for the process once
    const before = fds();
    const ok = engine.testPackets(desired, good);
    const bad = engine.testPackets(desired, wrong);
    assert.equal(fds(), before, 'no fd left open');
    assert.ok(reportPassed(ok));
    assert.ok(!reportPassed(bad));
    assert.deepEqual(bad.cases.map((c) => c.passed), [true, false, false]);
  });

  test('8. the longest chain a shadow marks (16 instances: 33 tail calls) tells the decider; 17 are shadowed unmarked, verdicts still right', () => {
    const dir = path.join(env.stateDir, 'long');
    fs.mkdirSync(dir, { recursive: true });
    fs.cpSync(path.join(env.manifestDir, 'objects'), path.join(dir, 'objects'), { recursive: true });
    fs.copyFileSync(path.join(env.manifestDir, 'functions.yaml'), path.join(dir, 'functions.yaml'));
    const long = (n: number): ChainSpec => ({
      name: `long${n}`,
      hook: 'xdp',
      netns: sb.nsA,
      interfaces: [`${sb.prefix}-l${n}`],
      functions: [...Array.from({ length: n - 1 }, (_, i) => ({ name: `c${i + 1}`, function: 'counter' })), { name: 'last', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.3/32': 1 } } }],
    });
    fs.writeFileSync(path.join(dir, 'long16.yaml'), chainYaml(long(16)));
    fs.writeFileSync(path.join(dir, 'long17.yaml'), chainYaml(long(17)));
    const desired = loadDesired(dir);
    const frame = (src: string) => buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ip: { version: 4, src: ipaddr.IPv4.parse(src), dst: ipaddr.IPv4.parse('198.18.0.1'), ttl: 64 }, l4: { protocol: 'udp', srcPort: 1, dstPort: 53 }, payloadLength: 0 });
    const seen: Record<string, unknown> = {};
    for (const c of desired.chains) {
      const shadow = tailcallForm.shadow({ kind: 'desired', chainName: c.name, hook: c.hook, instances: c.instances });
      try {
        seen[c.name] = { knows: shadow.knowsDecider, blocked: shadow.run(frame('198.18.0.3')), other: shadow.run(frame('198.18.0.2')) };
      } finally {
        shadow.release();
      }
    }
    assert.deepEqual(seen, {
      long16: { knows: true, blocked: { verdict: 'drop', decidedBy: 'last' }, other: { verdict: 'pass' } },
      long17: { knows: false, blocked: { verdict: 'drop' }, other: { verdict: 'pass' } },
    });
  });

  test('9. plan --packets finds a live object by sha256 among the manifests\' objects, and notes the cases it cannot compare', () => {
    const objects = path.join(env.manifestDir, 'objects');
    const moved = path.join(env.manifestDir, 'objects2');
    const functions = path.join(env.manifestDir, 'functions.yaml');
    const text = fs.readFileSync(functions, 'utf8');
    fs.cpSync(objects, moved, { recursive: true });
    // Another build of flowstats (same programs, another sha256); every other object only moved.
    fs.appendFileSync(path.join(moved, 'flowstats.bpf.o'), Buffer.from([0]));
    fs.renameSync(objects, `${objects}-gone`);
    // The manifests' flowstats@1.0.0 is then not the built-in's object: it says it replaces it (docs/library.md).
    const shadowing = text.replaceAll('objects/', 'objects2/').replace('  object: objects2/flowstats.bpf.o\n', '  object: objects2/flowstats.bpf.o\n  shadowsBuiltin: true\n');
    assert.notEqual(shadowing, text.replaceAll('objects/', 'objects2/'));
    fs.writeFileSync(functions, shadowing);
    try {
      const j = JSON.parse(kfnExpect(env, ['plan', env.manifestDir, '--packets', cases('good'), '--json'], 0).stdout) as PlanPacketsJson & { packet_changes: { notes: string[]; packets: number } };
      const pc = j.packet_changes!;
      assert.equal(pc.cases, 5, 'the allowlist cases were compared (its live object found under objects2/ by sha256)');
      assert.equal(pc.changed, 0);
      assert.equal(pc.notes.length, 12, JSON.stringify(pc.notes, null, 2));
      for (const n of pc.notes) assert.match(n, /^case ".+" of PacketTest "edge-cases" was not compared on .+\/xdp: error\[SHADOW_OBJECT_MISSING\] live instance "visibility" on .+ was loaded from .+objects\/flowstats\.bpf\.o \(sha256 [0-9a-f]{12}\), which is gone or has changed/);
    } finally {
      fs.writeFileSync(functions, text);
      fs.renameSync(`${objects}-gone`, objects);
      fs.rmSync(moved, { recursive: true, force: true });
    }
  });

  test('10. test runs happen in a private netns that holds only a loopback device, and the thread comes back to its own', () => {
    const own = fs.readlinkSync('/proc/thread-self/ns/net');
    const ns = PrivateNetns.create();
    try {
      const inside = ns.run(() => ({ netns: fs.readlinkSync('/proc/thread-self/ns/net'), interfaces: listInterfacesHere() }));
      assert.notEqual(inside.netns, own);
      assert.deepEqual(inside.interfaces, [{ ifindex: 1, ifname: 'lo' }]);
      assert.equal(ns.run(() => fs.readlinkSync('/proc/thread-self/ns/net')), inside.netns, 'the same namespace on every run');
    } finally {
      ns.close();
    }
    assert.equal(fs.readlinkSync('/proc/thread-self/ns/net'), own);
    assert.throws(() => ns.run(() => 0), /after close/);
  });
});

