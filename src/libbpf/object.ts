/**
 * An eBPF object file opened through libbpf: inspect it without the kernel
 * (readObjectInfo) or load some of its programs (one chained program, plus the
 * companions that share its maps) with maps reused from pins and `.rodata` globals set.
 *
 * Objects written for other loaders are loaded as they are: a program whose section
 * libbpf cannot map takes its type from the caller, and a map's pinning attribute
 * (LIBBPF_PIN_BY_NAME) is never honoured, so a load pins nothing by itself and two
 * loads of one object never share a map; the caller pins what it owns where it wants.
 */
import path from 'node:path';
import { KfnError } from '../core/errors.js';
import { sha256Hex } from '../core/digest.js';
import { readObjectFile } from '../core/objects.js';
import { bpf, koffi, lastErrno, type Ptr } from './ffi.js';
import { BpfError, check, errnoText } from './errors.js';
import { bpfAddress } from './info.js';
import { Btf } from './btf.js';
import { ATTACH_TYPE, MAP_TYPE_NAMES, PROG_TYPE } from './constants.js';
// libbpf's messages (the verifier's among them) reach kfn's logger from the first load on.
import './log.js';
import { PARAMETER_TAG, type GlobalInfo, type MapInfo, type ObjectInfo, type ProgramInfo, type ProgramKind } from './object-info.js';

const LOG_BUF_SIZE = 1 << 20;
/** Sections holding global variables, in the order kfn prefers them. */
const GLOBAL_SECTIONS = ['.rodata', '.data', '.bss'];

const logBuffers: Buffer[] = [];

/**
 * The verifier logs of the load under way, one per program: the same buffers for every
 * load (1 MiB zeroed per program and load was most of an apply's garbage), emptied
 * first so that a failure that writes no log never shows an earlier one. Loads are
 * synchronous: one at a time uses them.
 */
function verifierLogBuffers(n: number): Buffer[] {
  while (logBuffers.length < n) logBuffers.push(Buffer.alloc(LOG_BUF_SIZE));
  const out = logBuffers.slice(0, n);
  for (const b of out) b[0] = 0;
  return out;
}

function programKind(type: number): ProgramKind {
  switch (type) {
    case PROG_TYPE.XDP:
      return 'xdp';
    case PROG_TYPE.SCHED_CLS:
      return 'tc';
    case PROG_TYPE.TRACEPOINT:
      return 'tracepoint';
    case PROG_TYPE.KPROBE:
      return 'kprobe';
    case PROG_TYPE.TRACING:
      return 'tracing';
    case PROG_TYPE.EXT:
      return 'ext';
    default:
      return 'other';
  }
}

/** Program types a caller can give (a hook's, or a companion's). */
export type ProgramType = 'xdp' | 'tc' | 'tracepoint';

/** Kernel program type and expected attach type, as libbpf sets them for SEC("xdp"), SEC("tc"), SEC("tracepoint/..."). */
const PROGRAM_TYPES: Record<ProgramType, { prog: number; attach: number }> = {
  xdp: { prog: PROG_TYPE.XDP, attach: ATTACH_TYPE.XDP },
  tc: { prog: PROG_TYPE.SCHED_CLS, attach: 0 },
  tracepoint: { prog: PROG_TYPE.TRACEPOINT, attach: 0 },
};

export interface ProgramToLoad {
  name: string;
  /** Required when libbpf cannot map the program's section; must agree with it otherwise. */
  type?: ProgramType;
}

export interface LoadOptions {
  /** Maps not created but taken from these fds, by name. */
  reuseMapFds?: Record<string, number>;
  /** Patches of the initial bytes of a global section at the given offsets. */
  globals?: { section: string; offset: number; bytes: Uint8Array }[];
}

function* iterate(next: (prev: Ptr) => Ptr): Generator<Ptr> {
  for (let cur = next(null); cur; cur = next(cur)) yield cur;
}

/** libbpf's name for an object file: its base name up to the first dot, as bpf_object__open_file names it. */
function objectName(label: string): string {
  return path.basename(label).split('.')[0] || 'kfn';
}

export interface LoadedProgram {
  progFd: number;
  /** fd of every non-internal map of the object, by name (valid until close). */
  mapFds: Record<string, number>;
}

export interface LoadedPrograms {
  /** fd of each loaded program, by name (valid until close). */
  progFds: Record<string, number>;
  /** fd of every non-internal map of the object, by name (valid until close). */
  mapFds: Record<string, number>;
}

