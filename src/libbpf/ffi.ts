/**
 * Raw koffi declarations for the system libbpf.so.1 and the few libc calls kfn
 * needs. Nothing here adds meaning; the typed layer lives in the sibling modules.
 * Structs are passed as Buffers (`void *`), opaque libbpf handles as pointers.
 *
 * The libraries load on first use, not at import: `kfn --version`, `--help` and
 * `completion` work on a host without libbpf, and a command that needs it gets one
 * LIBBPF_UNAVAILABLE error instead of a stack trace. KFN_LIBBPF_PATH replaces the
 * library path for tests only (docs/testing.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { KfnError } from '../core/errors.js';

export const BpfObjectPtr = koffi.pointer('bpf_object', koffi.opaque());
export const BpfProgramPtr = koffi.pointer('bpf_program', koffi.opaque());
export const BpfMapPtr = koffi.pointer('bpf_map', koffi.opaque());
export const BtfPtr = koffi.pointer('btf', koffi.opaque());

export type Ptr = unknown;

const PrintFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *args)');

type Lib = ReturnType<typeof koffi.load>;

const declareLibbpf = (lib: Lib) => ({
  // objects
  object_open_mem: lib.func('bpf_object *bpf_object__open_mem(const void *buf, size_t size, void *opts)'),
  object_load: lib.func('int bpf_object__load(bpf_object *obj)'),
  object_close: lib.func('void bpf_object__close(bpf_object *obj)'),
  object_btf: lib.func('btf *bpf_object__btf(bpf_object *obj)'),
  object_next_program: lib.func('bpf_program *bpf_object__next_program(bpf_object *obj, bpf_program *prog)'),
  object_next_map: lib.func('bpf_map *bpf_object__next_map(bpf_object *obj, bpf_map *map)'),
  // programs
  program_name: lib.func('const char *bpf_program__name(bpf_program *prog)'),
  program_section_name: lib.func('const char *bpf_program__section_name(bpf_program *prog)'),
  program_type: lib.func('int bpf_program__type(bpf_program *prog)'),
  program_set_autoload: lib.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
  program_set_type: lib.func('int bpf_program__set_type(bpf_program *prog, int type)'),
  program_expected_attach_type: lib.func('int bpf_program__expected_attach_type(bpf_program *prog)'),
  program_set_expected_attach_type: lib.func('int bpf_program__set_expected_attach_type(bpf_program *prog, int type)'),
  program_set_log_buf: lib.func('int bpf_program__set_log_buf(bpf_program *prog, void *buf, size_t size)'),
  program_fd: lib.func('int bpf_program__fd(bpf_program *prog)'),
  // maps of an object
  map_name: lib.func('const char *bpf_map__name(bpf_map *map)'),
  map_type: lib.func('int bpf_map__type(bpf_map *map)'),
  map_key_size: lib.func('uint32_t bpf_map__key_size(bpf_map *map)'),
  map_value_size: lib.func('uint32_t bpf_map__value_size(bpf_map *map)'),
  map_max_entries: lib.func('uint32_t bpf_map__max_entries(bpf_map *map)'),
  map_btf_key_type_id: lib.func('uint32_t bpf_map__btf_key_type_id(bpf_map *map)'),
  map_btf_value_type_id: lib.func('uint32_t bpf_map__btf_value_type_id(bpf_map *map)'),
  map_is_internal: lib.func('bool bpf_map__is_internal(bpf_map *map)'),
  map_fd: lib.func('int bpf_map__fd(bpf_map *map)'),
  map_reuse_fd: lib.func('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
  map_pin_path: lib.func('const char *bpf_map__pin_path(bpf_map *map)'),
  map_set_pin_path: lib.func('int bpf_map__set_pin_path(bpf_map *map, const char *path)'),
  map_is_pinned: lib.func('bool bpf_map__is_pinned(bpf_map *map)'),
  map_set_initial_value: lib.func('int bpf_map__set_initial_value(bpf_map *map, void *data, size_t size)'),
  map_initial_value: lib.func('void *bpf_map__initial_value(bpf_map *map, _Out_ size_t *psize)'),
  // btf
  btf_type_by_id: lib.func('void *btf__type_by_id(btf *btf, uint32_t id)'),
  btf_name_by_offset: lib.func('const char *btf__name_by_offset(btf *btf, uint32_t offset)'),
  btf_type_cnt: lib.func('uint32_t btf__type_cnt(btf *btf)'),
  btf_find_by_name_kind: lib.func('int btf__find_by_name_kind(btf *btf, const char *name, uint32_t kind)'),
  btf_load_from_kernel_by_id: lib.func('btf *btf__load_from_kernel_by_id(uint32_t id)'),
  btf_load_vmlinux_btf: lib.func('btf *btf__load_vmlinux_btf(void)'),
  btf_parse_elf: lib.func('btf *btf__parse_elf(const char *path, void *ext)'),
  btf_new: lib.func('btf *btf__new(const void *data, uint32_t size)'),
  btf_free: lib.func('void btf__free(btf *btf)'),
  // fd-level syscalls wrapped by libbpf (return -errno)
  map_create: lib.func('int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, void *opts)'),
  map_update_elem: lib.func('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)'),
  map_lookup_elem: lib.func('int bpf_map_lookup_elem(int fd, void *key, void *value)'),
  map_delete_elem: lib.func('int bpf_map_delete_elem(int fd, void *key)'),
  map_get_next_key: lib.func('int bpf_map_get_next_key(int fd, void *key, void *next_key)'),
  obj_pin: lib.func('int bpf_obj_pin(int fd, const char *path)'),
  obj_get: lib.func('int bpf_obj_get(const char *path)'),
  obj_get_info_by_fd: lib.func('int bpf_obj_get_info_by_fd(int fd, void *info, uint32_t *len)'),
  prog_get_fd_by_id: lib.func('int bpf_prog_get_fd_by_id(uint32_t id)'),
  map_get_fd_by_id: lib.func('int bpf_map_get_fd_by_id(uint32_t id)'),
  link_get_fd_by_id: lib.func('int bpf_link_get_fd_by_id(uint32_t id)'),
  btf_get_fd_by_id: lib.func('int bpf_btf_get_fd_by_id(uint32_t id)'),
  link_detach: lib.func('int bpf_link_detach(int link_fd)'),
  xdp_query: lib.func('int bpf_xdp_query(int ifindex, int flags, void *opts)'),
  prog_test_run_opts: lib.func('int bpf_prog_test_run_opts(int prog_fd, void *opts)'),
  num_possible_cpus: lib.func('int libbpf_num_possible_cpus(void)'),
  set_print: lib.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
  // the library itself and what the kernel supports
  version_string: lib.func('const char *libbpf_version_string(void)'),
  probe_prog_type: lib.func('int libbpf_probe_bpf_prog_type(int prog_type, const void *opts)'),
});

const declareLibc = (lib: Lib) => ({
  syscall: lib.func('long syscall(long number, ...)'),
  close: lib.func('int close(int fd)'),
  setns: lib.func('int setns(int fd, int nstype)'),
  unshare: lib.func('int unshare(int flags)'),
  vsnprintf: lib.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *ap)'),
  if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
  if_nameindex: lib.func('void *if_nameindex(void)'),
  if_freenameindex: lib.func('void if_freenameindex(void *ptr)'),
  geteuid: lib.func('uint32_t geteuid(void)'),
  flock: lib.func('int flock(int fd, int op)'),
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  connect: lib.func('int connect(int fd, void *addr, uint32_t len)'),
  send: lib.func('intptr_t send(int fd, void *buf, size_t len, int flags)'),
  recv: lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
});

export type Libbpf = ReturnType<typeof declareLibbpf>;
export type Libc = ReturnType<typeof declareLibc>;

/** The libbpf to load: the system's libbpf.so.1, or KFN_LIBBPF_PATH (tests only). */
export function libbpfPath(): string {
  return process.env.KFN_LIBBPF_PATH || 'libbpf.so.1';
}

