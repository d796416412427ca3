"""The container's filesystem: rootfs, mounts, pivot_root, masked and
read-only paths. Runs in the init, inside the new mount namespace."""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import fspath, paths, procfs
from . import syscalls as sc
from .errors import ConfigError
from .mountopts import PROPAGATION, Options

_ATIME = sc.MS_NOATIME | sc.MS_RELATIME | sc.MS_STRICTATIME  # one of them, an "enum"
# what the kernel locks on the mounts a new user namespace's mount namespace copies
LOCKED = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | _ATIME | sc.MS_NODIRATIME
# statvfs f_flag bits (ST_*) -> MS_* (strictatime is no bit: it is the absence of the others)
_ST_TO_MS = ((1, sc.MS_RDONLY), (2, sc.MS_NOSUID), (4, sc.MS_NODEV), (8, sc.MS_NOEXEC),
             (1024, sc.MS_NOATIME), (2048, sc.MS_NODIRATIME), (4096, sc.MS_RELATIME),
             (0x2000, sc.MS_NOSYMFOLLOW))


def prepare_root(spec):
    """Before any mount, as runc: / gets rootfsPropagation (default
    rslave: nothing we mount reaches the host), the mount holding the
    rootfs is made private (slave for a slave propagation) so that the
    bind below neither propagates nor is shared (pivot_root refuses
    that), then the rootfs is bind-mounted onto itself.
    Without a mount namespace (hostmounts.py) no propagation is changed:
    this is the host's namespace."""
    own_ns = spec.linux.ns("mount") is not None
    rootfs = spec.root_path
    if own_ns:
        flag = PROPAGATION.get(spec.linux.rootfs_propagation, 0)
        sc.mount(None, "/", None, flag or sc.MS_SLAVE | sc.MS_REC)
        _parent_propagation(rootfs, sc.MS_SLAVE if flag & sc.MS_SLAVE else sc.MS_PRIVATE)
    try:
        sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        raise ConfigError("root.path", f"cannot bind-mount {rootfs}: {e.strerror}") from None
    return os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _parent_propagation(path, flag):
    """`flag` on the mount `path` is on: EINVAL means not a mount point,
    so try its parent, up to /."""
    while True:
        try:
            sc.mount(None, path, None, flag)
            return
        except OSError as e:
            if e.errno != 22 or path == "/":
                raise
        path = fspath.dirname(path)


def _locked_flags(path):
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return sum(ms for st_bit, ms in _ST_TO_MS if st.f_flag & st_bit)


def _flag_names(flags):
    from .mountopts import FLAGS
    return ",".join(sorted(o for o, (clr, f) in FLAGS.items() if not clr and f and
                           f & flags == f and o not in ("rbind", "bind", "remount")))


def _bind_remount(target, flags, cleared=0):
    """Apply a bind mount's flags the way runc does: first exactly the
    flags asked for (what the source had and was not asked for is
    cleared, as `mount --bind -o`). The kernel refuses that (EPERM) when
    the source's flags are locked (a mount copied into a user
    namespace's mount namespace): then the locked flags are carried over
    -- unless the config asked to clear one, or asked for another atime
    setting than the locked one: that is an error, not a silently
    different mount."""
    flags |= sc.MS_BIND | sc.MS_REMOUNT
    try:
        sc.mount(None, target, None, flags)
        return
    except OSError as e:
        first = e
    have = _locked_flags(target)
    if not have & _ATIME:
        have |= sc.MS_STRICTATIME
    atime = sc.MS_NODIRATIME | _ATIME
    if have & cleared & LOCKED:
        names = _flag_names(have & cleared & LOCKED)
        raise OSError(first.errno, f"cannot clear locked flags {names}: {first.strerror}")
    if flags & atime and flags & atime != have & atime:
        raise OSError(first.errno, f"cannot change locked atime flags {_flag_names(have & atime)}"
                      f": {first.strerror}")
    try:
        sc.mount(None, target, None, flags | (have & LOCKED))
    except OSError as e:
        raise OSError(e.errno, f"remount with locked flags {_flag_names(have & LOCKED)} "
                      f"re-applied: {e.strerror}") from None


