"""linux.resources on cgroup v1: the controls the core runtime applies.

The complete set (blkio, hugetlb, rdma, network, the v2 conversions) is
the cgroups work's; a field not handled here is refused naming it, never
ignored.
"""
import os

from ..errors import ConfigError, NotSupported

# Devices every container gets, as runc grants them (the default device
# nodes, /dev/pts and /dev/ptmx, tun, and mknod of anything).
DEFAULT_DEVICE_RULES = (
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
    "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
)


def _w(mgr, ctl, name, value, field):
    d = mgr.path(ctl)
    if d is None:
        raise NotSupported(field, f"the {ctl} cgroup controller is not mounted")
    try:
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise ConfigError(field, f"writing {value} to {name}: {e.strerror}") from None


def device_rule(r, where):
    t = r.get("type", "a")
    major = r.get("major")
    minor = r.get("minor")
    access = r.get("access", "rwm")
    if t == "a":
        return "a"
    return f"{t} {'*' if major is None or major < 0 else major}:" \
           f"{'*' if minor is None or minor < 0 else minor} {access}"


def apply(mgr, res, update=False):
    """Apply linux.resources; at create the device rules always (deny all,
    then the config's, then the defaults), so a config without them is not
    a container with every host device. An update changes only what it
    names."""
    if "devices" not in res and not update:
        _devices(mgr, [])
    for key in res:
        fn = _APPLY.get(key)
        if fn is None:
            raise NotSupported(f"linux.resources.{key}", "not supported by this version of pyrunc")
        fn(mgr, res[key])


def _devices(mgr, rules):
    if mgr.path("devices") is None:
        return
    f = "linux.resources.devices"
    # Start from deny-all so the order of the config's rules is what counts.
    _w(mgr, "devices", "devices.deny", "a", f)
    for i, r in enumerate(rules):
        rule = device_rule(r, f"{f}[{i}]")
        _w(mgr, "devices", "devices.allow" if r.get("allow") else "devices.deny", rule, f"{f}[{i}]")
    # after the config's rules, as runc does: a leading deny-all must not
    # take away the container's own /dev/null
    for rule in DEFAULT_DEVICE_RULES:
        _w(mgr, "devices", "devices.allow", rule, f)


def _memory(mgr, m):
    f = "linux.resources.memory"
    handled = {"limit", "reservation", "swap", "swappiness", "disableOOMKiller", "kernel",
               "kernelTCP", "useHierarchy", "checkBeforeUpdate"}
    for k in m:
        if k not in handled and m[k] is not None:
            raise NotSupported(f"{f}.{k}", "not supported by this version of pyrunc")
    if m.get("limit") is not None:
        _w(mgr, "memory", "memory.limit_in_bytes", m["limit"], f"{f}.limit")
    if m.get("swap") is not None:
        _w(mgr, "memory", "memory.memsw.limit_in_bytes", m["swap"], f"{f}.swap")
    if m.get("reservation") is not None:
        _w(mgr, "memory", "memory.soft_limit_in_bytes", m["reservation"], f"{f}.reservation")
    if m.get("swappiness") is not None:
        _w(mgr, "memory", "memory.swappiness", m["swappiness"], f"{f}.swappiness")
    if m.get("disableOOMKiller"):
        _w(mgr, "memory", "memory.oom_control", 1, f"{f}.disableOOMKiller")
    if m.get("kernelTCP") is not None:
        _w(mgr, "memory", "memory.kmem.tcp.limit_in_bytes", m["kernelTCP"], f"{f}.kernelTCP")
    if m.get("useHierarchy") is not None:
        _w(mgr, "memory", "memory.use_hierarchy", int(bool(m["useHierarchy"])), f"{f}.useHierarchy")
    if m.get("kernel") is not None:
        # deprecated by the spec; Linux 5.16+ accepts and ignores the limit
        from .. import log
        log.warn("linux.resources.memory.kernel is deprecated and has no effect on this "
                 "kernel; ignored (as runc does)")


def _cpu(mgr, c):
    f = "linux.resources.cpu"
    files = {"shares": ("cpu", "cpu.shares"), "quota": ("cpu", "cpu.cfs_quota_us"),
             "period": ("cpu", "cpu.cfs_period_us"), "cpus": ("cpuset", "cpuset.cpus"),
             "mems": ("cpuset", "cpuset.mems"),
             "realtimeRuntime": ("cpu", "cpu.rt_runtime_us"),
             "realtimePeriod": ("cpu", "cpu.rt_period_us")}
    for k in c:
        if k not in files and c[k] is not None:
            raise NotSupported(f"{f}.{k}", "not supported by this version of pyrunc")
    # period before quota: the kernel checks quota against the current period
    for k in ("period", "quota", "shares", "cpus", "mems", "realtimePeriod", "realtimeRuntime"):
        v = c.get(k)
        if v is not None and v != "":
            ctl, name = files[k]
            _w(mgr, ctl, name, v, f"{f}.{k}")


def _pids(mgr, p):
    limit = p.get("limit")
    if limit is not None:
        _w(mgr, "pids", "pids.max", "max" if limit <= 0 else limit, "linux.resources.pids.limit")


_APPLY = {"devices": _devices, "memory": _memory, "cpu": _cpu, "pids": _pids}
