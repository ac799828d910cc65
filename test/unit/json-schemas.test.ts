/**
 * The three JSON contracts (schemas/{plan,show,validate}-output.schema.json) against the
 * views' output for hand-made states: the schemas compile under ajv's strict mode, one
 * plan that carries every reason code, step kind of a live update and action matches,
 * and documents that break the contract are refused (the schemas are not vacuous).
 * test/cli/json-contracts.test.ts checks the real CLI's output against the same schemas.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { plan } from '../../src/plan/index.js';
import { compile } from '../../src/forms/tailcall/compile.js';
import { liveJson, planJson, validateJson } from '../../src/views/index.js';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import type { DesiredProbe, LiveChain, LiveProbe, LiveState, Plan, ProbeTarget } from '../../src/core/types.js';
import { NOW, FN, at, dChain, dInst, desired, ifaces, ident, lChain, lInst, liveState } from './plan-fixtures.js';
import { OUTPUTS, assertMatchesSchema, outputValidators, schemaErrors, schemaFile } from '../helpers/schemas.js';

const PIN_ROOT = '/sys/fs/bpf/kfn';

function compiled(d: ReturnType<typeof desired>, l: LiveState): Plan {
  const planned = plan(d, l, { now: NOW });
  const { changes, steps } = compile(planned, { pinRoot: PIN_ROOT, live: l });
  return { ...planned, changes, formatVersion: 2, form: 'tailcall', pinRoot: PIN_ROOT, host: { machineId: null, bootId: null, hostname: 'edge-07' }, steps };
}

const inst = (name: string, fn = FN.blocklist, progId = 10, maps = {}, applied?: Record<string, Record<string, string>>) => lInst(name, fn, progId, maps, applied);

/** An instance of an L3AF-style function whose companion lost its link (instance drift). */
const CONNLIMIT = { ...ident('connlimit'), nextMap: 'xdp_cl_next', companions: [{ program: 'conn_state', attach: { kind: 'tracepoint' as const, tracepoint: 'sock/inet_sock_set_state' } }] };
function damaged(): ReturnType<typeof lInst> {
  const i = inst('e', CONNLIMIT, 16);
  i.companions = [{ ...CONNLIMIT.companions[0]!, progId: 17, linkId: 0, attached: false }];
  i.drift = ['companion conn_state (tracepoint sock/inet_sock_set_state): its link is missing, it no longer runs'];
  return i;
}

const tracepoint = (tp: string): ProbeTarget => ({ hook: 'tracepoint', tracepoint: tp });
const PROBE_FN = ident('tcpretrans', '1.0.0', { program: 'tcpretrans_tp' });
const dProbe = (name: string, tp: string): DesiredProbe => ({ name, target: tracepoint(tp), identity: PROBE_FN, objectPath: '/objs/tcpretrans.bpf.o', maps: {} });
const lProbe = (name: string, tp: string, attached = true): LiveProbe => ({
  name,
  target: tracepoint(tp),
  identity: PROBE_FN,
  progId: 70,
  linkId: attached ? 8 : 0,
  attached,
  pinDir: `${PIN_ROOT}/probes/${name}@a`,
  maps: {},
  appliedMaps: {},
  drift: attached ? [] : ['its link is gone: the probe is detached'],
  formData: { kind: 'probe', name },
});

