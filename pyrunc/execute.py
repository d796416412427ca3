"""`pyrunc exec`: a new process in a running container.

The process joins the container's namespaces (from /proc/<init>/ns, user
first, mount last) and cgroups, gets the process attributes of
process.json or of the container's process with the command line's
changes, and ends, like the init, in the sealed execinit helper (here
without waiting for anything). The exec'd process never runs Python code
of the host inside the container: the Python child is non-dumpable from
the fork to the hand-over.
"""
import posix as os  # (not os, ~4M instructions: os.X here are posix's own functions)

from . import launch, log, state, sync
from . import syscalls as sc
from .errors import ContainerError, InitError, InvalidArgument, WrongState

# setns order: user first (the rest are owned by it), mount last; each
# namespace's /proc/<pid>/ns name and CLONE_ flag (here, not namespaces.py:
# exec imports neither it nor init.py, ~1.7M instructions)
ORDER = (("user", "user", sc.CLONE_NEWUSER), ("ipc", "ipc", sc.CLONE_NEWIPC),
         ("uts", "uts", sc.CLONE_NEWUTS), ("network", "net", sc.CLONE_NEWNET),
         ("pid", "pid", sc.CLONE_NEWPID), ("time", "time", sc.CLONE_NEWTIME),
         ("cgroup", "cgroup", sc.CLONE_NEWCGROUP), ("mount", "mnt", sc.CLONE_NEWNS))


class ExecOptions:
    __slots__ = ("process_file", "args", "tty", "console_socket", "cwd", "env", "user",
                 "additional_gids", "caps", "no_new_privs", "detach", "pid_file",
                 "preserve_fds", "ignore_paused", "cgroup", "pidfd_socket")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


def build_process(st, o):
    """The process to run: process.json, or the container's with changes."""
    from . import config
    if o.process_file:
        proc = config.load_process(o.process_file)
    else:
        raw = dict(st.d.get("process") or {})
        if not o.args:
            raise InvalidArgument("exec: no command given (arguments or --process)")
        raw["args"] = list(o.args)
        raw["terminal"] = bool(o.tty)
        raw.pop("consoleSize", None)
        if o.env:
            raw["env"] = list(raw.get("env") or []) + list(o.env)
        if o.cwd:
            raw["cwd"] = o.cwd
        user = dict(raw.get("user") or {})

        def flag_id(text, flag, kind):
            # 4294967295 is (uid_t)-1, "leave unchanged" to setresuid: the
            # process would stay root (CVE-2024-40635 class); and no uint32
            # wrap-around (runc's uint32(4294967296) is 0)
            v = int(text)
            if not config.valid_id(v):
                raise InvalidArgument(f"{flag}: {v} is not a valid {kind} (0..{config.MAX_ID})")
            return v

        def digits(text):
            return text.isascii() and text.isdigit()

        if o.user:
            u, sep, g = o.user.partition(":")
            if not digits(u) or (sep and not digits(g)):
                raise InvalidArgument(f"invalid --user {o.user!r}: uid[:gid] as numbers expected")
            user["uid"] = flag_id(u, "--user", "uid")
            if sep:
                user["gid"] = flag_id(g, "--user", "gid")
        if o.additional_gids:
            if not all(digits(x) for x in o.additional_gids):
                raise InvalidArgument(f"invalid --additional-gids {o.additional_gids!r}")
            user["additionalGids"] = list(user.get("additionalGids") or []) + \
                [flag_id(x, "--additional-gids", "gid") for x in o.additional_gids]
        raw["user"] = user
        if o.caps:
            caps = {k: list(v) for k, v in (raw.get("capabilities") or {}).items()}
            # as runc: bounding, effective, permitted; ambient only where
            # inheritable already has it (never inheritable: CVE-2022-29162)
            for k in ("bounding", "effective", "permitted", "inheritable", "ambient"):
                caps.setdefault(k, [])
            for c in o.caps:
                for k in ("bounding", "effective", "permitted"):
                    if c not in caps[k]:
                        caps[k].append(c)
                if c in caps["inheritable"] and c not in caps["ambient"]:
                    caps["ambient"].append(c)
            raw["capabilities"] = caps
        if o.no_new_privs:
            raw["noNewPrivileges"] = True
        proc = config.Process(raw)
    if o.tty:
        proc.terminal = True
    # the container's linux.personality and linux.memoryPolicy (runc's
    # setns init applies them too)
    proc.personality = st.d.get("personality")
    mpol = st.d.get("memory_policy")
    proc.memory_policy = (mpol[0], set(mpol[1])) if mpol else None
    return proc


