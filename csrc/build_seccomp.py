"""cffi builder for pyrunc._seccomp: libseccomp's filter-building API.

pyrunc only builds and exports the BPF program with libseccomp; loading it
(seccomp(2)) is done at the last moment by the init (csrc/execinit.c)."""
from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("""
typedef void *scmp_filter_ctx;
struct scmp_arg_cmp { unsigned int arg; int op; uint64_t datum_a; uint64_t datum_b; };
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_attr_set(scmp_filter_ctx ctx, int attr, uint32_t value);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
const struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; }
    *seccomp_version(void);
""")
ffibuilder.set_source("pyrunc._seccomp", "#include <seccomp.h>", libraries=["seccomp"],
                      extra_compile_args=["-O2"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
