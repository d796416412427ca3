#define _GNU_SOURCE
#include <errno.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"

#define RET(x) do { long r_ = (x); return r_ < 0 ? -errno : (int)r_; } while (0)

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

struct pr_open_how { uint64_t flags, mode, resolve; };
struct pr_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };

int pr_mount(const char *src, const char *target, const char *fstype,
             unsigned long flags, const char *data)
{ RET(mount(src, target, fstype, flags, data)); }

int pr_umount2(const char *target, int flags) { RET(umount2(target, flags)); }

int pr_pivot_root(const char *new_root, const char *put_old)
{ RET((int)syscall(SYS_pivot_root, new_root, put_old)); }

int pr_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
               uint64_t resolve)
{
    struct pr_open_how how = { flags, mode, resolve };
    RET((int)syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

int pr_mount_setattr(int dirfd, const char *path, unsigned int flags,
                     uint64_t attr_set, uint64_t attr_clr,
                     uint64_t propagation, uint64_t userns_fd)
{
    struct pr_mount_attr a = { attr_set, attr_clr, propagation, userns_fd };
    RET((int)syscall(SYS_mount_setattr, dirfd, path, flags, &a, sizeof a));
}

int pr_open_tree(int dirfd, const char *path, unsigned int flags)
{ RET((int)syscall(SYS_open_tree, dirfd, path, flags)); }

int pr_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                  const char *to_path, unsigned int flags)
{ RET((int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags)); }

int pr_fsopen(const char *fsname, unsigned int flags)
{ RET((int)syscall(SYS_fsopen, fsname, flags)); }

int pr_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux)
{ RET((int)syscall(SYS_fsconfig, fd, cmd, key, value, aux)); }

int pr_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{ RET((int)syscall(SYS_fsmount, fd, flags, attr_flags)); }


/* f_type of the filesystem fd is on (Python's os.fstatvfs has no f_type):
 * how pyrunc/procfs.py proves a handle is procfs. */
int pr_fstatfs_type(int fd, uint64_t *f_type)
{
    struct statfs st;
    if (fstatfs(fd, &st) < 0)
        return -errno;
    *f_type = (uint64_t)(unsigned long)st.f_type & 0xffffffffULL;
    return 0;
}
