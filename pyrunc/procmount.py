"""A procfs for a pid namespace the container joins (linux.namespaces
`pid` with a `path`: a pod's shared pid namespace).

Other processes live in such a namespace, so no process of the runtime
(the host's interpreter, with the host's `/` as its root) may ever become
a member of it: the init does all its work outside it, and only at the end
the sealed helper forks the container's process into it
(csrc/execinit.c, option F). A procfs the init mounted itself would then
show the wrong pid namespace, so the runtime makes it here, before the
fork, for the joined namespace (fsconfig "pidns", Linux 6.15), as a
detached mount the init attaches like an idmapped one (mounts._attach).
"""
import os

from . import syscalls as sc
from .errors import ConfigError


def wanted(spec):
    """The proc mounts to make, when the pid namespace is joined."""
    pid = spec.linux.ns("pid")
    if pid is None or not pid.path:
        return []
    return [m for m in spec.mounts if m.type == "proc"]


def prepare(mounts, pidns_fd):
    """{mount index: detached procfs fd}, or None when the kernel cannot
    make a procfs for another pid namespace (then the init falls back to
    mounting it from inside, as runc does)."""
    out = {}
    try:
        for m in mounts:
            fd = _detached(m, pidns_fd)
            if fd is None:
                for f in out.values():
                    os.close(f)
                return None
            out[m.index] = fd
    except BaseException:
        for f in out.values():
            os.close(f)
        raise
    return out


def _detached(m, pidns_fd):
    from .mountopts import Options
    opts = Options(m.options, m.where)
    fs = sc.fsopen("proc")
    try:
        try:
            sc.fsconfig(fs, sc.FSCONFIG_SET_FD, "pidns", None, pidns_fd)
        except OSError as e:
            if e.errno == 22:  # EINVAL: no "pidns" option before Linux 6.15
                return None
            raise
        for item in (opts.data or "").split(","):
            if not item:
                continue
            key, eq, value = item.partition("=")
            try:
                if eq:
                    sc.fsconfig(fs, sc.FSCONFIG_SET_STRING, key, value)
                else:
                    sc.fsconfig(fs, sc.FSCONFIG_SET_FLAG, key)
            except OSError as e:
                raise ConfigError(f"{m.where}.options", f"proc option {item!r}: "
                                  f"{e.strerror}") from None
        sc.fsconfig(fs, sc.FSCONFIG_CMD_CREATE)
        return sc.fsmount(fs)
    except OSError as e:
        raise ConfigError(m.where, f"making a procfs for the joined pid namespace: "
                          f"{e.strerror}") from None
    finally:
        os.close(fs)
