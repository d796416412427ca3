"""Starting a process that will become the container's (the init of a
create, the process of an exec), one way for both, and waiting for it.

Both commands fork a Python child straight into the container's cgroup
(fork_into), talk to it over a sync.Channel pair (channels), keep track of
what they started so a failure kills exactly that (Procs, through pidfds),
and, when they wait for the container's process, forward signals and relay
its terminal (wait_forwarding). What the child does differs: init.py for a
create, execute._exec_child for an exec; both end in the sealed helper
(execinit.py).
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import log
from .errors import ConfigError


def channels():
    """(ours, the child's): sync.Channel over two pipes."""
    from . import sync
    return sync.pair()


def seal_imports():
    """Called just before this process's root becomes the container's
    (pivot_root, chroot, setns into its mount namespace): from then on a
    module not imported yet fails to import instead of being looked for at
    a path that now resolves in the container's tree, where the image may
    have put a module at the host's path of pyrunc or of the stdlib. What
    must run there is imported before (preload); built-in and frozen
    modules, which are no files, stay importable.
    (sys.path alone is not enough: pyrunc's submodules are found through
    the package's absolute __path__, by its own finder too.)"""
    import sys
    sys.meta_path[:] = [f for f in sys.meta_path
                        if getattr(f, "__name__", None) in ("BuiltinImporter", "FrozenImporter")]
    sys.path.clear()
    sys.path_importer_cache.clear()


def fork_into(cg, born_flags=0):
    """Fork: in one clone3, straight into the cgroup v2 directory of `cg`
    and, with born_flags (namespaces.birth_flags), into new namespaces.
    Returns (pid, the born_flags that took effect).

    Without clone3 (an old kernel, or a seccomp profile around us that
    refuses it) the child joins its cgroup and namespaces itself, the slow
    way (born_flags 0)."""
    cgroup_dir = cg.unified_dir()
    if cgroup_dir is None and not born_flags:
        return os.fork(), 0
    from . import syscalls as sc
    fd = os.open(cgroup_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if cgroup_dir else -1
    if cgroup_dir:
        log.debug('using CLONE_INTO_CGROUP "%s"', cgroup_dir)  # (runc's words)
    try:
        return sc.clone3(born_flags, fd), born_flags
    except OSError as e:
        if e.errno in (38, 1):  # ENOSYS, EPERM
            log.debug("exec with CLONE_INTO_CGROUP failed: %s; retrying without", e.strerror)
            cg.unified_by_write = cgroup_dir is not None
            return os.fork(), 0
        raise ConfigError("linux.cgroupsPath", f"cannot start the process in {cgroup_dir}: "
                          f"{e.strerror}") from None
    finally:
        if fd >= 0:
            os.close(fd)


class Procs:
    """The processes a create has made, for _abort: our direct child until
    reaped, and the init through a pidfd (it may not be our child, and a
    pidfd cannot hit a process that reused its pid)."""

    __slots__ = ("child", "child_reaped", "init_pidfd")

    def __init__(self):
        self.child = 0
        self.child_reaped = False
        self.init_pidfd = -1

    def reap_child(self):
        if self.child and not self.child_reaped:
            reap(self.child)
            self.child_reaped = True

    def track_init(self, pid):
        if pid == self.child:
            return
        try:
            self.init_pidfd = os.pidfd_open(pid)
        except OSError:
            self.init_pidfd = -1

    def kill_all(self):
        import _signal
        if self.init_pidfd >= 0:
            try:
                _signal.pidfd_send_signal(self.init_pidfd, 9)
            except OSError:
                pass
            wait_pidfd(self.init_pidfd)
        if self.child and not self.child_reaped:
            try:
                os.kill(self.child, 9)
            except ProcessLookupError:
                pass
            self.reap_child()

    def close(self):
        if self.init_pidfd >= 0:
            os.close(self.init_pidfd)
            self.init_pidfd = -1


def wait_pidfd(pidfd, timeout=5.0):
    import select
    p = select.poll()
    p.register(pidfd, select.POLLIN)
    p.poll(int(timeout * 1000))


def reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def wait_forwarding(pid, master=None, raw=False):
    """Wait for the container's init, forwarding the signals we get (and
    relaying its terminal when we hold the master). Its exit status as a
    shell gives it, or with `raw` the wait status itself (255: not ours
    to wait for)."""
    import gc
    # (off for the short commands: bin/pyrunc) this may run for days. The
    # objects made so far (the modules, the state) live until we exit:
    # frozen, the first collection does not walk them all (~1 ms, ~150
    # copy-on-write faults of pages shared with the child at the fork)
    gc.freeze()
    gc.enable()
    import _signal

    def forward(sig, frame):
        if log._debug:
            log.debug("forwarding signal %d (%s) to %d", sig, _signame(sig), pid)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    for s in (1, 2, 3, 10, 12, 15):
        _signal.signal(s, forward)
    reaped = []
    if master is not None:
        from . import console

        def exited():
            try:
                wpid, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not reparented to us yet
                return False
            if wpid == pid:
                reaped.append(status)
                return True
            return False
        try:
            console.relay(master, exited)
        finally:
            os.close(master)
    while not reaped:
        try:
            wpid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return None if raw else 255
        if wpid == pid:
            reaped.append(status)
    status = reaped[0]
    if raw:
        log.debug("process exited", pid=pid, status=status)
        return status
    status = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    log.debug("process exited", pid=pid, status=status)  # (runc's words and fields)
    return status


def _signame(sig):
    from .control import SIGNALS
    return next(("SIG" + n for n, v in SIGNALS.items() if v == sig), str(sig))
