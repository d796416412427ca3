/* crun 1.8.1 refuses a hybrid cgroup host ("cgroups in hybrid mode not
 * supported, drop all controllers from cgroupv2") as soon as the unified
 * hierarchy at /sys/fs/cgroup/unified holds a controller. This wrapper
 * runs it in a private mount namespace without that mount, so it sees a
 * plain cgroup v1 host. Benchmarks only: the bench measures the wrapper
 * alone (exec'ing /bin/true) and prints it next to crun's figures.
 *   crun-v1 /path/to/crun [crun args...]                                  */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 125;
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("crun-v1: private mount namespace");
		return 125;
	}
	umount2("/sys/fs/cgroup/unified", MNT_DETACH); /* absent: nothing to hide */
	execv(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
