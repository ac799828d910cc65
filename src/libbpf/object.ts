/**
 * An eBPF object file opened through libbpf: inspect it without the kernel
 * (readObjectInfo) or load exactly one of its programs with maps reused from pins
 * and `.rodata` globals set.
 */
import fs from 'node:fs';
import { InputFileError, readRegularFile } from '../core/files.js';
import { createHash } from 'node:crypto';
import { KfnError } from '../core/errors.js';
import { bpf, koffi, lastErrno, type Ptr } from './ffi.js';
import { BpfError, errnoText } from './errors.js';
import { Btf } from './btf.js';
import { MAP_TYPE_NAMES, PROG_TYPE } from './constants.js';
import { installLibbpfPrint } from './log.js';
import { PARAMETER_TAG, type GlobalInfo, type MapInfo, type ObjectInfo, type ProgramInfo, type ProgramKind } from './object-info.js';

const LOG_BUF_SIZE = 1 << 20;
/** Sections holding global variables, in the order kfn prefers them. */
const GLOBAL_SECTIONS = ['.rodata', '.data', '.bss'];

function programKind(type: number): ProgramKind {
  return type === PROG_TYPE.XDP ? 'xdp' : type === PROG_TYPE.SCHED_CLS ? 'tc' : 'other';
}

function* iterate(next: (prev: Ptr) => Ptr): Generator<Ptr> {
  for (let cur = next(null); cur; cur = next(cur)) yield cur;
}

/** Objects are read only as regular files (a FIFO or device named in a plan must not hang or flood kfn). */
const MAX_OBJECT_BYTES = 256 * 1024 * 1024;

export function fileSha256(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readRegularFile(path, { maxBytes: MAX_OBJECT_BYTES });
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    throw new KfnError('OBJECT_NOT_FOUND', `object ${e.message}`, { hint: 'build the object (npm run build:bpf) or fix the path' });
  }
  return createHash('sha256').update(bytes).digest('hex');
}

export interface LoadedProgram {
  progFd: number;
  /** fd of every non-internal map of the object, by name (valid until close). */
  mapFds: Record<string, number>;
}