export class BpfObject {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: Ptr,
    /** libbpf reads this buffer until the object is closed. */
    private readonly image: Buffer,
  ) {}

  /**
   * Opens an object from its bytes (a file's, a tar member's); `label` names it in messages,
   * and its base name names the object as libbpf names a file's (internal maps are named
   * after it).
   */
  static openBytes(bytes: Uint8Array, label: string): BpfObject {
    const image = Buffer.from(bytes);
    const name = Buffer.from(`${objectName(label)}\0`);
    // struct bpf_object_open_opts up to object_name; libbpf takes an older caller's shorter struct as it is.
    const opts = Buffer.alloc(16);
    opts.writeBigUInt64LE(BigInt(opts.length), 0);
    opts.writeBigUInt64LE(bpfAddress(name), 8);
    const h = bpf.object_open_mem(image, image.length, opts);
    if (!h) {
      const errno = lastErrno();
      throw new KfnError('OBJECT_INVALID', `cannot open ${label} as an eBPF object: ${errnoText(errno)}`, { hint: 'it must be an ELF eBPF object built with clang -target bpf -g' });
    }
    return new BpfObject(label, h, image);
  }

  /** Opens an object file from one read of its bytes (those `sha256()` hashes). */
  static open(file: string): BpfObject {
    return BpfObject.openBytes(readObjectFile(file), file);
  }

  /** The sha256 of the bytes this object was opened from. */
  sha256(): string {
    return sha256Hex(this.image);
  }

  private programsRaw(): { ptr: Ptr; info: ProgramInfo }[] {
    return [...iterate((p) => bpf.object_next_program(this.handle, p))].map((ptr) => {
      const type = bpf.program_type(ptr) as number;
      const info: ProgramInfo = { name: bpf.program_name(ptr) as string, section: bpf.program_section_name(ptr) as string, kind: programKind(type) };
      if (type === PROG_TYPE.UNSPEC) info.needsType = true;
      return { ptr, info };
    });
  }

  private mapsRaw(): { ptr: Ptr; name: string; internal: boolean }[] {
    return [...iterate((m) => bpf.object_next_map(this.handle, m))].map((ptr) => ({
      ptr,
      name: bpf.map_name(ptr) as string,
      internal: bpf.map_is_internal(ptr) as boolean,
    }));
  }

  /** Sets the caller's type on the program, after checking it against the type its section gives. */
  private setProgramType(ptr: Ptr, info: ProgramInfo, type: ProgramType | undefined): void {
    const current = bpf.program_type(ptr) as number;
    if (type === undefined) {
      if (current === PROG_TYPE.UNSPEC) {
        throw new KfnError('PROGRAM_TYPE_UNKNOWN', `program ${info.name} of ${this.path} has section "${info.section}", which names no program type`, {
          hint: 'give the type to load it with (the hook it runs on: xdp, tc-ingress, tc-egress)',
        });
      }
      return;
    }
    const want = PROGRAM_TYPES[type];
    if (current !== PROG_TYPE.UNSPEC && current !== want.prog) {
      throw new KfnError('PROGRAM_TYPE_CONFLICT', `program ${info.name} of ${this.path} is ${info.kind === 'other' ? `of kernel type ${current}` : `a ${info.kind} program`} (section "${info.section}"), not ${type}`, {
        hint: `choose a ${type} program of the object, or use the program on a hook of its own type`,
      });
    }
    check(bpf.program_set_type(ptr, want.prog), 'set program type of', `${info.name} of ${this.path}`);
    // A section libbpf knows already set the attach type it wants; keep it.
    if (current === PROG_TYPE.UNSPEC) {
      check(bpf.program_set_expected_attach_type(ptr, want.attach), 'set expected attach type of', `${info.name} of ${this.path}`);
    }
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
        // libbpf turns LIBBPF_PIN_BY_NAME into a pin path when it opens the object.
        if (bpf.map_pin_path(ptr)) m.pinning = 'by-name';
        const counters = btf?.counters(name, valueId) ?? [];
        if (counters.length) m.counters = counters;
        return m;
      });
    return { path: this.path, sha256, programs: this.programsRaw().map((p) => p.info), maps, globals: this.globalsOf(btf) };
  }

  /** The object's global variables (what info() lists as globals), alone. */
  globals(): GlobalInfo[] {
    return this.globalsOf(this.btf());
  }

  private globalsOf(btf: Btf | undefined): GlobalInfo[] {
    return btf ? GLOBAL_SECTIONS.flatMap((section) => btf.datasecVars(section).map((v) => ({ ...v, section }))) : [];
  }

  /**
   * Loads `program` only (every other program's autoload is turned off); see loadPrograms.
   * `type` is needed when the program's section names no program type.
   */
  load(program: string, opts: LoadOptions & { type?: ProgramType } = {}): LoadedProgram {
    const { progFds, mapFds } = this.loadPrograms([{ name: program, ...(opts.type ? { type: opts.type } : {}) }], opts);
    return { progFd: progFds[program]!, mapFds };
  }

  /**
   * Loads the listed programs together (they share the object's maps) and no other.
   * Maps named in `reuseMapFds` are not created but taken from those fds; `globals`
   * patch the initial bytes of their section at the given offsets. No map is pinned
   * and no pin is reused, whatever the object's pinning attributes say.
   */
  loadPrograms(programs: readonly ProgramToLoad[], opts: LoadOptions = {}): LoadedPrograms {
    const progs = this.programsRaw();
    const targets = programs.map((want) => {
      const p = progs.find((x) => x.info.name === want.name);
      if (!p) {
        throw new KfnError('PROGRAM_NOT_FOUND', `program ${want.name} not found in ${this.path}`, {
          hint: `programs of the object: ${progs.map((x) => x.info.name).join(', ') || 'none'}`,
        });
      }
      return { ...p, type: want.type };
    });
    if (targets.length === 0 || new Set(targets.map((t) => t.info.name)).size !== targets.length) {
      throw new Error(`loadPrograms needs distinct program names, got [${programs.map((p) => p.name).join(', ')}]`);
    }
    for (const p of progs) bpf.program_set_autoload(p.ptr, targets.some((t) => t.ptr === p.ptr));
    for (const t of targets) this.setProgramType(t.ptr, t.info, t.type);

    const maps = this.mapsRaw();
    // A pin path (from LIBBPF_PIN_BY_NAME) would make libbpf reuse whatever is pinned
    // there and pin the new map there: instances would share maps with strangers.
    for (const m of maps) check(bpf.map_set_pin_path(m.ptr, null), 'clear pin path of map', `${m.name} of ${this.path}`);
    for (const [name, fd] of Object.entries(opts.reuseMapFds ?? {})) {
      const m = maps.find((x) => x.name === name);
      if (!m) throw new KfnError('MAP_NOT_FOUND', `map ${name} not found in ${this.path}`);
      const ret = bpf.map_reuse_fd(m.ptr, fd) as number;
      if (ret < 0) throw new BpfError('reuse map', `${name} of ${this.path}`, -ret);
    }
    this.applyGlobals(maps, opts.globals ?? []);

    // One log buffer per program: libbpf fills only the failing program's (on its retry).
    const logs = verifierLogBuffers(targets.length);
    targets.forEach((t, k) => bpf.program_set_log_buf(t.ptr, logs[k]!, logs[k]!.length));
    const ret = bpf.object_load(this.handle) as number;
    if (ret < 0) {
      const failed = logs.findIndex((b) => b[0] !== 0);
      const log = failed >= 0 ? logs[failed]!.subarray(0, Math.max(0, logs[failed]!.indexOf(0))).toString('utf8') : '';
      const what = failed >= 0 ? targets[failed]!.info.name : targets.map((t) => t.info.name).join(' + ');
      throw new BpfError('load program', `${what} from ${this.path}`, -ret, log ? { verifierLog: log } : {});
    }
    const progFds: Record<string, number> = {};
    for (const t of targets) progFds[t.info.name] = bpf.program_fd(t.ptr) as number;
    const mapFds: Record<string, number> = {};
    for (const m of maps) if (!m.internal) mapFds[m.name] = bpf.map_fd(m.ptr) as number;
    return { progFds, mapFds };
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

/** readObjectInfo for an object given as bytes; `label` is its `path` in the result and in messages. */
export function readObjectInfoFromBytes(bytes: Uint8Array, label: string): ObjectInfo {
  return describe(BpfObject.openBytes(bytes, label));
}

/** What an object declares (programs, maps with BTF types, globals), without the kernel. */
export function readObjectInfo(path: string): ObjectInfo {
  return describe(BpfObject.open(path));
}

function describe(obj: BpfObject): ObjectInfo {
  try {
    return obj.info(obj.sha256());
  } finally {
    obj.close();
  }
}
