"""Container lifecycle on the runtime's side: create and run (runtime-spec
"Operations"), and the clean-up of a failed create. start and delete are
lifecycle.py's, kill control.py's: those commands never load this module."""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)
import time

# Only what every command here needs: kill, pause, resume, start and delete
# must not pay for the create machinery (namespaces, launch, sync, idmap and
# with them the cffi shim; config.py), so create's modules are imported
# where used.
from . import fspath, log, state
from .errors import (ConfigError, InitError, InvalidArgument, NotExist,
                     PyruncError)


init_timeout = state.init_timeout  # (start's too; livemounts.py takes it from here)


class Options:
    """What the CLI passes to create/run."""

    __slots__ = ("root", "bundle", "pid_file", "console_socket", "no_pivot",
                 "no_new_keyring", "preserve_fds", "systemd_cgroup", "detach",
                 "relay", "console_ours", "listen_fds")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


class InitContext:
    """Everything the forked init needs (it shares our memory at fork)."""

    __slots__ = ("spec", "cid", "child_chan", "ns_fds", "cgroup_mounts", "parent_hooks",
                 "no_pivot", "no_new_keyring", "fifo_fd", "preserve_fds", "bundle",
                 "oci_version", "annotations", "debug", "memfd",
                 "cgroups", "host_pid", "console_fd", "seccomp", "born_flags",
                 "idmapped", "helper_forks", "late_pidns", "tty", "sources",
                 "resources_late")

    def __init__(self, spec, cid, opts, st, cg, fifo_fd, child_chan, ns_fds):
        """Everything the init needs, made in the parent before the fork:
        detached mounts (idmapped ones, a joined pid namespace's procfs), the
        compiled seccomp filter (and its notify agent's connection), the
        console socket. What holds an fd is released by close() in the
        parent, whatever happens."""
        self.spec = spec
        self.cid = cid
        self.child_chan = child_chan
        self.ns_fds = ns_fds
        self.cgroup_mounts = cg.mount_sources()
        self.cgroups = cg
        self.parent_hooks = bool(spec.hooks.get("prestart") or spec.hooks.get("createRuntime"))
        self.no_pivot = bool(opts.no_pivot)
        self.no_new_keyring = bool(opts.no_new_keyring)
        self.fifo_fd = fifo_fd
        self.preserve_fds = (opts.preserve_fds or 0) + (opts.listen_fds or 0)
        if opts.listen_fds:
            spec.process.env = list(spec.process.env) + [f"LISTEN_FDS={opts.listen_fds}",
                                                          "LISTEN_PID=1"]
        self.bundle = spec.bundle
        self.oci_version = spec.oci_version
        self.annotations = spec.annotations
        self.debug = log.is_debug()
        from . import namespaces as ns
        self.born_flags = ns.birth_flags(spec.linux)
        self.host_pid = 0
        self.memfd = self.console_fd = self.seccomp = None
        self.late_pidns = self.tty = None
        self.idmapped = {}
        self.sources = None
        self.resources_late = False  # (set by _launch: the init then waits for them)
        self.helper_forks = ns.pid_joined(spec.linux)
        try:
            self._detached_mounts()
            self._seccomp(opts.root, st)
            self._console(opts)
        except BaseException:
            self.close()
            raise

    def _detached_mounts(self):
        spec = self.spec
        # sources the init may ask us to open (bindsources.wanted, without
        # its import, nor idmap's, on the usual path)
        if spec.linux.ns("user") is not None or any(m.idmapped for m in spec.mounts):
            from . import bindsources
            if bindsources.wanted(spec):
                self.sources = bindsources.Link()
        if self.helper_forks:
            from . import procmount
            made = procmount.prepare(procmount.wanted(spec), dict(self.ns_fds)["pid"])
            if made is None:  # an older kernel: the init forks into it, as runc
                log.debug("no procfs for a joined pid namespace on this kernel")
                self.helper_forks = False
            else:
                self.idmapped.update(made)

    def _seccomp(self, root, st):
        profile = self.spec.linux.seccomp
        if profile is None:
            return
        from . import seccomp
        prog, flags = seccomp.compile_bpf(profile, fspath.join(root, ".seccomp-cache"))
        listener = None
        if seccomp.uses_notify(profile):
            listener = seccomp.Listener(profile["listenerPath"], profile.get("listenerMetadata"),
                                        st.hook_state("creating"))
        self.seccomp = (prog, flags, listener)

    def _console(self, opts):
        if not self.spec.process.terminal:
            return
        from . import console
        if opts.console_socket:
            self.console_fd = console.connect(opts.console_socket)
        else:  # `run` relays the terminal itself: the master comes to us
            import _socket
            a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
            opts.console_ours, self.console_fd = a.detach(), b.detach()

    def close(self):
        """The parent's copies of the fds handed to the init (idempotent)."""
        fds = list(self.idmapped.values())
        self.idmapped = {}
        if self.sources is not None:
            self.sources.close_theirs()  # (ours is _launch's to close)
        if self.memfd is not None:
            fds.append(self.memfd)
        if self.seccomp is not None and self.seccomp[2] is not None:
            fds.append(self.seccomp[2].fd)
        if self.console_fd is not None:
            fds.append(self.console_fd)
        self.memfd = self.console_fd = None
        if self.seccomp is not None:
            self.seccomp = (self.seccomp[0], self.seccomp[1], None)
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def hook_state(self, status, pid=None):
        """The state hooks read. ociVersion: the runtime-spec version this
        runtime implements, not the config's (runc: specs.Version); pid:
        the host's view unless given (a hook run in the container namespace
        gets the container's view, as the spec asks)."""
        from . import OCI_VERSION
        d = {"ociVersion": OCI_VERSION, "id": self.cid, "status": status,
             "pid": self.host_pid if pid is None else pid, "bundle": self.bundle}
        if self.annotations:
            d["annotations"] = self.annotations
        return d

    def map_uid(self, uid):
        return _mapped(self.spec.linux.uid_mappings, uid)

    def map_gid(self, gid):
        return _mapped(self.spec.linux.gid_mappings, gid)

    def check_proc(self):
        """The helper reopens the exec fifo through the container's procfs:
        is there one (proven, procfs.py), showing us? Before the process
        attributes (a seccomp filter may come with them). In a joined pid
        namespace this process is not in it: the helper's fork checks."""
        if self.helper_forks:
            return
        from . import procfs
        try:
            with procfs.container() as p:
                os.close(p.fd_dir())
        except OSError as e:
            raise InitError(f"the container has no usable /proc, needed to wait for "
                            f"start: {e}") from None

    def exec_user(self, process_mod):
        from . import execinit
        from . import syscalls as sc
        if self.late_pidns is not None:
            # last thing before the helper, still privileged: only the
            # process the helper forks is born in the shared pid namespace
            sc.setns(self.late_pidns, sc.CLONE_NEWPID)
            os.close(self.late_pidns)
        keep = list(range(3, 3 + (self.preserve_fds or 0)))
        execinit.exec_process(self.spec.process, self.memfd, keep, self._before_exec,
                              seccomp=self.seccomp, host_pid=self.host_pid,
                              fork_report=self.child_chan.wfd if self.helper_forks else None,
                              tty=self.tty)

    def _before_exec(self):
        """Tell the parent we are ready; say how the helper waits for
        `start` (an O_PATH fd of the exec fifo, reopened through the
        container's procfs) and which startContainer hooks it runs then: in
        the container, as the container's user, after `start` (runc's
        order). No Python process of the runtime stays in the container to
        run them: a hook from the image (`#!/proc/self/exe`, say) could
        otherwise reach the host's interpreter."""
        hooks_fd = None
        start_hooks = self.spec.hooks.get("startContainer")
        if start_hooks:
            from . import execinit
            from . import process
            hooks_fd = execinit.hooks_memfd(start_hooks, self.hook_state("created"),
                                            default_env=process.env_list(self.spec.process))
        from . import sync
        # (runc's words for these steps; sent before READY, the channel's last)
        log.debug("init: closing the pipe to signal completion")
        log.debug("init: about to wait on exec fifo")
        self.child_chan.send(sync.READY)
        return ("p", self.fifo_fd, hooks_fd)


