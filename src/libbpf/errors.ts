import os from 'node:os';
import util from 'node:util';
import { KfnError } from '../core/errors.js';

/** libbpf's own error codes (libbpf.h, LIBBPF_ERRNO__*). */
const LIBBPF_ERRNOS: Record<number, [string, string]> = {
  4000: ['LIBBPF_ERRNO__LIBELF', 'something wrong in libelf'],
  4001: ['LIBBPF_ERRNO__FORMAT', 'BPF object format invalid'],
  4002: ['LIBBPF_ERRNO__KVERSION', 'incorrect or no kernel version section'],
  4003: ['LIBBPF_ERRNO__ENDIAN', 'endianness mismatch'],
  4004: ['LIBBPF_ERRNO__INTERNAL', 'internal error in libbpf'],
  4005: ['LIBBPF_ERRNO__RELOC', 'relocation failed'],
  4007: ['LIBBPF_ERRNO__VERIFY', 'kernel verifier blocks program loading'],
  4008: ['LIBBPF_ERRNO__PROG2BIG', 'program too big'],
  4010: ['LIBBPF_ERRNO__PROGTYPE', 'kernel does not support this program type'],
};

/** "No such file or entry": a missing pin, map key or kernel object. */
export const ENOENT = os.constants.errno.ENOENT;

export function errnoName(errno: number): string {
  const lib = LIBBPF_ERRNOS[Math.abs(errno)];
  if (lib) return lib[0];
  try {
    return util.getSystemErrorName(-Math.abs(errno));
  } catch {
    return `errno ${errno}`;
  }
}

export function errnoText(errno: number): string {
  const lib = LIBBPF_ERRNOS[Math.abs(errno)];
  if (lib) return lib[1];
  const entry = util.getSystemErrorMap().get(-Math.abs(errno));
  // libc names errno 95 for sockets ("operation not supported on socket"); here it is a device or hook.
  if (entry && (entry[0] === 'ENOTSUP' || entry[0] === 'EOPNOTSUPP')) return 'operation not supported';
  return entry ? entry[1] : `errno ${errno}`;
}

/** Codes for the kernel refusals an operator can act on; anything else is KERNEL_ERROR. */
function codeFor(op: string, errno: number, verifierLog: string | undefined): string {
  const name = errnoName(errno);
  // The verifier stops with EAGAIN when a signal is pending (libbpf retried 5 times): the program is not at fault.
  if (name === 'EAGAIN') return 'KERNEL_ERROR';
  if (verifierLog) return 'VERIFIER_REJECTED';
  if (name === 'EPERM' || name === 'EACCES') return 'KERNEL_PERMISSION';
  if (name === 'EBUSY' || (name === 'EEXIST' && op.includes('attach'))) return 'KERNEL_BUSY';
  if (name === 'E2BIG' || name === 'ENOSPC') return 'KERNEL_LIMIT';
  if (name === 'EOPNOTSUPP' || name === 'ENOTSUP' || name === 'EINVAL' && op.includes('attach')) return 'KERNEL_UNSUPPORTED';
  return 'KERNEL_ERROR';
}

/**
 * A failed kernel or libbpf operation: what was attempted, on which object, the errno
 * and, for verifier rejections, the last lines of the verifier log.
 */
export class BpfError extends KfnError {
  readonly op: string;
  readonly object: string;
  readonly errno: number;
  readonly verifierLog: string | undefined;

  constructor(op: string, object: string, errno: number, opts: { verifierLog?: string; hint?: string; code?: string } = {}) {
    const e = Math.abs(errno);
    const tail = opts.verifierLog ? verifierTail(opts.verifierLog) : undefined;
    const msg = `${op} ${object}: ${errnoName(e)} (${errnoText(e)})${tail ? `; verifier: ${tail.replace(/\n/g, ' | ')}` : ''}`;
    const code = opts.code ?? codeFor(op, e, opts.verifierLog);
    super(code, msg, { hint: opts.hint ?? hintFor(`${op} ${object}`, e, opts.verifierLog) ?? (code === 'KERNEL_BUSY' ? BUSY_HINT : undefined) });
    this.name = 'BpfError';
    this.op = op;
    this.object = object;
    this.errno = e;
    this.verifierLog = opts.verifierLog;
  }
}

const BUSY_HINT = 'another program already holds this hook; remove it or choose another interface';

function hintFor(op: string, errno: number, verifierLog: string | undefined): string | undefined {
  if (errnoName(errno) === 'EAGAIN') return 'the kernel was interrupted (a signal arrived while it worked, e.g. from a profiler or a debugger); run the command again';
  if (verifierLog) return 'the kernel verifier refused the program; fix the function source (full log with --log-level debug)';
  if (codeFor(op, errno, undefined) === 'KERNEL_UNSUPPORTED') {
    return op.includes('XDP (native)')
      ? 'this device has no native XDP support: use mode: generic, or mode: auto to fall back'
      : 'this kernel or device does not support the hook (tc hooks need tcx, Linux 6.6 or later)';
  }
  switch (errnoName(errno)) {
    case 'EPERM':
    case 'EACCES':
      return 'kfn needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)';
    case 'EBUSY':
      return BUSY_HINT;
    default:
      return undefined;
  }
}

/** The last few meaningful lines of a verifier log. */
export function verifierTail(log: string, lines = 3): string {
  const kept = log
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('processed ') && !l.startsWith('-- END PROG LOAD LOG --'));
  return kept.slice(-lines).join('\n');
}

/** Throws a BpfError when a libbpf int return is negative (libbpf 1.x returns -errno). */
export function check(ret: number, op: string, object: string): number {
  if (ret < 0) throw new BpfError(op, object, -ret);
  return ret;
}
