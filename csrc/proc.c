#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"

#define RET(x) do { long r_ = (x); return r_ < 0 ? -errno : (int)r_; } while (0)

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int pr_prctl(int option, unsigned long a2, unsigned long a3,
             unsigned long a4, unsigned long a5)
{ RET(prctl(option, a2, a3, a4, a5)); }

/* caps[0..2] = effective, permitted, inheritable (low 32 bits);
 * caps[3..5] the same for the high 32 bits. */
int pr_capget_pid(int pid, uint32_t out[6])
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        out[3 * i] = d[i].effective;
        out[3 * i + 1] = d[i].permitted;
        out[3 * i + 2] = d[i].inheritable;
    }
    return 0;
}

int pr_capset(const uint32_t caps[6])
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    for (int i = 0; i < 2; i++) {
        d[i].effective = caps[3 * i];
        d[i].permitted = caps[3 * i + 1];
        d[i].inheritable = caps[3 * i + 2];
    }
    RET((int)syscall(SYS_capset, &h, d));
}

int pr_close_range(unsigned int first, unsigned int last, unsigned int flags)
{ RET((int)syscall(SYS_close_range, first, last, flags)); }

int pr_keyctl_join(const char *name)
{
    /* KEYCTL_JOIN_SESSION_KEYRING = 1 */
    RET((int)syscall(SYS_keyctl, 1, name, 0, 0, 0));
}

int pr_personality(unsigned long persona) { RET(personality(persona)); }

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define PR_CLONE_INTO_CGROUP 0x200000000ULL

struct pr_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
             stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* fork(2) with clone3: straight into a cgroup v2 directory (cgroup_fd >= 0)
 * and/or into new namespaces (flags). The fork path takes only the read
 * side of the cgroup threadgroup lock, where writing a pid to cgroup.procs
 * waits for an RCU grace period (5-15 ms). Returns 0 in the child, like
 * fork. */
int pr_clone3(uint64_t flags, int cgroup_fd)
{
    struct pr_clone_args a = { 0 };
    a.flags = flags;
    if (cgroup_fd >= 0) {
        a.flags |= PR_CLONE_INTO_CGROUP;
        a.cgroup = (uint64_t)cgroup_fd;
    }
    a.exit_signal = 17; /* SIGCHLD */
    RET(syscall(SYS_clone3, &a, sizeof a));
}

int pr_seccomp_load(unsigned int flags, const void *prog, unsigned int len)
{
    /* struct sock_fprog: len in instructions of 8 bytes */
    struct { unsigned short len; const void *filter; } fprog = { (unsigned short)(len / 8), prog };
    RET(syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, flags, &fprog));
}

#ifndef SYS_sched_setattr
#define SYS_sched_setattr 314
#endif
#ifndef SYS_ioprio_set
#define SYS_ioprio_set 251
#endif
#ifndef SYS_set_mempolicy
#define SYS_set_mempolicy 238
#endif

struct pr_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

int pr_sched_setattr(uint32_t policy, uint64_t flags, int32_t nice, uint32_t priority,
                     uint64_t runtime, uint64_t deadline, uint64_t period)
{
    struct pr_sched_attr a = { sizeof a, policy, flags, nice, priority, runtime, deadline, period };
    RET(syscall(SYS_sched_setattr, 0, &a, 0));
}

int pr_ioprio_set(int ioprio)
{
    RET(syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, ioprio));
}

int pr_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode)
{
    RET(syscall(SYS_set_mempolicy, mode, nodemask, maxnode));
}