def open_dev_null():
    """An O_PATH fd of the container's /dev/null (after pivot_root), checked
    to be the real null device (1:3) before anything is masked with it: with
    a bind-mounted /dev it could be anything (CVE-2025-31133). Masking binds
    this very fd, so nothing can swap it after the check."""
    import stat
    fd = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise OSError(22, "/dev/null is not the null device")
    return fd


# What may be mounted under /proc besides procfs at /proc (runc's
# checkProcMount): the files lxcfs emulates, and two sysctls.
PROC_ALLOWED = frozenset((
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
    "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
))


def clean(path):
    """A container path cleaned lexically: "//proc/x", "/proc/../proc/x",
    "proc/./x" are all "/proc/x" (".." stops at /)."""
    return fspath.normpath("/" + path.lstrip("/"))


def _is_bind(m):
    return m.type == "bind" or "bind" in m.options or "rbind" in m.options


def check_proc_dest(spec, m, dest, tree=None):
    """runc's checkProcMount, on a cleaned container path (the
    destination as written, and again where it resolves in the rootfs):
    nothing is mounted at or under /proc but procfs itself at /proc (a
    fresh one, or a bind of a procfs root) and the files in PROC_ALLOWED.
    A mount over /proc/sys/kernel/domainname or cap_last_cap would make
    the runtime write or read a file of the mount's choosing."""
    if dest != "/proc" and not dest.startswith("/proc/"):
        return
    where = f"{m.where}.destination"
    if dest == "/proc":
        if tree is not None or _is_bind(m):
            why = _not_proc_root_source(spec, m, tree)
            if why is None:
                return
            raise ConfigError(where, f"{dest!r} cannot be mounted because its source {why}")
        if m.type == "proc":
            return
        raise ConfigError(where, f"{dest!r} cannot be mounted because it is not of type proc")
    if dest in PROC_ALLOWED:
        return
    raise ConfigError(where, f"{dest!r} cannot be mounted because it is inside /proc")


def _not_proc_root_source(spec, m, tree):
    """None when the bind source (or the detached tree) is the root of a
    procfs mount, else why not."""
    fd = tree
    if fd is None:
        src = m.source if fspath.isabs(m.source) else fspath.join(spec.bundle, m.source)
        try:
            fd = os.open(src, os.O_PATH | os.O_CLOEXEC)
        except OSError as e:
            return f"{src}: {e.strerror}"
    try:
        procfs.verify_root(fd, m.source)
    except procfs.NotProcfs as e:
        return e.strerror
    finally:
        if tree is None:
            os.close(fd)
    return None