def _mapped(maps, cid):
    from . import namespaces as ns
    h = ns.host_id(maps, cid)
    return cid if h is None else h


# -- create -----------------------------------------------------------------
def create(cid, opts):
    """Create the container; returns the State (pid of its init).

    prepare (config, checks: nothing made yet) -> reserve (state entry,
    exec fifo, cgroups: each recorded before it is made) -> launch (the
    init's context, the fork, driving the init to the hand-over) ->
    record (pid, start time, --pid-file). Any failure after reserve goes
    through _abort."""
    log.trace("create: begin")
    spec, cg, d = _prepare(cid, opts)
    log.trace("create: config loaded")
    # intent before effect: the cgroups this create will make are in the
    # entry's first state.json (no save of their own; plan() makes nothing)
    planned = cg.plan()
    d["cgroups"] = cg.to_state()
    # other commands on this id wait until the create is done or undone
    st, lock = state.new(opts.root, cid, d)
    from . import launch
    procs = launch.Procs()
    fifo_fd = None
    cg_made = False
    try:
        fifo_fd = _make_fifo(st)
        log.trace("create: state dir and exec fifo made")
        cg_made = _make_cgroups(st, cg, planned)
        log.trace("create: cgroups made")
        init_pid = _launch(spec, cid, opts, st, cg, fifo_fd, lock, procs)
        procs.close()
        _record(st, cg, init_pid, opts)
        return st
    except BaseException:
        _abort(st, procs, cg if cg_made else None)
        raise
    finally:
        lock.release()
        if fifo_fd is not None:
            os.close(fifo_fd)


