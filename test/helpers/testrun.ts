/**
 * BPF_PROG_TEST_RUN for kernel tests: runs a loaded XDP or tc program on one crafted
 * frame, `repeat` times, through libbpf's bpf_prog_test_run_opts. A minimal wrapper for
 * tests (the production one belongs in src/libbpf). The kernel runs a tc program with
 * the frame as an skb of the loopback device of the calling thread's netns.
 */
import { bpf } from '../../src/libbpf/ffi.js';
import { bpfAddress } from '../../src/libbpf/info.js';
import { check } from '../../src/libbpf/errors.js';

export interface TestRunResult {
  /** The program's return value of the last run (signed: TCX_NEXT is -1). */
  retval: number;
  /** The frame as the program left it. */
  dataOut: Buffer;
}

/** struct bpf_test_run_opts of libbpf 1.1 (sz first, then the fields below). */
const OPTS_SIZE = 80;
const OFF = { dataIn: 8, dataOut: 16, dataSizeIn: 24, dataSizeOut: 28, retval: 56, repeat: 60 } as const;

export function testRun(progFd: number, frame: Uint8Array, opts: { repeat?: number } = {}): TestRunResult {
  const input = Buffer.from(frame);
  const output = Buffer.alloc(input.length + 256);
  const o = Buffer.alloc(OPTS_SIZE);
  o.writeBigUInt64LE(BigInt(OPTS_SIZE), 0);
  o.writeBigUInt64LE(bpfAddress(input), OFF.dataIn);
  o.writeBigUInt64LE(bpfAddress(output), OFF.dataOut);
  o.writeUInt32LE(input.length, OFF.dataSizeIn);
  o.writeUInt32LE(output.length, OFF.dataSizeOut);
  o.writeInt32LE(opts.repeat ?? 1, OFF.repeat);
  check(bpf.prog_test_run_opts(progFd, o) as number, 'test-run program', `fd ${progFd}`);
  return { retval: o.readInt32LE(OFF.retval), dataOut: output.subarray(0, o.readUInt32LE(OFF.dataSizeOut)) };
}
