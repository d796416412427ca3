"""The container's init: what runs inside the new process between fork
and the user's program.

It is a fork of the `create` process (no second interpreter start), talks
to its parent over a sync.Channel, and ends by exec'ing the static
execinit helper from a sealed memfd (see csrc/execinit.c), which waits for
`start` and execs the user's program.

Order (each step names the module that does it):
  1. join the v1 cgroups (we were forked into the v2 one, and, for the
     usual all-new namespaces, born in them by clone3)   (cgroups)
  2. join namespaces given by path, user first       (namespaces)
  3. new user namespace: parent writes the id maps   (namespaces)
  4. unshare the other new namespaces; fork if pid/time
  5. hostname, domainname, loopback up
  6. rootfs, mounts, devices                         (mounts, devices)
  7. prestart/createRuntime hooks run by the parent; createContainer here
  8. pivot_root, masked/readonly paths, ro root      (mounts)
  9. sysctl, rlimits, user, capabilities, nnp        (process, capabilities)
 10. resolve the program, close fds, exec execinit    (process, execinit);
     in a joined pid namespace the helper forks the process into it
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import log, sync
from . import namespaces as ns
from . import syscalls as sc
from .sync import run_reporting  # (in sync.py: exec's child uses it without this module)


def preload(proc, spec=None, debug=False, sockets=False, sources=False):
    """Import everything the init will need, before the fork -- and only
    that (each module is 0.1-0.3 ms of the start).

    Once the init is in its user namespace or past pivot_root, the host's
    Python files may be out of reach (a mapped root cannot read /root)."""
    from . import capabilities, execinit, process  # noqa: F401
    capabilities.last_cap()  # the host's, kept for the child: never read from the container's /proc
    import fcntl, stat  # noqa: F401,E401
    from .cgroups import live  # noqa: F401 (the v1 manager's join_self, the init's first step)
    if proc.rlimits:
        import resource  # noqa: F401
    if proc.terminal:
        from . import console  # noqa: F401
    if proc.terminal or sockets:  # fd passing: the pty master, the notify fd
        import _socket, struct  # noqa: F401,E401
    if debug:
        import traceback  # noqa: F401
    if spec is None:  # exec: nothing of the container's set-up
        return
    from . import mounts, paths  # noqa: F401
    if spec.linux.ns("mount") is None:
        from . import hostmounts  # noqa: F401
    if not mounts.dev_is_bind(spec):
        from . import devices  # noqa: F401
    if spec.hooks.get("createContainer"):
        from . import hooks  # noqa: F401
        import select  # noqa: F401
    if spec.hooks.get("startContainer"):  # handed to the helper (execinit.hooks_memfd)
        from . import jsonlite  # noqa: F401
    if sources:  # bind sources come from the runtime as fds
        from . import bindsources  # noqa: F401
        import _socket, struct  # noqa: F401,E401
    elif any(mounts._is_bind(m) for m in spec.mounts):
        from . import bindsources  # noqa: F401,F811  (a source leading into the rootfs)


def child_main(ctx):
    """Entry point of the forked child; never returns."""
    run_reporting(ctx.child_chan, lambda: _run(ctx), "init", ctx.debug)


def _run(ctx):
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    os.umask(0)
    _close_inherited(ctx)
    if ctx.cgroups.placed_by_parent:
        # systemd makes our cgroup, a unit started with our pid: wait for it
        # before anything (the cgroup namespace, say) depends on where we are
        ctx.child_chan.send(sync.WANT_CGROUP)
        ctx.child_chan.expect(sync.GO_ON)
    # First our cgroups (through the runtime's view of /sys/fs/cgroup): we
    # were forked straight into the v2 one; the v1 ones we join ourselves.
    ctx.cgroups.join_self()
    # not the caller's affinity (execCPUAffinity is for exec only, as runc)
    from . import process
    process.reset_affinity()
    if ctx.born_flags:
        _born_in_namespaces(ctx)
    else:
        _wait_resources(ctx)  # (this way may fork: a pids limit holds first)
        _enter_namespaces(ctx)
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    _setup(ctx)


def _wait_resources(ctx):
    """When the parent sets linux.resources while we work (container.
    _apply_before_fork), wait until it is done, once."""
    if ctx.resources_late:
        ctx.child_chan.send(sync.WANT_RESOURCES)
        ctx.child_chan.expect(sync.GO_ON)
        ctx.resources_late = False


def _born_in_namespaces(ctx):
    """clone3 made our namespaces; only the cgroup one is left, now that we
    are in our cgroups."""
    cg = ctx.spec.linux.ns("cgroup")
    if cg is not None:
        sc.unshare(sc.CLONE_NEWCGROUP)
    ctx.child_chan.send(sync.PID, str(_host_pid(ctx)))


def _host_pid(ctx):
    """Our pid as the host sees it, once: from the host's procfs, which this
    mount namespace (a copy of the host's, before pivot_root) still shows,
    proven to be procfs (procfs.py)."""
    if not ctx.host_pid:
        from . import procfs
        with procfs.host() as p:
            ctx.host_pid = int(p.pid())
    return ctx.host_pid


def _enter_namespaces(ctx):
    """Join the namespaces given by path, user first, then make the new
    ones; fork when a pid or time namespace applies to children only.

    A joined pid namespace (ctx.helper_forks) is shared with other
    processes: then this process never forks into it (the sealed helper
    forks the container's process at the end), and joins it only then
    (exec_user), so nothing this process forks meanwhile (createContainer
    hooks) is born in it -- except when a new user namespace is made too:
    the pid namespace must then be joined first, while we still hold the
    capabilities for it, and createContainer hooks are born in it (as with
    runc)."""
    spec = ctx.spec
    linux = spec.linux
    ch = ctx.child_chan
    flags = ns.new_flags(linux)
    late = ("pid",) if ctx.helper_forks and not flags & sc.CLONE_NEWUSER else ()
    ctx.late_pidns = ns.join(ctx.ns_fds, keep=late).get("pid")
    if flags & sc.CLONE_NEWUSER:
        sc.unshare(sc.CLONE_NEWUSER)
        ch.send(sync.WANT_ID_MAPS)
        ch.expect(sync.GO_ON)
    if linux.ns("user"):
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    log.trace("init: unshare")
    if flags & ~sc.CLONE_NEWUSER:
        sc.unshare(flags & ~sc.CLONE_NEWUSER)
    log.trace("init: unshared")
    if flags & sc.CLONE_NEWTIME:
        ns.write_time_offsets(linux.time_offsets)
    if ns.needs_fork(linux) and not ctx.helper_forks:
        pid = os.fork()
        if pid:
            ch.send(sync.PID, str(pid))
            os._exit(0)
    else:
        ch.send(sync.PID, str(os.getpid()))


def _close_inherited(ctx):
    """Close every fd the caller left open but stdio, --preserve-fds and our
    own: a host directory fd must not survive to be the container's cwd
    (CVE-2024-21626); close-on-exec alone acts too late for that."""
    keep = {0, 1, 2, ctx.child_chan.rfd, ctx.child_chan.wfd, ctx.fifo_fd, ctx.memfd}
    keep.update(range(3, 3 + (ctx.preserve_fds or 0)))
    keep.update(fd for _, fd in ctx.ns_fds)
    keep.update(ctx.idmapped.values())
    if ctx.sources is not None:
        keep.add(ctx.sources.theirs)
    if ctx.seccomp is not None and ctx.seccomp[2] is not None:
        keep.add(ctx.seccomp[2].fd)
    if ctx.console_fd is not None:
        keep.add(ctx.console_fd)
    sc.close_all_except(keep)


def _setup(ctx):
    from . import devices, mounts, paths, process
    spec = ctx.spec
    linux = spec.linux
    ch = ctx.child_chan
    if spec.hostname is not None and linux.ns("uts"):
        sc.sethostname(spec.hostname)
    if spec.domainname is not None and linux.ns("uts"):
        sc.setdomainname(spec.domainname)
    log.trace("init: setup")
    _host_pid(ctx)  # (hooks get it)
    net = linux.ns("network")
    if net is not None and not net.path:
        _loopback_up()

    # The device rules in force before our first mount: mounting a block
    # device is subject to them, and the parent writes them one by one,
    # deny-all first (a config allowing the device would otherwise fail
    # or not by timing). By now the parent is done, mostly: it set them
    # while we started.
    _wait_resources(ctx)
    log.trace("init: prepare root")
    rootfd = mounts.prepare_root(spec)
    cgroupns = linux.ns("cgroup")
    sources = None
    if ctx.sources is not None:
        from . import bindsources
        sources = bindsources.Client(ch, ctx.sources.theirs, spec)
    mounts.mount_all(spec, rootfd, ctx.cgroup_mounts, cgroupns is not None and not cgroupns.path,
                     ctx.idmapped, sources)
    if not mounts.dev_is_bind(spec):
        in_userns = linux.ns("user") is not None
        devices.setup(rootfd, linux, in_userns, ctx.map_uid, ctx.map_gid)
    proc = spec.process
    try:
        os.close(paths.mkdir_all(rootfd, proc.cwd))
    except OSError:
        pass  # reported by chdir below, as the user
    os.close(rootfd)

    log.trace("init: mounts done")
    if ctx.parent_hooks:
        ch.send(sync.WANT_HOOKS)
        ch.expect(sync.GO_ON)
    if spec.hooks.get("createContainer"):
        from . import hooks
        # pid: ours as the container's pid namespace sees it (runc: getpid()),
        # the spec's for hooks run in the container namespace; in a joined
        # pid namespace the process is forked later (by the helper): then
        # ours in the runtime's namespace
        hooks.run("createContainer", spec.hooks["createContainer"],
                  ctx.hook_state("creating", os.getpid()), cwd=spec.root_path)

    log.trace("init: pivot")
    from .launch import seal_imports  # (loaded: create forked us)
    seal_imports()
    if linux.ns("mount") is None:  # the host's mount namespace: chroot, as runc
        from . import hostmounts
        hostmounts.enter_root(spec.root_path)
    else:
        mounts.pivot(spec.root_path, ctx.no_pivot)
    if spec.process.terminal:  # /dev/console bound before the root is finished, as runc
        from . import console
        ctx.tty = console.setup(spec.process, ctx.console_fd, dev_console=True,
                                controlling=not ctx.helper_forks)
    mounts.finish_root(spec)
    if not ctx.no_new_keyring:
        try:
            sc.keyctl_join_session(f"_ses.{ctx.cid}")
        except OSError as e:
            if e.errno not in (38, 1):  # ENOSYS, EPERM (keyrings off / userns)
                raise
    ctx.check_proc()
    log.trace("init: exec_user")
    ctx.exec_user(process)


def _loopback_up():
    # a struct ifreq: the name (16 bytes), then ifr_flags (a short), padded
    # to 40; the socket from the shim (no _socket/struct in create's memory)
    import fcntl
    import sys
    AF_INET, SOCK_DGRAM, SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 2, 2, 0x8913, 0x8914, 1
    fd = sc.socket(AF_INET, SOCK_DGRAM)
    try:
        name = b"lo".ljust(16, b"\0")
        got = fcntl.ioctl(fd, SIOCGIFFLAGS, name + bytes(24))
        flags = int.from_bytes(got[16:18], sys.byteorder) | IFF_UP
        fcntl.ioctl(fd, SIOCSIFFLAGS, name + flags.to_bytes(2, sys.byteorder) + bytes(22))
    finally:
        os.close(fd)
