/* pyrunc's last hop before the user's program.
 *
 * The Python init (or exec child) execs this tiny static binary from a
 * sealed memfd once the process is set up, so that while the container
 * waits in "created", and whenever a process of the runtime becomes a
 * member of the container's pid namespace, /proc/<pid>/exe is a sealed copy
 * of this file, never the host's Python interpreter (CVE-2019-5736).
 * No libc: it is a few kilobytes, copied into a memfd per container.
 *
 *   argv: execinit <how> <seccomp> <opts> <path> <argv0> [args...]
 *   envp: the user's env
 *
 * Its very first act is to make itself non-dumpable, before it reads
 * anything: then no process of the container can ptrace it or open its
 * /proc files, even in the instructions after the exec.
 *
 * <how> says how to wait for `pyrunc start`:
 *   p<N>  fd N is an O_PATH fd of the exec fifo: block opening it for
 *         writing through the container's procfs (verified to be procfs,
 *         and the reopened file verified to be the same fifo) until
 *         `start` opens it for reading
 *   f<N>  fd N is already open for writing (exec: the channel to pyrunc)
 *   -     do not wait
 * <seccomp> is "-" or "<fd>,<flags>": fd is a sealed memfd holding a BPF
 * program (struct sock_filter[]) loaded with seccomp(2) after everything
 * else, so the only syscall the filter must allow is execve.
 * <opts> is "-" or a comma-separated list of:
 *   F<N>  fork first: the parent (which stays outside the pid namespace
 *         the runtime joined for its children) writes "pid <host pid>\n"
 *         to fd N and exits; the child, born in that pid namespace, goes
 *         on. So no runtime process but this sealed, non-dumpable one
 *         ever enters a pid namespace that other processes share.
 *   T<N>  fd N is the pty slave: the process makes it its controlling
 *         terminal (new session) and its stdio.
 *   H<N>  fd N is a sealed memfd describing startContainer hooks, run
 *         after `start`, in the container, before the user's program
 *         (layout: see pyrunc/execinit.py, hooks_memfd).
 * Then it writes "0" and execs <path>. The fifo is close-on-exec, so
 * `start` reads EOF exactly when the exec happened (or when this helper
 * exits 255 because the exec failed, as runc's init does); a seccomp
 * filter that cannot be loaded is reported as the errno after the "0".
 */
#define _GNU_SOURCE
#include <asm/unistd.h>
#include <linux/fcntl.h>
#include <linux/signal.h>

typedef unsigned long ul;

#if defined(__x86_64__)
static long sc(long n, long a, long b, long c, long d, long e)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall" : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return r;
}
#elif defined(__aarch64__)
static long sc(long n, long a, long b, long c, long d, long e)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
                     : "memory");
    return x0;
}
#else
#error "execinit: unsupported architecture"
#endif

struct ksigaction { ul handler, flags, restorer, mask; };

#define SA_RESTORER_ 0x04000000

void pr_restorer(void);
#if defined(__x86_64__)
__asm__(".text\n.align 16\n.global pr_restorer\npr_restorer:\n mov $15, %rax\n syscall\n");
#else
__asm__(".text\n.align 4\n.global pr_restorer\npr_restorer:\n mov x8, #139\n svc 0\n");
#endif

static void sigact(int sig, ul handler)
{
    struct ksigaction sa = { handler, SA_RESTORER_, (ul)pr_restorer, 0 };
    sc(__NR_rt_sigaction, sig, (long)&sa, 0, 8, 0);
}

static int is_ignored_by_default(int sig)
{
    return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG ||
           sig == SIGWINCH || sig == SIGTSTP || sig == SIGTTIN ||
           sig == SIGTTOU || sig == SIGSTOP || sig == SIGKILL;
}

/* While waiting for `start` this process may be pid 1 of its namespace,
 * which the kernel shields from every signal it has no handler for: catch
 * the fatal ones so `pyrunc kill` of a created container really ends it. */
static void on_signal(int sig)
{
    sigact(sig, 0);
    ul none = 0;
    sc(__NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&none, 0, 8, 0);
    sc(__NR_kill, sc(__NR_getpid, 0, 0, 0, 0, 0), sig, 0, 0, 0);
    sc(__NR_exit_group, 128 + sig, 0, 0, 0, 0); /* pid 1: not delivered */
}

