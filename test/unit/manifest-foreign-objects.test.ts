/**
 * KernelFunction fields for objects built for other loaders (L3AF): a program whose
 * section names no type, `nextMap` (the object's own chain slot), `companions` (other
 * programs sharing the maps) and `monitorMaps`, resolved against the object with errors
 * at file:line; and chain entries for maps declared by size only.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import type { ObjectInfo } from '../../src/libbpf/object-info.js';
import { loadDesiredState, loadManifests } from '../../src/manifest/index.js';
import { resolveFunctions, type ResolvedFunction } from '../../src/manifest/functions.js';

const SHA = 'ab'.repeat(32);
/** Like bpf/l3af-style/connlimit.bpf.o as readObjectInfo reports it. */
const CONNLIMIT: Omit<ObjectInfo, 'path'> = {
  sha256: SHA,
  programs: [
    { name: 'l3t_conn_state', section: 'tracepoint/sock/inet_sock_set_state', kind: 'tracepoint' },
    { name: 'l3t_connlimit', section: 'xdp_l3test_connlimit', kind: 'other', needsType: true },
    { name: 'l3t_probe', section: 'kprobe/tcp_v4_connect', kind: 'other' },
    { name: 'l3t_bare', section: 'l3t_bare_section', kind: 'other', needsType: true },
  ],
  maps: [
    { name: 'l3t_conn_count', type: 'array', keySize: 4, valueSize: 8, maxEntries: 2, pinning: 'by-name' },
    { name: 'l3t_conn_cfg', type: 'array', keySize: 4, valueSize: 8, maxEntries: 2, pinning: 'by-name' },
    { name: 'l3t_ports', type: 'hash', keySize: 2, valueSize: 1, maxEntries: 4, pinning: 'by-name' },
    { name: 'xdp_l3t_connlimit_next_prog', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1, pinning: 'by-name' },
    { name: 'jump_table', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 8 },
  ],
  globals: [],
};

let dir: string;
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
};
const readObjectInfo = (p: string): ObjectInfo => ({ path: p, ...structuredClone(CONNLIMIT) });

function fnYaml(extra: string, program = 'l3t_connlimit'): string {
  return `apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: connlimit }
spec:
  version: 1.0.0
  object: connlimit.bpf.o
  program: ${program}
  hooks: [xdp]
${extra}`;
}

function resolved(file: string): { fns: Map<string, Map<string, ResolvedFunction>>; errors: KfnError[] } {
  const errors: KfnError[] = [];
  const fns = resolveFunctions(loadManifests(file).functions, fs.realpathSync(dir), { readObjectInfo }, errors);
  return { fns, errors };
}
const fnOf = (file: string): ResolvedFunction => {
  const r = resolved(file);
  assert.deepEqual(r.errors.map((e) => e.message), []);
  return r.fns.get('connlimit')!.get('1.0.0')!;
};
const errorLines = (file: string): string[] => resolved(file).errors.map((e) => `${e.code} ${e.message}`);

