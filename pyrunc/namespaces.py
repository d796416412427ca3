"""Linux namespaces: which to create, which to join, and in what order.

Joining comes before creating (a namespace made after joining a user
namespace must be owned by it), and the user namespace is always first.
pid and time namespaces only apply to children, so when one is new or
joined the init is a fork of the process that unshared them.
"""
import os

from . import log
from . import syscalls as sc
from .errors import ConfigError

FLAGS = {
    "user": sc.CLONE_NEWUSER,
    "mount": sc.CLONE_NEWNS,
    "uts": sc.CLONE_NEWUTS,
    "ipc": sc.CLONE_NEWIPC,
    "network": sc.CLONE_NEWNET,
    "cgroup": sc.CLONE_NEWCGROUP,
    "pid": sc.CLONE_NEWPID,
    "time": sc.CLONE_NEWTIME,
}
PROC_NAMES = {"user": "user", "mount": "mnt", "uts": "uts", "ipc": "ipc", "network": "net",
              "cgroup": "cgroup", "pid": "pid", "time": "time"}
# setns order for joined namespaces: user first, mount last (once we are
# in another mount namespace, other paths may no longer resolve).
JOIN_ORDER = ("user", "pid", "time", "ipc", "uts", "network", "cgroup", "mount")


def open_joined(linux):
    """Open every namespace path up front (in the runtime's own mount ns).

    Returns [(type, fd)] in join order; errors name the config field.
    """
    fds = []
    index = {n.type: i for i, n in enumerate(linux.namespaces)}
    for kind in JOIN_ORDER:
        n = linux.ns(kind)
        if n is None or not n.path:
            continue
        try:
            fd = os.open(n.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            for _, f in fds:
                os.close(f)
            raise ConfigError(f"linux.namespaces[{index[kind]}].path",
                              f"cannot open {n.path}: {e.strerror}") from None
        fds.append((kind, fd))
    return fds


def new_flags(linux):
    flags = 0
    for n in linux.namespaces:
        if not n.path:
            flags |= FLAGS[n.type]
    return flags


def birth_flags(linux):
    """Namespaces the init can be born in (clone3 flags), or 0.

    When every namespace is new and none is a user or time namespace (the
    usual container), one clone3 makes them all, saving the init an
    unshare and a second fork. The cgroup namespace is left out: it must be
    made after the init has joined its cgroups."""
    if any(n.path or n.type in ("user", "time") for n in linux.namespaces):
        return 0
    return new_flags(linux) & ~sc.CLONE_NEWCGROUP


def needs_fork(linux):
    """The init must be a child of the process that unshared/joined these."""
    return any(n.type in ("pid", "time") for n in linux.namespaces)


def pid_joined(linux):
    n = linux.ns("pid")
    return n is not None and bool(n.path)


def join(fds, keep=()):
    """setns into each; the kinds in `keep` are left open, returned as
    {kind: fd}, for the caller to join later."""
    kept = {}
    for kind, fd in fds:
        if kind in keep:
            kept[kind] = fd
            continue
        try:
            sc.setns(fd, FLAGS[kind])
        except OSError as e:
            raise OSError(e.errno, f"joining {kind} namespace: {e.strerror}") from None
        finally:
            os.close(fd)
    return kept


def write_id_maps(pid, linux):
    """Parent side: write uid_map/gid_map for the init's new user namespace
    (through the host's procfs, proven: procfs.py)."""
    from . import procfs
    for name, maps in (("uid_map", linux.uid_mappings), ("gid_map", linux.gid_mappings)):
        data = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        field = "linux.uidMappings" if name == "uid_map" else "linux.gidMappings"
        log.debug("update /proc/%d/%s to '%s'", pid, name, data.rstrip("\n"))  # (runc's words)
        try:
            procfs.write_pid_file(pid, name, data)
        except OSError as e:
            raise ConfigError(field, f"writing {name}: {e.strerror}") from None


def write_time_offsets(offsets):
    """After unshare(CLONE_NEWTIME), before any process enters it; through
    a proven procfs (with the mount namespace joined by path, /proc is
    another container's)."""
    from . import procfs
    lines = []
    for clock, off in offsets.items():
        lines.append(f"{clock} {off.get('secs', 0)} {off.get('nanosecs', 0)}\n")
    if lines:
        with procfs.host() as p:
            p.write("self/timens_offsets", "".join(lines), trunc=False)


def host_id(maps, cid):
    """Map a container id (uid/gid) to the host through the given maps."""
    if not maps:
        return cid
    for m in maps:
        if m.container_id <= cid < m.container_id + m.size:
            return m.host_id + cid - m.container_id
    return None