static long parse_int(const char *s)
{
    long v = 0, neg = 0;
    if (*s == '-') { neg = 1; s++; }
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    return neg ? -v : v;
}

static int fmt_uint(char *buf, unsigned long v) /* returns length, no NUL */
{
    char tmp[24];
    int k = 0, n = 0;
    do { tmp[k++] = '0' + v % 10; v /= 10; } while (v);
    while (k) buf[n++] = tmp[--k];
    return n;
}

static long slen(const char *s)
{
    long n = 0;
    while (s[n]) n++;
    return n;
}

static void put(int fd, const char *s)
{
    sc(__NR_write, fd, (long)s, slen(s), 0, 0);
}

static void write_errno(int fd, long err)
{
    char buf[24];
    sc(__NR_write, fd, (long)buf, fmt_uint(buf, -err), 0, 0);
}

/* An exec failure in runc's words (Go's lowercase strerror), so that
 * engines and scripts matching "exec /run.sh: no such file or directory"
 * on the first line of stderr see it. */
static const char *exec_strerror(long err)
{
    switch (-err) {
    case 1: return "operation not permitted";
    case 2: return "no such file or directory";
    case 7: return "argument list too long";
    case 8: return "exec format error";
    case 12: return "cannot allocate memory";
    case 13: return "permission denied";
    case 20: return "not a directory";
    case 21: return "is a directory";
    case 26: return "text file busy";
    case 40: return "too many levels of symbolic links";
    default: return 0;
    }
}

static void exec_failed(const char *path, long err)
{
    const char *msg = exec_strerror(err);
    put(2, "exec ");
    put(2, path);
    put(2, ": ");
    if (msg) {
        put(2, msg);
    } else {
        put(2, "errno ");
        write_errno(2, err);
    }
    put(2, "\n");
}

#define F_GET_SEALS_ 1034
#define F_SEAL_WRITE_ 8
#define PROC_SUPER_MAGIC_ 0x9fa0
#define PROC_ROOT_INO_ 1

/* What this helper reads it reads from memfds the runtime sealed: nothing
 * can change a filter or a hook between the runtime's checks and here. */
static long read_sealed(long fd, unsigned char *buf, long cap)
{
    long seals = sc(__NR_fcntl, fd, F_GET_SEALS_, 0, 0, 0);
    if (seals < 0)
        return seals;
    if (!(seals & F_SEAL_WRITE_))
        return -1; /* EPERM: not sealed */
    long len = 0;
    for (;;) {
        long n = sc(__NR_pread64, fd, (long)(buf + len), cap - len, len, 0);
        if (n == -4) continue;
        if (n < 0) return n;
        if (n == 0) break;
        len += n;
        if (len == cap) return -27; /* EFBIG */
    }
    sc(__NR_close, fd, 0, 0, 0, 0);
    return len;
}

/* kernel struct stat / statfs: only the leading fields are used, the rest
 * padded well past the kernel's size (144 and 120 bytes on x86_64, 128
 * and 120 on arm64): the kernel writes the whole struct. */
#if defined(__x86_64__)
struct kstat { ul dev, ino, nlink; unsigned int mode, uid, gid, pad; ul rdev; long size; ul rest[16]; };
#else
struct kstat { ul dev, ino; unsigned int mode, nlink, uid, gid; ul rdev, pad; long size; ul rest[16]; };
#endif
struct kstatfs { long type; long rest[24]; };
_Static_assert(sizeof(struct kstat) >= 144, "struct stat");
_Static_assert(sizeof(struct kstatfs) >= 120, "struct statfs");
struct open_how_ { unsigned long long flags, mode, resolve; };

/* What a seccomp filter loaded before this helper ran (runc's order when
 * the process keeps no CAP_SYS_ADMIN and has no no_new_privs) answers for
 * a syscall it does not allow: EPERM, EACCES, or ENOSYS (also runc's stub
 * for syscalls newer than the profile). */
static int denied(long r)
{
    return r == -1 || r == -13 || r == -38;
}

