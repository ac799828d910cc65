/**
 * Property: applying what a plan describes converges. `applyModel` is a test-only,
 * pure executor that builds the LiveState a plan promises (using only the plan and
 * the old live state); planning again against it must find nothing to do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { digestEntries } from '../../src/core/digest.js';
import { attachmentKey } from '../../src/core/types.js';
import type { DesiredChain, DesiredState, Hook, LiveChain, LiveInstance, LiveState, MapEntry } from '../../src/core/types.js';
import { hasChanges, plan } from '../../src/plan/index.js';
import { NOW, dChain, dInst, entries, ident, ifaces } from './plan-fixtures.js';
import { applyModel, assertRealizes } from '../fuzz/model.js';

const IFACES: Record<string, string[]> = { default: ['eth0', 'eth1', 'veth-a'], n1: ['veth-a', 'veth-b'] };
const HOOKS: Hook[] = ['xdp', 'tc-ingress'];
const NAMES = ['a', 'b', 'c', 'd'];
const MAPS = ['m1', 'm2'];
const KEYS = ['k1', 'k2', 'k3'];
const PATTERNS: Record<string, string[]> = {
  default: ['eth0', 'eth1', 'veth-a', 'eth?', '*', 'veth-*', 'nomatch*'],
  n1: ['veth-a', 'veth-b', 'veth-?', '*', 'x*'],
};

const arbAnyIdentity = fc
  .record({
    fn: fc.constantFrom('f1', 'f2'),
    version: fc.constantFrom('1.0.0', '2.0.0'),
    program: fc.constantFrom('p1', 'p2'),
    rate: fc.constantFrom(undefined, '1', '2'),
  })
  .map(({ fn, version, program, rate }) => ident(fn, version, { program, globals: rate === undefined ? {} : { rate } }));
// Biased towards a shared identity so that kept / updated / moved instances are common.
const arbIdentity = fc.oneof(
  { arbitrary: fc.constant(ident('f1', '1.0.0', { program: 'p1', globals: { rate: '1' } })), weight: 4 },
  { arbitrary: arbAnyIdentity, weight: 1 },
);

const arbMapContents = fc.oneof(
  fc.constant({ k1: '1' }),
  fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom('1', '2'), { maxKeys: 3 }),
);
const arbMaps = (names: string[]) => fc.dictionary(fc.constantFrom(...names), arbMapContents, { maxKeys: names.length });

const arbDesiredInstances = fc
  .uniqueArray(fc.constantFrom(...NAMES), { maxLength: 4 })
  .chain((names) => fc.tuple(...names.map((n) => fc.tuple(fc.constant(n), arbIdentity, arbMaps(MAPS)))))
  .map((xs) => xs.map(([n, id, maps]) => dInst(n, id, maps)));

const arbDesired: fc.Arbitrary<DesiredState> = fc
  .tuple(
    ...Object.keys(IFACES).flatMap((netns) =>
      HOOKS.map((hook) =>
        fc.option(
          fc.record({
            patterns: fc.uniqueArray(fc.constantFrom(...PATTERNS[netns]!), { minLength: 1, maxLength: 3 }),
            instances: arbDesiredInstances,
            mode: fc.constantFrom('auto' as const, 'native' as const, 'generic' as const),
          }),
          { nil: undefined },
        ).map((c): DesiredChain | undefined => c && dChain(`ch-${netns}-${hook}`, c.patterns, c.instances, { netns, hook, mode: c.mode })),
      ),
    ),
  )
  .map((cs) => ({ chains: cs.filter((c): c is DesiredChain => c !== undefined), manifestDigest: 'd'.repeat(64) }));

let progSeq = 0;
const arbLiveInstance = (name: string): fc.Arbitrary<LiveInstance> =>
  fc
    .record({
      identity: arbIdentity,
      maps: arbMaps([...MAPS, 'counters']),
      // per map: kfn's record matches (no drift), differs (drift), or is absent
      applied: fc.dictionary(fc.constantFrom(...MAPS), fc.constantFrom('match', 'drift', 'absent')),
    })
    .map(({ identity, maps, applied }) => {
      const lm: Record<string, MapEntry[]> = {};
      for (const [m, obj] of Object.entries(maps)) lm[m] = entries(obj);
      const am: Record<string, string> = {};
      for (const [m, how] of Object.entries(applied)) {
        if (how === 'match') am[m] = digestEntries(lm[m] ?? []);
        if (how === 'drift') am[m] = digestEntries([...(lm[m] ?? []), ...entries({ zz: '9' })]);
      }
      return { name, identity, progId: ++progSeq, pinDir: `/pins/${name}`, maps: lm, appliedMaps: am };
    });

const ATTACHMENTS = Object.entries(IFACES).flatMap(([netns, names]) => names.flatMap((ifname) => HOOKS.map((hook) => ({ netns, ifname, hook }))));

const arbLive: fc.Arbitrary<LiveState> = fc
  .tuple(
    ...ATTACHMENTS.map((attachment) =>
      fc.option(
        fc.record({
          chainName: fc.constantFrom(`ch-${attachment.netns}-${attachment.hook}`, 'old'),
          instances: fc.uniqueArray(fc.constantFrom(...NAMES), { maxLength: 4 }).chain((ns) => fc.tuple(...ns.map(arbLiveInstance))),
          orphans: fc.uniqueArray(fc.constantFrom(...NAMES), { maxLength: 1 }).chain((ns) => fc.tuple(...ns.map(arbLiveInstance))),
          drift: fc.constantFrom([], ['root program detached']),
          mode: fc.constantFrom('native' as const, 'generic' as const),
          position: fc.constantFrom('first' as const, 'last' as const),
        }),
        { nil: undefined },
      ).map((c): LiveChain | undefined =>
        c && {
          attachment,
          chainName: c.chainName,
          ifindex: 3,
          rootProgId: ++progSeq,
          linkId: progSeq,
          pinDir: `/pins/${attachmentKey(attachment)}`,
          ...(attachment.hook === 'xdp' ? { mode: c.mode } : { position: c.position }),
          instances: c.instances,
          orphans: c.orphans,
          drift: [...c.drift],
          attached: c.drift.length === 0,
        },
      ),
    ),
    fc.boolean(),
  )
  .map(([...xs]) => {
    const foreign = xs.pop() as boolean;
    return {
      chains: (xs as (LiveChain | undefined)[]).filter((c): c is LiveChain => c !== undefined),
      interfaces: ifaces(IFACES),
      missingNetns: [],
      foreign: foreign ? [{ attachment: { netns: 'default', ifname: 'eth1', hook: 'xdp' as const }, progId: 9999, progName: 'fw' }] : [],
    };
  });

test('property: plan(desired, applyModel(plan(desired, live))) has no changes', () => {
  fc.assert(
    fc.property(arbDesired, arbLive, (desired, live) => {
      const p = plan(desired, live, { now: NOW });
      const s = p.summary;
      assert.equal(hasChanges(p), s.add + s.change + s.replace + s.destroy > 0, 'summary agrees with hasChanges');
      const after = applyModel(p, live);
      assertRealizes(desired, after);
      const p2 = plan(desired, after, { now: NOW });
      assert.equal(hasChanges(p2), false, JSON.stringify(p2.changes.filter((c) => c.action !== 'noop'), null, 1));
      assert.deepEqual(p2.summary, { add: 0, change: 0, replace: 0, destroy: 0 });
      // A plan with no changes is a fixed point of the model.
      assert.deepEqual(applyModel(p2, after), after);
    }),
    { numRuns: 500 },
  );
});

test('property: plan is deterministic and does not mutate its inputs', () => {
  fc.assert(
    fc.property(arbDesired, arbLive, (desired, live) => {
      const d0 = structuredClone(desired);
      const l0 = structuredClone(live);
      const a = plan(desired, live, { now: NOW });
      const b = plan(structuredClone(desired), structuredClone(live), { now: NOW });
      assert.deepEqual(a, b);
      assert.deepEqual(desired, d0);
      assert.deepEqual(live, l0);
    }),
    { numRuns: 200 },
  );
});
