"""Linux namespaces: which to create, which to join, and in what order.

Joining comes before creating (a namespace made after joining a user
namespace must be owned by it). Joined ones go as runc's nsenter joins
them: every one but the user namespace first (with the host's privileges:
a namespace owned by another user namespace than the one joined, the
host's network say, could not be joined from inside it), then the user
namespace, then those that refused us (EPERM) before, now with the joined
namespace's privileges.
pid and time namespaces only apply to children, so when one is new or
joined the init is a fork of the process that unshared them.
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

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
# runc's order (configs.NamespaceTypes); every path is opened before the
# first setns, so joining the mount namespace early changes no lookup.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "mount", "cgroup", "time")
# how nsenter names a set of namespaces in its error (alphabetical)
_NSSET_ORDER = ("cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts")


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
    """setns into each, in nsenter's three passes (module docstring); the
    kinds in `keep` are left open, returned as {kind: fd}, for the caller
    to join later. Errors in runc's words."""
    kept = {kind: fd for kind, fd in fds if kind in keep}
    mine = [(kind, fd) for kind, fd in fds if kind not in keep]
    try:
        todo = _join_pass(mine, lambda k: k != "user")
        todo = _join_pass(todo, lambda k: k == "user")
        todo = _join_pass(todo, lambda k: True)
        if todo:
            names = ", ".join(PROC_NAMES[k] for k in _NSSET_ORDER if k in dict(todo))
            raise OSError(1, f"failed to join {{{names}}} namespaces: Operation not permitted")
    finally:
        for _, fd in mine:
            os.close(fd)
    return kept


def _join_pass(todo, allow):
    """setns into the allowed ones; returns what is left (not allowed, or
    refused with EPERM, to be tried again in a later pass)."""
    left = []
    for kind, fd in todo:
        if not allow(kind):
            left.append((kind, fd))
            continue
        try:
            sc.setns(fd, FLAGS[kind])
        except PermissionError:
            left.append((kind, fd))
        except OSError as e:
            raise OSError(e.errno, f"failed to setns into {PROC_NAMES[kind]} namespace: "
                          f"{e.strerror}") from None
    return left


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


# runc HEAD's words (specconv.setupUserNamespace)
MAPS_MISMATCH = ("user namespaces enabled, but both namespace path and non-matching mapping "
                 "specified -- you may only provide one")
MAPS_BOTH = ("config.json has both a userns path to join and a matching userns mapping "
             "specified -- you may only provide one")


def adopt_joined_user_maps(linux):
    """A user namespace joined by path brings its own maps: they become the
    container's (device owners, idmapped mounts' default mapping). Maps in
    the config too must be the very same lines (runc: an error if not, a
    warning if so: containerd and CRI-O send both)."""
    n = linux.ns("user")
    if n is None or not n.path:
        return
    from . import log
    from .config import IdMap
    where = f"linux.namespaces[{linux.namespaces.index(n)}].path"
    uids, gids = (_parse_map(_read_map(n.path, name, where), f"{where} {name}")
                  for name in ("uid_map", "gid_map"))
    if linux.uid_mappings or linux.gid_mappings:
        if _lines(linux.uid_mappings) != uids or _lines(linux.gid_mappings) != gids:
            raise ConfigError("linux.uidMappings", MAPS_MISMATCH)
        log.warn(MAPS_BOTH)
    linux.uid_mappings = [IdMap(dict(zip(("containerID", "hostID", "size"), m)), where)
                          for m in uids]
    linux.gid_mappings = [IdMap(dict(zip(("containerID", "hostID", "size"), m)), where)
                          for m in gids]


def _lines(maps):
    return [(m.container_id, m.host_id, m.size) for m in maps]


def _parse_map(text, where):
    try:
        return [tuple(int(x) for x in line.split()) for line in text.splitlines() if line.strip()]
    except ValueError:
        raise ConfigError(where, f"cannot parse {text!r}") from None


def _read_map(path, name, where):
    """The map as the namespace's members see it (the outer ids are then
    the parent namespace's: the host's for a namespace of a container).
    Like runc: /proc/<pid>/<name> when the path is /proc/<pid>/ns/user,
    else a child that joins the namespace reads its own."""
    parts = path.split("/")
    if len(parts) == 5 and parts[:2] == ["", "proc"] and parts[2].isdigit() \
            and parts[3:] == ["ns", "user"]:
        from . import procfs
        try:
            with procfs.host() as p:
                return p.read(f"{parts[2]}/{name}").decode()
        except OSError:
            pass  # gone, or not procfs: the slow way
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(where, f"cannot open {path}: {e.strerror}") from None
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(r)
                sc.setns(fd, sc.CLONE_NEWUSER)
                from . import procfs
                with procfs.host() as p:
                    os.write(w, p.read(f"self/{name}"))
                status = 0
            finally:
                os._exit(status)
        os.close(w)
        w = -1
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        _, status = os.waitpid(pid, 0)
        if status:
            raise ConfigError(where, f"cannot read the {name} of the user namespace {path}")
        return data.decode()
    finally:
        os.close(fd)
        os.close(r)
        if w >= 0:
            os.close(w)