def _check_ordinary_dir(rootfd, m, dest):
    """runc: procfs and sysfs go on a directory, never through a symlink
    (a rootfs whose /proc is a link would get procfs wherever the link
    points, and /proc would be the image's, masks and all)."""
    import stat
    head, _, base = dest.strip("/").rpartition("/")
    if not base:
        return
    try:
        pfd = paths.open_in_root(rootfd, head, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        return  # made below, as a directory
    try:
        st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    finally:
        os.close(pfd)
    if not stat.S_ISDIR(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise ConfigError(f"{m.where}.destination",
                          f"filesystem {m.type or 'proc'!r} must be mounted on ordinary "
                          f"directory ({dest} is {what} in the rootfs)")


class _Resolved:
    """Where a destination fd really is, as a container path: the mount
    checks apply to that too (a symlink /x -> /proc/sys/kernel in the
    image makes /x/domainname a /proc destination)."""

    def __init__(self, rootfd):
        # before pivot_root: the runtime's (the host's) procfs
        self.proc = procfs.host()
        self.fddir = self.proc.fd_dir()
        self.root = self._target(rootfd)

    def _target(self, fd):
        return os.readlink(str(fd), dir_fd=self.fddir)

    def path(self, fd, m):
        real = self._target(fd)
        if real == self.root:
            return "/"
        if not real.startswith(self.root.rstrip("/") + "/"):
            raise ConfigError(f"{m.where}.destination", f"resolves outside the rootfs ({real})")
        return real[len(self.root.rstrip("/")):]

    def check(self, spec, m, fd, tree=None):
        dest = self.path(fd, m)
        if dest == "/":  # (a symlink to /): the rootfs itself, covered (runc refuses)
            raise ConfigError(f"{m.where}.destination", f"mountpoint {m.destination!r} is on the "
                              f"top of rootfs {self.root!r}")
        check_proc_dest(spec, m, dest, tree)

    def close(self):
        os.close(self.fddir)
        self.proc.close()


def mount_all(spec, rootfd, cgroup_paths, new_cgroupns, idmapped=None, sources=None):
    """Every mount in config order. idmapped: {mount index: fd of a
    detached mount the runtime prepared (procmount.py)}; sources: a
    bindsources.Client, for the bind sources (idmapped ones too) the
    runtime opens when the init reaches them."""
    idmapped = idmapped or {}
    # all destinations as written first: nothing is made or mounted for
    # a config that mounts over /proc
    for m in spec.mounts:
        check_proc_dest(spec, m, clean(m.destination), idmapped.get(m.index))
    resolved = _Resolved(rootfd)
    try:
        with procfs.proven_fd_paths():
            _mount_each(spec, rootfd, cgroup_paths, new_cgroupns, idmapped, resolved, sources)
    finally:
        resolved.close()


def _mount_each(spec, rootfd, cgroup_paths, new_cgroupns, idmapped, resolved, sources):
    for m in spec.mounts:
        try:
            tree = idmapped.get(m.index)
            srcfd = None
            if tree is None and sources is not None:
                got = sources.fetch(m)
                if got is not None:
                    if got[1]:
                        tree = got[0]
                    else:
                        srcfd = got[0]
            if tree is None and srcfd is None and _is_bind(m):
                from . import bindsources  # a source inside the container: resolved in it
                srcfd = bindsources.open_in_rootfs(spec, m)
            if tree is not None:
                _attach(spec, rootfd, m, tree, resolved)
                continue
            try:
                _mount_one(spec, rootfd, m, cgroup_paths, new_cgroupns, resolved, srcfd)
            finally:
                if srcfd is not None:
                    os.close(srcfd)
        except ConfigError:
            raise
        except OSError as e:
            raise ConfigError(m.where, f"error mounting \"{m.source or m.type}\" to rootfs at "
                              f"\"{m.destination}\": {_go_strerror(e)}", "resource.mount",
                              e.errno) from None


def _go_strerror(e):
    """The error's text with its errno's words as Go writes them
    ("operation not permitted"): runc's message, which scripts match,
    is `error mounting "SRC" to rootfs at "DEST": ...: operation not
    permitted`."""
    text = e.strerror or str(e)
    std = os.strerror(e.errno) if e.errno else ""
    if std and text.endswith(std):
        text = text[:-len(std)] + std.lower()
    return text


def _mount_one(spec, rootfd, m, cgroup_paths, new_cgroupns, resolved, srcfd=None):
    opts = Options(m.options, m.where)
    dest = m.destination
    if not dest.startswith("/"):
        dest = "/" + dest
    if m.type in ("proc", "sysfs") or clean(dest) == "/proc":
        _check_ordinary_dir(rootfd, m, dest)
    if m.type == "cgroup":
        fd = paths.mkdir_all(rootfd, dest)
        try:
            resolved.check(spec, m, fd)
        finally:
            os.close(fd)
        v1 = {n: v for n, v in cgroup_paths.items() if n != "unified"}
        if v1:
            return _mount_cgroup_v1(rootfd, dest, opts, v1, new_cgroupns)
        return _mount_cgroup_v2(rootfd, dest, opts, cgroup_paths.get("unified"), new_cgroupns)
    bind = opts.flags & sc.MS_BIND or m.type == "bind"
    flags, data = opts.flags, opts.data
    if bind:
        src = m.source if fspath.isabs(m.source) else fspath.join(spec.bundle, m.source)
        if srcfd is not None:  # opened by the runtime (bindsources.py)
            src = procfs.fd_path(srcfd)
        if not fspath.exists(src):
            raise ConfigError(f"{m.where}.source", f"bind source {src} does not exist")
        fd = paths.mkdir_all(rootfd, dest) if fspath.isdir(src) else paths.make_file(rootfd, dest)
    elif m.type == "tmpfs":
        fd, data = _tmpfs_mountpoint(rootfd, dest, data)
    else:
        fd = paths.mkdir_all(rootfd, dest)
    if not bind and (m.type == "tmpfs" or clean(dest) == "/dev"):
        # read-only only at the end (finish_root), as runc: mounts and
        # device nodes under it come first
        flags &= ~sc.MS_RDONLY
    try:
        resolved.check(spec, m, fd)
        target = procfs.fd_path(fd)
        if bind:
            sc.mount(src, target, None, sc.MS_BIND | (opts.flags & sc.MS_REC))
            extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
            if extra or opts.cleared:  # (a bare "bind" keeps the source's flags)
                # the new mount is the last one on the path: reopen to reach it
                os.close(fd)
                fd = paths.open_in_root(rootfd, dest)
                target = procfs.fd_path(fd)
                _bind_remount(target, extra, opts.cleared)
        else:
            if m.type == "tmpfs" and "tmpcopyup" in opts.extensions:
                _tmpfs_copyup(m, fd, flags, data)
            else:
                sc.mount(m.source or m.type, target, m.type, flags, data)
        if opts.propagation or opts.attr_set or opts.attr_clr:
            os.close(fd)
            fd = paths.open_in_root(rootfd, dest)
            target = procfs.fd_path(fd)
            for p in opts.propagation:
                sc.mount(None, target, None, p)
            if opts.attr_set or opts.attr_clr:
                _setattr_recursive(fd, opts.attr_set, opts.attr_clr)
    finally:
        os.close(fd)


def _attach(spec, rootfd, m, tree, resolved):
    """Attach a detached (idmapped) mount at the destination, then apply
    the flags and propagation the options ask for."""
    import stat
    opts = Options(m.options, m.where)
    dest = "/" + m.destination.lstrip("/")
    if clean(dest) == "/proc":
        _check_ordinary_dir(rootfd, m, dest)
    isdir = stat.S_ISDIR(os.fstat(tree).st_mode)
    fd = paths.mkdir_all(rootfd, dest) if isdir else paths.make_file(rootfd, dest)
    try:
        resolved.check(spec, m, fd, tree)
        sc.move_mount(tree, "", fd, "", sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)
    finally:
        os.close(fd)
        os.close(tree)
    extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if extra or opts.cleared or opts.propagation:
        fd = paths.open_in_root(rootfd, dest)
        try:
            if extra or opts.cleared:
                _bind_remount(procfs.fd_path(fd), extra, opts.cleared)
            for p in opts.propagation:
                sc.mount(None, procfs.fd_path(fd), None, p)
        finally:
            os.close(fd)


def _tmpfs_mountpoint(rootfd, dest, data):
    """The mount point of a tmpfs, and its data: over a directory that
    exists, the tmpfs takes that directory's mode unless mode= says
    otherwise (runc); one made for it leaves the kernel's 1777."""
    import stat
    try:
        fd = paths.open_in_root(rootfd, dest)
    except FileNotFoundError:
        return paths.mkdir_all(rootfd, dest), data
    mode = f"mode={stat.S_IMODE(os.fstat(fd).st_mode):04o}"
    return fd, mode + "," + data if data else mode


def _tmpfs_copyup(m, fd, flags, data):
    """tmpfs with what the image has at the destination copied in (podman's
    --read-only /tmp, /run). The tmpfs is made detached (fsopen, fsmount),
    filled from the mount point's own fd, then attached on it: it is never
    anywhere else (a staging directory under the host's /tmp would show on
    the host with a shared rootfsPropagation), and no path is looked up
    again."""
    fs = sc.fsopen("tmpfs")
    try:
        for opt in data.split(","):
            key, eq, value = opt.partition("=")
            if eq:
                sc.fsconfig(fs, sc.FSCONFIG_SET_STRING, key, value)
            elif key:
                sc.fsconfig(fs, sc.FSCONFIG_SET_FLAG, key)
        for flag, key in _SB_FLAGS:
            if flags & flag:
                sc.fsconfig(fs, sc.FSCONFIG_SET_FLAG, key)
        sc.fsconfig(fs, sc.FSCONFIG_CMD_CREATE)
        tree = sc.fsmount(fs, sum(a for flag, a in _MNT_ATTRS if flags & flag))
    finally:
        os.close(fs)
    try:
        src = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        try:
            dst = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=tree)
            try:
                _copy_tree(src, dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        sc.move_mount(tree, "", fd, "", _EMPTY)
    finally:
        os.close(tree)


# mount(2) flags of a tmpfs as the new mount API takes them: superblock
# flags for fsconfig, the others as fsmount's MOUNT_ATTR_* (ro is deferred;
# "silent" only quiets the kernel's log of a failed mount, and has no key)
_SB_FLAGS = ((sc.MS_SYNCHRONOUS, "sync"), (sc.MS_DIRSYNC, "dirsync"),
             (sc.MS_LAZYTIME, "lazytime"), (sc.MS_MANDLOCK, "mand"))
_MNT_ATTRS = ((sc.MS_NOSUID, 0x2), (sc.MS_NODEV, 0x4), (sc.MS_NOEXEC, 0x8),
              (sc.MS_NOATIME, 0x10), (sc.MS_STRICTATIME, 0x20), (sc.MS_NODIRATIME, 0x80),
              (sc.MS_NOSYMFOLLOW, 0x200000))


def _copy_tree(src, dst, top=True):
    """Copy the contents of directory fd src into directory fd dst keeping
    modes, owners and symlinks as they are. Everything goes through
    directory fds with O_NOFOLLOW: an entry swapped for a symlink meanwhile
    is never followed out of the rootfs. The top directory keeps the
    tmpfs's own mode and owner (its mount options say them), as runc does."""
    import stat
    nf = os.O_NOFOLLOW | os.O_CLOEXEC
    if not top:
        st = os.fstat(src)
        os.fchmod(dst, stat.S_IMODE(st.st_mode))
        os.fchown(dst, st.st_uid, st.st_gid)
    for e in os.scandir(src):
        name = e.name
        est = os.stat(name, dir_fd=src, follow_symlinks=False)
        mode = est.st_mode
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            s2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nf, dir_fd=src)
            d2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nf, dir_fd=dst)
            try:
                _copy_tree(s2, d2, top=False)
            finally:
                os.close(s2)
                os.close(d2)
            continue
        elif stat.S_ISREG(mode):
            fi = os.open(name, os.O_RDONLY | nf, dir_fd=src)
            fo = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nf, 0o600, dir_fd=dst)
            try:
                while True:
                    chunk = os.read(fi, 1 << 20)
                    if not chunk:
                        break
                    os.write(fo, chunk)
                os.fchmod(fo, stat.S_IMODE(mode))
            finally:
                os.close(fi)
                os.close(fo)
        else:
            continue  # devices, fifos, sockets: not carried over
        os.chown(name, est.st_uid, est.st_gid, dir_fd=dst, follow_symlinks=False)


