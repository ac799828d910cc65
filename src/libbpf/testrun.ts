/**
 * BPF_PROG_TEST_RUN through libbpf's bpf_prog_test_run_opts: run a loaded program on one
 * frame without attaching it anywhere. XDP and tc (SCHED_CLS) programs both work; a tc
 * run needs at least an Ethernet header and takes an optional `__sk_buff` context.
 */
import { bpf } from './ffi.js';
import { BpfError } from './errors.js';
import { bpfAddress } from './info.js';

export { VERDICTS, XDP_ACTION, TCX_ACTION, TC_ACT, tcVerdict, verdictOf, xdpVerdict, type Verdict, type VerdictHook } from './verdict.js';

/** struct bpf_test_run_opts of libbpf 1.1 (bpf.h), checked with offsetof on x86_64. */
const OPTS = {
  size: 80,
  sz: 0,
  dataIn: 8,
  dataOut: 16,
  dataSizeIn: 24,
  dataSizeOut: 28,
  ctxIn: 32,
  ctxOut: 40,
  ctxSizeIn: 48,
  ctxSizeOut: 52,
  retval: 56,
  repeat: 60,
  duration: 64,
  flags: 68,
  cpu: 72,
  batchSize: 76,
} as const;

/** BPF_F_TEST_RUN_ON_CPU: run on `cpu` instead of the calling CPU. */
export const TEST_RUN_ON_CPU = 1;

/** Room for the output frame beyond the input: XDP programs may grow a frame (adjust_head/tail). */
const OUT_SLACK = 4096;

export interface TestRunOptions {
  /** The frame, from its Ethernet header. */
  data: Uint8Array;
  /** `struct __sk_buff` for tc programs (see skbContext), `struct xdp_md` for XDP ones. */
  ctx?: Uint8Array;
  /** Runs of the same frame; the result is the last run's, the duration their mean. Default 1. */
  repeat?: number;
  /** BPF_F_TEST_RUN_* flags. */
  flags?: number;
  /** With TEST_RUN_ON_CPU. */
  cpu?: number;
  /** Capacity of the output frame buffer; default the input length + 4096. */
  dataOutSize?: number;
}

export interface TestRunResult {
  /** The program's return value, as the kernel returned it (a signed int: TCX_NEXT is -1). */
  retval: number;
  /** Mean time of one run in ns, as the kernel measured it. */
  durationNs: number;
  /** The frame after the program ran (it may have rewritten or resized it). */
  data: Buffer;
  /** The context after the run, when one was passed. */
  ctx?: Buffer;
}

/**
 * Runs `progFd` on one frame. `label` names the program in errors. Throws BpfError with the
 * errno (EINVAL: a frame too short for the hook, or a ctx field the kernel does not accept).
 */
export function testRun(progFd: number, opts: TestRunOptions, label: string): TestRunResult {
  // Own (unpooled) copies: their addresses go into the opts struct.
  const dataIn = copy(opts.data);
  const dataOut = Buffer.alloc(opts.dataOutSize ?? dataIn.length + OUT_SLACK);
  const ctxIn = opts.ctx ? copy(opts.ctx) : undefined;
  const ctxOut = ctxIn ? Buffer.alloc(ctxIn.length) : undefined;

  const o = Buffer.alloc(OPTS.size);
  o.writeBigUInt64LE(BigInt(OPTS.size), OPTS.sz);
  o.writeBigUInt64LE(bpfAddress(dataIn), OPTS.dataIn);
  o.writeBigUInt64LE(bpfAddress(dataOut), OPTS.dataOut);
  o.writeUInt32LE(dataIn.length, OPTS.dataSizeIn);
  o.writeUInt32LE(dataOut.length, OPTS.dataSizeOut);
  if (ctxIn && ctxOut) {
    o.writeBigUInt64LE(bpfAddress(ctxIn), OPTS.ctxIn);
    o.writeBigUInt64LE(bpfAddress(ctxOut), OPTS.ctxOut);
    o.writeUInt32LE(ctxIn.length, OPTS.ctxSizeIn);
    o.writeUInt32LE(ctxOut.length, OPTS.ctxSizeOut);
  }
  o.writeInt32LE(opts.repeat ?? 1, OPTS.repeat);
  o.writeUInt32LE(opts.flags ?? 0, OPTS.flags);
  o.writeUInt32LE(opts.cpu ?? 0, OPTS.cpu);

  const ret = bpf.prog_test_run_opts(progFd, o) as number;
  if (ret < 0) {
    const outLen = o.readUInt32LE(OPTS.dataSizeOut);
    throw new BpfError('test run', label, -ret, {
      hint:
        outLen > dataOut.length
          ? `the program grew the frame to ${outLen} bytes: pass a larger dataOutSize`
          : 'XDP and tc test runs need at least a 14-byte Ethernet frame; a ctx may set only the fields the kernel accepts',
    });
  }
  const result: TestRunResult = {
    retval: o.readInt32LE(OPTS.retval),
    durationNs: o.readUInt32LE(OPTS.duration),
    data: dataOut.subarray(0, o.readUInt32LE(OPTS.dataSizeOut)),
  };
  if (ctxOut) result.ctx = ctxOut.subarray(0, o.readUInt32LE(OPTS.ctxSizeOut));
  return result;
}

function copy(bytes: Uint8Array): Buffer {
  const b = Buffer.alloc(bytes.length);
  b.set(bytes);
  return b;
}

/** struct __sk_buff (include/uapi/linux/bpf.h): size and the offsets of the fields a test run accepts. */
export const SK_BUFF = {
  size: 192,
  mark: 8,
  priority: 32,
  ingressIfindex: 36,
  ifindex: 40,
  cb: 48,
  tstamp: 152,
  wireLen: 160,
  gsoSegs: 164,
  gsoSize: 176,
  hwtstamp: 184,
} as const;

/** The `__sk_buff` fields a tc test run may set (every other byte must be zero). */
export interface SkbContext {
  mark?: number;
  priority?: number;
  /** skb->skb_iif. */
  ingressIfindex?: number;
  /** The device the skb is on (must exist in the caller's netns); 0: loopback. */
  ifindex?: number;
  /** The five u32 of skb->cb. */
  cb?: readonly number[];
}

export function skbContext(f: SkbContext = {}): Buffer {
  const b = Buffer.alloc(SK_BUFF.size);
  b.writeUInt32LE(f.mark ?? 0, SK_BUFF.mark);
  b.writeUInt32LE(f.priority ?? 0, SK_BUFF.priority);
  b.writeUInt32LE(f.ingressIfindex ?? 0, SK_BUFF.ingressIfindex);
  b.writeUInt32LE(f.ifindex ?? 0, SK_BUFF.ifindex);
  (f.cb ?? []).slice(0, 5).forEach((v, i) => b.writeUInt32LE(v, SK_BUFF.cb + 4 * i));
  return b;
}

/** The fields of skbContext read back from a context buffer (e.g. TestRunResult.ctx). */
export function readSkbContext(b: Buffer): Required<SkbContext> {
  return {
    mark: b.readUInt32LE(SK_BUFF.mark),
    priority: b.readUInt32LE(SK_BUFF.priority),
    ingressIfindex: b.readUInt32LE(SK_BUFF.ingressIfindex),
    ifindex: b.readUInt32LE(SK_BUFF.ifindex),
    cb: [0, 1, 2, 3, 4].map((i) => b.readUInt32LE(SK_BUFF.cb + 4 * i)),
  };
}
