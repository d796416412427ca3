"""An existing container's cgroup as `pause`, `resume`, `ps` and `exec`
use it: freeze or thaw it, list its processes, join it (or a sub-cgroup).

The managers (v1.py, v2.py, and the systemd driver's, which inherit
theirs) freeze and list through these same functions; `pause`, `resume`
and `ps` call them with the directories state.json records, without
making a manager: so they never import v1.py, the create machinery
(~1M instructions of each of them; exec's Recorded: ~1.2M).
"""
import time

from .. import errors
from .files import EBUSY as _EBUSY, _join, read, read_file, write

FREEZE_TIMEOUT = 10.0  # seconds a freeze or thaw may take before we give up


def freeze(dirs, frozen, timeout=FREEZE_TIMEOUT):
    """Freeze (or thaw) the container of `dirs`, state.json's cgroups.dirs
    (hierarchy name -> host directory). cgroup v2 alone: cgroup.freeze;
    else the v1 freezer. (The rule of cgroups.from_state and the systemd
    driver's from_state: a record's manager is a v2 one exactly then.)"""
    if list(dirs) == ["unified"]:
        freeze_v2(dirs["unified"], frozen, timeout)
        return
    d = dirs.get("freezer")
    freeze_v1(d + "/freezer.state" if d else None, frozen, timeout)


def freeze_v1(f, frozen, timeout=FREEZE_TIMEOUT):
    """Stop (or resume) every process of the container: v1 freezer file
    `f`, waiting (at most `timeout` seconds) until the kernel reports
    FROZEN (tasks may be mid-syscall) or THAWED."""
    if f is None:
        from ..errors import NotSupported
        raise NotSupported("linux.resources", "no freezer cgroup on this host: "
                                              "pause/resume are not possible")
    want = "FROZEN" if frozen else "THAWED"
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        write(f, want)
        now = read_file(f).strip()
        if now == want:
            return
        if time.monotonic() > deadline:
            if frozen:  # never leave it half frozen
                _try_write(f, "THAWED")
            raise OSError(_EBUSY, f"timed out after {timeout:g}s waiting for {f} "
                                       f"to read {want} (it reads {now or 'nothing'})")
        tries += 1
        if frozen and tries % 50 == 0:
            # v1 may stay FREEZING while tasks keep forking: a short
            # thaw lets the forks finish and the next try catch them
            _try_write(f, "THAWED")
            time.sleep(0.01)
        else:
            time.sleep(0.001)


def freeze_v2(d, frozen, timeout=FREEZE_TIMEOUT):
    """cgroup.freeze of directory `d`, then wait (at most `timeout`
    seconds) for cgroup.events to say so."""
    write(d + "/cgroup.freeze", "1" if frozen else "0")
    deadline = time.monotonic() + timeout
    want = f"frozen {1 if frozen else 0}"
    while want not in read(d, "cgroup.events").splitlines():
        if time.monotonic() > deadline:
            if frozen:  # never leave it half frozen
                _try_write(d + "/cgroup.freeze", "0")
            raise OSError(_EBUSY, f"timed out after {timeout:g}s waiting for "
                                       f"{d}/cgroup.events to say {want!r}")
        time.sleep(0.001)


def pids(dirs):
    """Every process of the container of `dirs` (as freeze()), sub-cgroups
    included."""
    from .. import fspath
    for name in ("pids", "freezer", "memory", "unified"):
        d = dirs.get(name)
        if d and fspath.isdir(d):
            out = []
            for base in fspath.walk_dirs(d):
                out += read_pids(base + "/cgroup.procs")
            return out
    return []


def read_pids(path):
    # v2 shows 0 for processes outside our pid namespace: never signal those
    # (kill(0) would hit our own process group)
    return [p for p in (int(x) for x in read_file(path).split()) if p > 0]


def _try_write(path, data):
    try:
        write(path, data)
    except OSError:
        pass


class Recorded:
    """The cgroup of a running container as state.json records it (every
    driver's from_state gives the same directories), for exec: the child
    forks into its v2 directory (unified_dir; launch.fork_into) and joins
    the v1 ones (join_self)."""

    __slots__ = ("dirs", "unified_by_write")

    def __init__(self, dirs):
        self.dirs = dirs  # hierarchy name -> host directory
        self.unified_by_write = False  # set by launch.fork_into without clone3

    def unified_dir(self):
        return self.dirs.get("unified")

    def join_self(self):
        join_self(self.dirs, self.unified_by_write)

    def sub(self, specs):
        return Recorded(sub_dirs(self.dirs, specs))


def join_self(dirs, unified_by_write=False):
    """Move the calling (single-threaded) process into every v1 hierarchy.

    Writing "0" to `tasks` moves only the current thread, which the
    kernel does without the global threadgroup lock; writing a pid to
    cgroup.procs waits for an RCU grace period (5-15 ms). The v2 side
    is done by forking into the cgroup (launch.fork_into), or here when
    that could not be done (unified_by_write)."""
    for name, d in dirs.items():
        if name == "unified":
            if not unified_by_write:
                continue
            f = "cgroup.procs"
        else:
            f = "tasks"
        try:
            write(_join(d, f), "0")
        except OSError as e:
            raise errors.ConfigError("linux.cgroupsPath",
                                     f"cannot join cgroup {d}: {e.strerror}") from None


def sub_dirs(dirs, specs):
    """exec --cgroup: `dirs` with some hierarchies pointing at an existing
    sub-cgroup of the container's. Each spec is "path" (every hierarchy)
    or "ctl[,ctl]:path" (the v1 hierarchies with those controllers)."""
    from .. import fspath
    out = dict(dirs)
    v2only = list(dirs) == ["unified"]
    if len(specs) > 1 and any(":" not in spec for spec in specs):
        raise errors.ContainerError(f"invalid --cgroup argument: {specs[0]} (a path without "
                                    "<controller>: prefix must be the only one)")
    for spec in specs:
        ctls, sep, path = spec.rpartition(":")
        if sep and v2only:
            raise errors.ContainerError(f"--cgroup {spec}: a controller prefix is not "
                                        "supported on cgroup v2")
        if not path:
            raise errors.ContainerError(f"--cgroup {spec}: a path inside the container's "
                                        "cgroup is expected")
        hit = False
        for name, d in dirs.items():
            if sep and not set(ctls.split(",")) & set(name.split(",")):
                continue
            # as runc: relative to the container's cgroup ("/" is that
            # cgroup itself), and refused in runc HEAD's words outside it
            sub = fspath.normpath(fspath.join(d, path.lstrip("/")))
            if sub != d and not sub.startswith(d.rstrip("/") + "/"):
                raise errors.ContainerError(f"bad sub cgroup path: {path} (not inside the "
                                            "container's cgroup)")
            if not fspath.isdir(sub):
                raise errors.ContainerError(f"--cgroup {spec}: cgroup {sub} does not exist")
            out[name] = sub
            hit = True
        if not hit:
            raise errors.ContainerError(f"--cgroup {spec}: no such controller {ctls}")
    return out
