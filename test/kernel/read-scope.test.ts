/**
 * One read of the live state types kernel BTF once per content (ReadScope): two loads of
 * one object have two BTF objects in the kernel with the same bytes, parsed once; the
 * map layouts typed from the kernel have the digests the manifest layer computes from
 * the object file (what decides whether a replacement keeps a map's state); a new scope
 * parses again. Nothing is pinned or attached.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { BPF_BUILD } from '../helpers/paths.js';
import { BpfObject, mapInfoByFd, mapLayoutDigest, readObjectInfo, type MapKernelInfo } from '../../src/libbpf/index.js';
import { ReadScope } from '../../src/forms/tailcall/read-instance.js';

const skip = kernelGate({ objects: ['blocklist.bpf.o'], cli: false });
const OBJECT = path.join(BPF_BUILD, 'blocklist.bpf.o');

describe('read scope: kernel BTF typed once per content', { skip }, () => {
  const objects: BpfObject[] = [];
  const loads: Record<string, MapKernelInfo>[] = [];

  before(() => {
    for (let i = 0; i < 2; i++) {
      const obj = BpfObject.open(OBJECT);
      objects.push(obj);
      const { mapFds } = obj.load('blocklist_xdp');
      loads.push(Object.fromEntries(Object.entries(mapFds).map(([name, fd]) => [name, mapInfoByFd(fd)])));
    }
  });
  after(() => objects.forEach((o) => o.close()));

  test('two loads: two BTF ids, one content, one parse', () => {
    const [a, b] = [loads[0]!.blocked_v4!, loads[1]!.blocked_v4!];
    assert.ok(a.btfId > 0 && b.btfId > 0);
    assert.notEqual(a.btfId, b.btfId, 'each load has its own BTF object');
    const scope = new ReadScope();
    try {
      const ha = scope.btf.get(a.btfId)!;
      const hb = scope.btf.get(b.btfId)!;
      assert.equal(ha.content, hb.content);
      assert.equal(ha.btf, hb.btf, 'parsed once');
      assert.equal(scope.btf.get(a.btfId), ha, 'looked up once per id');
      const other = new ReadScope();
      try {
        assert.notEqual(other.btf.get(a.btfId)!.btf, ha.btf, 'a new scope parses afresh');
      } finally {
        other.close();
      }
    } finally {
      scope.close();
    }
  });

  test('layouts typed from the kernel have the digests of the object file', () => {
    const file = readObjectInfo(OBJECT);
    const scope = new ReadScope();
    try {
      for (const load of loads) {
        for (const m of file.maps) {
          const info = load[m.name];
          assert.ok(info, `map ${m.name} loaded`);
          const typed = scope.typed(m.name, info);
          assert.deepEqual(typed.key, m.key, `${m.name} key type`);
          assert.deepEqual(typed.value, m.value, `${m.name} value type`);
          const { parameter: _p, ...layout } = m;
          assert.equal(scope.layout(typed, info), mapLayoutDigest(layout), `${m.name} layout digest`);
        }
      }
    } finally {
      scope.close();
    }
  });

  test('a BTF id that no longer exists types nothing', () => {
    const scope = new ReadScope();
    try {
      assert.equal(scope.btf.get(0x7ffffff0), undefined);
    } finally {
      scope.close();
    }
  });
});
