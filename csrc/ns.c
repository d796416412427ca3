#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <unistd.h>
#include "shim.h"

#define RET(x) do { long r_ = (x); return r_ < 0 ? -errno : (int)r_; } while (0)

int pr_setns(int fd, int nstype) { RET(setns(fd, nstype)); }
int pr_unshare(int flags) { RET(unshare(flags)); }
int pr_sethostname(const char *name, int len) { RET(sethostname(name, len)); }
int pr_setdomainname(const char *name, int len) { RET(setdomainname(name, len)); }
