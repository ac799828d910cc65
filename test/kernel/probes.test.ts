/**
 * Probes with real events, through manifests and `kfn apply`:
 *
 *   - kprobe and fentry requests fail at plan time with one error naming what the kernel
 *     lacks, and neither plan nor apply changes anything (bpftool ids and pins compared);
 *     a valid probe next to them is not applied either.
 *   - A tracepoint probe (tcpretrans on tcp/tcp_retransmit_skb) counts the SYN
 *     retransmissions of a real connection attempt from namespace b, whose SYNs a kfn
 *     blocklist chain drops on a's veth: its count for the port equals the kernel's own
 *     RetransSegs counter of namespace b (the only TCP there).
 *   - A uprobe and a uretprobe (probecount) count the calls of a function in a binary
 *     the test builds: 3 runs of 25 calls are 75 each.
 *   - Drift: the binary replaced (a new inode is not probed), a link pin removed by hand:
 *     plan shows it with `!`, apply attaches again, events count again.
 *   - A map change is written in place (same program), a new version replaces the probe
 *     and carries its counter over.
 *   - An apply that replaces one probe and creates another, failed before each of its
 *     steps or killed after each (SIGKILL), leaves the kernel as it was once the next
 *     command has recovered: same programs, same pins, every probe attached and counting.
 *   - Destroy removes every probe object.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { NetPeer } from '../helpers/net-peer.js';
import { CLI, KfnHarness, kernelFunction, sandboxPrefix, sandboxUp, type Sandbox } from '../helpers/traffic-env.js';
import { snapshot, waitSameKernel, progExists } from '../helpers/bpftool.js';

/**
 * The kernel as our pin root sees it is unchanged: nothing of ours removed, the same pins,
 * no program or link added. Maps alone are not compared as added: other test files on
 * the host create maps all the time, and a map kfn left behind unpinned and unreferenced
 * is freed with its last fd (a program or link would have to hold it, and those count).
 */
async function assertKernelUnchanged(world: ReturnType<typeof snapshot>, pinRoot: string, what: string): Promise<void> {
  // Polls longer than the default: the host may be busy with other test files' objects.
  const d = await waitSameKernel(world, pinRoot, 10_000);
  const changed = d.pins !== null || Object.values(d.removed).some((ids) => ids.length > 0) || d.added.progs.length > 0 || d.added.links.length > 0;
  if (!changed) return;
  const now = snapshot();
  const names = [...d.added.progs.map((id) => `prog ${id} ${now.progs.get(id)?.name ?? '(gone)'}`), ...d.added.links.map((id) => `link ${id} ${now.links.get(id)?.type ?? '(gone)'}`)];
  assert.fail(`${what}: the kernel changed: ${JSON.stringify(d)}; added: ${names.join(', ')}`);
}

const skip = kernelGate({ objects: ['root.bpf.o', 'blocklist.bpf.o', 'tcpretrans.bpf.o', 'probecount.bpf.o'], tools: ['gcc'] });
const NET = '198.18.22';
// Below the ephemeral range (32768-60999): no other connection of the host has these as its local port.
const PORT = 29511;
const PORT2 = 29512;

interface ProbeJson {
  name: string;
  prog_id: number;
  link_id: number | null;
  attached: boolean;
  target: { hook: string; text: string };
  drift: string[];
  stats?: Record<string, { count: number; entries: { key_text?: string; value_text: string }[] }>;
}
interface PlanJson {
  has_changes: boolean;
  resource_changes: { type: string; name: string; change: { actions: string[]; reattach?: boolean; reasons: { code: string }[] } }[];
  resource_drift: { address: string; drift: string[] }[];
  planned_steps: { kind: string; address: string }[];
}

const TARGET_C = `#include <stdlib.h>
__attribute__((noinline)) int kfn_probe_target(int x)
{
	__asm__ volatile("");
	return x + 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1, s = 0;

	for (int i = 0; i < n; i++)
		s += kfn_probe_target(i);
	return s < 0;
}
`;

