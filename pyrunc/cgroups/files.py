"""Reading and writing cgroup control files.

One open+write per value: cgroupfs applies a write as one operation, and
its error (EINVAL, EBUSY...) is the kernel's verdict on that value.
"""
import posix

from .. import errors

# errno's values, the same on every Linux architecture (the errno module
# costs `delete`, `pause` and exec ~0.2M instructions to import)
EBUSY, ENODEV = 16, 19


def read(d, name):
    """A control file's text, "" when it cannot be read."""
    return read_file(_join(d, name))


def read_file(path):
    """read()'s work, for a whole path."""
    try:
        return read_bytes(path).decode(errors="replace")
    except OSError:
        return ""


def read_bytes(path):
    """A whole cgroupfs or procfs file, read to its end (such a read
    returns a page or so at a time, not what was asked); OSError as it
    comes. (posix.read: no file object, ~25K instructions less a read.)"""
    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        parts = []
        while True:
            data = posix.read(fd, 65536)
            if not data:
                return b"".join(parts)
            parts.append(data)
    finally:
        posix.close(fd)


def _join(d, name):
    # (os.path.join of a directory and a file name: fspath is not imported
    # for `pause` and `resume`)
    return d + name if not d or d.endswith("/") else d + "/" + name


def write(path, data):
    fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC)
    try:
        posix.write(fd, data.encode() if isinstance(data, str) else data)
    finally:
        posix.close(fd)


def write_field(d, name, value, field):
    """Write `value` to d/name; a failure names the config field."""
    try:
        write(_join(d, name), str(value))
    except OSError as e:
        raise errors.ConfigError(field, f"writing {value!r} to {_join(d, name)}: "
                                 f"{e.strerror}", "resource.cgroup", e.errno) from None


def int_of(d, name):
    v = read(d, name).strip()
    try:
        return int(v)
    except ValueError:
        return 0


def flat_keyed(d, name):
    """"key value" lines (memory.stat, cpu.stat, memory.events...)."""
    out = {}
    for line in read(d, name).splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            pass
    return out
