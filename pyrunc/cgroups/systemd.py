"""The systemd cgroup driver (--systemd-cgroup): the container's cgroup is
a transient scope unit that systemd makes and removes, as runc's systemd
driver does (opencontainers/cgroups systemd/v2.go; v1.go for the v1 and
hybrid layouts, LegacyManager here).

linux.cgroupsPath is "slice:prefix:name": the unit is "<prefix>-<name>.scope"
in the slice (system.slice when empty), or the slice "<name>" itself when
the name ends in ".slice"; with no cgroupsPath, "runc-<id>.scope".

Create: the unit is recorded in state.json first (intent before effect:
`delete --force` stops it after a kill at any instant); check_usable()
reaches systemd (and refuses a unit that is already there); the init is forked in
the runtime's own cgroup and, before it does anything, asks the runtime to
place it (sync.WANT_CGROUP): place() starts the unit with the init's pid
(StartTransientUnit, then its job's result), sets the resources on it
(SetUnitProperties) and then writes them all to cgroupfs, as the cgroupfs
driver does (sdprops.py says how runc splits them). Everything else (ps,
pause/resume through cgroup.freeze, kill --all through cgroup.kill,
events) works on the scope's directories like the cgroupfs managers.
Delete: StopUnit and its job, then the directory is gone (removed here if
systemd left it). The D-Bus side is sdbus.py.
"""
import os

from ..errors import ConfigError, ContainerError, NotSupported
from .v1 import Manager as _V1
from .v2 import Manager as _V2

RUNNING = "/run/systemd/system"  # sd_booted(3): the host runs systemd
_UNIT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\")


def manager(cgroups_path, cid, v1, v2):
    """The driver's manager for a create (the host probed: v1 hierarchies,
    the v2 one). runc's order: the path's form, then systemd, then the
    names."""
    parts = _split(cgroups_path, cid)
    if not os.path.isdir(RUNNING):
        raise ConfigError("linux.cgroupsPath",
                          "systemd not running on this host, cannot use systemd cgroups manager")
    if os.geteuid() != 0:
        raise NotSupported("linux.cgroupsPath", "the systemd cgroup driver of a user instance "
                                                "(rootless) is not supported")
    slice_, unit = parse(cgroups_path, cid)
    if v1:
        if not any(h.name == "systemd" for h in v1):
            raise NotSupported("linux.cgroupsPath", "the systemd cgroup driver on a cgroup v1 "
                                                    "host needs systemd's name=systemd hierarchy")
        return LegacyManager(v1, v2, slice_, unit, parts[2])
    return Manager(v2, slice_, unit, parts[2])


def from_state(d):
    """The manager of a container the driver made (state.json)."""
    if list(d.get("dirs", {})) == ["unified"]:
        return Manager.from_state(d)
    return LegacyManager.from_state(d)


def _split(cgroups_path, cid):
    """(slice, prefix, name): specconv's reading of linux.cgroupsPath."""
    if not cgroups_path:
        return "", "runc", cid
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise ConfigError("linux.cgroupsPath", "expected cgroupsPath to be of format "
                          f'"slice:prefix:name" for systemd cgroups, got {cgroups_path!r} '
                          "instead")
    return parts


def parse(cgroups_path, cid):
    """(slice, unit) for linux.cgroupsPath, with runc's checks and errors."""
    parent, prefix, name = _split(cgroups_path, cid)
    unit = name if name.endswith(".slice") else f"{prefix}-{name}.scope"
    if (not name or len(unit) > 255 or not set(unit) <= _UNIT_CHARS
            or unit.startswith(".")):
        raise ConfigError("linux.cgroupsPath", f"invalid systemd unit name {unit!r} (from "
                          f"{cgroups_path or cid!r}): letters, digits and \":-_.\\\" only")
    if cg_escape(unit) is None:
        raise ConfigError("linux.cgroupsPath", f"invalid systemd unit name {unit!r} (from "
                          f"{cgroups_path or cid!r}): {_AMBIGUOUS}")
    slice_ = parent or "system.slice"
    expand_slice(slice_)  # (checked now: the path is made from it)
    return slice_, unit


def expand_slice(slice_):
    """The cgroup path of a slice: "a-b.slice" is /a.slice/a-b.slice, each
    directory named as systemd names it (cg_escape)."""
    if len(slice_) <= len(".slice") - 1 or not slice_.endswith(".slice") or "/" in slice_:
        raise ConfigError("linux.cgroupsPath", f"invalid slice name: {slice_}")
    base = slice_[:-len(".slice")]
    if base == "-":
        return "/"
    path, prefix = "", ""
    for comp in base.split("-"):
        if not comp:
            raise ConfigError("linux.cgroupsPath", f"invalid slice name: {slice_}")
        d = cg_escape(prefix + comp + ".slice")
        if d is None:
            raise ConfigError("linux.cgroupsPath", f"invalid slice name: {slice_} "
                              f"({_AMBIGUOUS})")
        path += "/" + d
        prefix += comp + "-"
    return path


