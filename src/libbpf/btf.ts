/**
 * Reads libbpf's `struct btf` into the plain BtfType model (btf-types.ts), following
 * the layout of include/uapi/linux/btf.h.
 */
import { bpf, koffi, lastErrno, type Ptr } from './ffi.js';
import { BpfError, check, ENOENT } from './errors.js';
import { withFd } from './fd.js';
import { bpfAddress, objInfo } from './info.js';
import type { BtfMember, BtfType } from './btf-types.js';
import { COUNTER_TAG_PREFIX, CounterKind, type MapCounter } from './object-info.js';

const KIND = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10,
  RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

const u32 = (p: Ptr, off: number): number => koffi.decode(p, off, 'uint32_t') as number;
const s32 = (p: Ptr, off: number): number => koffi.decode(p, off, 'int32_t') as number;

interface RawType {
  p: Ptr;
  name: string;
  kind: number;
  vlen: number;
  kflag: boolean;
  sizeOrType: number;
}

interface DeclTag {
  tag: string;
  /** The tagged type or variable. */
  target: number;
  /** Member index for a tag on a struct member, -1 on the whole type or variable. */
  component: number;
}

const COUNTER_KINDS = new Set<string>(Object.values(CounterKind));

export class Btf {
  private readonly cache = new Map<number, BtfType>();
  private varTagList: { name: string; tag: string }[] | undefined;
  private readonly counterCache = new Map<string, MapCounter[]>();
  private tags: DeclTag[] | undefined;

  constructor(private readonly handle: Ptr) {}

  private raw(id: number): RawType {
    const p = bpf.btf_type_by_id(this.handle, id);
    if (!p) throw new Error(`BTF type ${id} not found`);
    const info = u32(p, 4);
    return {
      p,
      name: this.name(u32(p, 0)),
      kind: (info >>> 24) & 0x1f,
      vlen: info & 0xffff,
      kflag: info >>> 31 === 1,
      sizeOrType: u32(p, 8),
    };
  }

  private name(off: number): string {
    return off ? (bpf.btf_name_by_offset(this.handle, off) as string) ?? '' : '';
  }

  get typeCount(): number {
    return bpf.btf_type_cnt(this.handle) as number;
  }

  /** The type with this id as plain data; qualifiers stripped, typedefs kept. */
  type(id: number): BtfType {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const t = this.build(id);
    this.cache.set(id, t);
    return t;
  }

  private build(id: number): BtfType {
    if (id === 0) return { kind: 'opaque', name: 'void', size: 0 };
    const r = this.raw(id);
    const body = 12;
    switch (r.kind) {
      case KIND.INT: {
        const enc = (u32(r.p, body) >>> 24) & 0x0f;
        return { kind: 'int', name: r.name, size: r.sizeOrType, signed: (enc & 1) !== 0, char: (enc & 2) !== 0, bool: (enc & 4) !== 0 };
      }
      case KIND.PTR:
        return { kind: 'ptr', size: 8 };
      case KIND.ARRAY:
        return { kind: 'array', elem: this.type(u32(r.p, body)), length: u32(r.p, body + 8) };
      case KIND.STRUCT:
      case KIND.UNION: {
        const members: BtfMember[] = [];
        for (let i = 0; i < r.vlen; i++) {
          const m = body + i * 12;
          const rawOff = u32(r.p, m + 8);
          const bitOff = r.kflag ? rawOff & 0xffffff : rawOff;
          const bitSize = r.kflag ? rawOff >>> 24 : 0;
          const member: BtfMember = { name: this.name(u32(r.p, m)), offset: Math.floor(bitOff / 8), type: this.type(u32(r.p, m + 4)) };
          if (bitSize || bitOff % 8) member.bitSize = bitSize || -1;
          members.push(member);
        }
        return { kind: r.kind === KIND.STRUCT ? 'struct' : 'union', name: r.name, size: r.sizeOrType, members };
      }
      case KIND.ENUM:
      case KIND.ENUM64: {
        const values: { name: string; value: bigint }[] = [];
        const stride = r.kind === KIND.ENUM ? 8 : 12;
        for (let i = 0; i < r.vlen; i++) {
          const e = body + i * stride;
          const value =
            r.kind === KIND.ENUM
              ? BigInt(r.kflag ? s32(r.p, e + 4) : u32(r.p, e + 4))
              : (BigInt(u32(r.p, e + 8)) << 32n) | BigInt(u32(r.p, e + 4));
          values.push({ name: this.name(u32(r.p, e)), value });
        }
        return { kind: 'enum', name: r.name, size: r.sizeOrType, signed: r.kflag, values };
      }
      case KIND.TYPEDEF:
        return { kind: 'typedef', name: r.name, type: this.type(r.sizeOrType) };
      case KIND.VOLATILE:
      case KIND.CONST:
      case KIND.RESTRICT:
      case KIND.TYPE_TAG:
      case KIND.VAR:
        return this.type(r.sizeOrType);
      case KIND.FLOAT:
        return { kind: 'opaque', name: r.name || 'float', size: r.sizeOrType };
      default:
        return { kind: 'opaque', name: r.name, size: 0 };
    }
  }

