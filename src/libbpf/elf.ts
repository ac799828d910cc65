/**
 * Where a function symbol of an ELF file lives in the file: what a uprobe needs (the
 * kernel places uprobes by inode and file offset). ELF64 little-endian only (x86_64,
 * aarch64), read piecewise: the headers, then the symbol tables.
 */
import fs from 'node:fs';
import { KfnError } from '../core/errors.js';

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;

interface Section {
  type: number;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  entsize: bigint;
}

function readAt(fd: number, offset: bigint, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = fs.readSync(fd, buf, 0, length, Number(offset));
  if (n !== length) throw new Error(`short read at ${offset}`);
  return buf;
}

/** File offset of function `symbol` in the ELF file at `path`; undefined if it has no such function. */
export function elfFunctionOffset(path: string, symbol: string): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    throw new KfnError('PROBE_TARGET_NOT_FOUND', `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'a uprobe path names an executable or shared library on this host' });
  }
  try {
    const eh = readAt(fd, 0n, 64);
    if (eh.readUInt32BE(0) !== 0x7f454c46) throw new KfnError('PROBE_TARGET_NOT_FOUND', `${path} is not an ELF file`, { hint: 'a uprobe path names an executable or shared library' });
    if (eh[4] !== 2 || eh[5] !== 1) throw new KfnError('PROBE_TARGET_NOT_FOUND', `${path} is not a 64-bit little-endian ELF file`, { hint: 'kfn resolves uprobe symbols in ELF64 little-endian files' });
    const shoff = eh.readBigUInt64LE(0x28);
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    const table = readAt(fd, shoff, shentsize * shnum);
    const sections: Section[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = i * shentsize;
      sections.push({
        type: table.readUInt32LE(o + 4),
        addr: table.readBigUInt64LE(o + 16),
        offset: table.readBigUInt64LE(o + 24),
        size: table.readBigUInt64LE(o + 32),
        link: table.readUInt32LE(o + 40),
        entsize: table.readBigUInt64LE(o + 56),
      });
    }
    const wanted = Buffer.from(symbol, 'utf8');
    for (const sec of sections.filter((s) => s.type === SHT_SYMTAB || s.type === SHT_DYNSYM)) {
      const strtab = sections[sec.link];
      if (!strtab || sec.entsize < 24n) continue;
      const syms = readAt(fd, sec.offset, Number(sec.size));
      const strs = readAt(fd, strtab.offset, Number(strtab.size));
      for (let o = 0; o + 24 <= syms.length; o += Number(sec.entsize)) {
        const type = syms[o + 4]! & 0xf;
        const shndx = syms.readUInt16LE(o + 6);
        if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || shndx === 0 || shndx >= sections.length) continue;
        const name = syms.readUInt32LE(o);
        if (strs.compare(wanted, 0, wanted.length, name, name + wanted.length) !== 0 || strs[name + wanted.length] !== 0) continue;
        const home = sections[shndx]!;
        return Number(syms.readBigUInt64LE(o + 8) - home.addr + home.offset);
      }
    }
    return undefined;
  } catch (e) {
    if (e instanceof KfnError) throw e;
    throw new KfnError('PROBE_TARGET_NOT_FOUND', `${path}: unreadable ELF file (${(e as Error).message})`, { hint: 'a uprobe path names an executable or shared library' });
  } finally {
    fs.closeSync(fd);
  }
}
