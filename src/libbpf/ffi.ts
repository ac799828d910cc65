/**
 * Raw koffi declarations for the system libbpf.so.1 and the few libc calls kfn
 * needs. Nothing here adds meaning; the typed layer lives in the sibling modules.
 * Structs are passed as Buffers (`void *`), opaque libbpf handles as pointers.
 */
import koffi from 'koffi';

const libbpf = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

export const BpfObjectPtr = koffi.pointer('bpf_object', koffi.opaque());
export const BpfProgramPtr = koffi.pointer('bpf_program', koffi.opaque());
export const BpfMapPtr = koffi.pointer('bpf_map', koffi.opaque());
export const BtfPtr = koffi.pointer('btf', koffi.opaque());

export type Ptr = unknown;

const PrintFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *args)');

export const bpf = {
  // objects
  object_open_file: libbpf.func('bpf_object *bpf_object__open_file(const char *path, void *opts)'),
  object_open_mem: libbpf.func('bpf_object *bpf_object__open_mem(const void *buf, size_t size, void *opts)'),
  object_load: libbpf.func('int bpf_object__load(bpf_object *obj)'),
  object_close: libbpf.func('void bpf_object__close(bpf_object *obj)'),
  object_btf: libbpf.func('btf *bpf_object__btf(bpf_object *obj)'),
  object_next_program: libbpf.func('bpf_program *bpf_object__next_program(bpf_object *obj, bpf_program *prog)'),
  object_next_map: libbpf.func('bpf_map *bpf_object__next_map(bpf_object *obj, bpf_map *map)'),
  // programs
  program_name: libbpf.func('const char *bpf_program__name(bpf_program *prog)'),
  program_section_name: libbpf.func('const char *bpf_program__section_name(bpf_program *prog)'),
  program_type: libbpf.func('int bpf_program__type(bpf_program *prog)'),
  program_set_autoload: libbpf.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
  program_set_type: libbpf.func('int bpf_program__set_type(bpf_program *prog, int type)'),
  program_expected_attach_type: libbpf.func('int bpf_program__expected_attach_type(bpf_program *prog)'),
  program_set_expected_attach_type: libbpf.func('int bpf_program__set_expected_attach_type(bpf_program *prog, int type)'),
  program_set_log_buf: libbpf.func('int bpf_program__set_log_buf(bpf_program *prog, void *buf, size_t size)'),
  program_fd: libbpf.func('int bpf_program__fd(bpf_program *prog)'),
  // maps of an object
  map_name: libbpf.func('const char *bpf_map__name(bpf_map *map)'),
  map_type: libbpf.func('int bpf_map__type(bpf_map *map)'),
  map_key_size: libbpf.func('uint32_t bpf_map__key_size(bpf_map *map)'),
  map_value_size: libbpf.func('uint32_t bpf_map__value_size(bpf_map *map)'),
  map_max_entries: libbpf.func('uint32_t bpf_map__max_entries(bpf_map *map)'),
  map_btf_key_type_id: libbpf.func('uint32_t bpf_map__btf_key_type_id(bpf_map *map)'),
  map_btf_value_type_id: libbpf.func('uint32_t bpf_map__btf_value_type_id(bpf_map *map)'),
  map_is_internal: libbpf.func('bool bpf_map__is_internal(bpf_map *map)'),
  map_fd: libbpf.func('int bpf_map__fd(bpf_map *map)'),
  map_reuse_fd: libbpf.func('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
  map_pin_path: libbpf.func('const char *bpf_map__pin_path(bpf_map *map)'),
  map_set_pin_path: libbpf.func('int bpf_map__set_pin_path(bpf_map *map, const char *path)'),
  map_is_pinned: libbpf.func('bool bpf_map__is_pinned(bpf_map *map)'),
  map_set_initial_value: libbpf.func('int bpf_map__set_initial_value(bpf_map *map, void *data, size_t size)'),
  map_initial_value: libbpf.func('void *bpf_map__initial_value(bpf_map *map, _Out_ size_t *psize)'),
  // btf
  btf_type_by_id: libbpf.func('void *btf__type_by_id(btf *btf, uint32_t id)'),
  btf_name_by_offset: libbpf.func('const char *btf__name_by_offset(btf *btf, uint32_t offset)'),
  btf_type_cnt: libbpf.func('uint32_t btf__type_cnt(btf *btf)'),
  btf_load_from_kernel_by_id: libbpf.func('btf *btf__load_from_kernel_by_id(uint32_t id)'),
  btf_parse_elf: libbpf.func('btf *btf__parse_elf(const char *path, void *ext)'),
  btf_free: libbpf.func('void btf__free(btf *btf)'),
  // fd-level syscalls wrapped by libbpf (return -errno)
  map_create: libbpf.func(
    'int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, void *opts)',
  ),
  map_update_elem: libbpf.func('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)'),
  map_lookup_elem: libbpf.func('int bpf_map_lookup_elem(int fd, void *key, void *value)'),
  map_delete_elem: libbpf.func('int bpf_map_delete_elem(int fd, void *key)'),
  map_get_next_key: libbpf.func('int bpf_map_get_next_key(int fd, void *key, void *next_key)'),
  obj_pin: libbpf.func('int bpf_obj_pin(int fd, const char *path)'),
  obj_get: libbpf.func('int bpf_obj_get(const char *path)'),
  obj_get_info_by_fd: libbpf.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
  prog_get_fd_by_id: libbpf.func('int bpf_prog_get_fd_by_id(uint32_t id)'),
  map_get_fd_by_id: libbpf.func('int bpf_map_get_fd_by_id(uint32_t id)'),
  link_get_fd_by_id: libbpf.func('int bpf_link_get_fd_by_id(uint32_t id)'),
  link_detach: libbpf.func('int bpf_link_detach(int link_fd)'),
  xdp_query: libbpf.func('int bpf_xdp_query(int ifindex, int flags, void *opts)'),
  prog_test_run_opts: libbpf.func('int bpf_prog_test_run_opts(int prog_fd, void *opts)'),
  num_possible_cpus: libbpf.func('int libbpf_num_possible_cpus(void)'),
  probe_prog_type: libbpf.func('int libbpf_probe_bpf_prog_type(int prog_type, const void *opts)'),
  set_print: libbpf.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
};

export const libcFns = {
  syscall: libc.func('long syscall(long number, ...)'),
  close: libc.func('int close(int fd)'),
  setns: libc.func('int setns(int fd, int nstype)'),
  unshare: libc.func('int unshare(int flags)'),
  vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *ap)'),
  if_nametoindex: libc.func('unsigned int if_nametoindex(const char *name)'),
  if_nameindex: libc.func('void *if_nameindex(void)'),
  if_freenameindex: libc.func('void if_freenameindex(void *ptr)'),
  geteuid: libc.func('uint32_t geteuid(void)'),
  flock: libc.func('int flock(int fd, int op)'),
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  connect: libc.func('int connect(int fd, void *addr, uint32_t len)'),
  send: libc.func('intptr_t send(int fd, void *buf, size_t len, int flags)'),
};

export { koffi, PrintFn };

/** errno of the last FFI call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}
