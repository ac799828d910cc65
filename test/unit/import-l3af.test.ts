/**
 * The l3afd configuration importer (src/import): payloads in l3afd's format written here,
 * objects faked by name (their programs and maps as readObjectInfo reports them) or, in
 * the last test, the L3AF-style objects of bpf/l3af-style. The output is checked as data,
 * for its comments and report, and by kfn's own manifest loader and resolver.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import type { BtfType } from '../../src/libbpf/btf-types.js';
import type { ObjectInfo } from '../../src/libbpf/object-info.js';
import { readObjectInfo } from '../../src/libbpf/object.js';
import { loadDesiredState, loadManifests } from '../../src/manifest/index.js';
import {
  convertL3af,
  importL3af,
  kfnName,
  kfnVersion,
  objectsFromDirectory,
  parseIfaceRenames,
  writeImport,
  type ImportResult,
} from '../../src/import/l3af.js';
import { parseL3afConfig } from '../../src/import/l3af-config.js';
import { readTar } from '../../src/import/tar.js';
import { BPF_BUILD } from '../helpers/paths.js';

// ------------------------------------------------------------------ fake objects

const be16: BtfType = { kind: 'typedef', name: '__be16', type: { kind: 'int', name: 'unsigned short', size: 2, signed: false, bool: false, char: false } };
const u32: BtfType = { kind: 'int', name: 'unsigned int', size: 4, signed: false, bool: false, char: false };
const slot = (name: string) => ({ name, type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1, pinning: 'by-name' as const });

/** Objects by file name; the bytes of a fake object file are its name. */
const FAKES: Record<string, Omit<ObjectInfo, 'path' | 'sha256'>> = {
  'ratelimiting_kern.o': {
    programs: [{ name: '_xdp_ratelimiting', section: 'xdp_ratelimiting', kind: 'other', needsType: true }],
    maps: [
      slot('xdp_rl_ingress_next_prog'),
      { name: 'rl_config_map', type: 'array', keySize: 4, valueSize: 8, maxEntries: 2 },
      { name: 'rl_ports_map', type: 'hash', keySize: 2, valueSize: 1, maxEntries: 16 },
      { name: 'rl_drop_count_map', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 },
      { name: 'rl_recv_count_map', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 },
    ],
    globals: [],
  },
  'connection_limit_kern.o': {
    programs: [
      { name: '_xdp_limit_conn', section: 'xdp_limit_conn', kind: 'other', needsType: true },
      { name: 'trace_conn', section: 'tracepoint/sock/inet_sock_set_state', kind: 'tracepoint' },
      { name: 'kp_connect', section: 'kprobe/tcp_v4_connect', kind: 'other' },
      { name: 'xdp_spare', section: 'xdp_spare', kind: 'other', needsType: true },
    ],
    maps: [
      slot('xdp_cl_ingress_next_prog'),
      { name: 'cl_max_conn', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 },
      { name: 'cl_conn_count', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1 },
      // typed from BTF: l3afd writes the bytes of an int, kfn shows them as the type reads them
      { name: 'cl_tcp_ports', type: 'hash', keySize: 2, valueSize: 4, maxEntries: 8, key: be16, value: u32 },
    ],
    globals: [],
  },
  'traffic_mirroring_kern.o': {
    programs: [{ name: '_tc_mirror', section: 'tc_mirror', kind: 'other', needsType: true }],
    maps: [slot('tc_egress_next_prog'), { name: 'mirror_cfg', type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 1 }],
    globals: [],
  },
  'noslot_kern.o': {
    programs: [{ name: 'xdp_noslot', section: 'xdp', kind: 'xdp' }],
    maps: [],
    globals: [],
  },
};

const inspect = (bytes: Uint8Array, label: string): ObjectInfo => {
  const name = Buffer.from(bytes).toString('utf8').split('\n')[0]!;
  const o = FAKES[name];
  if (!o) throw new KfnError('OBJECT_INVALID', `${label}: not an ELF file`);
  return { path: label, sha256: createHash('sha256').update(bytes).digest('hex'), ...structuredClone(o) };
};
/** For kfn's resolver: the copied object files hold the fake's name. */
const readFake = (p: string): ObjectInfo => inspect(fs.readFileSync(p), p);

// ------------------------------------------------------------------ payloads

type Json = Record<string, unknown>;
const prog = (o: Json): Json => ({ version: 'latest', admin_status: 'enabled', prog_type: 'xdp', ...o });