def _setattr_recursive(fd, attr_set, attr_clr):
    from ._shim import lib
    AT_EMPTY_PATH, AT_RECURSIVE = 0x1000, 0x8000
    ret = lib.pr_mount_setattr(fd, b"", AT_EMPTY_PATH | AT_RECURSIVE, attr_set, attr_clr, 0, 0)
    if ret < 0:
        raise OSError(-ret, os.strerror(-ret), "mount_setattr")


def _mount_cgroup_v2(rootfd, dest, opts, unified, new_cgroupns):
    """cgroup v2: the cgroup2 fs itself (its root is the container's cgroup
    in a new cgroup namespace), else a bind of the container's directory."""
    fd = paths.mkdir_all(rootfd, dest)
    try:
        target = procfs.fd_path(fd)
        if new_cgroupns or unified is None:
            sc.mount("cgroup2", target, "cgroup2", opts.flags)
        else:
            sc.mount(unified[1], target, None, sc.MS_BIND | sc.MS_REC)
            if opts.flags & sc.MS_RDONLY:
                os.close(fd)
                fd = paths.open_in_root(rootfd, dest)
                sc.mount(None, procfs.fd_path(fd), None,
                         sc.MS_BIND | sc.MS_REMOUNT | opts.flags)
    finally:
        os.close(fd)


