"""`start` and `delete` of an existing container (runtime-spec
"Operations"), and the clean-up a failed create shares with delete.

Apart from container.py (create's machinery, a 47 KB .pyc) and without
`os` (posix and fspath.py instead): start and delete run as processes of
their own, each paying only the interpreter and what it uses. log.py is
imported only when something is logged: no logging was configured when
it is not loaded yet (cli.main loads it for --log, --debug, PYRUNC_TRACE),
so debug and trace lines are then nothing to write.
"""
import posix
import sys
import time

from . import errors, state

# (errors.X, looked up when raised or caught: a `from .errors import X`
# makes all ten error classes, ~1.2M instructions, in every start and
# delete that succeeds; see errors.py)


# (the bound of start's wait: state.init_timeout, create's too; create
# never imports this module)
init_timeout = state.init_timeout


def _log():
    """log.py when logging was configured (see the module's doc), else None."""
    return sys.modules.get("pyrunc.log")


def _trace(label):
    log = _log()
    if log is not None:
        log.trace(label)


def _debug(msg, *args):
    log = _log()
    if log is not None:
        log.debug(msg, *args)


def _warn(msg):
    from . import log
    log.warn(msg)


# -- start ------------------------------------------------------------------
def start(st):
    status = st.status()
    if status == "stopped":
        raise errors.WrongState("cannot start a container that has stopped")
    if status != "created":
        raise errors.WrongState(f"cannot start an already {status} container")
    fifo = st.dir + "/" + state.FIFO
    _trace("start: opening the exec fifo")
    err = _open_fifo_and_wait(st, fifo)
    _trace("start: the container's process was exec'd")
    try:
        posix.unlink(fifo)
    except FileNotFoundError:
        pass
    if err is not None:
        raise err if isinstance(err, errors.PyruncError) else errors.ContainerError(err)
    hs = st.d.get("hooks", {}).get("poststart")
    if hs:
        try:
            _run_saved_hooks(st, "poststart", hs, "running", warn=False)
        except errors.PyruncError:
            # runc HEAD (Container.postStart): a failed poststart hook fails
            # start and SIGKILLs the container (not the spec's warning)
            _kill_after_poststart(st)
            raise


def _kill_after_poststart(st):
    from .control import kill
    try:
        kill(st, 9)  # (cgroup-wide when the init shares a pid namespace)
    except errors.PyruncError as e:
        if str(e) != "container not running":
            _warn(f"kill after failed poststart: {e}")
    _wait_gone(st)


