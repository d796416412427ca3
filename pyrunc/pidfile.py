"""--pid-file of create, run and exec: the process's host pid, written
atomically. Without os (posix, fspath): exec imports no more than it needs
(container.py, which create imports anyway, re-exports it)."""
import posix

from . import fspath
from .errors import ContainerError

_S_IFMT, _S_IFREG = 0o170000, 0o100000


def write_pid_file(path, pid):
    """Atomically, decimal, no newline (containerd Atoi's the whole file)."""
    path = fspath.abspath(path)
    try:
        if posix.lstat(path).st_mode & _S_IFMT != _S_IFREG:
            # renaming over it would replace a device, a dir's link, ...
            raise ContainerError(f"pid file {path} exists and is not a regular file")
    except FileNotFoundError:
        pass
    head, tail = fspath.split(path)
    tmp = fspath.join(head, "." + tail + ".tmp")
    flags = posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW | posix.O_CLOEXEC
    try:
        fd = posix.open(tmp, flags, 0o644)
    except FileExistsError:  # left by a crash; never follow what is there
        posix.unlink(tmp)
        fd = posix.open(tmp, flags, 0o644)
    try:
        posix.write(fd, str(pid).encode())
    finally:
        posix.close(fd)
    posix.rename(tmp, path)
