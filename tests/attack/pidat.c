/* A pid wrap-around, faked: runs a command as the given pid (clone3's
 * set_tid, as CRIU does; the pid must be free) after moving itself into
 * the given cgroup directories, so that it looks like a process of a
 * container that forked until the kernel gave it its dead init's pid.
 * Usage: pidat PID CGROUP_DIR... -- CMD ARG...
 * Prints "exited <wait status>" once the command has ended, leaving it a
 * zombie (not reaped) until stdin is closed. */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    pid_t want = atoi(argv[1]);
    int i = 2;
    while (i < argc && strcmp(argv[i], "--") != 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/cgroup.procs", argv[i]);
        FILE *f = fopen(path, "w");
        if (!f || fprintf(f, "0\n") < 0 || fclose(f) != 0) {
            perror(path);
            return 2;
        }
        i++;
    }
    char **cmd = argv + i + 1;
    uint64_t tid = want;
    struct clone_args ca = {0};
    ca.exit_signal = SIGCHLD;
    ca.set_tid = (uintptr_t)&tid;
    ca.set_tid_size = 1;
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0) {
        perror("clone3");
        return 2;
    }
    if (pid == 0) {
        execvp(cmd[0], cmd);
        _exit(127);
    }
    siginfo_t si;
    if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) < 0) {
        perror("waitid");
        return 2;
    }
    printf("exited %d\n", si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof(buf)) > 0)
        ;
    waitpid(pid, NULL, 0);
    return 0;
}