def _open_fifo_and_wait(st, fifo):
    """Release the init and wait until it has exec'd the user's program.

    Returns an error message, or None on success."""
    import select
    try:
        fd = posix.open(fifo, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except FileNotFoundError:
        return errors.WrongState("cannot start an already running container")
    limit = init_timeout()
    deadline = time.monotonic() + limit
    try:
        p = select.poll()
        p.register(fd, select.POLLIN | select.POLLHUP)
        data = b""
        while True:
            ev = p.poll(100)
            if not ev:
                if not st.init_alive():
                    return "container init exited before start"
                if not data and time.monotonic() > deadline:
                    # (after its "0", the helper runs startContainer hooks,
                    # bounded by their own timeouts, then execs). The fifo
                    # stays: the container is still `created`
                    raise errors.ContainerError(f"timed out after {limit:g}s waiting for the "
                                         "container's init to take the start from the "
                                         "exec fifo")
                continue
            chunk = posix.read(fd, 256)
            if chunk:
                data += chunk
                continue
            if ev[0][1] & select.POLLHUP:
                break
        if data == b"0":
            return None
        if data.startswith(b"0"):
            errno = int(data[1:] or b"0")
            return errors.ContainerError(f"exec failed: {posix.strerror(errno).lower()}" if errno
                                  else "exec failed", error_class="process.exec-failed",
                                  errno=errno or None)
        return "container init exited before start"
    finally:
        posix.close(fd)


def _run_saved_hooks(st, kind, hook_dicts, status, warn):
    """warn: True (log.warn), False (the first failure raises), or a
    function each failure is passed to."""
    from . import config, hooks
    hs = [config.Hook(h) for h in hook_dicts]
    hooks.run(kind, hs, st.hook_state(status),
              warn=_warn if warn is True else warn or None)


# -- delete -----------------------------------------------------------------
def delete(st, force=False):
    status = st.status()
    cg = None
    if status != "stopped":
        if not force:
            raise errors.WrongState(f"cannot delete container {st.id} that is not stopped: "
                                    f"{status}")
        if st.pid > 0:
            from .control import signal_init
            if signal_init(st, 9):
                _debug("delete: killed the container's init (pid %d)", st.pid)
            # (its manager made while the kernel tears the init down)
            cg = _cgroup(st)
            if status == "paused":  # frozen tasks only die once thawed
                try:
                    cg.freeze(False)
                except OSError as e:
                    _warn(f"delete: {e.strerror or e}")
            _wait_gone(st)
    destroy(st, cg)


def _cgroup(st):
    from . import cgroups
    return cgroups.from_state(st.d.get("cgroups", {}))


def destroy(st, cg=None):
    """Remove the container and everything it holds (cg: its cgroup
    manager, when the caller has made it already)."""
    if cg is None:
        cg = _cgroup(st)
    log = _log()
    try:
        # the container's cgroup holds only its processes (create refused a
        # cgroup that was not empty); kill_all refuses one that is not its own
        left = cg.pids() if log is not None and log.is_debug() else ()
        cg.kill_all()
        if left:
            _debug("delete: killed %d process(es) of the container's cgroup: %s",
                   len(left), " ".join(map(str, left)))
    except (OSError, errors.PyruncError) as e:
        _warn(f"delete: {getattr(e, 'strerror', None) or e}")
    for d in cg.remove() or ():
        _debug("delete: removed cgroup %s", d)
    if st.d.get("added_mounts") and log is not None:
        from . import livemounts  # (a debug line: how many went with the mount namespace)
        livemounts.log_at_delete(st)
    hs = st.d.get("hooks", {}).get("poststop")
    failed = []
    if hs:
        # every one runs (the spec); the container goes all the same, and
        # the first failure is then the command's error (runc HEAD:
        # destroy() returns it after removing the state dir)
        _run_saved_hooks(st, "poststop", hs, "stopped", warn=failed.append)
    _remove_host_mounts(st)
    state.remove_dir(st.dir)
    _debug("delete: removed state dir %s", st.dir)
    for msg in failed[1:]:
        _warn(msg)
    if failed:
        from .hooks import HookError
        raise HookError(failed[0])


WAIT_GONE_TIMEOUT = 5.0  # seconds the init may take to die of a SIGKILL


def _wait_gone(st, timeout=WAIT_GONE_TIMEOUT):
    """Wait, at most `timeout` seconds, until the SIGKILLed init has exited
    (reaped here when it is our child: `run`). On its pidfd: woken by its
    exit, no polling. True once gone; a warning naming it, and False, when
    it outlived the wait."""
    pid = st.pid
    if pid <= 0:
        return True
    try:
        fd = posix.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:  # (no pidfd_open: before Linux 5.3, or under valgrind)
        return _poll_gone(st, timeout)
    try:
        if st.init_alive():  # (else exited, or the pid is someone else's now)
            import select
            p = select.poll()
            p.register(fd, select.POLLIN)  # (readable once it has exited)
            if not p.poll(int(timeout * 1000)):
                _warn(f"timed out after {timeout:g}s waiting for the container's init "
                      f"(pid {pid}) to exit")
                return False
        try:  # our child (`run`): its exit status collected, through the pidfd
            posix.waitid(posix.P_PIDFD, fd, posix.WEXITED | posix.WNOHANG)
        except OSError:  # not our child (ECHILD); Linux 5.3 has no P_PIDFD
            pass
        return True
    finally:
        posix.close(fd)


def _poll_gone(st, timeout):
    """_wait_gone without a pidfd: /proc/<pid>/stat looked at every 2 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not st.init_alive():  # gone, a zombie, or the pid reused
            _reap(st.pid)
            return True
        time.sleep(0.002)
    _warn(f"timed out after {timeout:g}s waiting for the container's init "
          f"(pid {st.pid}) to exit")
    return False


def _reap(pid):
    """Collect the init's exit status when it is our child (`run`)."""
    try:
        posix.waitpid(pid, posix.WNOHANG)
    except ChildProcessError:
        pass


def _remove_host_mounts(st):
    """A container without a mount namespace: its mounts in the host's
    (hostmounts.py), once its processes are gone."""
    rec = st.d.get("host_mounts")
    if rec:
        from . import hostmounts
        try:
            hostmounts.remove(rec, _debug)
        except OSError as e:
            _warn(f"delete: unmounting {rec.get('path')}: {e.strerror}")