class Target:
    """The container's init, held by a pidfd: opened once, checked against
    the start time the state recorded, then everything (the namespaces
    too) goes through the pidfd, so a reused pid can never redirect an
    exec into another process's namespaces or the host's."""

    __slots__ = ("pidfd", "ns_flags", "root_fd")

    def __init__(self, st):
        self.pidfd = -1
        self.root_fd = None
        try:
            self.pidfd = os.pidfd_open(st.pid)
        except OSError:
            raise WrongState("cannot exec in a stopped container") from None
        try:
            if state.proc_start_time(st.pid) != st.d.get("start_time"):
                raise WrongState("cannot exec in a stopped container")
            self.ns_flags = _ns_flags(st.pid, set(st.d.get("namespaces") or ()))
            if st.d.get("host_mounts"):  # no mount namespace: the init's root
                from . import hostmounts
                self.root_fd = hostmounts.open_init_root(self.pidfd, st.pid)
            # the names above were read by pid: still the same process?
            import _signal
            try:
                _signal.pidfd_send_signal(self.pidfd, 0)
            except ProcessLookupError:
                raise WrongState("cannot exec in a stopped container") from None
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        if self.root_fd is not None:
            os.close(self.root_fd)
            self.root_fd = None

    def enter_root(self):
        """Without a mount namespace of its own the container is a chroot:
        the process enters it too (hostmounts.py)."""
        if self.root_fd is not None:
            from . import hostmounts
            hostmounts.enter_root_fd(self.root_fd)
            self.root_fd = None


def _ns_flags(pid, kinds):
    """setns flags for the init's namespaces that are not already ours
    (a container sharing the host's network, say)."""
    flags = 0
    for kind, name, flag in ORDER:
        if kind not in kinds:
            continue
        if os.readlink(f"/proc/{pid}/ns/{name}") != os.readlink(f"/proc/self/ns/{name}"):
            flags |= flag
    return flags