describe('KernelFunction fields for foreign objects', () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-foreign-'));
    fs.writeFileSync(path.join(dir, 'connlimit.bpf.o'), 'not read: readObjectInfo is faked');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a program whose section names no type is chosen by name for the hook; nextMap, companions and monitorMaps resolve', () => {
    const f = write(
      'ok.yaml',
      fnYaml(`  nextMap: xdp_l3t_connlimit_next_prog
  companions:
    - program: l3t_conn_state
    - program: l3t_bare
      tracepoint: tcp/tcp_retransmit_skb
  monitorMaps:
    - { map: l3t_conn_count, key: 0 }
    - { map: l3t_conn_count, key: "1", aggregator: max-rate }
    - { map: l3t_ports, key: "0x5000", aggregator: avg }
`),
    );
    const fn = fnOf(f);
    assert.deepEqual(fn.programs, { xdp: 'l3t_connlimit' });
    assert.equal(fn.nextMap, 'xdp_l3t_connlimit_next_prog');
    assert.deepEqual(fn.companions, [
      { program: 'l3t_conn_state', attach: { kind: 'tracepoint', tracepoint: 'sock/inet_sock_set_state' } },
      { program: 'l3t_bare', attach: { kind: 'tracepoint', tracepoint: 'tcp/tcp_retransmit_skb' } },
    ]);
    assert.deepEqual(fn.monitorMaps, [
      { map: 'l3t_conn_count', key: '00000000', keyText: '0', aggregator: 'scalar' },
      { map: 'l3t_conn_count', key: '01000000', keyText: '1', aggregator: 'max-rate' },
      // size-only u16 key: 0x is the stored bytes (port 80 on a little-endian host)
      { map: 'l3t_ports', key: '5000', keyText: '80', aggregator: 'avg' },
    ]);
  });

  test('without the new fields a function keeps kfn_next and no companions', () => {
    const fn = fnOf(write('plain.yaml', fnYaml('')));
    assert.equal(fn.nextMap, 'kfn_next');
    assert.deepEqual([fn.companions, fn.monitorMaps], [[], []]);
  });

  test('a program of a known non-xdp type is still refused for the xdp hook', () => {
    const f = write('probe.yaml', fnYaml('', 'l3t_probe'));
    assert.deepEqual(errorLines(f), [
      `PROGRAM_NOT_FOUND ${f}:7:12: function "connlimit@1.0.0": l3t_probe is a program of section "kprobe/tcp_v4_connect"; hook xdp needs an xdp program (programs in connlimit.bpf.o: l3t_conn_state (tracepoint), l3t_connlimit (other), l3t_probe (other), l3t_bare (other))`,
    ]);
  });

  test('nextMap must be a one-slot program array of the object', () => {
    const missing = write('next-missing.yaml', fnYaml('  nextMap: xdp_next\n'));
    assert.deepEqual(errorLines(missing), [
      `MAP_NOT_FOUND ${missing}:9:12: function "connlimit@1.0.0": nextMap "xdp_next" is not a map of connlimit.bpf.o (maps: l3t_conn_count (array), l3t_conn_cfg (array), l3t_ports (hash), xdp_l3t_connlimit_next_prog (prog_array), jump_table (prog_array))`,
    ]);
    assert.match(resolved(missing).errors[0]!.hint!, /one-slot program arrays of the object: xdp_l3t_connlimit_next_prog$/);
    const big = write('next-big.yaml', fnYaml('  nextMap: jump_table\n'));
    assert.deepEqual(errorLines(big), [
      `NEXT_MAP_INVALID ${big}:9:12: function "connlimit@1.0.0": nextMap "jump_table" is a prog_array with 8 entries (key 4 bytes, value 4), not a one-slot prog_array`,
    ]);
    const arr = write('next-array.yaml', fnYaml('  nextMap: l3t_conn_cfg\n'));
    assert.match(errorLines(arr)[0]!, /^NEXT_MAP_INVALID .*:9:12: .*"l3t_conn_cfg" is a array with 2 entries/);
  });

  test('companions: unknown, duplicate, the chained program, not a tracepoint program, no tracepoint, another tracepoint than the section', () => {
    const f = write(
      'companions-bad.yaml',
      fnYaml(`  companions:
    - program: l3t_nope
    - program: l3t_conn_state
    - program: l3t_conn_state
    - program: l3t_connlimit
    - program: l3t_probe
    - program: l3t_bare
`),
    );
    assert.deepEqual(errorLines(f), [
      `PROGRAM_NOT_FOUND ${f}:10:16: function "connlimit@1.0.0": companion "l3t_nope" is not a program of connlimit.bpf.o (other programs: l3t_conn_state (tracepoint/sock/inet_sock_set_state), l3t_probe (kprobe/tcp_v4_connect), l3t_bare (l3t_bare_section))`,
      `COMPANION_INVALID ${f}:12:16: function "connlimit@1.0.0": companion "l3t_conn_state" is listed twice (first at ${f}:11:16)`,
      `COMPANION_INVALID ${f}:13:16: function "connlimit@1.0.0": "l3t_connlimit" is the chained program and cannot also be a companion`,
      `COMPANION_INVALID ${f}:14:16: function "connlimit@1.0.0": companion "l3t_probe" is a program of section "kprobe/tcp_v4_connect"; kfn attaches tracepoint companions only`,
      `COMPANION_INVALID ${f}:15:16: function "connlimit@1.0.0": companion "l3t_bare" (section "l3t_bare_section") does not say which tracepoint it attaches to`,
    ]);
    const other = write('companion-other-tp.yaml', fnYaml('  companions:\n    - { program: l3t_conn_state, tracepoint: tcp/tcp_retransmit_skb }\n'));
    assert.deepEqual(errorLines(other), [
      `COMPANION_INVALID ${other}:10:46: function "connlimit@1.0.0": companion "l3t_conn_state" is built for tracepoint sock/inet_sock_set_state (section "tracepoint/sock/inet_sock_set_state"), not tcp/tcp_retransmit_skb`,
    ]);
  });

  test('monitorMaps: unknown map, a map without values, a key that does not fit', () => {
    const f = write(
      'monitor-bad.yaml',
      fnYaml(`  monitorMaps:
    - { map: nope, key: 0 }
    - { map: jump_table, key: 0 }
    - { map: l3t_ports, key: 65536 }
    - { map: l3t_ports, key: "0x50" }
`),
    );
    const errs = errorLines(f);
    assert.equal(errs.length, 4, errs.join('\n'));
    assert.match(errs[0]!, new RegExp(`^MAP_NOT_FOUND ${f}:10:14: .*monitorMaps names "nope", which is not a map of connlimit.bpf.o$`));
    assert.match(errs[1]!, new RegExp(`^MAP_NOT_FOUND ${f}:11:14: .*"jump_table", a prog_array map that holds no values$`));
    assert.equal(errs[2], `VALUE_INVALID ${f}:12:30: function "connlimit@1.0.0": monitorMaps key of l3t_ports: expected u16 in host byte order (0..65535), or its 2 stored bytes (0x + 4 hex digits), got 65536`);
    assert.match(errs[3]!, /^VALUE_INVALID .*:13:30: .*got "0x50"$/);
  });

  test('schema: the new fields are typed, unknown fields inside them refused', () => {
    const f = write(
      'schema-bad.yaml',
      fnYaml(`  nextMap: "not an identifier"
  companions:
    - { program: l3t_conn_state, attach: tracepoint }
    - { tracepoint: "sock" }
  monitorMaps:
    - { map: l3t_conn_count, key: -1, aggregator: sum }
`),
    );
    let err: unknown;
    try {
      loadManifests(f);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof KfnErrors, String(err));
    const msgs = err.errors.map((e) => `${e.code} ${e.message}`);
    for (const want of [
      /MANIFEST_SCHEMA .*:9:\d+: spec\.nextMap: /,
      /MANIFEST_SCHEMA .*:11:\d+: spec\.companions\[0\]\.attach: unknown field/,
      /MANIFEST_SCHEMA .*:12:\d+: spec\.companions\[1\]\.program: required field missing/,
      /MANIFEST_SCHEMA .*:12:\d+: spec\.companions\[1\]\.tracepoint: /,
      /MANIFEST_SCHEMA .*:14:\d+: spec\.monitorMaps\[0\]\.aggregator: /,
      /MANIFEST_SCHEMA .*:14:\d+: spec\.monitorMaps\[0\]\.key: /,
    ]) {
      assert.ok(msgs.some((m) => want.test(m)), `${want} in\n${msgs.join('\n')}`);
    }
  });

  test('a chain sets size-only maps with host-order integers; the slot is neither a parameter nor state', () => {
    // A directory of its own: the function and the chain that uses it, nothing else.
    const sub = path.join(dir, 'chain');
    write('chain/fn.yaml', fnYaml('  nextMap: xdp_l3t_connlimit_next_prog\n  parameters: [l3t_conn_cfg, l3t_ports]\n').replace('object: connlimit.bpf.o', 'object: ../connlimit.bpf.o'));
    const chain = (maps: string) =>
      write(
        'chain/chain.yaml',
        `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: edge }
spec:
  hook: xdp
  interfaces: [eth0]
  functions:
    - function: connlimit
      maps:
${maps}`,
      );
    chain('        l3t_conn_cfg: { "0": 100, "1": 7411 }\n        l3t_ports: { "8080": 1 }\n');
    const d = loadDesiredState(sub, { readObjectInfo, root: dir });
    const inst = d.chains[0]!.instances[0]!;
    assert.equal(inst.identity.program, 'l3t_connlimit');
    assert.deepEqual(inst.maps.l3t_conn_cfg!.entries.map((e) => [e.key, e.value, e.keyText, e.valueText]), [
      ['00000000', '6400000000000000', '0', '100'],
      ['01000000', 'f31c000000000000', '1', '7411'],
    ]);
    assert.deepEqual(inst.maps.l3t_ports!.entries.map((e) => [e.key, e.value]), [['901f', '01']]);
    assert.deepEqual(Object.keys(inst.stateMaps ?? {}).sort(), ['jump_table', 'l3t_conn_cfg', 'l3t_conn_count', 'l3t_ports']);
    // What the chain form needs: the slot by name, the hook's program type (the section names none).
    assert.equal(inst.identity.nextMap, 'xdp_l3t_connlimit_next_prog');
    assert.equal(inst.programType, 'xdp');
    assert.equal(inst.identity.companions, undefined);
    assert.equal(inst.monitorMaps, undefined);

    // Companions and monitor maps reach the instance; the chain digest follows them.
    const plainDigest = d.manifestDigest;
    write(
      'chain/fn.yaml',
      fnYaml('  nextMap: xdp_l3t_connlimit_next_prog\n  parameters: [l3t_conn_cfg, l3t_ports]\n  companions: [{ program: l3t_conn_state }]\n  monitorMaps: [{ map: l3t_conn_count, key: 1, aggregator: max-rate }]\n').replace(
        'object: connlimit.bpf.o',
        'object: ../connlimit.bpf.o',
      ),
    );
    const d2 = loadDesiredState(sub, { readObjectInfo, root: dir });
    const inst2 = d2.chains[0]!.instances[0]!;
    assert.deepEqual(inst2.identity.companions, [{ program: 'l3t_conn_state', attach: { kind: 'tracepoint', tracepoint: 'sock/inet_sock_set_state' } }]);
    assert.deepEqual(inst2.monitorMaps, [{ map: 'l3t_conn_count', key: '01000000', keyText: '1', aggregator: 'max-rate' }]);
    assert.notEqual(d2.manifestDigest, plainDigest);

    const bad = chain('        l3t_conn_cfg: { "0": -1 }\n        xdp_l3t_connlimit_next_prog: { "0": 1 }\n');
    let err: unknown;
    try {
      loadDesiredState(sub, { readObjectInfo, root: dir });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof KfnError);
    const all = err instanceof KfnErrors ? err.errors : [err];
    assert.deepEqual(all.map((e) => `${e.code} ${e.message}`), [
      `VALUE_INVALID ${bad}:10:30: chain "edge" function "connlimit": l3t_conn_cfg["0"]: expected u64 in host byte order (0..18446744073709551615), or its 8 stored bytes (0x + 16 hex digits), got -1`,
      `MAP_NOT_FOUND ${bad}:11:9: chain "edge" function "connlimit": "xdp_l3t_connlimit_next_prog" is a prog_array map, not a parameter map`,
    ]);
    assert.match(all[0]!.hint!, /declared by key and value sizes only/);
  });
});