  /** The enum (32 or 64 bit) of this name, e.g. `bpf_link_type` in the kernel's BTF. */
  findEnum(name: string): Extract<BtfType, { kind: 'enum' }> | undefined {
    for (const kind of [KIND.ENUM, KIND.ENUM64]) {
      const id = bpf.btf_find_by_name_kind(this.handle, name, kind) as number;
      if (id > 0) {
        const t = this.type(id);
        if (t.kind === 'enum') return t;
      }
    }
    return undefined;
  }

  private declTags(): DeclTag[] {
    if (!this.tags) {
      this.tags = [];
      for (let id = 1; id < this.typeCount; id++) {
        const r = this.raw(id);
        if (r.kind === KIND.DECL_TAG) this.tags.push({ tag: r.name, target: r.sizeOrType, component: s32(r.p, 12) });
      }
    }
    return this.tags;
  }

  /** Names of the variables carrying `__attribute__((btf_decl_tag(tag)))` (on the whole variable). */
  taggedVars(tag: string): Set<string> {
    return new Set(this.varTags().filter((t) => t.tag === tag).map((t) => t.name));
  }

  private varTags(): { name: string; tag: string }[] {
    this.varTagList ??= this.declTags().flatMap((t) => {
      if (t.component !== -1) return [];
      const target = this.raw(t.target);
      return target.kind === KIND.VAR ? [{ name: target.name, tag: t.tag }] : [];
    });
    return this.varTagList;
  }

  /** Tags on the members of struct or union `typeId` (through typedefs and qualifiers), by member name. */
  memberTags(typeId: number): { member: string; tag: string }[] {
    let r = this.raw(typeId);
    let id = typeId;
    for (let hops = 0; hops < 32 && [KIND.TYPEDEF, KIND.VOLATILE, KIND.CONST, KIND.RESTRICT, KIND.TYPE_TAG].includes(r.kind as never); hops++) {
      id = r.sizeOrType;
      r = this.raw(id);
    }
    if (r.kind !== KIND.STRUCT && r.kind !== KIND.UNION) return [];
    return this.declTags()
      .filter((t) => t.target === id && t.component >= 0 && t.component < r.vlen)
      .map((t) => ({ member: this.name(u32(r.p, 12 + t.component * 12)), tag: t.tag }));
  }

  /**
   * What map `mapName` (value type `valueTypeId`) counts for metrics (bpf/include/kfn.h,
   * KFN_PACKETS / KFN_BYTES / KFN_DROPS): tags on the map variable name the whole value,
   * tags on members of the value struct name those members.
   */
  counters(mapName: string, valueTypeId: number): MapCounter[] {
    // One BTF serves every instance of an object in a read: each map is asked once.
    const key = `${valueTypeId}:${mapName}`;
    let out = this.counterCache.get(key);
    if (!out) {
      out = this.findCounters(mapName, valueTypeId);
      this.counterCache.set(key, out);
    }
    return out.map((c) => ({ ...c }));
  }

  private findCounters(mapName: string, valueTypeId: number): MapCounter[] {
    const kind = (tag: string): CounterKind | undefined => {
      const k = tag.startsWith(COUNTER_TAG_PREFIX) ? tag.slice(COUNTER_TAG_PREFIX.length) : undefined;
      return k !== undefined && COUNTER_KINDS.has(k) ? (k as CounterKind) : undefined;
    };
    const out: MapCounter[] = [];
    for (const t of this.varTags()) {
      const k = t.name === mapName ? kind(t.tag) : undefined;
      if (k) out.push({ kind: k });
    }
    if (valueTypeId) {
      for (const t of this.memberTags(valueTypeId)) {
        const k = kind(t.tag);
        if (k) out.push({ kind: k, field: t.member });
      }
    }
    return out;
  }

