/**
 * Per-CPU value buffers of src/libbpf/map.ts without the kernel: slot layout, packing,
 * and the size checks MapHandle makes before any syscall (the fd is never used).
 * The kernel side is proven in test/kernel/percpu.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KfnError } from '../../src/core/errors.js';
import { MAP_TYPE, MapHandle, lookupSize, numPossibleCpus, packPerCpu, perCpuValues, type MapKernelInfo } from '../../src/libbpf/index.js';

function info(type: number, valueSize: number): MapKernelInfo {
  return { id: 0, type, typeName: '', keySize: 4, valueSize, maxEntries: 1, flags: 0, name: 'm', btfId: 0, btfKeyTypeId: 0, btfValueTypeId: 0 };
}

function throwsKfn(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof KfnError && e.code === 'VALUE_INVALID' && message.test(e.message));
}

describe('libbpf: per-CPU value buffers', () => {
  const cpus = numPossibleCpus();

  it('one slot per possible CPU, each rounded up to 8 bytes', () => {
    assert.ok(cpus >= 1);
    assert.equal(lookupSize(info(MAP_TYPE.PERCPU_ARRAY, 12)), 16 * cpus);
    assert.equal(lookupSize(info(MAP_TYPE.PERCPU_HASH, 16)), 16 * cpus);
    assert.equal(lookupSize(info(MAP_TYPE.LRU_PERCPU_HASH, 1)), 8 * cpus);
    assert.equal(lookupSize(info(MAP_TYPE.ARRAY, 12)), 12);
  });

  it('packPerCpu places CPU i at i * stride and perCpuValues reads it back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }).chain((n) => fc.array(fc.uint8Array({ minLength: n, maxLength: n }), { minLength: cpus, maxLength: cpus }).map((vs) => [n, vs] as const)), ([n, vs]) => {
        const packed = packPerCpu(info(MAP_TYPE.PERCPU_ARRAY, n), vs);
        const stride = Math.ceil(n / 8) * 8;
        assert.equal(packed.length, stride * cpus);
        vs.forEach((v, i) => {
          assert.deepEqual(Uint8Array.from(packed.subarray(i * stride, i * stride + n)), v);
          assert.ok(packed.subarray(i * stride + n, (i + 1) * stride).every((b) => b === 0), 'slot padding is zero');
        });
        assert.deepEqual(perCpuValues(info(MAP_TYPE.PERCPU_ARRAY, n), packed).map((b) => Uint8Array.from(b)), vs);
      }),
      { numRuns: 200 },
    );
  });

  it('packPerCpu refuses the wrong number of CPUs or a wrong-sized value', () => {
    const m = info(MAP_TYPE.PERCPU_ARRAY, 8);
    throwsKfn(() => packPerCpu(m, new Array(cpus + 1).fill(new Uint8Array(8))), new RegExp(`^map m: ${cpus + 1} per-CPU values, expected one for each of the ${cpus} possible CPUs$`));
    throwsKfn(() => packPerCpu(m, new Array(cpus).fill(new Uint8Array(4))), /^map m: value of CPU 0 of 4 bytes, expected 8$/);
  });

  it('MapHandle refuses keys and values of the wrong size before calling the kernel', () => {
    const perCpu = new MapHandle(-1, info(MAP_TYPE.PERCPU_HASH, 12), 'pc');
    throwsKfn(() => perCpu.update(new Uint8Array(4), new Uint8Array(16)), new RegExp(`^map pc: value of 16 bytes, expected 12 \\(one value for every CPU\\) or ${16 * cpus} \\(${cpus} CPU slots of 16\\)$`));
    throwsKfn(() => perCpu.update(new Uint8Array(2), new Uint8Array(12)), /^map pc: key of 2 bytes, expected 4$/);
    throwsKfn(() => perCpu.lookup(new Uint8Array(8)), /^map pc: key of 8 bytes, expected 4$/);
    throwsKfn(() => perCpu.delete(new Uint8Array(0)), /^map pc: key of 0 bytes, expected 4$/);
    const shared = new MapHandle(-1, info(MAP_TYPE.ARRAY, 12), 'a');
    throwsKfn(() => shared.update(new Uint8Array(4), new Uint8Array(16)), /^map a: value of 16 bytes, expected 12$/);
  });
});
