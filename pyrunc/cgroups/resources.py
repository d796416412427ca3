"""linux.resources: which hierarchy serves each field.

A control goes to its v1 controller when the host mounts one (v1 and
hybrid hosts), else to the unified hierarchy when it offers the
controller (v2 hosts, and hybrid hosts whose unified tree carries a
controller v1 lacks, e.g. hugetlb here); else the field is refused,
named. The writers are in resources_v1.py and resources_v2.py.
"""
from ..errors import NotSupported
from . import resources_v1 as v1


def _v2():
    # imported only where a control goes to the unified hierarchy: the
    # start path of a v1 host does not pay for it
    from . import resources_v2
    return resources_v2


def apply(mgr, res, update=False):
    """At create the device rules are always applied (deny all, then the
    config's, then the defaults), so a config without them is not a
    container with every host device. An update changes only what it
    names, and leaves the device rules alone."""
    res = res or {}
    for key in res:
        if key not in _SECTIONS:
            raise NotSupported(f"linux.resources.{key}", "unknown resource")
    if not update:
        _devices(mgr, res.get("devices") or [])
    for key, fn in _SECTIONS.items():
        if key != "devices" and res.get(key) is not None:
            fn(mgr, res[key], update)


def _where(mgr, v1_ctl, v2_ctl, field):
    """("v1"|"v2", dir) of the controller serving `field`."""
    d = mgr.v1_dir(v1_ctl) if v1_ctl else None
    if d:
        return "v1", d
    d = mgr.v2_dir(v2_ctl, field) if v2_ctl else None
    if d:
        return "v2", d
    raise NotSupported(field, f"the {v1_ctl or v2_ctl} cgroup controller is not available "
                              "on this host")


def _devices(mgr, rules):
    f = "linux.resources.devices"
    d = mgr.v1_dir("devices")
    if d:
        v1.devices(d, rules, f)
        return
    d = mgr.v2_dir(None, f)
    if d:
        _v2().devices(d, rules, f)


def _memory(mgr, m, update):
    kind, d = _where(mgr, "memory", "memory", "linux.resources.memory")
    (v1 if kind == "v1" else _v2()).memory(d, m, update)


_CPU_FIELDS = ("shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "idle")


def _cpu(mgr, c, update):
    if any(c.get(k) is not None for k in _CPU_FIELDS):
        kind, d = _where(mgr, "cpu", "cpu", "linux.resources.cpu")
        (v1 if kind == "v1" else _v2()).cpu(d, c)
    if c.get("cpus") or c.get("mems"):
        _, d = _where(mgr, "cpuset", "cpuset", "linux.resources.cpu.cpus")
        v1.cpuset(d, c)  # (the same files on v2)


def _pids(mgr, p, update):
    _, d = _where(mgr, "pids", "pids", "linux.resources.pids")
    v1.pids(d, p)  # (the same file on v2)


def _block_io(mgr, b, update):
    if not any(v is not None and v != [] for v in b.values()):
        return
    kind, d = _where(mgr, "blkio", "io", "linux.resources.blockIO")
    if kind == "v1":
        v1.blkio(d, b)
    else:
        _v2().io(d, b)


def _hugetlb(mgr, limits, update):
    if limits:
        kind, d = _where(mgr, "hugetlb", "hugetlb", "linux.resources.hugepageLimits")
        (v1 if kind == "v1" else _v2()).hugetlb(d, limits)


def _network(mgr, n, update):
    f = "linux.resources.network"
    if n.get("classID") is not None:
        _, d = _where(mgr, "net_cls", None, f"{f}.classID")
        v1.net_cls(d, n)
    if n.get("priorities"):
        _, d = _where(mgr, "net_prio", None, f"{f}.priorities")
        v1.net_prio(d, n)


def _rdma(mgr, r, update):
    if r:
        _, d = _where(mgr, "rdma", "rdma", "linux.resources.rdma")
        v1.rdma(d, r)


def _unified(mgr, values, update):
    f = "linux.resources.unified"
    for key in values:
        ctl = key.partition(".")[0]
        d = mgr.v2_dir(None if ctl == "cgroup" else ctl, f"{f}[{key!r}]")
        if d is None:
            raise NotSupported(f, "there is no cgroup v2 hierarchy on this host")
        _v2().unified(d, {key: values[key]})


_SECTIONS = {"devices": None, "memory": _memory, "cpu": _cpu, "pids": _pids,
             "blockIO": _block_io, "hugepageLimits": _hugetlb, "network": _network,
             "rdma": _rdma, "unified": _unified}
