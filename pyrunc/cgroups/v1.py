"""cgroup v1 (and hybrid) cgroupfs manager.

One directory per hierarchy; on a hybrid host the cgroup2 mount is joined
too, so tools that read the unified tree find the container there.
The same class serves pure v2 with an empty v1 list (see v2.py).
"""
import posix
import time

from .. import errors, fspath
from .files import EBUSY as _EBUSY, ENODEV as _ENODEV, read, write as _write

# live.py (freezing, listing processes) is imported where used: `delete`
# and `create` never freeze (~0.6M instructions of each)


class Manager:
    placed_by_parent = False  # (the systemd driver's init waits for its unit)

    def __init__(self, v1, v2, path, relative):
        from . import foreign_reason
        self.dirs = {}  # hierarchy name -> (host dir, hierarchy)
        for h in v1 + ([v2] if v2 else []):
            p = fspath.normpath(h.own + "/" + path) if relative else path
            d = h.host_dir(p)
            # the container's processes are those of this directory (kill
            # --all, delete): it must be a cgroup of its own
            why = foreign_reason(d, h)
            if why:
                raise errors.ConfigError("linux.cgroupsPath", f"the cgroup {d} {why}: "
                                         "a container needs a cgroup of its own")
            self.dirs[h.name] = (d, h)
        self.created = []
        self._foreign = {}  # name -> why a dir is not a container's (see foreign())
        self.unified_by_write = False  # set when the init could not be forked into it
        self.v2root = v2.mountpoint if v2 else None

    # -- creation ---------------------------------------------------------
    def check_usable(self):
        """Refuse, before anything is done to it, a cgroup that a new
        container cannot have: one holding processes (not ours: a failed
        create or a delete would signal them) or a frozen one (the init
        could neither run nor be killed, and create would hang)."""
        pids = set()
        for d, _ in self.dirs.values():
            pids.update(_subtree_pids(d))
        if pids:
            raise errors.ContainerError(f"container's cgroup is not empty: {len(pids)} "
                                        "process(es) found", error_class="resource.cgroup")
        why = self.frozen_reason()
        if why is not None:
            raise errors.ContainerError("container's cgroup unexpectedly frozen" + why,
                                        error_class="resource.cgroup")

    def frozen_reason(self):
        """None when the container's cgroup (or, where it does not exist
        yet, the ancestor it would be made in: a new cgroup inherits a
        frozen parent's state) is not frozen; else "" when the cgroup itself
        is, or " (DIR is frozen)" naming the frozen ancestor."""
        for name, (d, h) in self.dirs.items():
            v2 = name == "unified"
            if not v2 and "freezer" not in name.split(","):
                continue
            at = _nearest_existing(d, h.mountpoint if h else None)
            if at is None:
                continue
            if v2:
                frozen = (_read(fspath.join(at, "cgroup.freeze")).strip() == "1"
                          or "frozen 1" in _read(fspath.join(at, "cgroup.events")).splitlines())
            else:
                frozen = _read(fspath.join(at, "freezer.state")).strip() in ("FROZEN", "FREEZING")
            if frozen:
                return "" if at == d else f" ({at} is frozen)"
        return None

    def plan(self):
        """Intent before effect: the directories create() is about to make
        (every missing one, parents too), set as `created` so that the
        state saved before create() lets `delete --force` remove them after
        a kill at any instant. Returns that list."""
        planned = []
        for name, (d, h) in self.dirs.items():
            top = h.mountpoint if h else None
            p, missing = d, []
            while not fspath.isdir(p) and (top is None or len(p) > len(top)):
                missing.append(p)
                p = fspath.dirname(p)
            planned += reversed(missing)
        self.created = planned
        return list(planned)

    def create(self):
        """Make the directories (remembering which, to remove only those).
        After plan(), `created` keeps only what this call made: a planned
        one that someone else made meanwhile is dropped (the caller saves
        the state again when the list changed)."""
        self.created = []
        try:
            for name, (d, _) in self.dirs.items():
                self._mkdirs(d, name == "cpuset")
        except OSError as e:
            self.remove()  # what this call made (the state dir goes with _abort)
            raise errors.ConfigError("linux.cgroupsPath", f"cannot create cgroup {e.filename}: "
                                     f"{e.strerror}") from None

    def _mkdirs(self, d, cpuset):
        missing = []
        p = d
        while not fspath.isdir(p):
            missing.append(p)
            p = fspath.dirname(p)
        for m in reversed(missing):
            try:
                posix.mkdir(m, 0o755)
            except FileExistsError:
                continue
            self.created.append(m)
            if cpuset:
                # a new cpuset is empty, and an empty cpuset takes no task
                parent = fspath.dirname(m)
                for f in ("cpuset.cpus", "cpuset.mems"):
                    _write(fspath.join(m, f), _read(fspath.join(parent, f)) or "\n")

    def join(self, pid):
        for name, (d, _) in self.dirs.items():
            try:
                _write(fspath.join(d, "cgroup.procs"), str(pid))
            except OSError as e:
                raise errors.ConfigError("linux.cgroupsPath",
                                         f"cannot join cgroup {d}: {e.strerror}") from None

    def join_self(self):
        """Move the calling process into every v1 hierarchy (live.join_self)."""
        from . import live
        live.join_self({n: d for n, (d, _) in self.dirs.items()}, self.unified_by_write)

    def unified_dir(self):
        return self.path("unified")

    def apply(self, res, update=False):
        from . import resources
        resources.apply(self, res, update)

    # -- queries ----------------------------------------------------------
    def path(self, name):
        e = self.dirs.get(name)
        return e[0] if e else None

    def v1_dir(self, ctl):
        """The directory of the v1 hierarchy that has controller `ctl`."""
        for name, (d, _) in self.dirs.items():
            if name != "unified" and ctl in name.split(","):
                return d
        return None

    def v2_dir(self, ctl, field):
        """The container's unified directory, with controller `ctl` enabled
        in it (None: only the directory); None without a v2 hierarchy.
        Raises, naming `field`, when the hierarchy lacks the controller."""
        d = self.path("unified")
        if d is None or ctl is None:
            return d
        if ctl in _read(fspath.join(d, "cgroup.controllers")).split():
            return d
        root = self.v2root or _v2_mountpoint()
        if ctl not in _read(fspath.join(root, "cgroup.controllers")).split():
            raise errors.NotSupported(field, f"the {ctl} cgroup controller is not "
                                             "available on this host")
        self.enable_v2((ctl,), field)
        return d

    def enable_v2(self, ctls, field, strict=True):
        """Enable controllers in every ancestor's cgroup.subtree_control,
        from the hierarchy's root down to the container's parent (a
        controller reaches a cgroup only through all of them)."""
        root = self.v2root or _v2_mountpoint()
        d = self.path("unified")
        chain = []
        p = fspath.dirname(d)
        while len(p) >= len(root):
            chain.append(p)
            if p == root:
                break
            p = fspath.dirname(p)
        for a in reversed(chain):
            have = _read(fspath.join(a, "cgroup.subtree_control")).split()
            want = [c for c in ctls if c not in have]
            if not want:
                continue
            f = fspath.join(a, "cgroup.subtree_control")
            try:
                _write(f, " ".join("+" + c for c in want))
            except OSError as e:
                if strict:
                    hint = " (the cgroup has processes of its own)" if e.errno == 16 else ""
                    raise errors.NotSupported(field, f"cannot enable the {' '.join(want)} "
                                                     f"controller in {a}: {e.strerror}{hint}") \
                        from None
                # best effort, one by one: a controller that cannot be had
                # is an error only for a resource that needs it
                for c in want:
                    try:
                        _write(f, "+" + c)
                    except OSError:
                        pass

    def freezer_file(self):
        d = self.path("freezer")
        return fspath.join(d, "freezer.state") if d else None

    def freeze(self, frozen, timeout=None):
        """Stop (or resume) every process of the container: the v1 freezer
        (live.freeze_v1; timeout None: its FREEZE_TIMEOUT)."""
        from . import live
        live.freeze_v1(self.freezer_file(), frozen,
                       live.FREEZE_TIMEOUT if timeout is None else timeout)

    def is_frozen(self):
        f = self.freezer_file()
        return bool(f) and _read(f).strip() in ("FROZEN", "FREEZING")

    def pids(self):
        """Every process of the container, sub-cgroups included."""
        from . import live
        return live.pids({n: d for n, (d, _) in self.dirs.items()})

    def sub(self, specs):
        """exec --cgroup: a view of this manager with some hierarchies
        pointing at an existing sub-cgroup of the container's (live.sub_dirs)."""
        from . import live
        m = self.__class__.__new__(self.__class__)
        dirs = live.sub_dirs({n: d for n, (d, _) in self.dirs.items()}, specs)
        m.dirs = {n: (dirs[n], h) for n, (_, h) in self.dirs.items()}
        m.created, m.unified_by_write, m.v2root = [], False, self.v2root
        m._foreign = self._foreign
        return m

    # -- removal ----------------------------------------------------------
    def check_owned(self):
        """Refuse to act on recorded directories that are not a container's
        cgroup (a state written before cgroupsPath was checked, or a host
        whose cgroups changed since): see foreign_reason."""
        bad = self.foreign()
        if bad:
            raise errors.ContainerError("refusing to signal the processes of a cgroup that is not "
                                        "the container's: " + "; ".join(bad.values()))

    def foreign(self):
        """name -> why, for the directories that are not a container's
        cgroup. A manager made for a create checked its paths already; one
        read back from a state checks them on first use, against the host
        as it is now (only kill and remove need it: exec, ps, events don't
        pay for the probe)."""
        if self._foreign is None:
            from . import check_recorded
            self._foreign = check_recorded({n: p for n, (p, _) in self.dirs.items()})
        return self._foreign

    def kill_all(self, sig=9):
        """Signal every process of the container's cgroup, sub-cgroups
        included, so that none escapes by forking meanwhile: SIGKILL through
        cgroup.kill (5.14+) where there is one; else freeze, signal what the
        cgroup holds, thaw (a container that was paused stays paused, except
        for SIGKILL: frozen tasks die only once thawed)."""
        self.check_owned()
        if not any(fspath.isdir(d) for d, _ in self.dirs.values()):
            return  # no cgroup (left): no process
        d = self.path("unified")
        if sig == 9 and d:
            try:
                _write(fspath.join(d, "cgroup.kill"), "1")
                return
            except FileNotFoundError:
                pass  # an older kernel, or the cgroup is gone
            except OSError as e:
                if e.errno != _ENODEV:
                    raise
        was_frozen = self.is_frozen()
        try:
            self.freeze(True)
            froze = True
        except (OSError, errors.NotSupported) as e:
            from .. import log
            log.warn(f"signalling the container's processes without freezing them: "
                     f"{getattr(e, 'strerror', None) or e}")
            froze = False
        try:
            for pid in self.pids():
                try:
                    posix.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if froze and (not was_frozen or sig == 9):
                self.freeze(False)

    def kill_created(self):
        """SIGKILL what is in the container's directories that this create
        made (a failed create: only its own init's descendants can be
        there); a directory that was there before is never walked, whoever
        may have put processes into it since it was found empty."""
        own = {d for d, _ in self.dirs.values()}
        for d in self.created:
            if d in own:
                self.kill_all_in(d)

    def remove(self, timeout=5.0):
        """rmdir what we created, deepest first (returns what was removed;
        a planned directory never made is simply absent). The container's own
        directories are retried while their last tasks exit (EBUSY); a
        parent we made is removed only if nothing else lives in it now (another
        container may have been created under it since)."""
        deadline = time.monotonic() + timeout
        own = {d for d, _ in self.dirs.values()}
        bad = {self.dirs[n][0] for n in (self.foreign() if self.created else ())}
        removed = []
        for d in sorted(self.created, key=len, reverse=True):
            if any(d == b or b.startswith(d + "/") for b in bad):
                continue  # never rmdir (nor empty) a cgroup that is not the container's
            while True:
                try:
                    try:
                        posix.rmdir(d)
                    except OSError as e:
                        # (the walk only then: most containers make no
                        # sub-cgroup, and an empty cgroup goes in one rmdir)
                        if d not in own or e.errno != _EBUSY:
                            raise
                        _remove_children(d)  # sub-cgroups the container made
                        posix.rmdir(d)
                    removed.append(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno == _EBUSY and d in own:
                        if time.monotonic() < deadline:
                            self.kill_all_in(d)
                            time.sleep(0.01)
                            continue
                        from .. import log
                        log.warn(f"timed out after {timeout:g}s waiting for cgroup {d} "
                                 f"to be empty: {len(_subtree_pids(d))} process(es) left, "
                                 "cgroup not removed")
                    break
        self.created = []
        return removed

    def kill_all_in(self, d):
        from .live import read_pids as _read_pids
        for base in fspath.walk_dirs(d):
            for pid in _read_pids(fspath.join(base, "cgroup.procs")):
                try:
                    posix.kill(pid, 9)
                except ProcessLookupError:
                    pass

    # -- state ------------------------------------------------------------
    def to_state(self):
        return {"dirs": {n: d for n, (d, _) in self.dirs.items()}, "created": self.created,
                "v2root": self.v2root}

    @classmethod
    def from_state(cls, d):
        m = cls.__new__(cls)
        m.dirs = {n: (p, None) for n, p in d.get("dirs", {}).items()}
        m.created = d.get("created", [])
        m.unified_by_write = False
        m.v2root = d.get("v2root")
        m._foreign = None  # checked on first use (foreign())
        return m

    def mount_sources(self):
        """name -> (mountpoint, host dir, mount options) for the cgroup mount."""
        return {n: (h.mountpoint if h else None, d, h.options if h else None)
                for n, (d, h) in self.dirs.items()}


def _nearest_existing(d, top):
    """d, or its nearest existing ancestor below or at `top` (a
    hierarchy's mountpoint; None: unknown, d alone is looked at)."""
    while not fspath.isdir(d):
        if top is None or d == top or len(d) <= len(top):
            return None
        d = fspath.dirname(d)
    return d


def _subtree_pids(d):
    from .live import read_pids as _read_pids
    try:
        sub = [e.path for e in posix.scandir(d) if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []  # (the usual case at create: a cgroup still to be made)
    out = _read_pids(fspath.join(d, "cgroup.procs"))
    for s in sub:
        out += _subtree_pids(s)
    return out


def _remove_children(d):
    """rmdir the sub-cgroups under d, deepest first (cgroupfs dirs hold
    only control files, which rmdir takes with them)."""
    for base in reversed(list(fspath.walk_dirs(d))):  # (each after its children)
        if base != d:
            try:
                posix.rmdir(base)
            except FileNotFoundError:
                pass


def _read(path):
    d, name = fspath.split(path)
    return read(d, name)


def _v2_mountpoint():
    from . import probe
    v2 = probe()[1]
    return v2.mountpoint if v2 else "/sys/fs/cgroup"