/** Every kind of change at once, on five hooks, and probes. */
function everything(): { plan: Plan; live: LiveState } {
  const tc = lChain('tc', at('veth-a', 'tc-ingress'), [inst('count', FN.flowstats, 30)]);
  tc.position = 'last';
  // Every chain is the plan's stack's but old-name, applied before stacks: it is adopted.
  const owned = (c: LiveChain): LiveChain => ({ ...c, stack: 'netops/manifests' });
  // Damaged bookkeeping: the root's pin removed (re-pinned), a slot emptied (the chain is
  // rebuilt on copies), maps of one instance unpinned for good (it is replaced).
  const hurt: LiveChain = owned(lChain('hurt', at('eth2'), [inst('y', FN.flowstats, 50), inst('z', FN.flowstats, 51)], { drift: ['damage'] }));
  hurt.driftKinds = [
    { code: 'pin-missing', pin: 'root', progId: 100 },
    { code: 'bypassed', after: 'z', unreached: ['w'] },
    { code: 'maps-missing', instance: 'y', maps: ['stats'], recoverable: false },
  ];
  const live = liveState({
    interfaces: ifaces({ default: ['eth0', 'eth1', 'eth2', 'veth-a', 'veth-b', 'veth-c'] }),
    chains: [
      owned(lChain('edge', at('eth0'), [
        inst('a', FN.blocklist, 11, { blocked_v4: { '198.18.0.3/32': '1' } }, { blocked_v4: { '198.18.0.4/32': '1' } }),
        { ...inst('b', FN.flowstats, 12), proceedOn: ['drop'], appliedProceedOn: ['pass'] },
        inst('c', FN.mirror, 13),
        inst('d', FN.ratelimit, 14),
        inst('gone', FN.flowstats, 15),
        damaged(),
      ], { drift: ['root link is missing', `e: ${damaged().drift![0]}`] })),
      lChain('old-name', at('eth1'), [inst('s', FN.flowstats, 20)], { mode: 'native' }),
      owned(tc),
      hurt,
      owned(lChain('bye', at('veth-b'), [inst('x', FN.flowstats, 40)], { orphans: [inst('lost', FN.flowstats, 41)] })),
    ],
    foreign: [{ attachment: at('veth-c'), progId: 99, progName: 'xdp_fw', linkId: 7 }],
  });
  // The stack's record still lists a chain of which nothing is left and that no manifest wants.
  live.stacks = [{ stack: 'netops/manifests', manifestDigest: 'd'.repeat(64), appliedAt: NOW.toISOString(), chains: [{ attachment: at('eth1', 'tc-egress'), chainName: 'long-gone' }] }];
  // p-gone is the stack's own (so its plan deletes it); the others, applied before stacks, are adopted.
  live.probes = [lProbe('p-moved', 'tcp/tcp_retransmit_skb'), { ...lProbe('p-gone', 'sched/sched_switch'), stack: 'netops/manifests' }, lProbe('p-detached', 'sock/inet_sock_set_state', false)];
  const d = desired(
    dChain('edge', ['eth0'], [
      dInst('d', ident('ratelimit', '1.3.0', { globals: { rate_pps: '2000', burst: '200' } })),
      { ...dInst('b', FN.flowstats), proceedOn: ['pass', 'drop'] },
      dInst('c', FN.mirror),
      dInst('a', FN.blocklist, { blocked_v4: { '198.18.0.5/32': '1' } }),
      dInst('new', FN.flowstats),
      dInst('e', CONNLIMIT),
    ]),
    dChain('renamed', ['eth1'], [dInst('s', FN.flowstats)], { mode: 'generic' }),
    dChain('tc', ['veth-a'], [dInst('count', FN.flowstats)], { hook: 'tc-ingress', position: 'first' }),
    dChain('fresh', ['veth-c'], [dInst('m', FN.mirror)]),
    dChain('hurt', ['eth2'], [dInst('y', FN.flowstats), dInst('z', FN.flowstats)]),
  );
  d.probes = [dProbe('p-new', 'tcp/tcp_retransmit_skb'), dProbe('p-moved', 'tcp/tcp_retransmit_synack'), dProbe('p-detached', 'sock/inet_sock_set_state')];
  return { plan: compiled({ ...d, stack: 'netops/manifests' }, live), live };
}

const schemaOf = (o: (typeof OUTPUTS)[number]) => JSON.parse(fs.readFileSync(schemaFile(o), 'utf8')) as { definitions: Record<string, { enum?: unknown[]; properties?: Record<string, { enum?: unknown[] }> }> };