export class BpfObject {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: Ptr,
  ) {}

  static open(path: string): BpfObject {
    installLibbpfPrint();
    if (!fs.existsSync(path)) {
      throw new KfnError('OBJECT_NOT_FOUND', `object file ${path} does not exist`, { hint: 'build it (npm run build:bpf) or fix spec.object' });
    }
    const h = bpf.object_open_file(path, null);
    if (!h) {
      const errno = lastErrno();
      throw new KfnError('OBJECT_INVALID', `cannot open ${path} as an eBPF object: ${errnoText(errno)}`, {
        hint: 'spec.object must be an ELF eBPF object built with clang -target bpf -g',
      });
    }
    return new BpfObject(path, h);
  }

  private programsRaw(): { ptr: Ptr; info: ProgramInfo }[] {
    return [...iterate((p) => bpf.object_next_program(this.handle, p))].map((ptr) => ({
      ptr,
      info: {
        name: bpf.program_name(ptr) as string,
        section: bpf.program_section_name(ptr) as string,
        kind: programKind(bpf.program_type(ptr) as number),
      },
    }));
  }

  private mapsRaw(): { ptr: Ptr; name: string; internal: boolean }[] {
    return [...iterate((m) => bpf.object_next_map(this.handle, m))].map((ptr) => ({
      ptr,
      name: bpf.map_name(ptr) as string,
      internal: bpf.map_is_internal(ptr) as boolean,
    }));
  }

  private btf(): Btf | undefined {
    const h = bpf.object_btf(this.handle);
    return h ? new Btf(h) : undefined;
  }

  info(sha256: string): ObjectInfo {
    const btf = this.btf();
    const parameters = btf?.taggedVars(PARAMETER_TAG) ?? new Set<string>();
    const maps: MapInfo[] = this.mapsRaw()
      .filter((m) => !m.internal)
      .map(({ ptr, name }) => {
        const keyId = bpf.map_btf_key_type_id(ptr) as number;
        const valueId = bpf.map_btf_value_type_id(ptr) as number;
        const m: MapInfo = {
          name,
          type: MAP_TYPE_NAMES[bpf.map_type(ptr) as number] ?? 'unknown',
          keySize: bpf.map_key_size(ptr) as number,
          valueSize: bpf.map_value_size(ptr) as number,
          maxEntries: bpf.map_max_entries(ptr) as number,
        };
        if (btf && keyId) m.key = btf.type(keyId);
        if (btf && valueId) m.value = btf.type(valueId);
        if (parameters.has(name)) m.parameter = true;
        return m;
      });
    const globals: GlobalInfo[] = btf
      ? GLOBAL_SECTIONS.flatMap((section) => btf.datasecVars(section).map((v) => ({ ...v, section })))
      : [];
    return { path: this.path, sha256, programs: this.programsRaw().map((p) => p.info), maps, globals };
  }

  /**
   * Loads `program` only (every other program's autoload is turned off). Maps named
   * in `reuseMapFds` are not created but taken from those fds; `globals` patch the
   * initial bytes of their section at the given offsets.
   */
  load(program: string, opts: { reuseMapFds?: Record<string, number>; globals?: { section: string; offset: number; bytes: Uint8Array }[] } = {}): LoadedProgram {
    const progs = this.programsRaw();
    const target = progs.find((p) => p.info.name === program);
    if (!target) throw new KfnError('PROGRAM_NOT_FOUND', `program ${program} not found in ${this.path}`);
    for (const p of progs) bpf.program_set_autoload(p.ptr, p === target);

    const maps = this.mapsRaw();
    for (const [name, fd] of Object.entries(opts.reuseMapFds ?? {})) {
      const m = maps.find((x) => x.name === name);
      if (!m) throw new KfnError('MAP_NOT_FOUND', `map ${name} not found in ${this.path}`);
      const ret = bpf.map_reuse_fd(m.ptr, fd) as number;
      if (ret < 0) throw new BpfError('reuse map', `${name} of ${this.path}`, -ret);
    }
    this.applyGlobals(maps, opts.globals ?? []);

    const logBuf = Buffer.alloc(LOG_BUF_SIZE);
    bpf.program_set_log_buf(target.ptr, logBuf, logBuf.length);
    const ret = bpf.object_load(this.handle) as number;
    if (ret < 0) {
      const log = logBuf.subarray(0, Math.max(0, logBuf.indexOf(0))).toString('utf8');
      throw new BpfError('load program', `${program} from ${this.path}`, -ret, log ? { verifierLog: log } : {});
    }
    const mapFds: Record<string, number> = {};
    for (const m of maps) if (!m.internal) mapFds[m.name] = bpf.map_fd(m.ptr) as number;
    return { progFd: bpf.program_fd(target.ptr) as number, mapFds };
  }

  private applyGlobals(maps: { ptr: Ptr; name: string; internal: boolean }[], globals: { section: string; offset: number; bytes: Uint8Array }[]): void {
    const bySection = new Map<string, { offset: number; bytes: Uint8Array }[]>();
    for (const g of globals) bySection.set(g.section, [...(bySection.get(g.section) ?? []), g]);
    for (const [section, vars] of bySection) {
      const m = maps.find((x) => x.internal && x.name.endsWith(section));
      if (!m) throw new KfnError('GLOBAL_NOT_FOUND', `${this.path} has no ${section} section`);
      const size = [0];
      const ptr = bpf.map_initial_value(m.ptr, size);
      if (!ptr) throw new KfnError('GLOBAL_NOT_FOUND', `${this.path}: ${section} has no initial value`);
      const data = Buffer.from(koffiView(ptr, size[0]!));
      for (const v of vars) Buffer.from(v.bytes).copy(data, v.offset);
      const ret = bpf.map_set_initial_value(m.ptr, data, data.length) as number;
      if (ret < 0) throw new BpfError('set globals', `${section} of ${this.path}`, -ret);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    bpf.object_close(this.handle);
  }
}

function koffiView(ptr: Ptr, len: number): Uint8Array {
  return new Uint8Array(koffi.view(ptr, len).slice(0));
}

/** What an object declares (programs, maps with BTF types, globals), without the kernel. */
export function readObjectInfo(path: string): ObjectInfo {
  const obj = BpfObject.open(path);
  try {
    return obj.info(fileSha256(path));
  } finally {
    obj.close();
  }
}