def run(root, cid, o):
    """Exec; returns the exit status to exit with."""
    from . import capabilities, execinit, process
    st, lock = state.load_locked(root, cid)
    try:
        status = st.status()
        if status == "stopped" or status == "creating":
            raise WrongState("cannot exec in a stopped container")
        if status == "paused" and not o.ignore_paused:
            raise WrongState("cannot exec in a paused container")
        proc = build_process(st, o)
        process.check_rlimits(proc)
        if proc.capabilities is not None:
            capabilities.check_grantable(capabilities.Sets(proc.capabilities))
        if st.d.get("host_mounts"):  # its root is a chroot: see hostmounts.drop_chroot
            from . import hostmounts
            hostmounts.drop_chroot(proc)
        if proc.terminal and not o.console_socket and o.detach:
            raise InvalidArgument("cannot allocate tty if runc will detach without setting "
                                  "console socket")
        from .cgroups import live  # (not a manager: cgroups/v1.py is create's)
        cg = live.Recorded(dict((st.d.get("cgroups") or {}).get("dirs") or {}))
        if o.cgroup:
            try:
                cg = cg.sub(o.cgroup)
            except ContainerError as e:  # a --cgroup naming no sub-cgroup of the container
                e.error_class = "usage"
                raise
        seccomp = None
        if st.d.get("seccomp"):
            from . import seccomp as scmp
            from . import fspath
            prog, flags = scmp.compile_bpf(st.d["seccomp"], fspath.join(root, ".seccomp-cache"))
            listener = None
            if scmp.uses_notify(st.d["seccomp"]):  # the agent hears of each exec too
                listener = scmp.Listener(st.d["seccomp"]["listenerPath"],
                                         st.d["seccomp"].get("listenerMetadata"),
                                         st.hook_state(st.status()))
            seccomp = (prog, flags, listener)
        target = Target(st)
        _preload(proc, log.is_debug(), sockets=seccomp is not None and seccomp[2] is not None)
        memfd = execinit.sealed_helper()
        console_fd = ours = None
        if proc.terminal:
            from . import console
            if o.console_socket:
                console_fd = console.connect(o.console_socket)
            else:
                import _socket
                a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
                ours, console_fd = a.detach(), b.detach()
        pidfd_sock = None
        if o.pidfd_socket:
            from . import pidfdsock
            pidfd_sock = pidfdsock.connect(o.pidfd_socket)
        if not o.detach or pidfd_sock is not None:
            # (with --pidfd-socket too: the process, a grandchild when it
            # forks into the pid namespace, stays ours to open until we exit)
            sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        parent, child = launch.channels()
        pid = _fork_with_affinity(cg, proc.cpu_affinity[0])
        if pid == 0:
            parent.close()
            lock.drop()
            if log._debug:  # its debug lines go to us, never to the process's stderr
                log.to_channel(child)
                log.debug("child process in init()")
            _child(child, proc, cg, target, memfd, console_fd, seccomp, o)
        child.close()
        os.close(memfd)
        if seccomp and seccomp[2]:
            os.close(seccomp[2].fd)
        target.close()
        if console_fd is not None:
            os.close(console_fd)
        # the lock only guarded the state read: never hold it while the new
        # process starts (in a paused container it waits for `resume`)
        lock.release()
        try:
            exec_pid = _drive(parent, pid,
                              bool(target.ns_flags & (sc.CLONE_NEWPID | sc.CLONE_NEWTIME)))
            log.debug("exec: the process started (pid %d)", exec_pid)
        except BaseException:
            if pidfd_sock is not None:
                os.close(pidfd_sock)
            raise
        parent.close()
    finally:
        lock.release()
    if pidfd_sock is not None:
        pidfdsock.send(pidfd_sock, exec_pid, pidfdsock.SETNS)
    if o.pid_file:
        from .pidfile import write_pid_file  # (not container.py: create's, 2M instructions)
        write_pid_file(o.pid_file, exec_pid)
    if o.detach:
        return 0
    master = None
    if ours is not None:
        from . import console
        try:
            master = console.recv_master(ours)
        finally:
            os.close(ours)
    return launch.wait_forwarding(exec_pid, master)


def _preload(proc, debug, sockets):
    """Import, before the fork, what the child will need and only that (it
    may not reach the host's Python files once in the container's mount
    namespace). Exec's part of init.preload, without init.py."""
    from . import capabilities, execinit, process  # noqa: F401
    capabilities.last_cap()  # the kernel's, kept for the child (never the container's /proc)
    # fcntl: execinit's seals (the child must never import from the
    # container's filesystem; process.lookup needs no `stat` module)
    import fcntl  # noqa: F401
    if proc.rlimits:
        import resource  # noqa: F401
    if proc.terminal:  # (console.open_pty checks the pty with `stat`)
        from . import console  # noqa: F401
        import stat  # noqa: F401
    if proc.terminal or sockets:  # fd passing: the pty master, the notify fd
        import _socket, struct  # noqa: F401,E401
    if debug:
        import traceback  # noqa: F401


def _fork_with_affinity(cg, initial):
    """The child, born into the container's v2 cgroup, on the CPUs of
    execCPUAffinity.initial: runc sets it before the process joins the
    container's cgroups. Ours is restored after the fork."""
    if initial is None:
        return launch.fork_into(cg)[0]
    from . import process
    ours = os.sched_getaffinity(0)
    process.set_affinity(initial, "process.execCPUAffinity.initial")
    try:
        pid = launch.fork_into(cg)[0]
    except BaseException:
        os.sched_setaffinity(0, ours)
        raise
    if pid:  # the parent only: the child keeps `initial`
        os.sched_setaffinity(0, ours)
    return pid


