"""The container's filesystem: rootfs, mounts, pivot_root, masked and
read-only paths. Runs in the init, inside the new mount namespace."""
import os

from . import paths
from . import syscalls as sc
from .errors import ConfigError
from .mountopts import PROPAGATION, Options

LOCKED = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | \
    sc.MS_NODIRATIME | sc.MS_RELATIME
# statvfs f_flag bits (ST_*) -> MS_* for the flags a bind remount must keep
_ST_TO_MS = ((1, sc.MS_RDONLY), (2, sc.MS_NOSUID), (4, sc.MS_NODEV), (8, sc.MS_NOEXEC),
             (1024, sc.MS_NOATIME), (2048, sc.MS_NODIRATIME), (4096, sc.MS_RELATIME))


def prepare_root(spec):
    """Before any mount: stop propagation to the host, make rootfs a mount."""
    sc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC)
    rootfs = spec.root_path
    try:
        sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        raise ConfigError("root.path", f"cannot bind-mount {rootfs}: {e.strerror}") from None
    # pivot_root refuses a shared parent mount: make the rootfs' own mount private
    sc.mount(None, rootfs, None, sc.MS_PRIVATE)
    return os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _locked_flags(path):
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return sum(ms for st_bit, ms in _ST_TO_MS if st.f_flag & st_bit)


def _bind_remount(target, flags):
    """Remount a bind mount with `flags`. In a user namespace the flags the
    source mount has (ro, nosuid, ...) are locked and must be repeated, so
    on EPERM try again with them, as runc does."""
    locked = _locked_flags(target)
    try:
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | flags | (locked & ~sc.MS_RDONLY))
    except PermissionError:
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | flags | locked)


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


def mount_all(spec, rootfd, cgroup_paths, new_cgroupns, idmapped=None):
    """Every mount in config order. idmapped: {mount index: fd of the
    detached idmapped mount the runtime prepared (idmap.py)}."""
    for m in spec.mounts:
        try:
            tree = (idmapped or {}).get(m.index)
            if tree is not None:
                _attach(rootfd, m, tree)
                continue
            _mount_one(spec, rootfd, m, cgroup_paths, new_cgroupns)
        except ConfigError:
            raise
        except OSError as e:
            raise ConfigError(m.where, f"mounting {m.source or m.type!r} on {m.destination}: "
                              f"{e.strerror}") from None


def _mount_one(spec, rootfd, m, cgroup_paths, new_cgroupns):
    opts = Options(m.options, m.where)
    dest = m.destination
    if not dest.startswith("/"):
        dest = "/" + dest
    if m.type == "cgroup":
        v1 = {n: v for n, v in cgroup_paths.items() if n != "unified"}
        if v1:
            return _mount_cgroup_v1(rootfd, dest, opts, v1, new_cgroupns)
        return _mount_cgroup_v2(rootfd, dest, opts, cgroup_paths.get("unified"), new_cgroupns)
    bind = opts.flags & sc.MS_BIND or m.type == "bind"
    if bind:
        src = m.source if os.path.isabs(m.source) else os.path.join(spec.bundle, m.source)
        if not os.path.exists(src):
            raise ConfigError(f"{m.where}.source", f"bind source {src} does not exist")
        fd = paths.mkdir_all(rootfd, dest) if os.path.isdir(src) else paths.make_file(rootfd, dest)
    else:
        fd = paths.mkdir_all(rootfd, dest)
    try:
        target = paths.fd_path(fd)
        if bind:
            sc.mount(src, target, None, sc.MS_BIND | (opts.flags & sc.MS_REC))
            extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
            if extra:
                # the new mount is the last one on the path: reopen to reach it
                os.close(fd)
                fd = paths.open_in_root(rootfd, dest)
                target = paths.fd_path(fd)
                _bind_remount(target, extra)
        else:
            data = opts.data
            if m.type == "tmpfs" and "tmpcopyup" in opts.extensions:
                _tmpfs_copyup(m, target, opts)
            else:
                sc.mount(m.source or m.type, target, m.type, opts.flags, data)
        if opts.propagation or opts.attr_set or opts.attr_clr:
            os.close(fd)
            fd = paths.open_in_root(rootfd, dest)
            target = paths.fd_path(fd)
            for p in opts.propagation:
                sc.mount(None, target, None, p)
            if opts.attr_set or opts.attr_clr:
                _setattr_recursive(fd, opts.attr_set, opts.attr_clr)
    finally:
        os.close(fd)


def _attach(rootfd, m, tree):
    """Attach a detached (idmapped) mount at the destination, then apply
    the flags and propagation the options ask for."""
    import stat
    opts = Options(m.options, m.where)
    dest = "/" + m.destination.lstrip("/")
    isdir = stat.S_ISDIR(os.fstat(tree).st_mode)
    fd = paths.mkdir_all(rootfd, dest) if isdir else paths.make_file(rootfd, dest)
    try:
        sc.move_mount(tree, "", fd, "", sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)
    finally:
        os.close(fd)
        os.close(tree)
    extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if extra or opts.propagation:
        fd = paths.open_in_root(rootfd, dest)
        try:
            if extra:
                _bind_remount(paths.fd_path(fd), extra)
            for p in opts.propagation:
                sc.mount(None, paths.fd_path(fd), None, p)
        finally:
            os.close(fd)


