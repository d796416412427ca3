#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"

#define RET(x) do { long r_ = (x); return r_ < 0 ? -errno : (int)r_; } while (0)

/* attr is packed by the caller (pyrunc/cgroups/devices_bpf.py); the kernel
 * may write back into it (BPF_PROG_QUERY's count). */
int pr_bpf(int cmd, void *attr, unsigned int size) { RET(syscall(SYS_bpf, cmd, attr, size)); }
