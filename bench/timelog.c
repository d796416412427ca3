/* Runs a runtime as its child and appends the child's wall time and its
 * arguments to a log: how bench/e2e.py finds the runtime's own share of
 * `podman run` / `ctr run` (the calls the clients make and how long each
 * took). The wrapper keeps the caller's fds and is not a subreaper, so the
 * container is reparented as without it; its own cost (a fork, an exec and
 * a wait, ~1 ms) is not in the logged times. One build per runtime, the
 * log and the runtime compiled in (podman's runtime setting is a path, not
 * a command line):
 *   gcc -O2 -DLOG='"/tmp/x/log"' -DRUNTIME='"/usr/sbin/runc"' -o runc-timed timelog.c */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec a, b;
	int status, i;
	pid_t pid;
	FILE *log;

	(void)argc;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid = fork();
	if (pid < 0)
		return 125;
	if (pid == 0) {
		argv[0] = RUNTIME;
		execv(RUNTIME, argv);
		perror(RUNTIME);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &b);
	log = fopen(LOG, "a");
	if (log) {
		fprintf(log, "%.3f", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
		for (i = 1; argv[i]; i++)
			fprintf(log, " %s", argv[i]);
		fputc('\n', log);
		fclose(log);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
