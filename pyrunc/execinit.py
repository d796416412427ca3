"""The hand-over from the Python init to the user's program.

The init (a fork of the Python interpreter) never execs the user's program
itself: it execs the static helper built from csrc/execinit.c out of a
sealed memfd. From then on /proc/<pid>/exe is that sealed copy, so neither
a `#!/proc/self/exe` program nor a process opening /proc/<init>/exe can
reach (and overwrite) the host's Python or any pyrunc file (CVE-2019-5736),
and no Python code runs in the container while it waits for `start`.
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import capabilities, fspath, process
from . import syscalls as sc

HELPER = fspath.join(fspath.dirname(fspath.abspath(__file__)), "_execinit")
F_ADD_SEALS, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1033, 1, 2, 4, 8


def sealed_helper():
    """A memfd holding the helper, sealed against any write."""
    with open(HELPER, "rb") as f:
        return sealed_memfd("pyrunc-init", f.read(), os.MFD_CLOEXEC)


def sealed_memfd(name, data, flags=0):
    """A memfd holding data, sealed: what the helper reads (a filter, the
    hooks) cannot change between the runtime's checks and its use. The
    helper refuses an unsealed one."""
    import fcntl
    fd = os.memfd_create(name, flags | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def hooks_memfd(hooks, state, pid=None, default_env=()):
    """startContainer hooks for the helper, which runs them after `start`
    (no runtime Python process stays in the container to do it).

    Layout (NUL-terminated strings, see csrc/execinit.c): the state JSON
    split around its pid -- the given one, or, when pid is None, the pid
    the process running the hooks (the container's) has in its own pid
    namespace, as the spec asks for hooks run in the container namespace
    (runc: getpid()) --, then per hook: timeout, path, nargs, args...,
    nenv, env....
    default_env: the env of a hook that has none (runc gives such
    startContainer hooks the process's env, HOME included)."""
    from . import jsonlite
    # split at a pid placeholder no earlier field (ociVersion, id, status)
    # can contain
    prefix, _, suffix = jsonlite.dumps(dict(state, pid="\x01")).partition('"\\u0001"')
    parts = [prefix, "" if pid is None else str(pid), suffix]
    from .errors import ConfigError
    for i, h in enumerate(hooks):
        env = h.env or list(default_env)
        if len(h.args) > 4000 or len(env) > 4000:  # the helper's limits
            raise ConfigError(f"hooks.startContainer[{i}]", "more than 4000 args or env entries")
        parts += [str(h.timeout or ""), h.path, str(len(h.args)), *h.args,
                  str(len(env)), *env]
    data = b"".join(x.encode() + b"\0" for x in parts)
    if len(data) >= 256 * 1024:
        raise ConfigError("hooks.startContainer", "the hooks take more than 256 KiB")
    if any(b"\0" in x.encode() for x in parts):
        raise ConfigError("hooks.startContainer", "a NUL byte in a hook's path, args or env")
    return sealed_memfd("pyrunc-hooks", data)


CAP_SYS_ADMIN = 21


def exec_process(proc, memfd, keep_fds, before_exec, where="process", seccomp=None,
                 host_pid=0, fork_report=None, tty=None):
    """Apply the process attributes, close what must not leak, exec.

    keep_fds: fds the user asked to pass on (--preserve-fds), which stay
    open; everything else above stdio is closed at the exec.
    before_exec() runs once the process is what the user asked for (user,
    capabilities, cwd, no_new_privs) and returns how the helper waits for
    `start`: ("p", fd) an O_PATH fd of the exec fifo, ("f", fd) the fifo
    already open for writing, or None; a third item, when present, is the
    sealed memfd of startContainer hooks the helper runs after `start`.
    fork_report: the helper forks first (into the pid namespace this
    process joined for its children) and writes the new process's host pid
    there; tty: the pty slave the helper makes the controlling terminal of
    the process it forks.
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
            fd = sealed_memfd("pyrunc-seccomp", prog)
            filt = f"{fd},{flags}"
            filt_fd = fd
        else:
            sc.seccomp_load(flags, prog)
    cwd_done = process.chdir_early(proc.cwd)
    process.set_user(proc, caps, where)
    process.chdir(proc.cwd, cwd_done)
    path = process.lookup(proc.args[0], env)
    if proc.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    fifo_how = before_exec()
    for fd in keep_fds:
        os.set_inheritable(fd, True)
    if filt_fd is not None:
        os.set_inheritable(filt_fd, True)  # the helper reads and closes it
    how = "-"
    opts = []
    if fifo_how is not None:
        os.set_inheritable(fifo_how[1], True)
        how = f"{fifo_how[0]}{fifo_how[1]}"
        if len(fifo_how) > 2 and fifo_how[2] is not None:
            os.set_inheritable(fifo_how[2], True)
            opts.append(f"H{fifo_how[2]}")
    if fork_report is not None:
        os.set_inheritable(fork_report, True)
        opts.append(f"F{fork_report}")
    if tty is not None:
        os.set_inheritable(tty, True)
        opts.append(f"T{tty}")
    os.execve(memfd, ["pyrunc-init", how, filt, ",".join(opts) or "-", path] + list(proc.args),
              _envdict(env))


def _envdict(env):
    out = {}
    for e in env:
        k, _, v = e.partition("=")
        out[k] = v
    return out
