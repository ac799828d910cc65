/**
 * Files kfn reads are inputs, never trusted instructions: manifests, saved plans, the
 * journal, the lock file. Only regular files are read; type and size are checked on the
 * open descriptor (fstat) before a byte is read, and opening never blocks, so a FIFO,
 * /dev/zero or a directory is refused at once instead of hanging or growing without end.
 */
import fs from 'node:fs';

export type InputProblem = 'missing' | 'not-regular' | 'too-large' | 'unreadable' | 'untrusted';

/** Why an input file was refused; callers turn it into their own KfnError code. */
export class InputFileError extends Error {
  constructor(
    readonly problem: InputProblem,
    readonly file: string,
    /** What is wrong ("is a FIFO, not a regular file"; for a refusal by the system, its message). */
    readonly detail: string,
    /** errno name (ENOENT, EACCES...) when the system refused. */
    readonly errno?: string,
  ) {
    super(`${file} ${detail}`);
    this.name = 'InputFileError';
  }
}

/** "a FIFO", "a directory"... for messages about what a path is instead of a regular file. */
export function fileKind(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

export function errnoOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export interface ReadOptions {
  maxBytes: number;
  /** Refuse a symbolic link as the last path component (O_NOFOLLOW). */
  noFollow?: boolean;
  /** The file must belong to this uid and be writable by nobody else (files that carry instructions). */
  owner?: number;
}

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY;

/** Opens `file` for reading without blocking and checks it is a regular file of at most `maxBytes`. */
export function openRegularFile(file: string, opts: ReadOptions): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS | (opts.noFollow ? fs.constants.O_NOFOLLOW : 0));
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === 'ENOENT') throw new InputFileError('missing', file, 'does not exist', errno);
    if (errno === 'ELOOP' && opts.noFollow) throw new InputFileError('not-regular', file, 'is a symbolic link, not a regular file', errno);
    throw new InputFileError('unreadable', file, (e as Error).message, errno);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new InputFileError('not-regular', file, `is ${fileKind(st)}, not a regular file`);
    if (opts.owner !== undefined && st.uid !== opts.owner) throw new InputFileError('untrusted', file, `belongs to uid ${st.uid}, not to uid ${opts.owner}`);
    if (opts.owner !== undefined && (st.mode & 0o022) !== 0) throw new InputFileError('untrusted', file, `is writable by other users (mode ${(st.mode & 0o777).toString(8)})`);
    if (st.size > opts.maxBytes) throw new InputFileError('too-large', file, `is ${st.size} bytes, more than the ${opts.maxBytes} allowed`);
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Reads at most `maxBytes + 1` bytes from an open descriptor (a file may grow while it is read). */
export function readBounded(fd: number, size: number, maxBytes: number, file: string): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.alloc(Math.min(Math.max(size - total, 64 * 1024), maxBytes + 1 - total));
    if (buf.length === 0) throw new InputFileError('too-large', file, `grew beyond the ${maxBytes} bytes allowed while it was read`);
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      throw new InputFileError('unreadable', file, (e as Error).message, errnoOf(e));
    }
    if (n === 0) break;
    chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    total += n;
  }
  return Buffer.concat(chunks, total);
}

/** The whole content of a regular file of at most `maxBytes`, or InputFileError. */
export function readRegularFile(file: string, opts: ReadOptions): Buffer {
  const { fd, size } = openRegularFile(file, opts);
  try {
    return readBounded(fd, size, opts.maxBytes, file);
  } finally {
    fs.closeSync(fd);
  }
}

/** The first `bytes` bytes of a regular file, or undefined when it is missing or not one. */
export function readHead(file: string, bytes: number): Buffer | undefined {
  let opened;
  try {
    opened = openRegularFile(file, { maxBytes: Number.MAX_SAFE_INTEGER });
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(bytes);
    const n = fs.readSync(opened.fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } catch {
    return undefined;
  } finally {
    fs.closeSync(opened.fd);
  }
}
