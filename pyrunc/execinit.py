"""The hand-over from the Python init to the user's program.

The init (a fork of the Python interpreter) never execs the user's program
itself: it execs the static helper built from csrc/execinit.c out of a
sealed memfd. From then on /proc/<pid>/exe is that sealed copy, so neither
a `#!/proc/self/exe` program nor a process opening /proc/<init>/exe can
reach (and overwrite) the host's Python or any pyrunc file (CVE-2019-5736),
and no Python code runs in the container while it waits for `start`.
"""
import os

from . import capabilities, process
from . import syscalls as sc

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_execinit")
F_ADD_SEALS, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1033, 1, 2, 4, 8


def sealed_helper():
    """A memfd holding the helper, sealed against any write."""
    import fcntl
    with open(HELPER, "rb") as f:
        data = f.read()
    fd = os.memfd_create("pyrunc-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
    return fd


CAP_SYS_ADMIN = 21


def exec_process(proc, memfd, keep_fds, before_exec, where="process", seccomp=None,
                 host_pid=0):
    """Apply the process attributes, close what must not leak, exec.

    keep_fds: fds the user asked to pass on (--preserve-fds), which stay
    open; everything else above stdio is closed at the exec.
    before_exec() runs once the process is what the user asked for (user,
    capabilities, cwd, no_new_privs) and returns how the helper waits for
    `start`: ("p", fd) an O_PATH fd of the exec fifo, ("f", fd) the fifo
    already open for writing, or None.
    """
    caps = capabilities.Sets(proc.capabilities, f"{where}.capabilities") \
        if proc.capabilities is not None else None
    env = process.env_list(proc)
    process.set_rlimits(proc, where)
    process.set_sched_io_affinity(proc, where)
    # Everything above stdio closes at exec, but what the user passes on
    # and the fifo handle (the helper closes that one itself). Before the
    # seccomp filter: profiles need not allow close_range.
    sc.close_range(3, 0xFFFFFFFF, sc.CLOSE_RANGE_CLOEXEC)
    filt = "-"
    filt_fd = None
    if seccomp is not None:
        prog, flags, listener = seccomp
        # Last of all, in the helper, when the process may still load a filter
        # then (no_new_privs, or CAP_SYS_ADMIN kept); otherwise now, while we
        # are still privileged, as runc does. With a notify listener, here:
        # the notify fd goes to the agent at once, before any notified call.
        if listener is not None:
            from .seccomp import SECCOMP_FILTER_FLAG_NEW_LISTENER
            notify_fd = sc.seccomp_load(flags | SECCOMP_FILTER_FLAG_NEW_LISTENER, prog)
            listener.send(notify_fd, host_pid)
        elif proc.no_new_privileges or caps is None or caps.effective & (1 << CAP_SYS_ADMIN):
            fd = os.memfd_create("pyrunc-seccomp", 0)
            os.write(fd, prog)
            os.lseek(fd, 0, 0)
            filt = f"{fd},{flags}"
            filt_fd = fd
        else:
            sc.seccomp_load(flags, prog)
    process.set_user(proc, caps, where)
    process.chdir(proc.cwd)
    path = process.lookup(proc.args[0], env)
    if proc.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    # the affinity the program starts with (its cgroup's cpuset permitting)
    process.set_affinity(proc.cpu_affinity[1], f"{where}.execCPUAffinity.final")
    fifo_how = before_exec()
    for fd in keep_fds:
        os.set_inheritable(fd, True)
    if filt_fd is not None:
        os.set_inheritable(filt_fd, True)  # the helper reads and closes it
    how = "-"
    if fifo_how is not None:
        os.set_inheritable(fifo_how[1], True)
        how = f"{fifo_how[0]}{fifo_how[1]}"
    os.execve(memfd, ["pyrunc-init", how, filt, path] + list(proc.args), _envdict(env))


def _envdict(env):
    out = {}
    for e in env:
        k, _, v = e.partition("=")
        out[k] = v
    return out
