"""procfs, never trusted by its path (CVE-2019-16884, CVE-2019-19921,
CVE-2025-52881).

A container's rootfs and mounts decide what "/proc/..." is once the
runtime is inside: /proc may be a symlink, a plain directory, or a real
procfs with a host file bind-mounted over /proc/sys/kernel/domainname. So
every procfs access of the runtime goes through a Handle:

- the handle is an fd of "/proc" (opened without following a symlink)
  proven to be the root of a procfs mount: fstatfs f_type is
  PROC_SUPER_MAGIC and the inode is PROC_ROOT_INO, which only a procfs
  root has;
- everything below it is opened with openat2 from that root with
  RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
  RESOLVE_BENEATH: no symlink, no magic link, no crossing into a mount
  over the file, no way out by "..". "self" (a symlink) is replaced by
  the pid this procfs shows for us, read with readlinkat;
- what opens is checked to be on procfs again.

host() is the runtime's own procfs: in the parent, or in the init before
pivot_root (its mount namespace is still a copy of the host's). After
pivot_root, container() is the /proc the runtime mounted for the
container; it is used for what must be done in the container's
namespaces (sysctls), never for values that are the host's to give
(cap_last_cap is read by the parent, capabilities.last_cap).

mount(2) and the like take paths, not fds: fd_path(fd) gives
"/proc/self/fd/N" only after proving that this path string reaches our
fd table on a verified procfs (the same directory, not something mounted
over it). Nothing else runs in the init's mount namespace while it sets
up, so what was proven stays true for the call that follows.
"""
import errno
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import syscalls as sc

PROC_SUPER_MAGIC = 0x9FA0
PROC_ROOT_INO = 1
SYSFS_MAGIC = 0x62656572
RESOLVE = (sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS | sc.RESOLVE_NO_XDEV
           | sc.RESOLVE_BENEATH)


class NotProcfs(OSError):
    """What should be procfs is not: not procfs, not its root, or reached
    through a symlink or a mount. strerror says which."""

    def __init__(self, path, why):
        super().__init__(errno.EXDEV, f"{path} {why}", path)

    def __str__(self):
        return self.strerror


def verify_root(fd, what="/proc"):
    """Raise NotProcfs unless fd is the root of a procfs mount."""
    ftype = sc.fstatfs_type(fd)
    if ftype != PROC_SUPER_MAGIC:
        raise NotProcfs(what, f"is not procfs (filesystem type {ftype:#x})")
    if os.fstat(fd).st_ino != PROC_ROOT_INO:
        raise NotProcfs(what, "is not the root of a procfs mount")


def is_procfs(fd):
    return sc.fstatfs_type(fd) == PROC_SUPER_MAGIC