def _prepare(cid, opts):
    """Load and check everything that can be checked before anything is
    made; returns (spec, cgroup manager, the state to record)."""
    bundle = fspath.abspath(opts.bundle or ".")
    state.check_id(cid)
    from . import config
    try:
        spec = config.load(bundle)
    except FileNotFoundError as e:
        raise ConfigError("", str(e)) from None
    if spec.process is None:
        raise ConfigError("process", "is required to create a container")
    for m in spec.mounts:
        if not m.destination.startswith("/"):  # taken from / (runc's words: scripts see them)
            log.warn(f"mount destination {m.destination} is not absolute. Support for "
                     "non-absolute mount destinations will be removed in a future release.")
    from . import namespaces as ns
    ns.adopt_joined_user_maps(spec.linux)
    if spec.process.terminal:
        if not opts.console_socket and not opts.relay:
            raise InvalidArgument("cannot allocate tty if runc will detach without setting "
                                  "console socket")
    elif opts.console_socket:
        raise InvalidArgument("cannot use console socket if runc will not detach or allocate "
                              "tty")
    from . import process as process_mod, capabilities
    process_mod.check_rlimits(spec.process)
    if spec.process.capabilities is not None:
        # unknown names and capabilities we cannot grant fail here, early
        capabilities.check_grantable(capabilities.Sets(spec.process.capabilities))
    if not fspath.isdir(spec.root_path):
        raise ConfigError("root.path", f"rootfs {spec.root_path} is not a directory")
    if opts.no_pivot and spec.linux.rootfs_propagation in ("private", "rprivate"):
        # (runc: the chroot keeps the host's mounts pinned, unreleasable)
        raise ConfigError("linux.rootfsPropagation",
                          "rootfsPropagation of [r]private is not safe without pivot_root")
    from . import cgroups
    cg = cgroups.manager(spec.linux.cgroups_path, cid, bool(opts.systemd_cgroup))
    if opts.systemd_cgroup:
        cg.annotate(spec.annotations)
    d = {
        "ociVersion": spec.oci_version, "pid": 0, "start_time": None, "status": "creating",
        "creator": os.getpid(), "creator_start": state.proc_start_time(os.getpid()),
        "bundle": bundle, "rootfs": spec.root_path,
        "created": _rfc3339_now(), "owner": "",
        "annotations": spec.annotations,
        "terminal": spec.process.terminal,
        "hooks": {k: [h.to_dict() for h in v] for k, v in spec.hooks.items()
                  if k in ("poststart", "poststop")},
        # what `exec` needs, so that config.json is never read again
        "process": spec.process.raw,
        "namespaces": [n.type for n in spec.linux.namespaces],
        # a pid namespace that dies with the init (exitinfo: its pid
        # cannot be recycled in the container after it)
        "own_pidns": any(n.type == "pid" and not n.path for n in spec.linux.namespaces),
        "seccomp": spec.linux.seccomp,
        # linux.personality and linux.memoryPolicy apply to exec'd processes
        # too (runc); kept as the numbers the syscalls take
        "personality": spec.linux.personality,
        "memory_policy": _mpol_state(spec.linux.memory_policy),
    }
    if spec.linux.ns("mount") is None:  # recorded before the init can mount
        from . import hostmounts
        hostmounts.check(spec)
        d["host_mounts"] = hostmounts.plan(spec)
    return spec, cg, d


def _make_fifo(st):
    """The exec fifo `start` opens; an O_PATH fd of it for the init."""
    fifo = fspath.join(st.dir, state.FIFO)
    os.mkfifo(fifo, 0o622)
    os.chmod(fifo, 0o622)
    return os.open(fifo, os.O_PATH | os.O_CLOEXEC)


def _make_cgroups(st, cg, planned):
    """The container's cgroups, `planned` and recorded in the state before
    they are made (intent before effect: see docs/ARCHITECTURE.md). Returns
    True once there is anything for _abort to remove."""
    # (after state.new: a duplicate id is "already exists", as runc says)
    cg.check_usable()  # not empty, not frozen: before anything is done to it
    cg.create()
    if cg.created != planned:  # someone else made one meanwhile: not ours
        st.d["cgroups"] = cg.to_state()
        st.save()
    return True