# systemd's controllers (cgroup_controller_to_string), whose names, with a
# dot, begin the kernel's files in a cgroup directory
_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "io", "blkio", "memory", "devices", "pids",
                "bpf-firewall", "bpf-devices", "bpf-foreign", "bpf-socket-bind",
                "bpf-restrict-network-interfaces")
_AMBIGUOUS = "systemd versions name its cgroup differently"


def cg_escape(name):
    """The directory name systemd gives a unit's cgroup (cg_escape): "_"
    before a name that starts with "_" or ".", or could be a file of the
    kernel ("tasks", "cgroup.*", "<controller>.*"): "cpu.slice" lives in
    "_cpu.slice", and a "cpu.slice" directory is someone else's. systemd
    has matched the controller with the part before the last dot (252:
    "cpu.x.slice" stays as it is) and, later, with the part before the
    first ("_cpu.x.slice"): None for a name on which the two differ
    (refused: its directory would be a guess). And the unit's ControlGroup
    is checked after its start (place)."""
    if name[:1] in ("_", ".") or name in ("notify_on_release", "release_agent", "tasks") \
            or name.startswith("cgroup."):
        return "_" + name
    first = any(name.startswith(c + ".") for c in _CONTROLLERS)
    last = name.rpartition(".")[0] in _CONTROLLERS
    if first != last:
        return None
    return "_" + name if first else name


class _Unit:
    """What both layouts share: the unit's life (check_usable, place,
    remove) and its properties; the layout's class does the directories."""

    placed_by_parent = True  # the init waits for place() (see init.py)
    V1 = False

    def _unit_init(self, slice_, unit, name):
        self.unit, self.slice, self.name = unit, slice_, name
        self.sd_path = _unit_path(slice_, unit)  # (its ControlGroup, checked in place)
        self.bus = None
        self.started = False
        self.pending = None  # (properties, resources for cgroupfs) until place()
        self.extra = []  # org.systemd.property.* annotations (sdannot.py)

    def annotate(self, annotations):
        """The unit's extra properties from the config's annotations
        (checked now, before anything is made)."""
        from . import sdannot
        self.extra = sdannot.props(annotations)

    # -- create -----------------------------------------------------------
    def check_usable(self):
        """Reach systemd, and refuse a unit of that name that is already
        loaded and active (another container's: never ours to stop, nor its
        cgroup ours to check); then the cgroupfs checks."""
        from . import sdbus
        bus = self._bus()
        try:
            state = bus.unit_property(self.unit, "org.freedesktop.systemd1.Unit", "ActiveState")
        except sdbus.SystemdError as e:
            if not e.name.endswith(".NoSuchUnit"):
                raise
            state = None
        if state in ("active", "activating", "reloading", "deactivating"):
            raise ContainerError(f"unable to start unit {self.unit!r}: unit already exists "
                                 f"({state})")
        super().check_usable()

    def create(self):
        pass  # systemd makes the directories, in place()

    def unified_dir(self):
        # None until the unit exists: the init is forked where we are
        return self.path("unified") if self.started else None

    def _props(self, res, update=False):
        from . import sdprops
        conv = sdprops.v1_resource_props if self.V1 else sdprops.resource_props
        return conv(res, self._version(), update)

    def apply(self, res, update=False):
        if not update and not self.started:
            # converted (and so checked) now; set once the unit exists
            self.pending = self._props(res)
            return
        props, fs = self._props(res, update)
        if props:
            self._bus().set_properties(self.unit, props)
        super().apply(fs, update)

    def place(self, pid):
        """Start the unit with `pid` in it, then set the resources."""
        from . import sdbus, sdprops
        bus = self._bus()
        props = sdprops.unit_props(self.unit, self.slice, pid,
                                   f"libcontainer container {self.name}", self._version(),
                                   self.pending[1] if self.pending else None, self.V1,
                                   self.extra)
        for retry in (True, False):
            try:
                job = bus.start_transient(self.unit, props)
                break
            except sdbus.SystemdError as e:
                if not e.name.endswith(".UnitExists") or not retry:
                    raise ContainerError(f"unable to start unit {self.unit!r}: {e}") from None
                # a failed leftover of that name: let systemd drop it, once
                _reset_failed(bus, self.unit)
        result = bus.wait_job(job, f"create {self.unit}")
        if result != "done":
            _reset_failed(bus, self.unit)
            raise ContainerError(f"error creating systemd unit `{self.unit}`: got `{result}`")
        self.started = True
        self._check_control_group(bus)
        self._made()
        if self.pending:
            props, fs = self.pending
            if props:
                try:
                    bus.set_properties(self.unit, props)
                except sdbus.SystemdError as e:
                    raise ContainerError(f"unable to set unit properties: {e}") from None
            super().apply(fs)

    def _check_control_group(self, bus):
        """systemd's word on where the unit's cgroup is (its ControlGroup)
        must be the directory derived from the names: anything else is a
        directory that systemd did not make for this unit."""
        from . import sdbus
        kind = "Scope" if self.unit.endswith(".scope") else "Slice"
        try:
            got = bus.unit_property(self.unit, f"org.freedesktop.systemd1.{kind}",
                                    "ControlGroup")
        except sdbus.SystemdError as e:
            raise ContainerError(f"unable to read the cgroup of unit {self.unit!r}: {e}") from None
        if got != self.sd_path:
            raise ContainerError(f"systemd put unit {self.unit!r} in cgroup {got!r}, not in "
                                 f"{self.sd_path!r}")

    # -- delete -----------------------------------------------------------
    def _stop(self):
        """StopUnit and wait for its job (systemd kills what is left and
        removes its directories)."""
        from . import sdbus
        from .. import log
        try:
            bus = self._bus()
            try:
                job = bus.stop(self.unit)
            except sdbus.SystemdError as e:
                if not e.name.endswith(".NoSuchUnit"):
                    raise
                job = None  # never started (a create killed before), or gone
            if job is not None:
                result = bus.wait_job(job, f"remove {self.unit}")
                if result != "done":
                    log.warn(f"error removing unit `{self.unit}`: got `{result}`. Continuing...")
            _reset_failed(bus, self.unit)
        except ContainerError as e:
            log.warn(f"delete: {e}")

    def _bus(self):
        if self.bus is None:
            from . import sdbus
            self.bus = sdbus.Bus.connect()
        return self.bus

    def _version(self):
        v = getattr(self, "_sdversion", None)
        if v is None:
            v = self._sdversion = self._bus().version()
        return v

    # -- state ------------------------------------------------------------
    def to_state(self):
        d = super().to_state()
        d["systemd"] = {"unit": self.unit, "slice": self.slice, "name": self.name}
        return d

    @classmethod
    def from_state(cls, d):
        m = super().from_state(d)
        sd = d["systemd"]
        m.unit, m.slice, m.name = sd["unit"], sd["slice"], sd.get("name", "")
        m.bus, m.started, m.pending = None, True, None
        return m


