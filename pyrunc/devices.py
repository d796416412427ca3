"""/dev inside the container: the default devices, linux.devices, links.

Without a user namespace the nodes are made with mknod; inside one
mknod is not allowed, so the host's node is bind-mounted instead.
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)
import stat

from . import fspath, paths
from . import syscalls as sc

# (path, type, major, minor)
DEFAULT = (
    ("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0),
)
LINKS = (
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
)
TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def setup(rootfd, linux, in_userns, map_uid, map_gid):
    given = {d.path for d in linux.devices}
    for path, kind, major, minor in DEFAULT:
        if path not in given:
            _create(rootfd, path, kind, major, minor, 0o666, 0, 0, in_userns)
    for d in linux.devices:
        mode = d.file_mode if d.file_mode is not None else 0o666
        uid = map_uid(d.uid or 0)
        gid = map_gid(d.gid or 0)
        _create(rootfd, d.path, d.type, d.major, d.minor, mode, uid, gid, in_userns)
    for target, link in LINKS:
        _symlink(rootfd, target, link)
    if fspath.exists("/proc/kcore"):
        _symlink(rootfd, "/proc/kcore", "/dev/core")
    _symlink(rootfd, "pts/ptmx", "/dev/ptmx")


def _symlink(rootfd, target, link):
    head, _, base = link.strip("/").rpartition("/")
    pfd = paths.mkdir_all(rootfd, head)
    try:
        os.symlink(target, base, dir_fd=pfd)
    except FileExistsError:
        pass
    finally:
        os.close(pfd)


def _create(rootfd, path, kind, major, minor, mode, uid, gid, in_userns):
    if in_userns and kind != "p":
        fd = paths.make_file(rootfd, path, 0o000)
        try:
            sc.mount(path, paths.fd_path(fd), None, sc.MS_BIND)
        finally:
            os.close(fd)
        return
    head, _, base = path.strip("/").rpartition("/")
    pfd = paths.mkdir_all(rootfd, head)
    try:
        try:
            os.unlink(base, dir_fd=pfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise OSError(21, "is a directory", path) from None
        os.mknod(base, TYPES[kind] | (mode & 0o7777), os.makedev(major, minor), dir_fd=pfd)
        os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
    finally:
        os.close(pfd)