interface Lazy<T> {
  get(): T;
  /** Loaded now, or the reason it cannot be. */
  status(): { ok: true; value: T } | { ok: false; error: KfnError };
}

function lazyLibrary<T>(file: () => string, declare: (lib: Lib) => T, failed: (message: string) => KfnError, onLoad?: (value: T) => void): Lazy<T> {
  let value: T | undefined;
  let error: KfnError | undefined;
  const get = (): T => {
    if (value !== undefined) return value;
    if (error) throw error;
    const name = file();
    try {
      value = declare(koffi.load(name));
    } catch (e) {
      // koffi reports dlopen's text, or the first symbol an older library lacks.
      const why = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
      error = failed(`cannot load ${name}: ${why}`);
      throw error;
    }
    onLoad?.(value);
    return value;
  };
  return {
    get,
    status: () => {
      try {
        return { ok: true, value: get() };
      } catch (e) {
        if (e instanceof KfnError) return { ok: false, error: e };
        throw e;
      }
    },
  };
}

const loadHooks: ((b: Libbpf) => void)[] = [];
let loadedLibbpf: Libbpf | undefined;

/** Runs `fn` once libbpf is loaded (now, if it already is). */
export function onLibbpfLoaded(fn: (b: Libbpf) => void): void {
  loadHooks.push(fn);
  if (loadedLibbpf) fn(loadedLibbpf);
}

const libbpfLib = lazyLibrary(
  libbpfPath,
  declareLibbpf,
  (message) => new KfnError('LIBBPF_UNAVAILABLE', message, { hint: 'kfn needs libbpf 1.x: install it (Debian/Ubuntu: apt-get install libbpf1; Fedora: dnf install libbpf)' }),
  (b) => {
    loadedLibbpf = b;
    for (const fn of loadHooks) fn(b);
  },
);
const libcLib = lazyLibrary(
  () => 'libc.so.6',
  declareLibc,
  (message) => new KfnError('LIBC_UNAVAILABLE', message, { hint: 'kfn runs on Linux with glibc (libc.so.6)' }),
);

/** A table of functions that loads its library on the first property read. */
function deferred<T extends object>(lib: Lazy<T>): T {
  return new Proxy({} as T, { get: (_target, prop) => lib.get()[prop as keyof T] });
}

export const bpf: Libbpf = deferred(libbpfLib);
export const libcFns: Libc = deferred(libcLib);

/** Loads libbpf now; throws LIBBPF_UNAVAILABLE (one line, with a hint) when it cannot be loaded. */
export function requireLibbpf(): void {
  libbpfLib.get();
}

/** libbpf loaded (the file the dynamic linker chose), or why not; never throws. */
export function libbpfStatus(): { ok: true; path: string } | { ok: false; error: KfnError } {
  const s = libbpfLib.status();
  return s.ok ? { ok: true, path: mappedFile(libbpfPath()) } : { ok: false, error: s.error };
}

/** The file mapped for a library name dlopen resolved (from /proc/self/maps), else the name. */
function mappedFile(name: string): string {
  const base = path.basename(name);
  try {
    const line = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => path.basename(l.trim().split(/\s+/).at(-1) ?? '').startsWith(base));
    return line?.trim().split(/\s+/).at(-1) ?? name;
  } catch {
    return name;
  }
}

export { koffi, PrintFn };

/** errno of the last FFI call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}
