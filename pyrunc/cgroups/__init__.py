"""cgroups: probe the host's hierarchies once, place the container.

A host is one of: v1 (controllers each on its own cgroup mount), v2 (one
cgroup2 mount), or hybrid (v1 controllers plus a cgroup2 mount, usually
/sys/fs/cgroup/unified). The manager for the host's kind does the work;
see v1.py and v2.py.
"""
from .. import errors


class Hierarchy:
    """One mounted hierarchy: where it is mounted and our own cgroup in it."""

    __slots__ = ("mountpoint", "root", "controllers", "options", "own")

    def __init__(self, mountpoint, root, controllers, options, own):
        self.mountpoint = mountpoint
        self.root = root  # the mount's root inside the hierarchy
        self.controllers = controllers  # tuple; () for cgroup2
        self.options = options  # mount data for a new mount ("cpu,cpuacct" or "cgroup2")
        self.own = own  # this process's cgroup path in the hierarchy

    def host_dir(self, path):
        """Host directory of cgroup `path` (absolute in the hierarchy)."""
        from .. import fspath  # (create's: not imported by pause, resume, ps)
        path = fspath.normpath("/" + path.lstrip("/"))
        root = self.root.rstrip("/")
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root):] or "/"
        return fspath.normpath(self.mountpoint + path)

    def own_dir(self):
        """Host directory of the runtime's own cgroup in this hierarchy."""
        return self.host_dir(self.own)

    @property
    def name(self):
        if not self.controllers:
            return "unified"
        return ",".join(c[5:] if c.startswith("name=") else c for c in self.controllers)


def _lines(path):
    """A /proc file's lines, split at "\n" only (a path may hold other
    control characters)."""
    from .files import read_bytes  # (the managers load it anyway)
    text = read_bytes(path).decode()
    return (text[:-1] if text.endswith("\n") else text).split("\n") if text else []


def probe():
    own = {}
    for line in _lines("/proc/self/cgroup"):
        _, ctrls, path = line.split(":", 2)
        own[ctrls] = path
    v1, v2 = [], None
    seen = set()
    for line in _lines("/proc/self/mountinfo"):
        pre, _, post = line.partition(" - ")
        fields = pre.split()
        fstype, _, sopts = post.split()[:3]
        if fstype == "cgroup2":
            if v2 is None:
                v2 = Hierarchy(_unescape(fields[4]), fields[3], (), "cgroup2", own.get("", "/"))
        elif fstype == "cgroup":
            opts = sopts.split(",")
            ctrls = tuple(o for o in opts if o not in ("rw", "ro") and (
                o.startswith("name=") or o in _V1_CONTROLLERS))
            key = ",".join(ctrls)
            if not ctrls or key in seen:
                continue
            seen.add(key)
            v1.append(Hierarchy(_unescape(fields[4]), fields[3], ctrls, key,
                                own.get(key, "/")))
    return v1, v2


_V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                   "blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"}


def _unescape(s):
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def resolve_path(cgroups_path, cid):
    """(path, relative?) for linux.cgroupsPath as runc's cgroupfs driver reads it."""
    from .. import fspath
    if not cgroups_path:
        return cid, True
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise errors.ConfigError("linux.cgroupsPath",
                                 f"{cgroups_path!r} is a systemd path (slice:prefix:name); "
                                 "it needs --systemd-cgroup")
    norm = fspath.normpath("/" + cgroups_path.lstrip("/"))
    if not cgroups_path.startswith("/"):
        return norm.lstrip("/"), True
    return norm, False


def foreign_reason(d, h):
    """Why host directory `d` cannot be a container's cgroup in hierarchy
    `h` (None: it can). Signalling "every process of the container" walks
    that directory: on a hierarchy's root it would reach every process of
    the host, and on the runtime's own cgroup (or one holding it) the
    runtime and whoever started it."""
    from .. import fspath
    d = fspath.normpath(d)
    mp = fspath.normpath(h.mountpoint)
    if d == mp:
        return f"is the root of the {h.name} cgroup hierarchy"
    if not d.startswith(mp + "/"):
        return f"is not inside the {h.name} cgroup hierarchy ({mp})"
    own = h.own_dir()
    if own == d or own.startswith(d + "/"):
        return (f"holds the runtime's own cgroup {h.own} of the {h.name} hierarchy")
    return None


def check_recorded(dirs):
    """name -> reason, for the recorded cgroup directories of an existing
    container (state.json) that are not a container's cgroup on this host
    as it is now (see foreign_reason); {} when all of them are."""
    v1, v2 = probe()
    by_name = {h.name: h for h in v1 + ([v2] if v2 else [])}
    out = {}
    for name, d in dirs.items():
        h = by_name.get(name)
        if h is None:
            out[name] = f"{d}: no {name} cgroup hierarchy on this host"
            continue
        why = foreign_reason(d, h)
        if why:
            out[name] = f"{d} {why}"
    return out


def manager(cgroups_path, cid, systemd=False):
    if systemd:  # (--systemd-cgroup: only then is the driver imported)
        from . import systemd as sd
        return sd.manager(cgroups_path, cid, *probe())
    from .v1 import Manager
    path, relative = resolve_path(cgroups_path, cid)
    v1, v2 = probe()
    if v1:
        return Manager(v1, v2, path, relative)
    from .v2 import Manager as V2
    return V2(v2, path, relative)


def from_state(d):
    """The manager of an existing container, from what create recorded."""
    dirs = d.get("dirs", {})
    if "systemd" in d:  # made by the systemd driver (--systemd-cgroup)
        from . import systemd
        return systemd.from_state(d)
    if list(dirs) == ["unified"]:  # a v2-only host
        from .v2 import Manager as V2
        return V2.from_state(d)
    from .v1 import Manager
    return Manager.from_state(d)