describe('JSON output schemas', () => {
  test('compile in ajv strict mode', () => {
    const v = outputValidators();
    for (const o of OUTPUTS) assert.equal(typeof v[o], 'function', o);
  });

  test('a plan with every reason, action and update step kind matches plan-output; the fixture covers the enums', () => {
    const { plan: p } = everything();
    const doc = planJson(p);
    assertMatchesSchema('plan', doc, 'plan of everything');
    const codes = new Set(doc.resource_changes.flatMap((r) => r.change.reasons.map((x) => x.code)));
    assert.deepEqual([...codes].sort(), [...(schemaOf('plan').definitions.reasonCode!.enum as string[])].sort(), 'every reason code occurs');
    const actions = new Set(doc.resource_changes.map((r) => JSON.stringify(r.change.actions)));
    assert.deepEqual([...actions].sort(), ['["create","delete"]', '["create"]', '["delete"]', '["no-op"]', '["update"]'].sort());
    const kinds = new Set(doc.planned_steps.map((s) => s.kind));
    for (const k of ['load-root', 'load', 'load-replacement', 'load-copy', 'swap', 'update-maps', 'attach', 'reattach', 'record', 'repin', 'release', 'detach-release', 'load-probe', 'attach-probe', 'detach-probe']) {
      assert.ok(kinds.has(k as never), `step kind ${k} occurs`);
    }
    assert.ok(doc.resource_drift.length > 0, 'drift reported');
    assert.equal(doc.foreign_programs.length, 1);
    assert.equal(doc.output.warnings.length, 1, 'the foreign XDP program on veth-c blocks the new chain');
  });

  test('a plan with a packet preview (plan --packets) matches, and null without one', () => {
    const { plan: p } = everything();
    assert.equal(planJson(p).packet_changes, null);
    const change = (packet: number, count: number, after: 'pass' | 'drop') => ({
      attachment: at('eth0'),
      chainName: 'edge',
      test: 'edge-cases',
      case: 'blocked source',
      source: { file: 'tests/edge.yaml', line: 4, column: 5 },
      packet,
      count,
      label: 'udp 198.18.0.3 -> 198.18.0.1',
      before: { verdict: 'pass' as const },
      after: { verdict: after, decidedBy: 'a' },
    });
    const doc = planJson(p, { cases: 3, packets: 12, changes: [change(1, 3, 'drop'), change(7, 1, 'drop')], notes: ['case "x" not compared: the live chain is gone'] });
    assertMatchesSchema('plan', doc, 'plan with packet changes');
    assert.equal(doc.packet_changes?.changed, 4);
  });

  test('an empty plan and a destroy plan without manifest digest match', () => {
    assertMatchesSchema('plan', planJson(compiled(desired(), liveState())), 'empty plan');
    const { live } = everything();
    const destroy = compiled({ chains: [], manifestDigest: '' }, { ...live, foreign: [] });
    assertMatchesSchema('plan', planJson(destroy), 'destroy --all plan');
  });

  test('show: chains, orphans, foreign programs and decoded stats match show-output', () => {
    const { live } = everything();
    const stats = {
      [live.chains[0]!.instances[0]!.pinDir]: [
        { map: 'stats', count: 1, entries: [{ value: { packets: 3, by_size: [1, 2, 0, 0], big: '18446744073709551615' }, valueText: '{packets: 3}' }] },
        { map: 'flows', count: 9, entries: [{ key: { saddr: '198.18.0.1', sport: 53 }, keyText: '{saddr: 198.18.0.1, sport: 53}', value: 7, valueText: '7' }] },
      ],
    };
    assertMatchesSchema('show', liveJson(live, stats), 'show --stats');
    assertMatchesSchema('show', liveJson(liveState()), 'show, nothing managed');
  });

  test('validate: a valid tree and a failing one match validate-output', () => {
    const d = desired(dChain('edge', ['eth0', 'veth-*'], [dInst('a', FN.blocklist)]));
    assertMatchesSchema('validate', validateJson('/m', { desired: d }), 'valid');
    const errors = new KfnErrors([
      new KfnError('VALUE_INVALID', 'm/chain.yaml:3:5: bad', { source: { file: 'm/chain.yaml', line: 3, column: 5 }, hint: 'a hint' }),
      new KfnError('MANIFEST_NOT_FOUND', 'no manifests'),
    ]);
    assertMatchesSchema('validate', validateJson('/m', { error: errors }), 'invalid');
  });

  test('documents that break the contract are refused', () => {
    const { plan: p, live } = everything();
    const good = planJson(p);
    const broken: [string, (d: ReturnType<typeof planJson>) => void][] = [
      ['unknown top-level field', (d) => Object.assign(d, { extra: 1 })],
      ['format 2.0', (d) => Object.assign(d, { format_version: '2.0' })],
      ['actions out of the list', (d) => (d.resource_changes[0]!.change.actions = ['update', 'delete'] as never)],
      ['replace without replace paths', (d) => {
        const r = d.resource_changes.find((x) => x.change.actions.join() === 'create,delete')!;
        (r.change as { replace_paths: string[] }).replace_paths = [];
      }],
      ['moved without positions', (d) => {
        const r = d.resource_changes.find((x) => x.change.reasons.some((y) => y.code === 'moved'))!;
        for (const y of r.change.reasons as Record<string, unknown>[]) if (y.code === 'moved') delete y.from;
      }],
      ['unknown reason code', (d) => (d.resource_changes[0]!.change.action_reason = 'because' as never)],
      ['create with a before', (d) => {
        const r = d.resource_changes.find((x) => x.change.actions.join() === 'create')!;
        (r.change as { before: unknown }).before = (d.resource_changes.find((x) => x.change.before !== null)!.change as { before: unknown }).before;
      }],
      ['step of an unknown kind', (d) => (d.planned_steps[0]!.kind = 'teleport' as never)],
      ['a pin path leaks into a step', (d) => Object.assign(d.planned_steps[0]!, { op: { dir: '/sys/fs/bpf/kfn/x' } })],
      ['replace of a function with nothing forcing it', (d) => {
        const r = d.resource_changes.find((x) => x.change.action_reason === 'instance_drift')!;
        (r.change as { action_reason: string }).action_reason = 'forces_replacement';
      }],
      ['prog id as text', (d) => {
        const r = d.resource_changes.find((x) => x.type === 'kfn_function_instance' && x.change.before !== null)!;
        ((r.change as { before: Record<string, unknown> }).before).prog_id = '11';
      }],
    ];
    for (const [what, breakIt] of broken) {
      const d = structuredClone(good);
      breakIt(d);
      assert.notDeepEqual(schemaErrors('plan', d), [], `refused: ${what}`);
    }
    const show = liveJson(live, { [live.chains[0]!.instances[0]!.pinDir]: [{ map: 'stats', count: 1, entries: [{ value: 3, valueText: '3' }] }] });
    const showBroken: [string, (d: ReturnType<typeof liveJson>) => void][] = [
      ['orphan with a position', (d) => Object.assign(d.chains.find((c) => c.orphans.length)!.orphans[0]!, { position: 1 })],
      ['stats entry without its text', (d) => delete (d.chains[0]!.instances[0]! as { stats?: { stats: { entries: { value_text?: string }[] } } }).stats!.stats.entries[0]!.value_text],
      ['a key without its text', (d) => Object.assign((d.chains[0]!.instances[0]! as { stats?: { stats: { entries: object[] } } }).stats!.stats.entries[0]!, { key: 1 })],
      ['pin dir of an instance', (d) => Object.assign(d.chains[0]!.instances[0]!, { pin_dir: '/sys/fs/bpf/kfn/x' })],
      ['a companion without its link id', (d) => {
        const i = d.chains.flatMap((c) => c.instances).find((x) => x.companions.length)!;
        delete (i.companions[0] as { link_id?: number }).link_id;
      }],
      ['a companion of a kind kfn does not attach', (d) => Object.assign(d.chains.flatMap((c) => c.instances).find((x) => x.companions.length)!.companions[0]!, { kind: 'kprobe' })],
    ];
    for (const [what, breakIt] of showBroken) {
      const d = structuredClone(show);
      breakIt(d);
      assert.notDeepEqual(schemaErrors('show', d), [], `refused: ${what}`);
    }
    const valid = validateJson('/m', { desired: desired(dChain('edge', ['eth0'], [])) });
    assert.notDeepEqual(schemaErrors('validate', { ...valid, valid: false }), [], 'refused: invalid without diagnostics');
    assert.notDeepEqual(schemaErrors('validate', { ...valid, error_count: 1 }), [], 'refused: valid with an error count');
    const noDigest: Record<string, unknown> = { ...valid };
    delete noDigest.manifest_digest;
    assert.notDeepEqual(schemaErrors('validate', noDigest), [], 'refused: valid without manifest digest');
  });
});