def _mount_cgroup_v1(rootfd, dest, opts, cgroup_paths, new_cgroupns):
    """cgroup v1: a tmpfs with one mount per hierarchy holding the container's
    own cgroup (its cgroup namespace root, or a bind of its host dir)."""
    flags = opts.flags & ~sc.MS_RDONLY
    fd = paths.mkdir_all(rootfd, dest)
    try:
        sc.mount("tmpfs", procfs.fd_path(fd), "tmpfs", flags, "mode=755")
    finally:
        os.close(fd)
    for name, (mnt, host_dir, options) in sorted(cgroup_paths.items()):
        sub = dest.rstrip("/") + "/" + name
        fd = paths.mkdir_all(rootfd, sub)
        try:
            target = procfs.fd_path(fd)
            if mnt is None:
                continue
            if new_cgroupns:
                if options == "cgroup2":
                    sc.mount("cgroup2", target, "cgroup2", flags)
                else:
                    sc.mount("cgroup", target, "cgroup", flags, options)
            else:
                sc.mount(host_dir, target, None, sc.MS_BIND | sc.MS_REC)
            if opts.flags & sc.MS_RDONLY:
                os.close(fd)
                fd = paths.open_in_root(rootfd, sub)
                sc.mount(None, procfs.fd_path(fd), None,
                         sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | flags)
        finally:
            os.close(fd)
    if opts.flags & sc.MS_RDONLY:
        fd = paths.open_in_root(rootfd, dest)
        try:
            sc.mount(None, procfs.fd_path(fd), None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | flags)
        finally:
            os.close(fd)


