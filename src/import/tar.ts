/**
 * Just enough of tar to take regular files out of an L3AF artifact (`.tar.gz`, as l3afd
 * extracts it): ustar headers with their prefix field, GNU long names (`L`) and pax path
 * records (`x`). Nothing is written to disk; sizes are bounded so that a hostile archive
 * cannot exhaust memory.
 */
import zlib from 'node:zlib';
import { KfnError } from '../core/errors.js';

export interface TarFile {
  /** Member path as stored (no leading `./`). */
  path: string;
  data: Buffer;
}

/** Largest archive kfn unpacks, after gunzip. */
export const MAX_TAR_BYTES = 256 * 1024 * 1024;

const BLOCK = 512;

function invalid(label: string, why: string): KfnError {
  return new KfnError('L3AF_ARTIFACT_INVALID', `${label}: ${why}`, {
    hint: 'an artifact is the .tar.gz l3afd downloads; extract it into the objects directory instead if it is another format',
  });
}

function field(h: Buffer, off: number, len: number): string {
  const s = h.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
}

/** Size fields: octal text, or GNU base-256 (high bit set) for large members. */
function sizeOf(h: Buffer, label: string): number {
  if ((h[124]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 125; i < 136; i++) n = n * 256 + h[i]!;
    if (!Number.isSafeInteger(n)) throw invalid(label, 'a member size is out of range');
    return n;
  }
  const text = field(h, 124, 12).trim();
  if (!/^[0-7]*$/.test(text)) throw invalid(label, `bad member size "${text}"`);
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = parseInt(field(h, 148, 8).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return stored === sum;
}

/** pax extended header records: "LEN key=value\n"... */
function paxPath(data: Buffer): string | undefined {
  let off = 0;
  let found: string | undefined;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(data.subarray(off, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length) break;
    const rec = data.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') found = rec.slice(eq + 1);
    off += len;
  }
  return found;
}

/** Regular files of a tar archive, in archive order. */
export function readTar(tar: Buffer, label: string): TarFile[] {
  const out: TarFile[] = [];
  let longName: string | undefined;
  for (let off = 0; off + BLOCK <= tar.length; ) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break; // end of archive
    if (!checksumOk(h)) throw invalid(label, `not a tar archive (bad header checksum at offset ${off})`);
    const size = sizeOf(h, label);
    const dataStart = off + BLOCK;
    if (dataStart + size > tar.length) throw invalid(label, 'the archive is truncated');
    const data = tar.subarray(dataStart, dataStart + size);
    const type = String.fromCharCode(h[156]!);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    const prefix = field(h, 257, 6).startsWith('ustar') ? field(h, 345, 155) : '';
    const own = prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100);
    const name = longName ?? own;
    longName = undefined;
    if (type !== '0' && type !== '\0') continue; // directories, links, devices
    out.push({ path: name.replace(/^(\.\/)+/, ''), data: Buffer.from(data) });
  }
  return out;
}

/** Regular files of a gzip-compressed tar archive. */
export function readTarGz(gz: Buffer, label: string): TarFile[] {
  let tar: Buffer;
  try {
    tar = zlib.gunzipSync(gz, { maxOutputLength: MAX_TAR_BYTES });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw invalid(label, code === 'ERR_BUFFER_TOO_LARGE' ? `larger than ${MAX_TAR_BYTES / 1024 / 1024} MiB uncompressed` : 'not gzip-compressed');
  }
  return readTar(tar, label);
}