class Manager(_Unit, _V2):
    """cgroup v2: the v2 cgroupfs manager over the unit's directory."""

    def __init__(self, v2, slice_, unit, name):
        super().__init__(v2, _unit_path(slice_, unit), False)
        self._unit_init(slice_, unit, name)

    def plan(self):
        self.created = []  # systemd makes the directory; to_state records the unit
        return []

    def _made(self):
        d = self.path("unified")
        if not os.path.isdir(d):
            raise ContainerError(f"systemd started {self.unit} but its cgroup {d} is missing")
        avail = open(os.path.join(self.v2root, "cgroup.controllers")).read().split()
        self.enable_v2(avail, "linux.cgroupsPath", strict=False)

    def kill_created(self):
        if self.started:  # the unit is ours: what it holds is the init's
            self.kill_all_in(self.path("unified"))

    def remove(self, timeout=5.0):
        """StopUnit, then whatever is left of the directory."""
        d = self.path("unified")
        existed = os.path.isdir(d)
        self._stop()
        self.created = [d]
        removed = super().remove(timeout)
        if existed and not os.path.isdir(d) and d not in removed:
            removed.append(d)  # (systemd removed it)
        return removed


class LegacyManager(_Unit, _V1):
    """cgroup v1 and hybrid hosts (runc's LegacyManager): the unit's
    directory in every hierarchy, `<slice path>/<unit>` under each mount
    (as runc, PID 1 taken to be in the hierarchies' root or its
    init.scope). systemd makes the unit's directories in the hierarchies
    it manages (name=systemd, memory, cpu, pids, devices, blkio; the
    unified one on hybrid hosts); the others (freezer, net_cls, ...) are
    made here after the start, recorded before as any cgroupfs directory
    (plan), and the init joins them all (its v1 `tasks`)."""

    V1 = True

    def __init__(self, v1, v2, slice_, unit, name):
        super().__init__(v1, v2, _unit_path(slice_, unit), False)
        self._unit_init(slice_, unit, name)

    def _made(self):
        _V1.create(self)  # (the directories systemd did not make)

    def kill_created(self):
        if self.started:
            for d, _ in self.dirs.values():
                if os.path.isdir(d):
                    self.kill_all_in(d)

    def remove(self, timeout=5.0):
        """StopUnit, then the directories made here (and any systemd left)."""
        own = [d for d, _ in self.dirs.values()]
        existed = {d for d in own if os.path.isdir(d)}
        self._stop()
        self.created = sorted(set(self.created) | existed, key=len)
        removed = super().remove(timeout)
        return removed + [d for d in existed if not os.path.isdir(d) and d not in removed]


def _unit_path(slice_, unit):
    """The unit's cgroup in systemd's hierarchy, as systemd names it."""
    return expand_slice(slice_).rstrip("/") + "/" + cg_escape(unit)


def _reset_failed(bus, unit):
    from . import sdbus
    try:
        bus.reset_failed(unit)
    except sdbus.SystemdError:
        pass
