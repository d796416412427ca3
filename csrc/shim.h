/* pyrunc's C shim: thin wrappers over the syscalls Python 3.11 lacks.
 * Every function returns >= 0 on success and -errno on failure; the
 * Python layer (pyrunc/sys.py) turns that into OSError and decides
 * everything else. */
#ifndef PYRUNC_SHIM_H
#define PYRUNC_SHIM_H
#include <stdint.h>

/* namespaces (ns.c) */
int pr_setns(int fd, int nstype);
int pr_unshare(int flags);
int pr_sethostname(const char *name, int len);
int pr_setdomainname(const char *name, int len);
int pr_socket(int domain, int type, int protocol);

/* mounts and paths (mount.c) */
int pr_mount(const char *src, const char *target, const char *fstype,
             unsigned long flags, const char *data);
int pr_umount2(const char *target, int flags);
int pr_pivot_root(const char *new_root, const char *put_old);
int pr_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
               uint64_t resolve);
int pr_mount_setattr(int dirfd, const char *path, unsigned int flags,
                     uint64_t attr_set, uint64_t attr_clr,
                     uint64_t propagation, uint64_t userns_fd);
int pr_open_tree(int dirfd, const char *path, unsigned int flags);
int pr_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                  const char *to_path, unsigned int flags);
int pr_fsopen(const char *fsname, unsigned int flags);
int pr_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux);
int pr_fsmount(int fd, unsigned int flags, unsigned int attr_flags);


int pr_fstatfs_type(int fd, uint64_t *f_type);

/* process attributes (proc.c) */
int pr_prctl(int option, unsigned long a2, unsigned long a3,
             unsigned long a4, unsigned long a5);
int pr_capget_pid(int pid, uint32_t out[6]);
int pr_capset(const uint32_t caps[6]);
int pr_close_range(unsigned int first, unsigned int last, unsigned int flags);
int pr_keyctl_join(const char *name);
int pr_personality(unsigned long persona);
int pr_clone3(uint64_t flags, int cgroup_fd);
int pr_seccomp_load(unsigned int flags, const void *prog, unsigned int len);
int pr_sched_setattr(uint32_t policy, uint64_t flags, int32_t nice, uint32_t priority,
                     uint64_t runtime, uint64_t deadline, uint64_t period);
int pr_ioprio_set(int ioprio);
int pr_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode);

/* bpf (bpf.c) */
int pr_bpf(int cmd, void *attr, unsigned int size);
#endif