def _drive(chan, child, helper_forks=True):
    """Our side of the exec protocol (sync.py); returns the process's pid.
    A "pid" from the helper is taken only when it forks (helper_forks):
    otherwise the helper is a member of the container's pid namespace (the
    host's one, shared), where a process of the container could write to
    our pipe in the instants between the helper's execve and its first act
    (non-dumpable), to name a process of its choosing for --pid-file."""
    exec_pid = child
    while True:
        tag, payload = chan.recv()
        if tag == sync.LOG:
            log.relay(payload)
        elif tag == sync.PID:
            exec_pid = int(payload)
        elif tag == sync.READY:
            # then the helper's word: maybe "pid N\n" (it forked the
            # process), then "0" and EOF at the exec (or at the exit 255 of
            # a failed execve, as runc), "0<errno>" if the filter failed
            data = chan.drain()
            if helper_forks and data.startswith(sync.PID.encode() + b" "):
                line, _, data = data.partition(b"\n")
                exec_pid = int(line.split()[1])
                launch.reap(child)  # the helper's parent, gone at once
            if data == b"0":
                return exec_pid
            if data[:1] == b"0" and data[1:].isdigit():
                raise InitError(f"exec: {os.strerror(int(data[1:])).lower()}",
                                "process.exec-failed", int(data[1:]))
            if data.startswith(sync.ERROR.encode() + b" "):
                raise sync.error_from(data[6:].decode(errors="replace").strip())
            raise InitError("exec: the process exited before it started")
        elif tag == sync.ERROR:
            launch.reap(child)
            raise sync.error_from(payload)
        else:
            launch.reap(child)
            raise InitError("exec: the process exited before it started")


def _child(ch, proc, cg, target, memfd, console_fd, seccomp, o):
    sync.run_reporting(ch, lambda: _exec_child(ch, proc, cg, target, memfd, console_fd,
                                               seccomp, o), "exec", log.is_debug())


def _exec_child(ch, proc, cg, target, memfd, console_fd, seccomp, o):
    """Join the container and become its process. This Python process stays
    in the caller's pid namespace (setns(CLONE_NEWPID) only applies to
    children) and never forks: when the process must be born in the
    container's pid or time namespace, the sealed helper forks it, so no
    process running the host's interpreter is ever a member of the
    container's pid namespace (CVE-2019-5736 class)."""
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    from . import process
    sc.close_all_except({0, 1, 2, ch.rfd, ch.wfd, memfd, console_fd, target.pidfd, target.root_fd,
                         *range(3, 3 + (o.preserve_fds or 0)),
                         seccomp[2].fd if seccomp and seccomp[2] else None})
    cg.join_self()
    process.final_affinity(proc.cpu_affinity)  # (`initial`: see run)
    from .launch import seal_imports
    seal_imports()  # (what follows was imported before the fork)
    if target.ns_flags:
        try:
            sc.setns(target.pidfd, target.ns_flags)
        except OSError as e:
            raise OSError(e.errno, f"joining the container's namespaces: {e.strerror}") from None
    target.enter_root()
    target.close()
    if target.ns_flags & sc.CLONE_NEWUSER:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    helper_forks = bool(target.ns_flags & (sc.CLONE_NEWPID | sc.CLONE_NEWTIME))
    if not helper_forks:
        ch.send(sync.PID, str(os.getpid()))
    tty = None
    if proc.terminal:
        from . import console
        tty = console.setup(proc, console_fd, relay=not o.console_socket,
                            controlling=not helper_forks)
    from . import execinit
    keep = list(range(3, 3 + (o.preserve_fds or 0)))

    def ready():
        # the helper reports its fork (and a filter it could not load) on
        # our pipe (_drive)
        log.debug("setns_init: about to exec")  # (runc's words)
        ch.send(sync.READY)
        return ("f", ch.wfd)
    # a notify agent hears of the process that loads the filter: with a
    # fork still to come, that is this one (its parent)
    execinit.exec_process(proc, memfd, keep, ready, seccomp=seccomp, host_pid=os.getpid(),
                          fork_report=ch.wfd if helper_forks else None, tty=tty)
