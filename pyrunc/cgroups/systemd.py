"""The systemd cgroup driver (--systemd-cgroup), cgroup v2: the container's
cgroup is a transient scope unit that systemd makes and removes, as runc's
systemd driver does (opencontainers/cgroups systemd/v2.go).

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
events) works on the scope's directory like the v2 cgroupfs manager.
Delete: StopUnit and its job, then the directory is gone (removed here if
systemd left it). The D-Bus side is sdbus.py.
"""
import os

from ..errors import ConfigError, ContainerError, NotSupported
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
    if v1 or v2 is None:
        raise NotSupported("linux.cgroupsPath", "the systemd cgroup driver needs a cgroup v2 "
                                                "(unified) host: this one has v1 controllers")
    if os.geteuid() != 0:
        raise NotSupported("linux.cgroupsPath", "the systemd cgroup driver of a user instance "
                                                "(rootless) is not supported")
    slice_, unit = parse(cgroups_path, cid)
    return Manager(v2, slice_, unit, parts[2])


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
    slice_ = parent or "system.slice"
    expand_slice(slice_)  # (checked now: the path is made from it)
    return slice_, unit


def expand_slice(slice_):
    """The cgroup path of a slice: "a-b.slice" is /a.slice/a-b.slice."""
    if len(slice_) <= len(".slice") - 1 or not slice_.endswith(".slice") or "/" in slice_:
        raise ConfigError("linux.cgroupsPath", f"invalid slice name: {slice_}")
    base = slice_[:-len(".slice")]
    if base == "-":
        return "/"
    path, prefix = "", ""
    for comp in base.split("-"):
        if not comp:
            raise ConfigError("linux.cgroupsPath", f"invalid slice name: {slice_}")
        path += "/" + prefix + comp + ".slice"
        prefix += comp + "-"
    return path


class Manager(_V2):
    """The v2 cgroupfs manager over a unit's directory, the unit made and
    removed by systemd."""

    placed_by_parent = True  # the init waits for place() (see init.py)

    def __init__(self, v2, slice_, unit, name):
        path = expand_slice(slice_).rstrip("/") + "/" + unit
        super().__init__(v2, path, False)
        self.unit, self.slice, self.name = unit, slice_, name
        self.bus = None
        self.started = False
        self.pending = None  # (properties, resources for cgroupfs) until place()

    # -- create -----------------------------------------------------------
    def plan(self):
        self.created = []  # systemd makes the directory; to_state records the unit
        return []

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
        pass  # systemd makes the directory, in place()

    def unified_dir(self):
        # None until the unit exists: the init is forked where we are
        return self.path("unified") if self.started else None

    def apply(self, res, update=False):
        from . import sdprops
        if not update and not self.started:
            # converted (and so checked) now; set once the unit exists
            self.pending = sdprops.resource_props(res, self._version())
            return
        props, fs = sdprops.resource_props(res, self._version(), update)
        if props:
            self._bus().set_properties(self.unit, props)
        super().apply(fs, update)

    def place(self, pid):
        """Start the unit with `pid` in it, then set the resources."""
        from . import sdbus, sdprops
        bus = self._bus()
        props = sdprops.unit_props(self.unit, self.slice, pid,
                                   f"libcontainer container {self.name}", self._version(),
                                   self.pending[1] if self.pending else None)
        for retry in (True, False):
            try:
                job = bus.start_transient(self.unit, props)
                break
            except sdbus.SystemdError as e:
                if not e.name.endswith(".UnitExists") or not retry:
                    raise ContainerError(f"unable to start unit {self.unit!r}: {e}") from None
                # a failed leftover of that name: let systemd drop it, once
                try:
                    bus.reset_failed(self.unit)
                except sdbus.SystemdError:
                    pass
        result = bus.wait_job(job, f"create {self.unit}")
        if result != "done":
            _reset_failed(bus, self.unit)
            raise ContainerError(f"error creating systemd unit `{self.unit}`: got `{result}`")
        self.started = True
        d = self.path("unified")
        if not os.path.isdir(d):
            raise ContainerError(f"systemd started {self.unit} but its cgroup {d} is missing "
                                 "(is the slice's path as runc expands it?)")
        avail = open(os.path.join(self.v2root, "cgroup.controllers")).read().split()
        self.enable_v2(avail, "linux.cgroupsPath", strict=False)
        if self.pending:
            props, fs = self.pending
            if props:
                try:
                    bus.set_properties(self.unit, props)
                except sdbus.SystemdError as e:
                    raise ContainerError(f"unable to set unit properties: {e}") from None
            super().apply(fs)

    def kill_created(self):
        if self.started:  # the unit is ours: what it holds is the init's
            self.kill_all_in(self.path("unified"))

    # -- delete -----------------------------------------------------------
    def remove(self, timeout=5.0):
        """StopUnit and wait for its job (systemd kills what is left and
        removes the directory); then whatever is left of the directory."""
        from . import sdbus
        from .. import log
        d = self.path("unified")
        existed = os.path.isdir(d)
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
        self.created = [d]
        removed = super().remove(timeout)
        if existed and not os.path.isdir(d) and d not in removed:
            removed.append(d)  # (systemd removed it)
        return removed

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


def _reset_failed(bus, unit):
    from . import sdbus
    try:
        bus.reset_failed(unit)
    except sdbus.SystemdError:
        pass