def _launch(spec, cid, opts, st, cg, fifo_fd, lock, procs):
    """Fork the init with everything it needs and drive it to the hand-over
    to the sealed helper; returns the container process's host pid."""
    from . import launch, namespaces as ns
    ns_fds = ns.open_joined(spec.linux)
    chan, child_chan = launch.channels()
    ctx = None
    try:
        ctx = InitContext(spec, cid, opts, st, cg, fifo_fd, child_chan, ns_fds)
        early = _apply_before_fork(spec, cg)
        ctx.resources_late = not early
        if early:  # (always: without a devices section the default rules still apply)
            cg.apply(spec.linux.resources)
            log.trace("create: cgroup resources set")
        from . import execinit, init
        init.preload(spec.process, spec, ctx.debug,
                     sockets=ctx.seccomp is not None and ctx.seccomp[2] is not None,
                     sources=ctx.sources is not None)
        log.trace("create: what the init needs imported")
        ctx.memfd = execinit.sealed_helper()
        log.trace("create: forking the init")
        # The init's first garbage collection would walk (and so copy on
        # write) every object shared with us: 1-2 ms in its mount phase.
        # Frozen objects are never collected, in either process.
        import gc
        gc.freeze()
        pid, ctx.born_flags = launch.fork_into(cg, ctx.born_flags)
        if pid == 0:
            chan.close()
            lock.drop()  # the init may outlive this command (startContainer)
            if ctx.debug:  # its debug lines go to us, never to the container's stderr
                log.to_channel(child_chan)
                log.debug("child process in init()")
            init.child_main(ctx)  # (never returns: ends in exec or _exit)
        procs.child = pid
        ctx.close()
        child_chan.close()
        if not early:  # while the init makes its mounts, on the other CPU
            cg.apply(spec.linux.resources)
            log.trace("create: cgroup resources set")
        return _drive_init(chan, procs, spec, cg, st, ctx.helper_forks, ctx.sources)
    finally:
        if ctx is not None:
            ctx.close()
            if ctx.sources is not None:
                ctx.sources.close()
        for _, fd in ns_fds:
            os.close(fd)
        chan.close()
        child_chan.close()  # (idempotent)


def _apply_before_fork(spec, cg):
    """Whether linux.resources must be set before the init exists. runc
    HEAD sets them once the init has made its mounts (procHooks), before
    any hook; we set them while the init starts, and the init waits for
    them (WANT_RESOURCES) before it forks, mounts (a block device's mount
    is subject to the device rules) or makes any device node: the device
    rules are written one by one, deny-all first. Before the fork when
    something could run before our set is done: createContainer hooks
    (the init runs them without a word to us), an init that mounts in the
    host's namespace (no mount namespace: _abort must not race its
    mounts), or systemd's unit, which takes its properties when started
    for the init."""
    return bool(cg.placed_by_parent or spec.hooks.get("createContainer")
                or spec.linux.ns("mount") is None)


def _record(st, cg, init_pid, opts):
    """The init's pid and start time (a reused pid is never mistaken for
    it), then --pid-file, atomically, before `create` returns."""
    st.d["pid"] = init_pid
    st.d["start_time"] = state.proc_start_time(init_pid)
    st.d["cgroups"] = cg.to_state()
    st.d["freezer"] = cg.freezer_file()
    del st.d["status"]
    st.save()
    if opts.pid_file:
        from .pidfile import write_pid_file  # (only with --pid-file)
        write_pid_file(opts.pid_file, init_pid)


