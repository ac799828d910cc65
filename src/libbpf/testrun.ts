/** BPF_PROG_TEST_RUN: a loaded program run on one packet in the kernel, `repeat` times. */
import { bpf } from './ffi.js';
import { check } from './errors.js';
import { bpfAddress } from './info.js';

/** sizeof(struct bpf_test_run_opts) in libbpf 1.1 (bpf.h); libbpf checks `sz`. */
const OPTS_SIZE = 80;

export interface TestRunResult {
  /** The program's return value (for XDP: XDP_PASS = 2, XDP_DROP = 1...). */
  retval: number;
  /** Mean nanoseconds per run, as the kernel measured it. */
  durationNs: number;
}

export function testRun(progFd: number, packet: Uint8Array, repeat = 1, label = `program fd ${progFd}`): TestRunResult {
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0x7fffffff) throw new RangeError(`test run repeat must be an integer in 1..2^31-1, got ${repeat}`);
  const data = Buffer.from(packet);
  const opts = Buffer.alloc(OPTS_SIZE);
  opts.writeBigUInt64LE(BigInt(OPTS_SIZE), 0); // sz
  opts.writeBigUInt64LE(bpfAddress(data), 8); // data_in
  opts.writeUInt32LE(data.length, 24); // data_size_in
  opts.writeInt32LE(repeat, 60); // repeat
  check(bpf.prog_test_run_opts(progFd, opts), 'test run', label);
  return { retval: opts.readUInt32LE(56), durationNs: opts.readUInt32LE(64) };
}
