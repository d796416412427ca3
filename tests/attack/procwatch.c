/* An attacker inside a container: pid 1 watches /proc for every new
 * process and, for each, records what an attacker would reach through it:
 *   <pid> exe=<readlink /proc/N/exe> root=<readlink /proc/N/root> \
 *         rootmark=<1 if /proc/N/root/<MARK> exists> attach=<result>
 * attach: "helper" when PTRACE_SEIZE succeeded while the process still ran
 * pyrunc's helper (or anything not the user's program), "user" when it
 * succeeded on an exec'd program, else the errno.
 * Usage: procwatch OUTFILE STOPFILE MARK
 * Runs until STOPFILE exists (checked every pass). Built static by the
 * test (tests/test_security.py); never part of pyrunc. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char seen[1 << 22];

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    FILE *out = fopen(argv[1], "w");
    if (!out)
        return 3;
    setvbuf(out, NULL, _IOLBF, 0);
    const char *stop = argv[2], *mark = argv[3];
    pid_t self = getpid();
    fprintf(out, "watching\n");
    for (unsigned long pass = 0;; pass++) {
        if ((pass & 63) == 0 && access(stop, F_OK) == 0)
            break;
        DIR *d = opendir("/proc");
        if (!d)
            return 4;
        struct dirent *e;
        while ((e = readdir(d))) {
            long pid = strtol(e->d_name, NULL, 10);
            if (pid <= 1 || pid == self || pid >= (long)sizeof seen || seen[pid])
                continue;
            seen[pid] = 1;
            char p[64], exe[512] = "", root[512] = "", after[512] = "";
            snprintf(p, sizeof p, "/proc/%ld/exe", pid);
            ssize_t n = readlink(p, exe, sizeof exe - 1);
            if (n < 0) snprintf(exe, sizeof exe, "ERR%d", errno); else exe[n] = 0;
            snprintf(p, sizeof p, "/proc/%ld/root", pid);
            n = readlink(p, root, sizeof root - 1);
            if (n < 0) snprintf(root, sizeof root, "ERR%d", errno); else root[n] = 0;
            char mp[600];
            snprintf(mp, sizeof mp, "/proc/%ld/root/%s", pid, mark);
            int rootmark = access(mp, F_OK) == 0;
            const char *attach = "";
            char ebuf[16];
            /* SEIZE (no SIGSTOP left behind), then stop it to look:
             * exe only moves forward (helper -> program), so memfd while
             * stopped means the attach reached the helper. */
            if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
                int st = 0;
                ptrace(PTRACE_INTERRUPT, pid, 0, 0);
                if (waitpid(pid, &st, __WALL) == pid && WIFSTOPPED(st)) {
                    snprintf(p, sizeof p, "/proc/%ld/exe", pid);
                    n = readlink(p, after, sizeof after - 1);
                    if (n < 0) after[0] = 0; else after[n] = 0;
                    int sig = WSTOPSIG(st);
                    int inject = (st >> 16) == 0 && sig != SIGTRAP && sig != SIGSTOP ? sig : 0;
                    ptrace(PTRACE_DETACH, pid, 0, inject);
                }
                attach = (strstr(after, "memfd:") || strstr(after, "python")) ? "helper" : "user";
            } else {
                snprintf(ebuf, sizeof ebuf, "ERR%d", errno);
                attach = ebuf;
            }
            fprintf(out, "%ld\texe=%s\troot=%s\trootmark=%d\tattach=%s\tafter=%s\n",
                    pid, exe, root, rootmark, attach, after);
        }
        closedir(d);
        /* reap what we adopted as pid 1 */
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
    fprintf(out, "stopped\n");
    return 0;
}