describe('probes: tracepoint and uprobe through kfn apply', { skip, timeout: 240_000 }, () => {
  let sb: Sandbox | undefined;
  let h: KfnHarness | undefined;
  let client: NetPeer | undefined;
  let binary = '';

  const functions = (probecountVersion = '1.0.0'): string =>
    [
      kernelFunction(h!, 'blocklist', '1.0.0', 'blocklist.bpf.o', 'blocklist'),
      `apiVersion: kfn.dev/v1alpha1\nkind: KernelFunction\nmetadata: { name: tcpretrans }\nspec:\n  version: 1.0.0\n  object: ${h!.object('tcpretrans.bpf.o')}\n  hooks: [tracepoint]\n`,
      `apiVersion: kfn.dev/v1alpha1\nkind: KernelFunction\nmetadata: { name: probecount }\nspec:\n  version: ${probecountVersion}\n  object: ${h!.object('probecount.bpf.o')}\n  hooks: [tracepoint, uprobe, kprobe, fentry, fexit]\n`,
    ].join('---\n');
  const probe = (name: string, fn: string, attach: string, maps?: string): string =>
    `apiVersion: kfn.dev/v1alpha1\nkind: Probe\nmetadata: { name: ${name} }\nspec:\n  function: ${fn}\n  ${attach}\n${maps ? `  maps: ${maps}\n` : ''}`;
  const chain = (): string =>
    `apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: drop-client }\nspec:\n  hook: xdp\n  netns: ${sb!.a}\n  interfaces: [${sb!.a0}]\n  functions:\n    - { name: drop, function: blocklist, maps: { blocked_v4: { "${NET}.2/32": 1 } } }\n`;
  const write = (docs: string[], probecountVersion?: string): void => {
    h!.write('functions.yaml', functions(probecountVersion));
    h!.write('probes.yaml', docs.join('---\n'));
  };
  const probes = (): ProbeJson[] => (JSON.parse(h!.ok(['show', '--stats', '--json']).stdout) as { probes: ProbeJson[] }).probes;
  const probeOf = (name: string): ProbeJson => {
    const p = probes().find((x) => x.name === name);
    assert.ok(p, `probe ${name} in kfn show`);
    return p;
  };
  /** A one-value state map's number, or an entry's, from `kfn show --stats --json`. */
  const statNumber = (p: ProbeJson, map: string, key?: string, field?: string): number => {
    const e = p.stats?.[map]?.entries.find((x) => x.key_text === key);
    if (!e) return 0;
    const m = field ? new RegExp(`\\b${field}: (\\d+)`).exec(e.value_text) : /^(\d+)$/.exec(e.value_text);
    assert.ok(m, `${map}${key ? `[${key}]` : ''} = ${e.value_text}`);
    return Number(m[1]);
  };
  const runTarget = (n: number): void => {
    const r = spawnSync(binary, [String(n)], { timeout: 10_000 });
    assert.equal(r.status, 0, `target ${n}`);
  };
  const build = (): void => {
    // Through a new file renamed over the old one: another inode, as a package upgrade does.
    const src = path.join(h!.dir, 'target.c');
    fs.writeFileSync(src, TARGET_C);
    const tmp = `${binary}.new`;
    const r = spawnSync('gcc', ['-O0', '-o', tmp, src], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    fs.renameSync(tmp, binary);
  };
  const retransSegs = (): number => {
    const snmp = spawnSync('ip', ['netns', 'exec', sb!.b, 'cat', '/proc/net/snmp'], { encoding: 'utf8', timeout: 10_000 }).stdout;
    const [head, values] = snmp.split('\n').filter((l) => l.startsWith('Tcp:'));
    const i = head!.split(/\s+/).indexOf('RetransSegs');
    return Number(values!.split(/\s+/)[i]);
  };

  before(async () => {
    sb = sandboxUp(sandboxPrefix('kt-pr'), NET, { quiet: true });
    h = new KfnHarness('probes');
    binary = path.join(h.dir, 'target');
    build();
    client = await NetPeer.start(sb.b);
  });

  after(async () => {
    try {
      await client?.stop();
      h?.cleanup();
    } finally {
      sb?.down();
    }
  });

  test('kprobe and fentry requests fail at plan time, naming what the kernel lacks, and change nothing', async () => {
    const hasKprobes = fs.existsSync('/sys/bus/event_source/devices/kprobe/type');
    write([probe('retrans', 'tcpretrans', 'tracepoint: tcp/tcp_retransmit_skb'), probe('kp', 'probecount', 'kprobe: { function: tcp_retransmit_skb }')]);
    const world = snapshot();
    for (const args of [['plan', h!.dir], ['apply', h!.dir, '--auto-approve']]) {
      const r = h!.kfn(args);
      assert.equal(r.code, 1, `kfn ${args[0]} fails:\n${r.stdout}\n${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 2, `one error line and its hint:\n${r.stderr}`);
      if (hasKprobes) assert.match(lines[0]!, /^error\[PROBE_KIND_UNSUPPORTED\]: .*probes\.yaml:\d+:\d+: probe "kp": this kernel has kprobes, but kfn does not attach kprobe probes yet$/);
      else assert.match(lines[0]!, /^error\[KERNEL_FEATURE_MISSING\]: .*probes\.yaml:\d+:\d+: probe "kp": kprobe needs kprobes, which this kernel lacks \(\/sys\/bus\/event_source\/devices\/kprobe does not exist: CONFIG_KPROBES is off\)$/);
      assert.doesNotMatch(r.stdout, /will be created|Apply complete/, 'nothing was planned');
    }
    write([probe('fe', 'probecount', 'fentry: { function: tcp_retransmit_skb }')]);
    const r = h!.kfn(['plan', h!.dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[(KERNEL_FEATURE_MISSING|PROBE_KIND_UNSUPPORTED)\]: .*probe "fe": (fentry needs BPF trampolines \(BPF_PROG_TYPE_TRACING: fentry\/fexit\), which this kernel lacks|this kernel has)/);
    await assertKernelUnchanged(world, h!.pinRoot, 'kprobe and fentry refused');
    assert.ok(!fs.existsSync(path.join(h!.pinRoot, 'probes')), 'no probe was pinned');
  });

  test('a tracepoint probe counts the real retransmissions of a connection attempt', async (t) => {
    write([probe('retrans', 'tcpretrans', 'tracepoint: tcp/tcp_retransmit_skb', `{ ports: { "${PORT}": 1 } }`), chain()]);
    const plan = h!.json<PlanJson>(['plan', h!.dir]);
    const rc = plan.resource_changes.find((x) => x.type === 'kfn_probe' && x.name === 'retrans');
    assert.deepEqual(rc?.change.actions, ['create']);
    assert.deepEqual(
      plan.planned_steps.filter((s) => s.address === 'probe.retrans').map((s) => s.kind),
      ['load-probe', 'attach-probe'],
    );
    h!.apply();
    const p0 = probeOf('retrans');
    assert.equal(p0.attached, true);
    assert.equal(p0.target.text, 'tracepoint tcp/tcp_retransmit_skb');
    const before = { segs: retransSegs(), port: statNumber(p0, 'by_port', String(PORT)), all: statNumber(p0, 'totals', undefined, 'segments') };
    // The chain drops the client's SYNs: its TCP retransmits them until it gives up at 3.5 s.
    const r = await client!.cmd(`open ${sb!.ipA} ${PORT} 3500`, 15_000);
    assert.equal(r.ok, false, 'the connection cannot be made');
    const p1 = probeOf('retrans');
    const segs = retransSegs() - before.segs;
    assert.ok(segs >= 1, `the client retransmitted its SYN (RetransSegs +${segs})`);
    assert.equal(statNumber(p1, 'by_port', String(PORT)) - before.port, segs, 'the probe counted exactly the retransmissions of namespace b (RetransSegs)');
    assert.ok(statNumber(p1, 'totals', undefined, 'segments') - before.all >= segs, 'and at least as many host-wide');
    t.diagnostic(`RetransSegs of namespace b +${segs}; probe by_port[${PORT}] +${statNumber(p1, 'by_port', String(PORT)) - before.port}; host-wide +${statNumber(p1, 'totals', undefined, 'segments') - before.all}`);
    assert.equal(h!.kfn(['plan', h!.dir, '--detailed-exitcode']).code, 0, 'converged');
  });

  test('a uprobe and a uretprobe count the calls of a function in a binary', () => {
    write([
      probe('retrans', 'tcpretrans', 'tracepoint: tcp/tcp_retransmit_skb', `{ ports: { "${PORT}": 1 } }`),
      chain(),
      probe('calls', 'probecount', `uprobe: { path: ${binary}, symbol: kfn_probe_target }`),
      probe('returns', 'probecount', `uprobe: { path: ${binary}, symbol: kfn_probe_target, retprobe: true }`),
    ]);
    h!.apply();
    assert.equal(probeOf('calls').target.text, `uprobe ${binary}:kfn_probe_target`);
    assert.equal(probeOf('returns').target.text, `uretprobe ${binary}:kfn_probe_target`);
    for (let i = 0; i < 3; i++) runTarget(25);
    assert.equal(statNumber(probeOf('calls'), 'counts'), 75);
    assert.equal(statNumber(probeOf('returns'), 'counts'), 75);
  });

  test('drift: a replaced binary and a removed link pin are shown and attached again', () => {
    build();
    runTarget(10);
    assert.equal(statNumber(probeOf('calls'), 'counts'), 75, 'the new file is not probed');
    fs.rmSync(path.join(h!.pinRoot, 'probes', fs.readdirSync(path.join(h!.pinRoot, 'probes')).find((d) => d.startsWith('retrans@'))!, 'link'));
    const plan = h!.json<PlanJson>(['plan', h!.dir]);
    const drifted = Object.fromEntries(plan.resource_drift.map((d) => [d.address, d.drift]));
    assert.match(drifted['probe.calls']?.[0] ?? '', /was replaced since the probe was attached: it fires only for the old file/);
    assert.deepEqual(drifted['probe.retrans'], ['its link is gone: the probe is detached']);
    for (const name of ['calls', 'returns', 'retrans']) {
      const rc = plan.resource_changes.find((x) => x.type === 'kfn_probe' && x.name === name)!;
      assert.deepEqual(rc.change.actions, ['update'], name);
      assert.equal(rc.change.reattach, true, name);
    }
    assert.match(h!.ok(['plan', h!.dir]).stdout, /! its link is gone: the probe is detached \(changed outside kfn\)/);
    // Without the manifests too (kfn drift from cron): exit 2, the probe named with its words.
    const drift = h!.kfn(['drift', '--json']);
    assert.equal(drift.code, 2, drift.stderr);
    const byProbe = Object.fromEntries((JSON.parse(drift.stdout) as { probes: { address: string; drift: { code: string; text: string }[] }[] }).probes.map((p) => [p.address, p.drift]));
    assert.deepEqual(byProbe['probe.retrans'], [{ code: 'other', text: 'its link is gone: the probe is detached', repair: 'kfn plan shows the repair' }]);
    assert.match(byProbe['probe.calls']?.[0]?.text ?? '', /was replaced since the probe was attached/);
    const ids = Object.fromEntries(probes().map((p) => [p.name, p.prog_id]));
    h!.apply();
    assert.deepEqual(Object.fromEntries(probes().map((p) => [p.name, p.prog_id])), ids, 'the same programs, attached again');
    assert.ok(probes().every((p) => p.attached && p.drift.length === 0));
    assert.equal(h!.kfn(['drift']).code, 0, 'kfn drift: in sync again');
    runTarget(10);
    assert.equal(statNumber(probeOf('calls'), 'counts'), 85, 'the new file is probed');
    assert.equal(h!.kfn(['plan', h!.dir, '--detailed-exitcode']).code, 0, 'converged');
  });

  test('a map change is in place; a new version replaces the probe and carries its counter over', () => {
    const docs = (ports: string): string[] => [
      probe('retrans', 'tcpretrans', 'tracepoint: tcp/tcp_retransmit_skb', ports),
      chain(),
      probe('calls', 'probecount', `uprobe: { path: ${binary}, symbol: kfn_probe_target }`),
    ];
    write(docs(`{ ports: { "${PORT2}": 1 } }`));
    const plan = h!.json<PlanJson>(['plan', h!.dir]);
    const kinds = plan.planned_steps.filter((s) => s.address === 'probe.retrans').map((s) => s.kind);
    assert.deepEqual(kinds, ['update-maps', 'record'], 'written in place');
    const before = probeOf('retrans').prog_id;
    h!.apply();
    const after1 = probeOf('retrans');
    assert.equal(after1.prog_id, before);
    const j = JSON.parse(h!.ok(['show', '--json']).stdout) as { probes: { name: string; maps: Record<string, { key: string }[]> }[] };
    assert.deepEqual(j.probes.find((p) => p.name === 'retrans')!.maps.ports!.map((e) => e.key), [String(PORT2)]);
    assert.ok(!probes().some((p) => p.name === 'returns'), 'the uretprobe left the manifests and was destroyed');

    const old = probeOf('calls');
    write(docs(`{ ports: { "${PORT2}": 1 } }`), '1.1.0');
    const p2 = h!.json<PlanJson>(['plan', h!.dir]);
    const rc = p2.resource_changes.find((x) => x.type === 'kfn_probe' && x.name === 'calls')!;
    assert.deepEqual(rc.change.actions, ['create', 'delete']);
    assert.deepEqual(
      p2.planned_steps.filter((s) => s.address === 'probe.calls').map((s) => s.kind),
      ['load-probe', 'attach-probe', 'detach-probe'],
    );
    h!.apply();
    const now = probeOf('calls');
    assert.notEqual(now.prog_id, old.prog_id, 'a new program');
    assert.ok(!progExists(old.prog_id), 'the old program is gone');
    runTarget(5);
    assert.equal(statNumber(probeOf('calls'), 'counts'), 90, 'the counter carried over: 85 + 5');
  });

  test('an apply failing before any step, or killed after any step, leaves the probes as they were (or finished)', async () => {
    const s0 = [
      probe('retrans', 'tcpretrans', 'tracepoint: tcp/tcp_retransmit_skb', `{ ports: { "${PORT2}": 1 } }`),
      chain(),
      probe('calls', 'probecount', `uprobe: { path: ${binary}, symbol: kfn_probe_target }`),
    ];
    const s1 = [...s0, probe('returns', 'probecount', `uprobe: { path: ${binary}, symbol: kfn_probe_target, retprobe: true }`)];
    const kfnWith = (env: Record<string, string>, args: string[]) => spawnSync(process.execPath, [CLI, ...args], { env: { ...h!.env, ...env }, encoding: 'utf8', timeout: 60_000, cwd: h!.dir });
    const idsNow = () => Object.fromEntries(probes().map((p) => [p.name, p.prog_id]));
    // S0 is what the previous test left (calls@1.1.0); S1 replaces calls back to 1.0.0 and adds a uretprobe.
    write(s0, '1.1.0');
    assert.equal(h!.kfn(['plan', h!.dir, '--detailed-exitcode']).code, 0, 'S0 is live');
    const ids0 = idsNow();
    write(s1, '1.0.0');
    const steps = h!.json<{ planned_steps: { phase: string }[] }>(['plan', h!.dir]).planned_steps;
    const transactional = steps.filter((x) => x.phase !== 'release').length;
    assert.ok(transactional >= 4 && steps.length > transactional, `steps: ${JSON.stringify(steps)}`);
    for (let n = 1; n <= transactional; n++) {
      const world = snapshot();
      const r = kfnWith({ KFN_TEST_FAIL_AT_STEP: String(n) }, ['apply', h!.dir, '--auto-approve']);
      assert.equal(r.status, 1, `fail at step ${n}: ${r.stderr}`);
      assert.match(r.stderr, /The kernel is back to the state before apply\./, `step ${n}`);
      await assertKernelUnchanged(world, h!.pinRoot, `fail at step ${n}`);
      assert.deepEqual(idsNow(), ids0, `fail at step ${n}`);
    }
    for (let n = 1; n <= transactional; n++) {
      const world = snapshot();
      const r = kfnWith({ KFN_TEST_KILL_AFTER_STEP: String(n) }, ['apply', h!.dir, '--auto-approve']);
      assert.equal(r.signal, 'SIGKILL', `killed after step ${n}`);
      // The next command recovers the interrupted apply: undone, back to S0.
      const recovered = h!.kfn(['show']);
      assert.match(recovered.stderr, /recovered an interrupted apply/, `killed after step ${n}: ${recovered.stderr}`);
      await assertKernelUnchanged(world, h!.pinRoot, `killed after step ${n}`);
      assert.deepEqual(idsNow(), ids0, `killed after step ${n}: the same programs run`);
      assert.ok(probes().every((p) => p.attached && p.drift.length === 0), `killed after step ${n}: every probe attached`);
    }
    const counted = statNumber(probeOf('calls'), 'counts');
    runTarget(2);
    assert.equal(statNumber(probeOf('calls'), 'counts'), counted + 2, 'the probe still counts');
    h!.apply();
    assert.ok(probes().some((p) => p.name === 'returns'), 'S1 applies in the end');
  });

  test('destroy removes every probe object', async () => {
    const ids = probes().map((p) => p.prog_id);
    h!.ok(['destroy', h!.dir, '--auto-approve']);
    assert.deepEqual(probes(), []);
    assert.ok(!fs.existsSync(path.join(h!.pinRoot, 'probes')), 'no probe pins are left');
    const deadline = Date.now() + 3000;
    while (ids.some(progExists) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(ids.filter(progExists), [], 'the probe programs are unloaded (their links released)');
    runTarget(3);
  });
});