const ratelimiting = prog({
  name: 'ratelimiting',
  seq_id: 1,
  artifact: 'l3af_ratelimiting.tar.gz',
  map_name: 'xdp_rl_ingress_next_prog',
  cmd_start: 'ratelimiting',
  user_program_daemon: true,
  cfg_version: 1,
  start_args: { ports: '8080,8081', rate: '2' },
  map_args: [
    { name: 'rl_config_map', args: [{ key: 0, value: 2 }] },
    { name: 'rl_ports_map', args: [{ key: 8080, value: 1 }, { key: 8081, value: 1 }] },
  ],
  monitor_maps: [
    { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
    { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
  ],
  object_file: 'ratelimiting_kern.o',
  entry_function_name: '_xdp_ratelimiting',
});
const connlimit = prog({
  name: 'connection-limit',
  seq_id: 2,
  artifact: 'l3af_connection_limit.tar.gz',
  map_name: 'xdp_cl_ingress_next_prog',
  version: 'v1.1.0',
  cmd_start: 'connection_limit',
  cmd_stop: 'connection_limit',
  stop_args: { cleanup: 'true' },
  map_args: [
    { name: 'cl_max_conn', args: [{ key: 0, value: -1 }] },
    { name: 'cl_tcp_ports', args: [{ key: 80, value: 1 }] },
  ],
  monitor_maps: [
    { name: 'cl_tcp_ports', key: 80, aggregator: 'avg' },
    { name: 'cl_conn_count', key: 0, aggregator: 'sum' },
    { name: 'cl_gone', key: 0, aggregator: 'scalar' },
  ],
  object_file: 'connection_limit_kern.o',
  entry_function_name: '_xdp_limit_conn',
});
const mirroring = prog({
  name: 'traffic-mirroring',
  seq_id: 1,
  artifact: 'l3af_traffic_mirroring.tar.gz',
  prog_type: 'tc',
  map_name: 'tc_egress_next_prog',
  version: '2.0.0',
  object_file: 'traffic_mirroring_kern.o',
  entry_function_name: '_tc_mirror',
  rules_file: 'mirror.rules',
});

/** Every field, zero values included, as l3afd's config store saves a program. */
function saved(o: Json): Json {
  const zero: Json = {
    id: 0, name: '', seq_id: 0, artifact: '', map_name: '', cmd_start: '', cmd_stop: '', cmd_status: '', cmd_config: '', cmd_update: '',
    version: '', user_program_daemon: false, is_plugin: false, cpu: 0, memory: 0, admin_status: '', prog_type: '', rules_file: '',
    rules: '', config_file_path: '', cfg_version: 0, start_args: null, stop_args: null, status_args: null, update_args: null,
    map_args: null, config_args: null, monitor_maps: null, ebpf_package_repo_url: '', object_file: '', entry_function_name: '',
  };
  return { ...zero, ...o };
}

let dir: string;
let objs: string;
const write = (name: string, data: unknown): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, typeof data === 'string' ? data : JSON.stringify(data, null, 2));
  return p;
};
const convert = (file: string, opts: { host?: string; ifaceRenames?: Record<string, string>; netns?: string } = {}): ImportResult =>
  convertL3af(parseL3afConfig(fs.readFileSync(file, 'utf8'), file), { objects: objectsFromDirectory(objs), inspect, ...opts });

function errorsOf(fn: () => unknown): KfnError[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KfnError, `a KfnError, got ${String(e)}`);
    for (const x of e instanceof KfnErrors ? e.errors : [e]) assert.ok(!x.message.includes('\n'), `one line: ${x.message}`);
    return e instanceof KfnErrors ? e.errors : [e];
  }
  assert.fail('expected an error');
}
const lines = (errs: KfnError[]) => errs.map((e) => `${e.code} ${e.message}`);
/** The code, the JSON path, and the payload text where the error's file:line:column points. */
const located = (errs: KfnError[]): string[] =>
  errs.map((e) => {
    const m = /^(.+?):(\d+):(\d+): (\$\S*):/.exec(e.message);
    assert.ok(m && e.source?.line === Number(m[2]), `file:line:column and JSON path in ${e.message}`);
    const text = fs.readFileSync(m[1]!, 'utf8').split('\n')[Number(m[2]) - 1]!.slice(Number(m[3]) - 1);
    return `${e.code} ${m[4]} @ ${text.trim().slice(0, 24)}`;
  });
const fileOf = (r: ImportResult, p: string): string => {
  const f = r.files.find((x) => x.path === p);
  assert.ok(f, `${p} in ${r.files.map((x) => x.path).join(', ')}`);
  return String(f.content);
};
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Json);