def _drive_init(chan, procs, spec, cg, st, helper_forks=False, sources=None):
    """Parent's half of the init protocol (see init.py)."""
    from . import namespaces as ns, sync
    child = procs.child
    init_pid = child
    limit = init_timeout()
    deadline = time.monotonic() + limit
    recv = _bounded_recv(chan, limit)
    while True:
        tag, payload = recv(deadline)
        if tag is None:
            procs.reap_child()
            raise InitError("container init exited unexpectedly")
        if tag == sync.ERROR:
            procs.reap_child()
            raise sync.error_from(payload)
        if tag == sync.LOG:
            log.relay(payload)
        elif tag == sync.WANT_ID_MAPS:
            ns.write_id_maps(child, spec.linux)
            chan.send(sync.GO_ON)
        elif tag == sync.PID:
            init_pid = int(payload)
            procs.track_init(init_pid)
            st.d["pid"] = init_pid
            if init_pid != child:
                procs.reap_child()  # the intermediate process exits at once
            oom = spec.process.oom_score_adj
            if oom is not None:
                log.debug("update /proc/%d/oom_score_adj to '%d'", init_pid, oom)
                _write_oom(init_pid, oom)
            if spec.linux.net_devices:
                from . import netdevices
                netdevices.move(init_pid, spec.linux.net_devices)
        elif tag == sync.WANT_SOURCE and sources is not None:
            from . import bindsources
            bindsources.serve(sources, spec, payload, init_pid, deadline)
        elif tag == sync.WANT_RESOURCES:
            chan.send(sync.GO_ON)  # (set before this loop: see _launch)
        elif tag == sync.WANT_CGROUP:
            began = time.monotonic()
            cg.place(child)  # (its host pid: the init has not forked yet)
            deadline += time.monotonic() - began  # (bounded by systemd's job timeout)
            chan.send(sync.GO_ON)
        elif tag == sync.WANT_HOOKS:
            from . import hooks
            began = time.monotonic()
            hs = st.hook_state("creating")  # (runc HEAD: process_linux.go, procHooks)
            hs["pid"] = init_pid
            try:
                hooks.run("prestart", spec.hooks.get("prestart", []), hs)
                hooks.run("createRuntime", spec.hooks.get("createRuntime", []), hs)
            except PyruncError:
                chan.send(sync.ABORT)
                raise
            deadline += time.monotonic() - began  # (bounded by the hooks' timeouts)
            chan.send(sync.GO_ON)
        elif tag == sync.READY:
            log.trace("create: init ready, handing over to the helper")
            # The init closes its end when it execs the helper: EOF = handed
            # over. In a joined pid namespace the helper forks the container's
            # process first and tells us its pid (csrc/execinit.c, F).
            tag, payload = recv(deadline)
            if tag == sync.PID:
                init_pid = int(payload)
                procs.track_init(init_pid)
                st.d["pid"] = init_pid
                procs.reap_child()  # the helper's parent, which exits at once
                tag, payload = recv(deadline)
            elif helper_forks and tag != sync.ERROR:
                # EOF without the fork: the helper died first (a filter
                # forbidding fork, say); never report a process that never ran
                procs.reap_child()
                raise InitError("the container's process was not started: the helper "
                                "exited before forking it (see its message above)")
            if tag == sync.ERROR:
                raise sync.error_from(payload)
            if tag is not None:
                raise InitError(f"init: unexpected {tag!r}")
            return init_pid
        else:
            raise InitError(f"init: unexpected message {tag!r}")


def _bounded_recv(chan, limit):
    def recv(deadline):
        try:
            return chan.recv(deadline)
        except TimeoutError:
            raise InitError(f"timed out after {limit:g}s waiting for the container's init "
                            "to reach the exec fifo") from None
    return recv


def _write_oom(pid, value):
    from . import procfs
    try:
        procfs.write_pid_file(pid, "oom_score_adj", str(value))
    except OSError as e:
        raise ConfigError("process.oomScoreAdj", f"cannot set {value}: {e.strerror}") from None


def _abort(st, procs, cg):
    """A failed create leaves nothing: processes, cgroups, state dir. Once
    an init existed, it goes through delete's steps, poststop hooks too (a
    prestart hook may have set up what they undo)."""
    procs.kill_all()
    procs.close()
    if cg is not None:
        # only the directories this create made are walked for processes
        # (the init's descendants): never a cgroup that was there before
        cg.kill_created()
        cg.remove()
    from .lifecycle import _remove_host_mounts, _run_saved_hooks
    hs = st.d.get("hooks", {}).get("poststop")
    if hs and procs.child:
        _run_saved_hooks(st, "poststop", hs, "stopped", warn=True)
    _remove_host_mounts(st)
    state.remove_dir(st.dir)



def _rfc3339_now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


# start, delete, destroy: lifecycle.py (without this module's weight);
# kill, parse_signal, signal_init: control.py, which create and run never
# need (~0.45M instructions to import); all still reachable here as
# container.start etc. (see __getattr__)
_LIFECYCLE = ("start", "delete", "destroy")
_CONTROL = ("kill", "parse_signal", "signal_init")


def __getattr__(name):
    if name in _LIFECYCLE:
        from . import lifecycle
        return getattr(lifecycle, name)
    if name in _CONTROL:
        from . import control
        return getattr(control, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(root, cid):
    return state.load(root, cid)


def not_exist_ok(fn):
    try:
        return fn()
    except NotExist:
        return None


def _mpol_state(mpol):
    return None if mpol is None else [mpol[0], sorted(mpol[1])]
