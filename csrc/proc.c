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