def pivot(rootfs, no_pivot):
    """Make rootfs the container's /. pivot_root(".", ".") stacks the old
    root under the new one, so it can be detached without a temp dir."""
    os.chdir(rootfs)
    if no_pivot:
        _hide_host_proc_sys(rootfs)
        sc.mount(rootfs, "/", None, sc.MS_MOVE)
        os.chroot(".")
        os.chdir("/")
        return
    oldroot = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sc.pivot_root(".", ".")
        os.fchdir(oldroot)
        # keep the host's mounts from seeing our umount
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(oldroot)
    os.chdir("/")


def _hide_host_proc_sys(rootfs):
    """--no-pivot: the host's mounts stay under the chroot, so the full
    procfs and sysfs of the host would be one chroot escape away. Detach
    every proc and sysfs mount outside the rootfs from this (private)
    mount namespace, or cover it where it cannot be detached, as runc does."""
    top = rootfs.rstrip("/") + "/"
    with open("/proc/self/mountinfo", "rb") as f:
        lines = f.read().decode(errors="replace").splitlines()
    points = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fstype = right.split(" ", 1)[0]
        mp = _unescape(left.split(" ")[4])
        if fstype in ("proc", "sysfs") and not (mp + "/").startswith(top):
            points.append(mp)
    for mp in sorted(points, key=len, reverse=True):
        try:
            # a shared rootfsPropagation makes them peers of the host's:
            # the unmount must not propagate there (runc does the same)
            sc.mount(None, mp, None, sc.MS_SLAVE | sc.MS_REC)
            sc.umount2(mp, sc.MNT_DETACH)
        except FileNotFoundError:
            continue
        except OSError as e:
            if e.errno not in (1, 22):  # EPERM, EINVAL: a locked or gone mount
                raise
            try:
                sc.mount("tmpfs", mp, "tmpfs", sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV |
                         sc.MS_NOEXEC, "size=0")
            except FileNotFoundError:
                pass