  /** Variables of a DATASEC (`.rodata`, `.data`, `.bss`) with their offsets. */
  datasecVars(secName: string): { name: string; offset: number; type: BtfType }[] {
    for (let id = 1; id < this.typeCount; id++) {
      const r = this.raw(id);
      if (r.kind !== KIND.DATASEC || r.name !== secName) continue;
      const out: { name: string; offset: number; type: BtfType }[] = [];
      for (let i = 0; i < r.vlen; i++) {
        const v = 12 + i * 12;
        const varId = u32(r.p, v);
        const varRaw = this.raw(varId);
        if (varRaw.kind !== KIND.VAR) continue;
        out.push({ name: varRaw.name, offset: u32(r.p, v + 4), type: this.type(varRaw.sizeOrType) });
      }
      return out;
    }
    return [];
  }
}

/** struct bpf_btf_info: btf (u64 pointer), btf_size (u32), id, name (u64), name_len, kernel_btf. */
const BTF_INFO_SIZE = 32;
const FIRST_READ = 1 << 16;

/**
 * The raw bytes of kernel BTF object `id`, in `into` when they fit (a view of it, valid
 * until its next use) or in a buffer of their own; undefined when the object is gone.
 */
export function kernelBtfBytes(id: number, into: Buffer = Buffer.alloc(FIRST_READ)): Buffer | undefined {
  const fd = bpf.btf_get_fd_by_id(id) as number;
  if (fd === -ENOENT) return undefined;
  check(fd, 'open BTF by id', `BTF ${id}`);
  return withFd(fd, (f) => {
    for (let data = into; ; ) {
      const info = Buffer.alloc(BTF_INFO_SIZE);
      info.writeBigUInt64LE(bpfAddress(data), 0);
      info.writeUInt32LE(data.length, 8);
      objInfo(f, info, `BTF ${id}`);
      const actual = info.readUInt32LE(8);
      if (actual <= data.length) return data.subarray(0, actual);
      data = Buffer.alloc(actual);
    }
  });
}

/**
 * Kernel BTF, typed once per distinct content for as long as one cache lives (one read
 * of the live state): every load of an object file creates its own BTF object, byte for
 * byte the same, so a thousand instances of five objects are parsed five times. What a
 * cache holds was read from the kernel during its own life; the next one reads afresh.
 */
export class KernelBtfCache {
  private readonly byId = new Map<number, { btf: Btf; content: number } | undefined>();
  /** The contents parsed so far, by byte length: equal BTF is found with one compare. */
  private readonly byLength = new Map<number, { bytes: Buffer; btf: Btf; content: number }[]>();
  private readonly handles: Ptr[] = [];
  /** Most BTF fits: one buffer read into again and again (btf__new copies what it parses). */
  private readonly scratch = Buffer.alloc(FIRST_READ);

  /** The BTF of kernel object `btfId` and a number that names its content in this cache; undefined when it is gone. */
  get(btfId: number): { btf: Btf; content: number } | undefined {
    if (!btfId) return undefined;
    if (this.byId.has(btfId)) return this.byId.get(btfId);
    const bytes = kernelBtfBytes(btfId, this.scratch);
    let hit: { btf: Btf; content: number } | undefined;
    if (bytes) {
      const same = this.byLength.get(bytes.length) ?? [];
      hit = same.find((c) => c.bytes.equals(bytes));
      if (!hit) {
        const h = bpf.btf_new(bytes, bytes.length);
        if (!h) throw new BpfError('parse', `BTF ${btfId}`, lastErrno());
        this.handles.push(h);
        const parsed = { bytes: Buffer.from(bytes), btf: new Btf(h), content: this.handles.length };
        this.byLength.set(bytes.length, [...same, parsed]);
        hit = parsed;
      }
      hit = { btf: hit.btf, content: hit.content };
    }
    this.byId.set(btfId, hit);
    return hit;
  }

  /** Frees the parsed BTF; the types already built stay valid (plain data). */
  close(): void {
    for (const h of this.handles.splice(0)) bpf.btf_free(h);
    this.byLength.clear();
    this.byId.clear();
  }
}
