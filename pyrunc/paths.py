"""Paths inside the container's rootfs, resolved without leaving it.

Every lookup goes through openat2(RESOLVE_IN_ROOT) against an fd of the
rootfs, so a symlink in the bundle (`/etc -> /` or `../../host`) resolves
inside the rootfs, never on the host (runc's CVE-2021-30465 and
CVE-2023-27561 class). The mount target is then the returned fd, via
/proc/self/fd, so nothing can swap the path between check and use.
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import fspath
from . import syscalls as sc

O_PATH = os.O_PATH
IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS


def open_in_root(rootfd, path, flags=O_PATH):
    return sc.openat2(rootfd, path.lstrip("/") or ".", flags, 0, IN_ROOT)


def _split(path):
    path = path.strip("/")
    head, _, base = path.rpartition("/")
    return head, base


def mkdir_all(rootfd, path, mode=0o755, _depth=0):
    """O_PATH fd of directory `path` inside the root, creating what is missing.

    A dangling symlink on the way is followed the way the kernel would
    inside the root (its target, taken relative to the rootfs, is created),
    so `/evil -> /host/dir` makes rootfs/host/dir, never the host's."""
    try:
        return open_in_root(rootfd, path, O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        pass
    if _depth == 0:  # dangling symlinks on the way: made where they point, in the root
        path = resolve_lexically(rootfd, path)
    if _depth > 40:
        raise OSError(40, "too many levels of symbolic links", path)
    head, base = _split(path)
    if not base or base == "..":
        raise FileNotFoundError(2, "cannot create", path)
    pfd = mkdir_all(rootfd, head, mode, _depth + 1)
    try:
        try:
            os.mkdir(base, mode, dir_fd=pfd)
        except FileExistsError:
            try:
                target = os.readlink(base, dir_fd=pfd)
            except OSError:
                target = None
            if target is not None:
                resolved = target if target.startswith("/") else head + "/" + target
                # lexically, clamped at the rootfs: ".." cannot climb out
                return mkdir_all(rootfd, fspath.normpath("/" + resolved.lstrip("/")), mode, _depth + 1)
        # the component is ours now; never follow a symlink planted there
        return sc.openat2(pfd, base, O_PATH | os.O_DIRECTORY, 0,
                          sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_BENEATH)
    finally:
        os.close(pfd)


def make_file(rootfd, path, mode=0o644):
    """O_PATH fd of a file at `path` (created empty if missing), parents made."""
    try:
        return open_in_root(rootfd, path)
    except FileNotFoundError:
        pass
    # a trailing dangling symlink too: the file is made where it points
    head, base = _split(resolve_lexically(rootfd, path))
    pfd = mkdir_all(rootfd, head)
    try:
        try:
            fd = os.open(base, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode, dir_fd=pfd)
            os.close(fd)
        except FileExistsError:
            pass
        return sc.openat2(pfd, base, O_PATH, 0, sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_BENEATH)
    finally:
        os.close(pfd)


def fd_path(fd):
    return f"/proc/self/fd/{fd}"


def resolve_lexically(rootfd, path, _limit=255):
    """`path` with every symlink in it resolved as if the rootfs were /,
    dangling ones included, and what does not exist taken as it is (runc's
    "hallucinated" path: SecureJoin, then the real work in the root). Only
    a name: what is made at it is made by mkdir_all/make_file, inside the
    root. A link to /tmp/x names <rootfs>/tmp/x, never the host's /tmp."""
    todo = [c for c in path.split("/") if c and c != "."]
    todo.reverse()
    done = []
    links = 0
    while todo:
        c = todo.pop()
        if c == "..":
            if done:
                done.pop()
            continue
        done.append(c)
        target = _readlink_in(rootfd, done)
        if target is None:
            continue  # missing, or not a symlink: taken as it is
        links += 1
        if links > _limit:
            raise OSError(40, "too many levels of symbolic links", path)
        done.pop()
        if target.startswith("/"):
            done = []
        todo.extend(reversed([t for t in target.split("/") if t and t != "."]))
    return "/" + "/".join(done)


def _readlink_in(rootfd, parts):
    """The target of the symlink at parts (no symlink before it), or None."""
    try:
        pfd = sc.openat2(rootfd, "/".join(parts[:-1]) or ".", O_PATH | os.O_DIRECTORY, 0,
                         IN_ROOT | sc.RESOLVE_NO_SYMLINKS)
    except OSError:
        return None
    try:
        return os.readlink(parts[-1], dir_fd=pfd)
    except OSError:
        return None
    finally:
        os.close(pfd)