def _unescape(field):
    """mountinfo's octal escapes (\\040 for a space, ...)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def finish_root(spec):
    """After pivot_root: propagation of /, masked and read-only paths, ro /."""
    rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    masks = Masks()
    try:
        linux = spec.linux
        _readonly_at_last(rootfd, spec)
        # sysctl before the read-only paths: /proc/sys is usually one of them
        write_sysctl(linux.sysctl)
        done = set()
        for i, p in enumerate(linux.readonly_paths):
            c = clean(p)
            if c not in done:
                done.add(c)
                _readonly(rootfd, c, f"linux.readonlyPaths[{i}]")
        done = set()
        for i, p in enumerate(linux.masked_paths):
            c = clean(p)
            if c not in done:  # (a second mask would find the first one's /dev/null)
                done.add(c)
                _mask(rootfd, c, f"linux.maskedPaths[{i}]", masks)
        flag = PROPAGATION.get(linux.rootfs_propagation, 0)
        if flag & ~sc.MS_REC not in (0, sc.MS_PRIVATE, sc.MS_SLAVE):
            # shared, unbindable: on the new / (private and slave were given
            # to the rootfs' parent before the bind: prepare_root). After the
            # read-only paths, not before as runc: those are binds, refused
            # (EINVAL) under an already runbindable /.
            sc.mount(None, "/", None, flag)
        if spec.root_readonly:
            sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags("/"))
    finally:
        os.close(rootfd)
        masks.close()


def _readonly_at_last(rootfd, spec):
    """The read-only tmpfs and /dev mounts, mounted read-write so that
    what goes under them could be made, become read-only now (runc's
    finalizeRootfs)."""
    for m in spec.mounts:
        dest = clean(m.destination)
        if _is_bind(m) or not (m.type == "tmpfs" or dest == "/dev"):
            continue
        if not Options(m.options, m.where).flags & sc.MS_RDONLY:
            continue
        try:
            fd = paths.open_in_root(rootfd, dest)
            try:
                sc.mount_setattr(fd, "", sc.AT_EMPTY_PATH, attr_set=sc.MOUNT_ATTR_RDONLY)
            finally:
                os.close(fd)
        except OSError as e:
            raise ConfigError(m.where, f"remounting {dest} read-only: {e.strerror}") from None


# filesystems a masked or read-only path under /sys may be on: sysfs and
# the kernel's own that mount below it (securityfs, debugfs, tracefs,
# cgroup, cgroup2, selinuxfs, bpf, configfs, fusectl, pstore, efivarfs)
SYS_FS = frozenset((procfs.SYSFS_MAGIC, 0x73636673, 0x64626720, 0x74726163, 0x27e0eb,
                    0x63677270, 0xf97cff8c, 0xcafe4a11, 0x62656570, 0x65735543,
                    0x6165676c, 0xde5e81e4))


def _open_special(rootfd, path, where):
    """O_PATH fd of a masked or read-only path, or None when it does not
    exist (skipped, as runc does). It must be where its name says: no
    symlink on the way (a link would mask or protect something else than
    the kernel file, and leave that one open), and under /proc on procfs,
    under /sys on sysfs (or a kernel fs below it) -- else an error, never
    a silent skip."""
    try:
        fd = sc.openat2(rootfd, path.lstrip("/") or ".", os.O_PATH, 0,
                        sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS | sc.RESOLVE_BENEATH)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == 40:  # ELOOP
            raise ConfigError(where, f"{path} is reached through a symlink: refusing to "
                              "protect whatever it points to instead") from None
        raise ConfigError(where, f"{path}: {e.strerror}") from None
    try:
        if path in PROC_ALLOWED:
            pass  # may be what lxcfs (FUSE) put there
        elif path == "/proc" or path.startswith("/proc/"):
            ftype = sc.fstatfs_type(fd)
            if ftype != procfs.PROC_SUPER_MAGIC:
                raise ConfigError(where, f"{path} is not on procfs (filesystem type {ftype:#x})")
        elif path == "/sys" or path.startswith("/sys/"):
            ftype = sc.fstatfs_type(fd)
            if ftype not in SYS_FS:
                raise ConfigError(where, f"{path} is not on sysfs (filesystem type {ftype:#x})")
    except BaseException:
        os.close(fd)
        raise
    return fd


# Masked and read-only paths are mounted by fd alone (open_tree, fsmount,
# mount_setattr, move_mount onto the O_PATH fd _open_special checked): no
# path is looked up again after the check, and no /proc is needed -- in a
# joined pid namespace the init is not in the container's procfs at all.
_EMPTY = sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH


def _readonly(rootfd, path, where):
    fd = _open_special(rootfd, path, where)
    if fd is None:
        return
    try:
        tree = sc.open_tree(fd, "", sc.OPEN_TREE_CLONE | sc.AT_RECURSIVE | sc.AT_EMPTY_PATH)
        try:
            sc.mount_setattr(tree, "", sc.AT_EMPTY_PATH | sc.AT_RECURSIVE,
                             attr_set=sc.MOUNT_ATTR_RDONLY)
            sc.move_mount(tree, "", fd, "", _EMPTY)
        finally:
            os.close(tree)
    except OSError as e:
        raise ConfigError(where, f"{path}: {e.strerror}") from None
    finally:
        os.close(fd)


class Masks:
    """What masking needs, made once: /dev/null (checked, for files) and one
    read-only tmpfs that every masked directory shares (one superblock, as
    runc's). The tmpfs is attached as it is on the first directory and
    cloned from there for the others: kernels before 6.15 cannot clone a
    mount that is not attached yet."""

    __slots__ = ("null", "tmpfs", "attached")

    def __init__(self):
        self.null = self.tmpfs = None
        self.attached = False

    def mount_on(self, fd, isdir):
        if isdir and self.tmpfs is None:
            fs = sc.fsopen("tmpfs")
            try:
                # as runc's: source "tmpfs", the superblock read-only and as
                # small as tmpfs allows (one block, one inode: its root), so
                # mountinfo shows what runc's shows
                sc.fsconfig(fs, sc.FSCONFIG_SET_STRING, "source", "tmpfs")
                sc.fsconfig(fs, sc.FSCONFIG_SET_STRING, "nr_blocks", "1")
                try:
                    sc.fsconfig(fs, sc.FSCONFIG_SET_STRING, "nr_inodes", "1")
                except OSError:  # Ubuntu's 5.4 kernels want 2 at least (runc retries too)
                    sc.fsconfig(fs, sc.FSCONFIG_SET_STRING, "nr_inodes", "2")
                sc.fsconfig(fs, sc.FSCONFIG_SET_FLAG, "ro")
                sc.fsconfig(fs, sc.FSCONFIG_CMD_CREATE)
                self.tmpfs = sc.fsmount(fs, sc.MOUNT_ATTR_RDONLY)
            finally:
                os.close(fs)
        if isdir and not self.attached:
            sc.move_mount(self.tmpfs, "", fd, "", _EMPTY)
            self.attached = True
            return
        src = self.tmpfs if isdir else self._null()
        tree = sc.open_tree(src, "", sc.OPEN_TREE_CLONE | sc.AT_EMPTY_PATH)
        try:
            sc.move_mount(tree, "", fd, "", _EMPTY)
        finally:
            os.close(tree)

    def _null(self):
        if self.null is None:
            try:
                self.null = open_dev_null()
            except OSError as e:
                raise ConfigError("linux.maskedPaths", f"cannot mask with /dev/null: "
                                  f"{e.strerror}") from None
        return self.null

    def close(self):
        for fd in (self.null, self.tmpfs):
            if fd is not None:
                os.close(fd)


def _mask(rootfd, path, where, masks):
    import stat
    fd = _open_special(rootfd, path, where)
    if fd is None:
        return
    try:
        masks.mount_on(fd, stat.S_ISDIR(os.fstat(fd).st_mode))
    except OSError as e:
        raise ConfigError(where, f"{path}: {e.strerror}") from None
    finally:
        os.close(fd)


def write_sysctl(sysctl):
    """After pivot_root, in the container's namespaces: through the
    container's procfs, proven to be procfs, each file opened without
    symlinks or crossing a mount, so a file bind-mounted over
    /proc/sys/<key> (a host file) is refused, never written."""
    if not sysctl:
        return
    try:
        proc = procfs.container()
    except OSError as e:
        key = next(iter(sysctl))
        raise ConfigError(f"linux.sysctl.{key}", f"no procfs to set it through: {e}") from None
    with proc:
        for key, value in sysctl.items():
            rel = "sys/" + key.replace(".", "/")
            try:
                proc.write(rel, value)
            except procfs.NotProcfs as e:
                raise ConfigError(f"linux.sysctl.{key}", f"refusing to set it: {e}") from None
            except OSError as e:
                raise ConfigError(f"linux.sysctl.{key}", f"cannot set to {value!r}: "
                                  f"{e.strerror}") from None


def dev_is_bind(spec):
    for m in spec.mounts:
        if m.destination.rstrip("/") == "/dev":
            return m.type == "bind" or "bind" in m.options or "rbind" in m.options
    return False