/** A gzip tar made by GNU tar, members under `root` (paths longer than 100 bytes included). */
function tarGz(out: string, root: string, members: Record<string, string>, format = 'gnu'): void {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-tar-'));
  try {
    for (const [p, content] of Object.entries(members)) {
      fs.mkdirSync(path.dirname(path.join(stage, root, p)), { recursive: true });
      fs.writeFileSync(path.join(stage, root, p), content);
    }
    execFileSync('tar', [`--format=${format}`, '-czf', out, '-C', stage, root], { stdio: 'ignore', timeout: 10_000 });
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

describe('kfn import l3af', () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-l3af-'));
    objs = path.join(dir, 'objects');
    fs.mkdirSync(objs);
    // As l3afd finds them: one inside its artifact, one extracted in l3afd's BPFDir layout, one loose.
    tarGz(path.join(objs, 'l3af_ratelimiting.tar.gz'), 'l3af_ratelimiting', { 'ratelimiting_kern.o': 'ratelimiting_kern.o', ratelimiting: '#!user program' });
    fs.mkdirSync(path.join(objs, 'connection-limit', 'v1.1.0', 'l3af_connection_limit'), { recursive: true });
    fs.writeFileSync(path.join(objs, 'connection-limit', 'v1.1.0', 'l3af_connection_limit', 'connection_limit_kern.o'), 'connection_limit_kern.o');
    fs.writeFileSync(path.join(objs, 'traffic_mirroring_kern.o'), 'traffic_mirroring_kern.o');
    fs.writeFileSync(path.join(objs, 'noslot_kern.o'), 'noslot_kern.o');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a payload becomes KernelFunctions and Chains that kfn loads and resolves', () => {
    const payload = write('payload.json', [
      {
        host_name: 'l3af-local-test',
        iface: 'enp0s3',
        bpf_programs: { xdp_ingress: [connlimit, ratelimiting], tc_ingress: null, tc_egress: [mirroring] },
      },
    ]);
    const r = convert(payload, { ifaceRenames: { enp0s3: 'eth0' } });
    const fns = docs(fileOf(r, 'functions.yaml'));
    const rl = fns.find((d) => (d.metadata as Json).name === 'ratelimiting')!;
    assert.deepEqual(rl.spec, {
      version: '0.0.0-latest',
      object: 'objects/ratelimiting-0.0.0-latest/ratelimiting_kern.o',
      sha256: createHash('sha256').update('ratelimiting_kern.o').digest('hex'),
      program: '_xdp_ratelimiting',
      hooks: ['xdp'],
      nextMap: 'xdp_rl_ingress_next_prog',
      parameters: ['rl_config_map', 'rl_ports_map'],
      monitorMaps: [
        { map: 'rl_drop_count_map', key: 0 },
        { map: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
      ],
    });
    const cl = fns.find((d) => (d.metadata as Json).name === 'connection-limit')!;
    assert.deepEqual((cl.spec as Json).companions, [{ program: 'trace_conn' }], 'the tracepoint program rides along; the kprobe and the spare XDP program do not');
    assert.equal((cl.spec as Json).version, '1.1.0');
    // the key l3afd looks up is the bytes of the Go int 80, which the __be16 key type reads as 20480
    assert.deepEqual((cl.spec as Json).monitorMaps, [{ map: 'cl_tcp_ports', key: 20480, aggregator: 'avg' }]);
    assert.deepEqual(r.report.notCarried.filter((n) => n.at.includes('monitor_maps')).map((n) => `${n.at} ${n.value}`), [
      '$[0].bpf_programs.xdp_ingress[0].monitor_maps[1].aggregator "sum"',
      '$[0].bpf_programs.xdp_ingress[0].monitor_maps[2] {"name":"cl_gone","key":0,"aggregator":"scalar"}',
    ]);
    const tc = fns.find((d) => (d.metadata as Json).name === 'traffic-mirroring')!;
    assert.deepEqual((tc.spec as Json).hooks, ['tc-egress']);

    const chains = docs(fileOf(r, 'chains.yaml'));
    assert.deepEqual(chains.map((c) => [(c.metadata as Json).name, (c.spec as Json).hook, (c.spec as Json).interfaces]), [
      ['eth0-xdp', 'xdp', ['eth0']],
      ['eth0-tc-egress', 'tc-egress', ['eth0']],
    ]);
    const xdp = chains[0]!.spec as Json;
    assert.equal(xdp.mode, 'auto');
    // seq_id order, not payload order
    assert.deepEqual(xdp.functions, [
      { name: 'ratelimiting', function: 'ratelimiting@0.0.0-latest', maps: { rl_config_map: { 0: 2 }, rl_ports_map: { 8080: 1, 8081: 1 } } },
      // -1 as l3afd stores it in an 8-byte value; key 80 as the bytes 50 00 read as a __be16: 20480
      { name: 'connection-limit', function: 'connection-limit@1.1.0', maps: { cl_max_conn: { 0: '18446744073709551615' }, cl_tcp_ports: { 20480: 1 } } },
    ]);
    const out = path.join(dir, 'out-ok');
    writeImport(r, out);
    // the objects are copied next to the manifests: the one from inside the tarball, the one from l3afd's layout
    assert.equal(fs.readFileSync(path.join(out, 'objects/ratelimiting-0.0.0-latest/ratelimiting_kern.o'), 'utf8'), 'ratelimiting_kern.o');
    assert.equal(fs.readFileSync(path.join(out, 'objects/connection-limit-1.1.0/connection_limit_kern.o'), 'utf8'), 'connection_limit_kern.o');

    // kfn's own loader and resolver accept it: schema, objects inside the root, programs, slots, values
    assert.equal(loadManifests(out).documents.length, 5);
    const d = loadDesiredState(out, { readObjectInfo: readFake, root: out });
    const [first, second] = d.chains[0]!.instances;
    assert.deepEqual(first!.maps.rl_ports_map!.entries.map((e) => e.key), ['901f', '911f']);
    assert.deepEqual(second!.maps.cl_max_conn!.entries.map((e) => e.value), ['ffffffffffffffff']);
    assert.deepEqual(second!.maps.cl_tcp_ports!.entries.map((e) => [e.key, e.value]), [['5000', '01000000']]);
    assert.equal(second!.identity.program, '_xdp_limit_conn');
    assert.ok(!Object.keys(second!.stateMaps ?? {}).includes('xdp_cl_ingress_next_prog'), 'the chain slot is not a state map');
    assert.throws(() => writeImport(r, out), (e: unknown) => e instanceof KfnError && e.code === 'L3AF_OUTPUT_EXISTS');
  });

  test('everything kfn does not do is in the report and in a comment next to where it was, never dropped', () => {
    const payload = write('payload-notes.json', [
      {
        host_name: 'h1',
        iface: 'eth0',
        ipv4_address: '198.18.0.1',
        bpf_programs: {
          xdp_ingress: [{ ...ratelimiting, future_field: 7 }, { ...connlimit, admin_status: 'disabled' }, prog({ ...ratelimiting, name: 'unset', seq_id: 3, admin_status: '' })],
          tc_ingress: [{ ...mirroring, prog_type: 'tc', admin_status: 'disabled' }],
          probes: [prog({ name: 'kprobe-stats', seq_id: 0, prog_type: 'probe', artifact: 'x.tar.gz' })],
          xdp_egress: [],
        },
        extra_host_field: 'x',
      },
    ]);
    const r = convert(payload);
    const chains = fileOf(r, 'chains.yaml');
    const fns = fileOf(r, 'functions.yaml');
    const report = fileOf(r, 'l3af-import-report.txt');
    for (const [field, value] of [
      ['cmd_start', '"ratelimiting"'],
      ['start_args', '{"ports":"8080,8081","rate":"2"}'],
      ['user_program_daemon', 'true'],
      ['cfg_version', '1'],
    ]) {
      assert.ok(chains.includes(`# not carried: ${field} ${value} (`), `${field} commented in chains.yaml:\n${chains}`);
      assert.match(report, new RegExp(`\\$\\[0\\]\\.bpf_programs\\.xdp_ingress\\[0\\]\\.${field} ${value.replace(/[{}[\]().*+?^$|]/g, '\\$&')}: `));
    }
    assert.match(chains, /# left out: "connection-limit" at \$\[0\]\.bpf_programs\.xdp_ingress\[1\] \(admin_status is disabled\)/);
    assert.match(chains, /# left out: "unset" at \$\[0\]\.bpf_programs\.xdp_ingress\[2\] \(admin_status is not set: l3afd starts only enabled programs\)/);
    // a list with nothing left to run has no chain: its left-out program is in the file header
    assert.match(chains, /^# left out: "traffic-mirroring" at \$\[0\]\.bpf_programs\.tc_ingress\[0\] \(admin_status is disabled\)$/m);
    assert.match(report, /\$\[0\]\.bpf_programs\.probes\[0\] "kprobe-stats": a probe program on its own, outside any chain: not built in kfn/);
    assert.match(report, /\$\[0\]\.ipv4_address "198\.18\.0\.1": informational/);
    assert.match(report, /\$\[0\]\.extra_host_field "x": not an l3afd field/);
    assert.match(report, /\$\[0\]\.bpf_programs\.xdp_ingress\[0\]\.future_field 7: not an l3afd field/);
    assert.match(chains, /^# not carried: \$\[0\]\.ipv4_address "198\.18\.0\.1" \(informational/m);
    assert.match(chains, /^# not carried: \$\[0\]\.extra_host_field "x" \(not an l3afd field/m);
    assert.match(chains, /^ {4}# not carried: future_field 7 \(not an l3afd field/m);
    assert.match(fns, /# version "latest" is 0\.0\.0-latest in kfn/);
    assert.deepEqual(r.report.chains.map((c) => c.functions), [['ratelimiting']]);
  });

  test("l3afd's saved config (every field, zero values included) imports like the payload, without noise", () => {
    const payload = write('saved.json', [
      { host_name: 'h1', iface: 'eth0', ipv4_address: '', bpf_programs: { xdp_ingress: [saved({ ...ratelimiting, cmd_start: '', start_args: null, user_program_daemon: false, cfg_version: 0 })], tc_ingress: null, tc_egress: null, probes: null } },
    ]);
    const r = convert(payload);
    assert.deepEqual(r.report.notCarried, []);
    assert.deepEqual(r.report.leftOut, []);
    assert.ok(!fileOf(r, 'chains.yaml').includes('not carried'));
  });

  test('the pre-v2 map_args form is read as l3afd read it: hash maps get keys set to 1, arrays their values in order', () => {
    const payload = write('old-map-args.json', [
      { host_name: 'h1', iface: 'eth0', bpf_programs: { xdp_ingress: [{ ...ratelimiting, map_args: { rl_ports_map: '80,443', rl_config_map: '5,7' } }] } },
    ]);
    const r = convert(payload);
    const fn = (docs(fileOf(r, 'chains.yaml'))[0]!.spec as { functions: Json[] }).functions[0]!;
    assert.deepEqual(fn.maps, { rl_ports_map: { 80: 1, 443: 1 }, rl_config_map: { 0: 5, 1: 7 } });
    assert.ok(r.report.notes.some((n) => n.includes('pre-v2 form')));
  });

  test('bad input: one line per problem, at file:line:column with the JSON path', () => {
    const syntax = write('syntax.json', '[\n  { "host_name": "h1",\n    "iface": "eth0" \n    "bpf_programs": {} }\n]\n');
    const [s] = errorsOf(() => convert(syntax));
    assert.equal(s!.code, 'L3AF_CONFIG_INVALID');
    assert.match(s!.message, new RegExp(`^${syntax}:4:5: not valid JSON: `));

    const shape = write('shape.json', [
      { host_name: 'h1', iface: 'eth0', bpf_programs: { xdp_ingress: [{ ...ratelimiting, seq_id: '1' }, { ...ratelimiting, name: '', prog_type: 'tc', seq_id: 2 }, 'x'], tc_egress: { a: 1 } } },
      { iface: 'eth1' },
      7,
    ]);
    const shapeErrors = errorsOf(() => convert(shape));
    assert.deepEqual(located(shapeErrors), [
      '$[0].bpf_programs.xdp_ingress[0].seq_id @ "1",',
      '$[0].bpf_programs.xdp_ingress[1].prog_type @ "tc",',
      '$[0].bpf_programs.xdp_ingress[1].name @ "",',
      '$[0].bpf_programs.xdp_ingress[2] @ "x"',
      '$[0].bpf_programs.tc_egress @ {',
      '$[1].host_name @ {',
      '$[2] @ 7',
    ].map((l) => `L3AF_CONFIG_INVALID ${l}`));
    assert.deepEqual(shapeErrors.map((e) => e.message.replace(/^.*?: \$\S*: /, '')), [
      'expected an integer >= 1, got "1"',
      'expected "xdp" (the program is in xdp_ingress), got "tc"',
      'expected a non-empty string, got ""',
      'expected a program object, got "x"',
      'expected a list of programs, got an object',
      'expected a non-empty string, got nothing',
      'expected an object {host_name, iface, bpf_programs}, got 7',
    ]);
    const notArray = write('not-array.json', { host_name: 'h1' });
    assert.match(lines(errorsOf(() => convert(notArray)))[0]!, /:1:1: \$: expected a JSON array of host configurations/);
    const maps = write('map-args-bad.json', [{ host_name: 'h1', iface: 'eth0', bpf_programs: { xdp_ingress: [{ ...ratelimiting, map_args: [{ name: 'rl_config_map', args: [{ key: 0.5, value: '1' }] }], monitor_maps: [{ name: 'm', key: -1 }] }] } }]);
    const mapErrors = errorsOf(() => convert(maps));
    assert.deepEqual(located(mapErrors), [
      'L3AF_CONFIG_INVALID $[0].bpf_programs.xdp_ingress[0].map_args[0].args[0].key @ 0.5,',
      'L3AF_CONFIG_INVALID $[0].bpf_programs.xdp_ingress[0].map_args[0].args[0].value @ "1"',
      'L3AF_CONFIG_INVALID $[0].bpf_programs.xdp_ingress[0].monitor_maps[0].key @ -1',
    ]);
    assert.match(mapErrors[0]!.message, /: expected an integer \(a Go int: -2\^63 \.\. 2\^63-1\), got 0\.5$/);
    assert.match(mapErrors[2]!.message, /: expected an integer >= 0, got -1$/);
  });

  test('bad input against the objects: missing object, entry function, chain slot, map; duplicate seq_id; conflicting builds', () => {
    const payload = write('mismatch.json', [
      {
        host_name: 'h1',
        iface: 'eth0',
        bpf_programs: {
          xdp_ingress: [
            { ...ratelimiting, object_file: 'nope.o' },
            { ...ratelimiting, seq_id: 2, entry_function_name: 'xdp_nope' },
            { ...connlimit, seq_id: 3, map_name: 'cl_max_conn' },
            { ...connlimit, seq_id: 3 },
            { ...connlimit, seq_id: 4, map_args: [{ name: 'cl_nope', args: [{ key: 1, value: 1 }] }] },
          ],
          tc_egress: [{ ...mirroring, map_args: [{ name: 'mirror_cfg', args: [{ key: 0, value: 1 }] }] }, { ...mirroring, seq_id: 2, entry_function_name: 'xdp_noslot', object_file: 'noslot_kern.o' }],
        },
      },
    ]);
    // duplicate seq_id is found first, on its own
    assert.deepEqual(located(errorsOf(() => convert(payload))), ['L3AF_CONFIG_INVALID $[0].bpf_programs.xdp_ingress[3].seq_id @ 3,']);
    const data = JSON.parse(fs.readFileSync(payload, 'utf8'));
    data[0].bpf_programs.xdp_ingress.splice(3, 1);
    write('mismatch.json', data);
    const all = errorsOf(() => convert(payload));
    assert.deepEqual(located(all), [
      'L3AF_OBJECT_NOT_FOUND $[0].bpf_programs.xdp_ingress[0].object_file @ "nope.o",',
      'L3AF_OBJECT_MISMATCH $[0].bpf_programs.xdp_ingress[1].entry_function_name @ "xdp_nope"',
      'L3AF_OBJECT_MISMATCH $[0].bpf_programs.xdp_ingress[2].map_name @ "cl_max_conn",',
      'L3AF_OBJECT_MISMATCH $[0].bpf_programs.xdp_ingress[3].map_args[0].args[0] @ {',
      'L3AF_OBJECT_MISMATCH $[0].bpf_programs.tc_egress[0].map_args[0].args[0] @ {',
      'L3AF_OBJECT_MISMATCH $[0].bpf_programs.tc_egress[1].entry_function_name @ "xdp_noslot",',
    ]);
    const errs = lines(all).map((l) => l.replaceAll(objs, 'D'));
    assert.match(errs[0]!, /nope\.o of ratelimiting not found \(looked in D\/nope\.o, D\/ratelimiting\/latest\/l3af_ratelimiting\/nope\.o, D\/l3af_ratelimiting\/nope\.o, D\/l3af_ratelimiting\.tar\.gz, D\/ratelimiting\/latest\/l3af_ratelimiting\.tar\.gz\)$/);
    assert.match(errs[1]!, /has no program xdp_nope \(programs: _xdp_ratelimiting \(xdp_ratelimiting\)\)$/);
    assert.match(errs[2]!, /cl_max_conn of .* is an array with 1 entries, not a one-slot program array$/);
    assert.match(errs[3]!, /has no map cl_nope \(maps: /);
    assert.match(errs[4]!, /mirror_cfg is a percpu_array map .*l3afd writes map_args as one 8-byte integer per key and value into hash and array maps$/);
    assert.match(errs[5]!, /xdp_noslot of .* is an xdp program \(section "xdp"\); tc_egress needs a tc program$/);

    const conflict = write('conflict.json', [
      { host_name: 'h1', iface: 'eth0', bpf_programs: { xdp_ingress: [ratelimiting] } },
      { host_name: 'h1', iface: 'eth1', bpf_programs: { xdp_ingress: [{ ...ratelimiting, object_file: 'noslot_kern.o', entry_function_name: 'xdp_noslot', map_name: '', map_args: null, monitor_maps: null }] } },
    ]);
    const [clash] = errorsOf(() => convert(conflict));
    assert.deepEqual(located([clash!]), ['L3AF_CONFLICT $[1].bpf_programs.xdp_ingress[0] @ {']);
    assert.match(clash!.message, /: ratelimiting version latest has another object than at \$\[0\]\.bpf_programs\.xdp_ingress\[0\]$/);
  });

  test('hosts and interfaces: one host at a time, renames checked, names kfn cannot use refused', () => {
    const two = write('two-hosts.json', [
      { host_name: 'a', iface: 'eth0', bpf_programs: { xdp_ingress: [ratelimiting] } },
      { host_name: 'b', iface: 'Ethernet 4', bpf_programs: { xdp_ingress: [ratelimiting] } },
    ]);
    assert.deepEqual(lines(errorsOf(() => convert(two))), [`L3AF_HOST_NOT_SELECTED ${two} configures 2 hosts (a, b): import one at a time`]);
    assert.deepEqual(lines(errorsOf(() => convert(two, { host: 'c' }))), [`L3AF_HOST_NOT_SELECTED ${two} has no host "c" (hosts: a, b)`]);
    assert.equal(convert(two, { host: 'a' }).report.chains[0]!.iface, 'eth0');
    const [bad] = errorsOf(() => convert(two, { host: 'b' }));
    assert.deepEqual(located([bad!]), ['L3AF_CONFIG_INVALID $[1].iface @ "Ethernet 4",']);
    assert.match(bad!.message, /: interface name "Ethernet 4" is not one kfn can use \(1-15 letters, digits or \. _ @ \+ -\)$/);
    assert.equal(bad!.hint, 'rename it: --iface "Ethernet 4"=NEW');
    assert.equal(convert(two, { host: 'b', ifaceRenames: { 'Ethernet 4': 'eth4' } }).report.chains[0]!.name, 'eth4-xdp');
    assert.deepEqual(lines(errorsOf(() => convert(two, { host: 'a', ifaceRenames: { eth9: 'x' } }))), ['USAGE --iface eth9=x: host a has no interface eth9 (interfaces: eth0)']);
    // The interfaces may live in another namespace on the kfn host: every chain says so, the report too.
    const inNs = convert(two, { host: 'a', netns: 'edge' });
    const chainsText = inNs.files.find((f) => f.path === 'chains.yaml')!.content.toString();
    assert.deepEqual(parseAllDocuments(chainsText).map((d) => (d.toJS() as { spec: { netns?: string } }).spec.netns), ['edge']);
    assert.ok(inNs.report.notes.includes('the interfaces are in network namespace edge (--netns edge)'), inNs.report.notes.join('\n'));
    const plain = parseAllDocuments(convert(two, { host: 'a' }).files.find((f) => f.path === 'chains.yaml')!.content.toString())[0]!.toJS() as { spec: object };
    assert.equal('netns' in plain.spec, false, 'without --netns the chain is in kfn\'s own namespace');
    assert.deepEqual(parseIfaceRenames(['enp0s3=eth0', 'Ethernet 4=eth4']), { enp0s3: 'eth0', 'Ethernet 4': 'eth4' });
    assert.deepEqual(lines(errorsOf(() => parseIfaceRenames(['eth0']))), ['USAGE --iface "eth0": expected OLD=NEW']);
  });

  test('artifacts: a member found by its path in the tarball (long names too); ambiguous and broken tarballs refused', () => {
    const deep = 'build/' + 'x'.repeat(90) + '/limit_kern.o';
    tarGz(path.join(objs, 'deep.tar.gz'), 'deep', { [deep]: 'connection_limit_kern.o' });
    const src = objectsFromDirectory(objs);
    const found = src.find({ name: 'deep', version: '1', artifact: 'deep.tar.gz', object_file: deep });
    assert.ok('bytes' in found, JSON.stringify(found));
    assert.equal(found.bytes.toString(), 'connection_limit_kern.o');
    assert.equal(found.from, `${path.join(objs, 'deep.tar.gz')}:deep/${deep}`);
    // found by its base name anywhere in the tarball
    assert.ok('bytes' in src.find({ name: 'deep', version: '1', artifact: 'deep.tar.gz', object_file: 'limit_kern.o' }));

    tarGz(path.join(objs, 'twice.tar.gz'), 'twice', { 'a/k.o': 'one', 'b/k.o': 'two' });
    assert.throws(() => src.find({ name: 'twice', version: '1', artifact: 'twice.tar.gz', object_file: 'k.o' }), /2 different members are k\.o \(twice\/[ab]\/k\.o, twice\/[ab]\/k\.o\)/);
    fs.writeFileSync(path.join(objs, 'broken.tar.gz'), zlib.gzipSync(Buffer.alloc(1024, 7)));
    assert.throws(
      () => src.find({ name: 'broken', version: '1', artifact: 'broken.tar.gz', object_file: 'k.o' }),
      (e: unknown) => e instanceof KfnError && e.code === 'L3AF_ARTIFACT_INVALID' && /not a tar archive/.test(e.message),
    );
    fs.writeFileSync(path.join(objs, 'plain.tar.gz'), 'not gzip');
    assert.throws(() => src.find({ name: 'plain', version: '1', artifact: 'plain.tar.gz', object_file: 'k.o' }), /not gzip-compressed/);
    // the tar reader on its own: GNU long names, pax path records, the ustar prefix field; directories skipped
    for (const format of ['gnu', 'pax', 'ustar']) {
      const file = path.join(objs, `deep-${format}.tar.gz`);
      tarGz(file, 'deep', { [deep]: 'connection_limit_kern.o', 'short.o': 's' }, format);
      const members = readTar(zlib.gunzipSync(fs.readFileSync(file)), file);
      assert.deepEqual(members.map((m) => m.path).sort(), [`deep/${deep}`, 'deep/short.o'], format);
      assert.equal(members.find((m) => m.path === `deep/${deep}`)!.data.toString(), 'connection_limit_kern.o', format);
    }
  });

  test('names and versions always come out in the forms the schemas accept', () => {
    const NAME = /^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$/;
    const SEMVER = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-((0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?$/;
    assert.deepEqual(['latest', 'v1.2.3', '1.2', '3', '2.0.0-rc.1', 'debug build', '007', '1.2.3.4'].map(kfnVersion), ['0.0.0-latest', '1.2.3', '1.2.0', '3.0.0', '2.0.0-rc.1', '0.0.0-debug-build', '7.0.0', '0.0.0-1-2-3-4']);
    assert.deepEqual(['RateLimiting', 'connection_limit', '--x--', '***'].map(kfnName), ['ratelimiting', 'connection_limit', 'x', 'function']);
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        assert.match(kfnName(s), NAME);
        assert.match(kfnVersion(s), SEMVER);
      }),
      { numRuns: 500 },
    );
  });

  test('importL3af reads the file and the objects directory; unreadable ones are one-line errors', async () => {
    const payload = write('io.json', [{ host_name: 'h1', iface: 'eth0', bpf_programs: { tc_egress: [mirroring] } }]);
    const r = await importL3af(payload, { objectsDir: objs, inspect });
    assert.deepEqual(r.report.functions.map((f) => `${f.name}@${f.version}`), ['traffic-mirroring@2.0.0']);
    await assert.rejects(importL3af(path.join(dir, 'missing.json'), { objectsDir: objs, inspect }), /cannot read .*missing\.json: ENOENT/);
    await assert.rejects(importL3af(payload, { objectsDir: path.join(dir, 'nope'), inspect }), (e: unknown) => e instanceof KfnError && e.code === 'L3AF_READ');
  });

  test('the L3AF-style objects of bpf/l3af-style import into manifests kfn resolves with the real object reader', { skip: fs.existsSync(path.join(BPF_BUILD, 'l3af-style', 'connlimit.bpf.o')) ? false : 'run npm run build first' }, async () => {
    const real = path.join(dir, 'real-objects');
    fs.mkdirSync(real, { recursive: true });
    const stage = path.join(dir, 'stage', 'l3t_connlimit');
    fs.mkdirSync(stage, { recursive: true });
    fs.copyFileSync(path.join(BPF_BUILD, 'l3af-style', 'connlimit.bpf.o'), path.join(stage, 'connlimit_kern.o'));
    execFileSync('tar', ['-czf', path.join(real, 'l3t_connlimit.tar.gz'), '-C', path.dirname(stage), 'l3t_connlimit'], { stdio: 'ignore', timeout: 10_000 });
    fs.copyFileSync(path.join(BPF_BUILD, 'l3af-style', 'portdrop.bpf.o'), path.join(real, 'portdrop.bpf.o'));
    const payload = write('real.json', [
      {
        host_name: 'edge',
        iface: 'eth0',
        bpf_programs: {
          xdp_ingress: [
            prog({ name: 'portdrop', seq_id: 1, artifact: 'portdrop.tar.gz', map_name: 'xdp_l3t_ingress_next_prog', object_file: 'portdrop.bpf.o', entry_function_name: 'l3t_portdrop', map_args: [{ name: 'l3t_drop_ports', args: [{ key: 8080, value: 1 }] }] }),
            prog({
              name: 'connlimit', seq_id: 2, artifact: 'l3t_connlimit.tar.gz', map_name: 'xdp_l3t_connlimit_next_prog', object_file: 'connlimit_kern.o', entry_function_name: 'l3t_connlimit',
              map_args: [{ name: 'l3t_conn_cfg', args: [{ key: 0, value: 100 }, { key: 1, value: 7411 }] }],
              monitor_maps: [{ name: 'l3t_conn_count', key: 0, aggregator: 'scalar' }],
            }),
          ],
        },
      },
    ]);
    const r = await importL3af(payload, { objectsDir: real });
    const out = path.join(dir, 'out-real');
    writeImport(r, out);
    const d = loadDesiredState(out, { readObjectInfo, root: out });
    assert.deepEqual(d.chains[0]!.instances.map((i) => [i.name, i.identity.program]), [['portdrop', 'l3t_portdrop'], ['connlimit', 'l3t_connlimit']]);
    const fns = docs(fs.readFileSync(path.join(out, 'functions.yaml'), 'utf8'));
    const cl = fns.find((f) => (f.metadata as Json).name === 'connlimit')!.spec as Json;
    assert.deepEqual(cl.companions, [{ program: 'l3t_conn_state' }]);
    assert.equal(cl.sha256, readObjectInfo(path.join(BPF_BUILD, 'l3af-style', 'connlimit.bpf.o')).sha256, 'the object out of the tarball is the built one');
  });
});