def _tmpfs_copyup(m, target, opts):
    """tmpfs with what the image has at the destination copied in (podman's
    --read-only /tmp, /run). The tmpfs is filled at a staging directory of
    this private mount namespace, then moved onto the destination."""
    # (our pid is 1 in a new pid namespace: a random name, never reused)
    stage = f"/tmp/.pyrunc-copyup-{os.urandom(8).hex()}"
    os.mkdir(stage, 0o700)
    try:
        sc.mount(m.source or "tmpfs", stage, "tmpfs", opts.flags & ~sc.MS_RDONLY, opts.data)
        try:
            src = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            dst = os.open(stage, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                _copy_tree(src, dst)
            finally:
                os.close(src)
                os.close(dst)
            sc.mount(stage, target, None, sc.MS_MOVE)
        except BaseException:
            sc.umount2(stage, sc.MNT_DETACH)
            raise
        if opts.flags & sc.MS_RDONLY:
            sc.mount(None, target, None, sc.MS_REMOUNT | opts.flags, opts.data)
    finally:
        os.rmdir(stage)


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
        target = paths.fd_path(fd)
        if new_cgroupns or unified is None:
            sc.mount("cgroup2", target, "cgroup2", opts.flags)
        else:
            sc.mount(unified[1], target, None, sc.MS_BIND | sc.MS_REC)
            if opts.flags & sc.MS_RDONLY:
                os.close(fd)
                fd = paths.open_in_root(rootfd, dest)
                sc.mount(None, paths.fd_path(fd), None,
                         sc.MS_BIND | sc.MS_REMOUNT | opts.flags)
    finally:
        os.close(fd)


def _mount_cgroup_v1(rootfd, dest, opts, cgroup_paths, new_cgroupns):
    """cgroup v1: a tmpfs with one mount per hierarchy holding the container's
    own cgroup (its cgroup namespace root, or a bind of its host dir)."""
    flags = opts.flags & ~sc.MS_RDONLY
    fd = paths.mkdir_all(rootfd, dest)
    try:
        sc.mount("tmpfs", paths.fd_path(fd), "tmpfs", flags, "mode=755")
    finally:
        os.close(fd)
    for name, (mnt, host_dir, options) in sorted(cgroup_paths.items()):
        sub = dest.rstrip("/") + "/" + name
        fd = paths.mkdir_all(rootfd, sub)
        try:
            target = paths.fd_path(fd)
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
                sc.mount(None, paths.fd_path(fd), None,
                         sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | flags)
        finally:
            os.close(fd)
    if opts.flags & sc.MS_RDONLY:
        fd = paths.open_in_root(rootfd, dest)
        try:
            sc.mount(None, paths.fd_path(fd), None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | flags)
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
    null_fd = None
    try:
        if any(not os.path.isdir(p) for p in spec.linux.masked_paths if os.path.lexists(p)):
            try:
                null_fd = open_dev_null()
            except OSError as e:
                raise ConfigError("linux.maskedPaths", f"cannot mask with /dev/null: "
                                  f"{e.strerror}") from None
        linux = spec.linux
        # sysctl before the read-only paths: /proc/sys is usually one of them
        write_sysctl(linux.sysctl)
        for i, p in enumerate(linux.readonly_paths):
            _readonly(rootfd, p, f"linux.readonlyPaths[{i}]")
        for i, p in enumerate(linux.masked_paths):
            _mask(rootfd, p, f"linux.maskedPaths[{i}]", null_fd)
        if linux.rootfs_propagation:
            flag = PROPAGATION.get(linux.rootfs_propagation)
            if flag is None:
                raise ConfigError("linux.rootfsPropagation",
                                  f"unknown propagation {linux.rootfs_propagation!r}")
            sc.mount(None, "/", None, flag)
        if spec.root_readonly:
            sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags("/"))
    finally:
        os.close(rootfd)
        if null_fd is not None:
            os.close(null_fd)


def _readonly(rootfd, path, where):
    try:
        fd = paths.open_in_root(rootfd, path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ConfigError(where, f"{path}: {e.strerror}") from None
    try:
        t = paths.fd_path(fd)
        sc.mount(t, t, None, sc.MS_BIND | sc.MS_REC)
        os.close(fd)
        fd = paths.open_in_root(rootfd, path)
        t = paths.fd_path(fd)
        sc.mount(None, t, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | _locked_flags(t))
    except OSError as e:
        raise ConfigError(where, f"{path}: {e.strerror}") from None
    finally:
        os.close(fd)


def _mask(rootfd, path, where, null_fd):
    try:
        fd = paths.open_in_root(rootfd, path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ConfigError(where, f"{path}: {e.strerror}") from None
    try:
        t = paths.fd_path(fd)
        if os.path.isdir(t):
            sc.mount("tmpfs", t, "tmpfs", sc.MS_RDONLY)
        else:
            sc.mount(paths.fd_path(null_fd), t, None, sc.MS_BIND)
    except OSError as e:
        raise ConfigError(where, f"{path}: {e.strerror}") from None
    finally:
        os.close(fd)


def write_sysctl(sysctl):
    for key, value in sysctl.items():
        rel = key.replace(".", "/")
        try:
            fd = os.open("/proc/sys/" + rel, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise ConfigError(f"linux.sysctl.{key}", f"cannot set to {value!r}: {e.strerror}") from None


def dev_is_bind(spec):
    for m in spec.mounts:
        if m.destination.rstrip("/") == "/dev":
            return m.type == "bind" or "bind" in m.options or "rbind" in m.options
    return False