/* Open `rel` under `dir` for writing (blocks until `start`) and check it
 * is the very fifo `pathfd` holds. */
static long open_fifo_at(long dir, const char *rel, long pathfd)
{
    struct kstat st, want;
    long fd;
    do
        fd = sc(__NR_openat, dir, (long)rel, O_WRONLY | O_CLOEXEC, 0, 0);
    while (fd == -4 /* EINTR */);
    if (fd < 0)
        return fd;
    long a = sc(__NR_fstat, fd, (long)&st, 0, 0, 0);
    long b = sc(__NR_fstat, pathfd, (long)&want, 0, 0, 0);
    if ((a < 0 || b < 0) && (denied(a) || denied(b)))
        return fd; /* a filter forbids fstat: as runc, trust the path */
    if (a < 0 || b < 0 || st.dev != want.dev || st.ino != want.ino) {
        sc(__NR_close, fd, 0, 0, 0, 0);
        return -18;
    }
    return fd;
}

/* Where to reopen the exec fifo (O_PATH fd `pathfd`) for writing: through
 * the container's procfs, but never trusting it: /proc must be the root of
 * a procfs mount and <pid>/fd is reached without symlinks, magic links or
 * mount crossings (*dir: that directory, rel: "N"). Where a seccomp filter
 * already in force forbids one of those checks, the plain /proc/self/fd/N
 * path runc opens (*dir: AT_FDCWD). Either way open_fifo_at checks that
 * what opens is the very fifo. Returns 0 or -errno; never blocks. */
