/*
 * pyrunc's launcher: the `pyrunc` an installed wheel puts in <prefix>/bin.
 *
 * It only execs the interpreter with -I (no PYTHON* variables, no user
 * site, not the caller's directory on sys.path: nothing from the caller's
 * environment is imported by a process running as root) and -S (no
 * site.py), and the package's site-packages as an argument. A binary is
 * never rewritten by an installer (pip replaces a "#!python ..." line
 * whole, flags included: pypa/pip#10661), and it costs no /bin/sh start
 * and no re-read of a script by Python (what bin/pyrunc, the sh launcher,
 * did).
 *
 * Where things are, from the launcher's own path (/proc/self/exe: the
 * real file, also when pipx links it from ~/.local/bin):
 *   <prefix>/bin/pyrunc        this
 *   <prefix>/bin/python3       the venv's interpreter (pip, pipx), else
 *   PY_FALLBACK                the interpreter the wheel was built for
 *   <prefix>/lib/python<PY_VERSION>/site-packages   the package
 * Outside a venv (Debian's dist-packages) the Python side falls back to
 * site.py's paths (BOOT below).
 *
 * Static, no libc: a few syscalls. Built by setup.py (BuildScripts) with
 * -DPY_VERSION="3.11" -DPY_FALLBACK="/usr/bin/python3.11".
 */
#include <asm/unistd.h>

#ifndef PY_VERSION
#error "PY_VERSION (e.g. \"3.11\") is given by setup.py"
#endif
#ifndef PY_FALLBACK
#error "PY_FALLBACK (an absolute path) is given by setup.py"
#endif

#if defined(__x86_64__)
static long sc(long n, long a, long b, long c, long d)
{
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}
#define SYS_readlinkat_ __NR_readlinkat
#define SYS_faccessat_ __NR_faccessat
#elif defined(__aarch64__)
static long sc(long n, long a, long b, long c, long d)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}
#define SYS_readlinkat_ __NR_readlinkat
#define SYS_faccessat_ __NR_faccessat
#else
#error "launcher: unsupported architecture"
#endif

#define AT_FDCWD_ -100
#define X_OK_ 1
#define PATH_ 4096

/* The Python side: the gc off (a command this short-lived has no cycles
 * worth a collection; run/exec waiting and events turn it back on), the
 * site-packages the launcher found (argv[1]; "" when it found none, never
 * appended: "" would be the caller's directory) after the stdlib, and
 * site.py's paths only when the package is not there. Once main() returns,
 * stdout and stderr are flushed and the process ends with os._exit: the
 * interpreter's teardown (finalising every module and object, ~15% of the
 * instructions of a `state`) does nothing pyrunc needs (no threads, no
 * atexit handlers or finalizers; files are closed where they are used). If
 * the flush fails, sys.exit reports it as usual. (posix._exit: `os` is
 * not imported by the short commands, and would cost ~4M instructions.) */
static const char BOOT[] =
    "import gc,sys\n"
    "gc.disable()\n"
    "p=sys.argv.pop(1)\n"
    "if p:sys.path.append(p)\n"
    "try:\n"
    " from pyrunc.cli import main\n"
    "except ImportError:\n"
    " sys.path.pop()\n"
    " import site\n"
    " site.main()\n"
    " from pyrunc.cli import main\n"
    "r=main()\n"
    "try:\n"
    " sys.stdout.flush()\n"
    " sys.stderr.flush()\n"
    "except BaseException:\n"
    " sys.exit(r)\n"
    "import posix\n"
    "posix._exit(r or 0)\n";

static char self[PATH_], py[PATH_], site[PATH_];

static long len(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    return n;
}

/* dst = a + b, or 0 when it does not fit */
static int join(char *dst, const char *a, long na, const char *b)
{
    long nb = len(b), i;
    if (na + nb >= PATH_)
        return 0;
    for (i = 0; i < na; i++)
        dst[i] = a[i];
    for (i = 0; i <= nb; i++)
        dst[na + i] = b[i];
    return 1;
}

static long last_slash(const char *s, long n)
{
    while (n > 0 && s[n - 1] != '/')
        n--;
    return n > 0 ? n - 1 : -1;
}

static void say(const char *s)
{
    sc(__NR_write, 2, (long)s, len(s), 0);
}

int main_c(long argc, char **argv, char **envp)
{
    long n = sc(SYS_readlinkat_, AT_FDCWD_, (long)"/proc/self/exe", (long)self,
                PATH_ - 1);
    long bin, prefix, i;
    const char *interp = PY_FALLBACK;

    if (n <= 0) { /* no /proc: the path we were called by */
        n = argv[0] ? len(argv[0]) : 0;
        if (n >= PATH_)
            n = 0;
        for (i = 0; i < n; i++)
            self[i] = argv[0][i];
    }
    self[n] = 0;
    bin = last_slash(self, n);
    prefix = bin > 0 ? last_slash(self, bin) : -1;
    if (bin >= 0 && join(py, self, bin, "/python3") &&
        sc(SYS_faccessat_, AT_FDCWD_, (long)py, X_OK_, 0) == 0)
        interp = py;
    if (prefix < 0 || !join(site, self, prefix, "/lib/python" PY_VERSION "/site-packages"))
        site[0] = 0;

    /* interp -I -S -c BOOT site args... */
    char *nargv[argc + 6];
    nargv[0] = (char *)interp;
    nargv[1] = "-I";
    nargv[2] = "-S";
    nargv[3] = "-c";
    nargv[4] = (char *)BOOT;
    nargv[5] = site;
    for (i = 1; i < argc; i++)
        nargv[5 + i] = argv[i];
    nargv[5 + argc] = 0;
    sc(__NR_execve, (long)interp, (long)nargv, (long)envp, 0);
    /* A caller that cannot reach the venv's interpreter (a non-root user
     * when it lives under a 0700 /root, say): the same Python version at
     * fixed system paths, never a PATH lookup (we may run as root). The
     * package is still found through `site`: its C modules are built for
     * this very version. */
    static const char *const others[] = {PY_FALLBACK, "/usr/bin/python" PY_VERSION,
                                         "/usr/local/bin/python" PY_VERSION};
    for (i = 0; i < (long)(sizeof(others) / sizeof(others[0])); i++) {
        if (others[i] == interp)
            continue;
        nargv[0] = (char *)others[i];
        sc(__NR_execve, (long)others[i], (long)nargv, (long)envp, 0);
    }
    say("pyrunc: cannot execute ");
    say(interp);
    say("\n");
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