def _open_root(path):
    # one component, no symlink (a rootfs's /proc -> /somewhere is refused)
    try:
        return sc.openat2(-100, path, os.O_PATH | os.O_DIRECTORY, 0,
                          sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotProcfs(path, "is a symlink") from None
        if e.errno == errno.ENOTDIR:
            raise NotProcfs(path, "is not a directory") from None
        if e.errno == errno.ENOENT:
            raise NotProcfs(path, "does not exist (no procfs mounted)") from None
        raise


class Handle:
    """A verified procfs root. Use as a context manager, or close()."""
    __slots__ = ("fd", "what")

    def __init__(self, fd, what="/proc"):
        self.fd = fd
        self.what = what
        try:
            verify_root(fd, what)
        except BaseException:
            os.close(fd)
            raise

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def pid(self):
        """Our pid as this procfs shows it (its "self" link)."""
        return os.readlink("self", dir_fd=self.fd)

    def _rel(self, rel):
        rel = rel.strip("/")
        if ".." in rel.split("/"):
            raise NotProcfs(f"{self.what}/{rel}", "leaves procfs (\"..\")")
        head, sep, tail = rel.partition("/")
        if head in ("self", "thread-self"):
            # the init is single-threaded: thread-self is self
            rel = self.pid() + sep + tail
        return rel or "."

    def open(self, rel, flags=os.O_RDONLY):
        """fd of <procfs>/rel, opened with flags (O_CLOEXEC added)."""
        path = self._rel(rel)
        shown = f"{self.what}/{rel.strip('/')}"
        try:
            fd = sc.openat2(self.fd, path, flags, 0, RESOLVE)
        except OSError as e:
            if e.errno == errno.EXDEV:  # RESOLVE_NO_XDEV
                raise NotProcfs(shown, "is covered by a mount (not the kernel's file)") from None
            if e.errno == errno.ELOOP:
                raise NotProcfs(shown, "is reached through a symlink") from None
            raise OSError(e.errno, e.strerror, shown) from None
        try:
            if not is_procfs(fd):
                raise NotProcfs(shown, "is not on procfs")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read(self, rel, size=1 << 16):
        fd = self.open(rel, os.O_RDONLY)
        try:
            out = b""
            while True:
                chunk = os.read(fd, size)
                if not chunk:
                    return out
                out += chunk
        finally:
            os.close(fd)

    def write(self, rel, data, trunc=True):
        """One write(2) of data (files such as uid_map take exactly one)."""
        if isinstance(data, str):
            data = data.encode()
        fd = self.open(rel, os.O_WRONLY | (os.O_TRUNC if trunc else 0))
        try:
            n = os.write(fd, data)
            if n != len(data):
                raise OSError(errno.EIO, f"short write ({n} of {len(data)} bytes)",
                              f"{self.what}/{rel}")
        finally:
            os.close(fd)

    def fd_dir(self):
        """O_PATH fd of our own <pid>/fd directory."""
        return self.open("self/fd", os.O_PATH | os.O_DIRECTORY)

    def fd_target(self, fd):
        """The path our fd refers to (readlink of its magic link, which is
        read, never followed)."""
        d = self.fd_dir()
        try:
            return os.readlink(str(fd), dir_fd=d)
        finally:
            os.close(d)


def host():
    """The runtime's procfs: in the parent, or in the init before pivot_root."""
    return Handle(_open_root("/proc"), "/proc")


def container():
    """The container's /proc, after pivot_root: must be the procfs the
    runtime mounted there, not a symlink, a directory of the image, or
    a bind of anything else."""
    return Handle(_open_root("/proc"), "/proc")


def write_pid_file(pid, name, data):
    """Parent side: write /proc/<pid>/<name> of the host's procfs
    (oom_score_adj, uid_map, gid_map, setgroups) through a verified
    handle."""
    with host() as p:
        p.write(f"{int(pid)}/{name}", data, trunc=False)


def self_fd_dir_path():
    """Prove that the path "/proc/self/fd" (as mount(2) and friends will
    resolve it) is our fd directory on a verified procfs root, nothing
    mounted over it; returns that path."""
    with Handle(_open_root("/proc"), "/proc") as p:
        d = p.fd_dir()
        try:
            a = os.fstat(d)
            try:
                b = os.stat("/proc/self/fd")
            except OSError as e:
                raise NotProcfs("/proc/self/fd", e.strerror) from None
            if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
                raise NotProcfs("/proc/self/fd", "is covered by a mount (not our fd table)")
        finally:
            os.close(d)
    return "/proc/self/fd"


_proven = None  # while inside a proven_fd_paths block: [] or ["/proc/self/fd"]


class proven_fd_paths:
    """`with proven_fd_paths():` proves /proc/self/fd once, at the first
    fd_path call of the block (each proof is a dozen syscalls). For a
    block in which nothing but the runtime mounts, and nothing it mounts
    can land on /proc/self/fd (mounts under /proc are refused, masked
    paths are opened without symlinks): the init's mount_all, and its
    finish_root after pivot_root, which proves it again for the
    container's /proc."""

    def __enter__(self):
        global _proven
        _proven = []
        return self

    def __exit__(self, *exc):
        global _proven
        _proven = None


def fd_path(fd):
    """"/proc/self/fd/N" for the calls that take a path, once proven to
    reach our fd N (see self_fd_dir_path)."""
    if _proven is None:
        return f"{self_fd_dir_path()}/{fd}"
    if not _proven:
        _proven.append(self_fd_dir_path())
    return f"{_proven[0]}/{fd}"
