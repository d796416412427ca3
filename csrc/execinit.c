/* pyrunc's last hop before the user's program.
 *
 * The Python init execs this tiny static binary from a sealed memfd once the
 * container is set up, so that while the container waits in "created" and
 * at the moment the user's program is exec'd, /proc/<pid>/exe is a sealed
 * copy of this file, never the host's Python interpreter (CVE-2019-5736).
 * No libc: it is a few kilobytes, copied into a memfd per container.
 *
 *   argv: execinit <how> <seccomp> <path> <argv0> [args...]   envp: the user's env
 *
 * <how> says how to wait for `pyrunc start`:
 *   p<N>  fd N is an O_PATH fd of the exec fifo: block opening
 *         /proc/self/fd/N for writing until `start` opens it for reading
 *   f<N>  fd N is the fifo already open for writing (the Python init
 *         waited itself, to run startContainer hooks)
 *   -     do not wait (`run` without a fifo)
 * <seccomp> is "-" or "<fd>,<flags>": fd holds a BPF program (struct
 * sock_filter[]) that is loaded with seccomp(2) after everything else, so
 * the only syscall the filter must allow is execve.
 * Then it writes "0" and execs <path>. The fifo is close-on-exec, so
 * `start` reads EOF exactly when the exec happened; on failure it reads
 * the errno after the "0".
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

static void write_errno(int fd, long err)
{
    char buf[16];
    int i = sizeof buf;
    err = -err;
    do { buf[--i] = '0' + err % 10; err /= 10; } while (err && i > 1);
    sc(__NR_write, fd, (long)(buf + i), sizeof buf - i, 0, 0);
}

/* BPF programs are at most 4096 instructions of 8 bytes */
static unsigned char bpf[4096 * 8];

struct sock_fprog_ { unsigned short len; void *filter; };

int main_c(long argc, char **argv, char **envp)
{
    if (argc < 5)
        return 2;
    const char *how = argv[1];
    const char *filt = argv[2];
    long fifo = -1;
    long bpf_len = 0, bpf_flags = 0;

    if (filt[0] != '-') {
        long fd = parse_int(filt);
        const char *c = filt;
        while (*c && *c != ',') c++;
        if (*c == ',') bpf_flags = parse_int(c + 1);
        for (;;) {
            long n = sc(__NR_read, fd, (long)(bpf + bpf_len), sizeof bpf - bpf_len, 0, 0);
            if (n == -4) continue;
            if (n < 0) {
                write_errno(2, n);
                return 126;
            }
            if (n == 0) break;
            bpf_len += n;
        }
        sc(__NR_close, fd, 0, 0, 0, 0);
        if (bpf_len == 0 || bpf_len % 8)
            return 126; /* a filter was asked for: never run without it */
    }

    /* nothing of this process may be reached through /proc while it waits */
    sc(__NR_prctl, 4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0);
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigact(sig, is_ignored_by_default(sig) ? 0 : (ul)on_signal);
    ul none = 0;
    sc(__NR_rt_sigprocmask, 2, (long)&none, 0, 8, 0);

    if (how[0] == 'p') {
        long pathfd = parse_int(how + 1);
        char path[32] = "/proc/self/fd/";
        int n = 14;
        char digits[12];
        int k = 0;
        do { digits[k++] = '0' + pathfd % 10; pathfd /= 10; } while (pathfd && k < 11);
        while (k) path[n++] = digits[--k];
        path[n] = 0;
        do
            fifo = sc(__NR_openat, -100 /* AT_FDCWD */, (long)path, O_WRONLY | O_CLOEXEC, 0, 0);
        while (fifo == -4 /* EINTR */);
        sc(__NR_close, parse_int(how + 1), 0, 0, 0, 0);
        if (fifo < 0) {
            write_errno(2, fifo);
            return 125;
        }
    } else if (how[0] == 'f') {
        fifo = parse_int(how + 1);
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
    long err = sc(__NR_execve, (long)argv[3], (long)(argv + 4), (long)envp, 0, 0);
    if (fifo >= 0)
        write_errno(fifo, err);
    write_errno(2, err);
    return 127;
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