static long fifo_dir(long pathfd, char *rel, long *dir)
{
    int n;
    long proc = sc(__NR_openat, -100, (long)"/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0);
    if (proc < 0)
        return proc;
    struct kstatfs sfs;
    struct kstat st;
    long r = sc(__NR_fstatfs, proc, (long)&sfs, 0, 0, 0);
    if (r == 0 && (sfs.type != PROC_SUPER_MAGIC_))
        r = -18; /* EXDEV: not procfs */
    if (r == 0)
        r = sc(__NR_fstat, proc, (long)&st, 0, 0, 0);
    if (r == 0 && st.ino != PROC_ROOT_INO_)
        r = -18; /* not the root of a procfs mount */
    long pid = r == 0 ? sc(__NR_getpid, 0, 0, 0, 0, 0) : r;
    long d = pid;
    if (pid > 0) {
        n = fmt_uint(rel, pid);
        rel[n++] = '/'; rel[n++] = 'f'; rel[n++] = 'd'; rel[n] = 0;
        struct open_how_ how = { O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0x01 | 0x02 | 0x04 };
        d = sc(437 /* openat2 */, proc, (long)rel, (long)&how, sizeof how, 0);
    }
    sc(__NR_close, proc, 0, 0, 0, 0);
    if (d < 0 && denied(d)) {
        const char *pre = "/proc/self/fd/";
        for (n = 0; pre[n]; n++)
            rel[n] = pre[n];
        n += fmt_uint(rel + n, pathfd);
        rel[n] = 0;
        *dir = -100;
        return 0;
    }
    if (d < 0)
        return d;
    n = fmt_uint(rel, pathfd);
    rel[n] = 0;
    *dir = d;
    return 0;
}

/* A failure before the user's program: said on stderr and, when the
 * runtime still listens (`report`), on its channel, so `create`/`exec`
 * fail with it instead of reporting a process that never ran. */
static int fail(long report, const char *what, long err)
{
    for (int i = 0; i < 2; i++) {
        long fd = i ? 2 : report;
        if (fd < 0)
            continue;
        put(fd, i ? "pyrunc-init: " : "error pyrunc-init: ");
        put(fd, what);
        put(fd, ": errno ");
        write_errno(fd, err < 0 ? err : -err);
        put(fd, "\n");
    }
    return 125;
}

/* fork without libc: clone(SIGCHLD), which seccomp profiles allow as
 * fork (no namespace flags in its first argument) */
static long do_fork(void)
{
#if defined(__x86_64__)
    return sc(__NR_clone, SIGCHLD, 0, 0, 0, 0);
#else
    return sc(__NR_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}

/* -- startContainer hooks -------------------------------------------------
 * The sealed memfd holds NUL-terminated strings:
 *   <state prefix> <pid or ""> <state suffix>
 * then per hook: <timeout secs or ""> <path> <nargs> <args...> <nenv> <env...>
 * The state on the hook's stdin is prefix + pid + suffix, where pid is the
 * given one, or else this process's pid as its own pid namespace sees it
 * (the spec's pid for hooks run in the container namespace; runc's
 * getpid()). Failures in runc HEAD's words (pyrunc/hooks.py says which):
 * the hook's stdout and stderr are captured in memfds and quoted. */
static unsigned char hookbuf[256 * 1024];
static char *hookptr[8192];
static char hookout[16 * 1024];

struct ktimespec { long sec, nsec; };

static void hook_failed_start(int idx)
{
    char buf[24];
    put(2, "error running startContainer hook #");
    sc(__NR_write, 2, (long)buf, fmt_uint(buf, idx), 0, 0);
    put(2, ": ");
}

static int hook_failed(int idx, const char *path, const char *why, long num)
{
    char buf[24];
    hook_failed_start(idx);
    put(2, path);
    put(2, why);
    if (num >= 0)
        sc(__NR_write, 2, (long)buf, fmt_uint(buf, num), 0, 0);
    put(2, "\n");
    return 1;
}

/* Go's names of signals 1-31 (strsignal's, lowercased) */
static const char *const signame[32] = {
    0, "hangup", "interrupt", "quit", "illegal instruction", "trace/breakpoint trap",
    "aborted", "bus error", "floating point exception", "killed", "user defined signal 1",
    "segmentation fault", "user defined signal 2", "broken pipe", "alarm clock",
    "terminated", "stack fault", "child exited", "continued", "stopped (signal)",
    "stopped", "stopped (tty input)", "stopped (tty output)", "urgent I/O condition",
    "CPU time limit exceeded", "file size limit exceeded", "virtual timer expired",
    "profiling timer expired", "window changed", "I/O possible", "power failure",
    "bad system call" };

/* what the hook wrote to the memfd fd (its first bytes) */
static void put_captured(long fd)
{
    long n = sc(__NR_pread64, fd, (long)hookout, sizeof hookout, 0, 0);
    if (n > 0)
        sc(__NR_write, 2, (long)hookout, n, 0, 0);
}

/* "exit status 3, stdout: ..., stderr: ..." or "signal: killed, ..." */
static int hook_ended_badly(int idx, int status, long out, long err)
{
    char buf[24];
    int sig = status & 0x7f;
    hook_failed_start(idx);
    if (sig) {
        put(2, "signal: ");
        if (sig < 32) {
            put(2, signame[sig]);
        } else {
            put(2, "signal ");
            sc(__NR_write, 2, (long)buf, fmt_uint(buf, sig), 0, 0);
        }
        if (status & 0x80)
            put(2, " (core dumped)");
    } else {
        put(2, "exit status ");
        sc(__NR_write, 2, (long)buf, fmt_uint(buf, (status >> 8) & 0xff), 0, 0);
    }
    put(2, ", stdout: ");
    put_captured(out);
    put(2, ", stderr: ");
    put_captured(err);
    put(2, "\n");
    return 1;
}

static int hook_not_started(int idx, const char *path, long err)
{
    const char *msg = exec_strerror(err);
    hook_failed_start(idx);
    put(2, "fork/exec ");
    put(2, path);
    put(2, ": ");
    if (msg) {
        put(2, msg);
    } else {
        put(2, "errno ");
        write_errno(2, err);
    }
    put(2, "\n");
    return 1;
}

static void close_fds(long a, long b, long c, long d)
{
    long fds[4] = { a, b, c, d };
    for (int i = 0; i < 4; i++)
        if (fds[i] >= 0)
            sc(__NR_close, fds[i], 0, 0, 0, 0);
}

static int run_one_hook(int idx, long st, long timeout, char *path, char **args, char **env)
{
    long out = sc(__NR_memfd_create, (long)"pyrunc-hook-stdout", 1 /* CLOEXEC */, 0, 0, 0);
    long err = sc(__NR_memfd_create, (long)"pyrunc-hook-stderr", 1 /* CLOEXEC */, 0, 0, 0);
    int ep[2] = { -1, -1 }; /* the child's exec errno, if it fails */
    long r = sc(__NR_pipe2, (long)ep, 02000000 /* O_CLOEXEC */, 0, 0, 0);
    if (out < 0 || err < 0 || r < 0) {
        close_fds(out, err, ep[0], ep[1]);
        return hook_failed(idx, path, ": memfd_create/pipe2: errno ", -(out < 0 ? out : err < 0 ? err : r));
    }
    sc(__NR_lseek, st, 0, 0 /* SEEK_SET */, 0, 0);
    long pid = do_fork();
    if (pid < 0) {
        close_fds(out, err, ep[0], ep[1]);
        return hook_not_started(idx, path, pid);
    }
    if (pid == 0) {
        sc(__NR_dup3, st, 0, 0, 0, 0);
        sc(__NR_dup3, out, 1, 0, 0, 0);
        sc(__NR_dup3, err, 2, 0, 0, 0);
        if (ep[1] != 3)
            sc(__NR_dup3, ep[1], 3, 02000000 /* O_CLOEXEC */, 0, 0);
        sc(436 /* close_range */, 4, ~0UL, 0, 0, 0);
        long e = sc(__NR_execve, (long)path, (long)args, (long)env, 0, 0);
        int code = (int)-e;
        sc(__NR_write, 3, (long)&code, sizeof code, 0, 0);
        sc(__NR_exit_group, 127, 0, 0, 0, 0);
    }
    sc(__NR_close, ep[1], 0, 0, 0, 0);
    int status = 0;
    if (timeout > 0) {
        long pfd = sc(434 /* pidfd_open */, pid, 0, 0, 0, 0);
        struct { int fd; short events, revents; } pfds = { (int)pfd, 1 /* POLLIN */, 0 };
        struct ktimespec ts = { timeout, 0 };
        long rr = 0;
        if (pfd >= 0) {
            do
                rr = sc(__NR_ppoll, (long)&pfds, 1, (long)&ts, 0, 8);
            while (rr == -4);
            sc(__NR_close, pfd, 0, 0, 0, 0);
        } else { /* no pidfd (an old kernel, a filter): poll */
            struct ktimespec tick = { 0, 10000000 };
            for (long ms = 0; ms < timeout * 1000; ms += 10) {
                if (sc(__NR_wait4, pid, (long)&status, 1 /* WNOHANG */, 0, 0) == pid)
                    goto reaped;
                sc(__NR_nanosleep, (long)&tick, 0, 0, 0, 0);
            }
            rr = 0;
        }
        if (rr == 0) {
            sc(__NR_kill, pid, 9, 0, 0, 0);
            sc(__NR_wait4, pid, (long)&status, 0, 0, 0);
            close_fds(out, err, ep[0], -1);
            hook_failed_start(idx);
            put(2, "hook ran past specified timeout of ");
            char buf[24];
            sc(__NR_write, 2, (long)buf, fmt_uint(buf, timeout), 0, 0);
            put(2, ".0s\n");
            return 1;
        }
    }
    while (sc(__NR_wait4, pid, (long)&status, 0, 0, 0) == -4)
        ;
reaped:;
    int code = 0;
    int failed = 0;
    if (sc(__NR_read, ep[0], (long)&code, sizeof code, 0, 0) == sizeof code)
        failed = hook_not_started(idx, path, -code);
    else if (status & 0xffff)
        failed = hook_ended_badly(idx, status, out, err);
    close_fds(out, err, ep[0], -1);
    return failed;
}

static int run_hooks(long len)
{
    char *p = (char *)hookbuf, *end = (char *)hookbuf + len;
    char *f[3];
    for (int i = 0; i < 3; i++) {
        if (p >= end) return hook_failed(0, "", ": malformed hook list", -1);
        f[i] = p;
        p += slen(p) + 1;
    }
    long st = sc(__NR_memfd_create, (long)"pyrunc-hook-state", 1 /* CLOEXEC */, 0, 0, 0);
    if (st < 0)
        return hook_failed(0, "", ": memfd_create: errno ", -st);
    char pidbuf[24];
    int pn = *f[1] ? (int)slen(f[1]) : fmt_uint(pidbuf, sc(__NR_getpid, 0, 0, 0, 0, 0));
    sc(__NR_write, st, (long)f[0], slen(f[0]), 0, 0);
    sc(__NR_write, st, (long)(*f[1] ? f[1] : pidbuf), pn, 0, 0);
    sc(__NR_write, st, (long)f[2], slen(f[2]), 0, 0);
    for (int idx = 0; p < end; idx++) {
        long timeout = parse_int(p); p += slen(p) + 1;
        char *path = p; p += slen(p) + 1;
        long nargs = parse_int(p); p += slen(p) + 1;
        if (nargs < 0 || nargs > 4000) return hook_failed(idx, path, ": too many args", -1);
        char **args = hookptr;
        for (long i = 0; i < nargs && p < end; i++) { args[i] = p; p += slen(p) + 1; }
        args[nargs] = 0;
        long nenv = parse_int(p); p += slen(p) + 1;
        if (nenv < 0 || nenv > 4000) return hook_failed(idx, path, ": too many env", -1);
        char **env = hookptr + nargs + 1;
        for (long i = 0; i < nenv && p < end; i++) { env[i] = p; p += slen(p) + 1; }
        env[nenv] = 0;
        if (p > end) return hook_failed(idx, path, ": malformed hook list", -1);
        if (run_one_hook(idx, st, timeout, path, args, env))
            return 1;
    }
    sc(__NR_close, st, 0, 0, 0, 0);
    return 0;
}

/* BPF programs are at most 4096 instructions of 8 bytes */
static unsigned char bpf[4096 * 8 + 8]; /* (+8: a full filter is not EFBIG) */

struct sock_fprog_ { unsigned short len; void *filter; };

int main_c(long argc, char **argv, char **envp)
{
    /* First of all, before reading anything: nothing of this process may
     * be reached through ptrace or /proc (its fds, its memory). */
    sc(__NR_prctl, 4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0);
    if (argc < 6)
        return 2;
    const char *how = argv[1];
    const char *filt = argv[2];
    const char *opts = argv[3];
    long fifo = -1, report = -1, tty = -1, hooks = -1;
    long bpf_len = 0, bpf_flags = 0, hooks_len = 0;

    for (const char *o = opts; *o && *o != '-'; ) {
        long v = parse_int(o + 1);
        if (*o == 'F') report = v;
        else if (*o == 'T') tty = v;
        else if (*o == 'H') hooks = v;
        else return 2;
        while (*o && *o != ',') o++;
        if (*o == ',') o++;
    }
    if (filt[0] != '-') {
        long fd = parse_int(filt);
        const char *c = filt;
        while (*c && *c != ',') c++;
        if (*c == ',') bpf_flags = parse_int(c + 1);
        bpf_len = read_sealed(fd, bpf, sizeof bpf);
        if (bpf_len <= 0 || bpf_len % 8) {
            put(2, "pyrunc-init: cannot read the seccomp filter\n");
            return 126; /* a filter was asked for: never run without it */
        }
    }
    if (hooks >= 0) {
        hooks_len = read_sealed(hooks, hookbuf, sizeof hookbuf - 1);
        if (hooks_len < 0) {
            put(2, "pyrunc-init: cannot read the startContainer hooks\n");
            return 126;
        }
        hookbuf[hooks_len] = 0;
    }
    if (how[0] == 'f')
        fifo = parse_int(how + 1);

    if (report >= 0) {
        /* Born into the pid namespace the runtime joined for its children:
         * the parent tells the runtime our host pid, then lets us go on. */
        int p[2];
        long r = sc(__NR_pipe2, (long)p, O_CLOEXEC, 0, 0, 0);
        if (r < 0)
            return fail(report, "pipe2", r);
        long pid = do_fork();
        if (pid < 0)
            return fail(report, "fork", pid);
        if (pid > 0) {
            char msg[40] = "pid ";
            int n = 4 + fmt_uint(msg + 4, pid);
            msg[n++] = '\n';
            sc(__NR_write, report, (long)msg, n, 0, 0);
            sc(__NR_write, p[1], (long)&pid, sizeof pid, 0, 0);
            sc(__NR_exit_group, 0, 0, 0, 0, 0);
        }
        long got;
        while (sc(__NR_read, p[0], (long)&got, sizeof got, 0, 0) == -4)
            ;
        (void)got; /* a sync only: the runtime knows our pid before we go on */
        sc(__NR_close, p[0], 0, 0, 0, 0);
        sc(__NR_close, p[1], 0, 0, 0, 0);
    }
    if (tty >= 0) {
        sc(__NR_setsid, 0, 0, 0, 0, 0);
        long r = sc(__NR_ioctl, tty, 0x540E /* TIOCSCTTY */, 0, 0, 0);
        if (r < 0)
            return fail(report, "making the pty the controlling terminal", r);
        for (int i = 0; i < 3; i++)
            sc(__NR_dup3, tty, i, 0, 0, 0);
        if (tty > 2)
            sc(__NR_close, tty, 0, 0, 0, 0);
    }
    long pathfd = -1, fdir = -1;
    char frel[40];
    if (how[0] == 'p') {
        pathfd = parse_int(how + 1);
        long r = fifo_dir(pathfd, frel, &fdir);
        if (r < 0)
            return fail(report, "the container's /proc, to wait for start", r);
    }
    /* the runtime reads its channel to EOF: let go before waiting */
    if (report >= 0 && report != fifo)
        sc(__NR_close, report, 0, 0, 0, 0);

    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigact(sig, is_ignored_by_default(sig) ? 0 : (ul)on_signal);
    ul none = 0;
    sc(__NR_rt_sigprocmask, 2, (long)&none, 0, 8, 0);

    if (pathfd >= 0) {
        fifo = open_fifo_at(fdir, frel, pathfd);
        if (fdir >= 0)
            sc(__NR_close, fdir, 0, 0, 0, 0);
        sc(__NR_close, pathfd, 0, 0, 0, 0);
        if (fifo < 0)
            return fail(-1, "cannot open the exec fifo", fifo);
    } else if (fifo >= 0) {
        sc(__NR_fcntl, fifo, F_SETFD, FD_CLOEXEC, 0, 0);
    }
    if (fifo >= 0)
        sc(__NR_write, fifo, (long)"0", 1, 0, 0);
    /* The user's program starts with every signal at its default. */
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigact(sig, 0);
    if (bpf_len) {
        struct sock_fprog_ prog = { (unsigned short)(bpf_len / 8), bpf };
        long err = sc(__NR_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, bpf_flags, (long)&prog, 0, 0);
        if (err < 0) {
            if (fifo >= 0)
                write_errno(fifo, err);
            write_errno(2, err);
            return 127;
        }
    }
    /* startContainer hooks: after the start, with the seccomp filter in
     * force, as runc orders them (its filter is loaded before the exec
     * fifo is written, the hooks run after). A failure is the process's,
     * exit 255 (runc HEAD's init exits so). */
    if (hooks >= 0 && run_hooks(hooks_len))
        return 255;
    long err = sc(__NR_execve, (long)argv[4], (long)(argv + 5), (long)envp, 0, 0);
    /* As runc HEAD: the start already happened (its "0" is out; the
     * program was found when the container was made), so the process
     * just fails: the error on its stderr, exit status 255, which `run`
     * and `exec` then exit with. */
    exec_failed(argv[4], err);
    return 255;
}

#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n"
        " xor %rbp, %rbp\n mov (%rsp), %rdi\n lea 8(%rsp), %rsi\n"
        " lea 16(%rsp,%rdi,8), %rdx\n and $-16, %rsp\n call main_c\n"
        " mov %eax, %edi\n mov $231, %eax\n syscall\n");
#else
__asm__(".text\n.global _start\n_start:\n"
        " ldr x0, [sp]\n add x1, sp, #8\n add x2, x1, x0, lsl #3\n add x2, x2, #8\n"
        " bl main_c\n mov x8, #94\n svc 0\n");
#endif
