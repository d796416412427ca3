"""linux.resources: which hierarchy serves each field.

A control goes to its v1 controller when the host mounts one (v1 and
hybrid hosts), else to the unified hierarchy when it offers the
controller (v2 hosts, and hybrid hosts whose unified tree carries a
controller v1 lacks, e.g. hugetlb here); else the field is refused,
named. The writers are in resources_v1.py and resources_v2.py.

What counts as set. Clients write every field they know: Docker 20.10
sends {"blockIO": {"weight": 0}, "cpu": {"shares": 0}, "memory":
{"disableOOMKiller": false}} for every container, containerd's update
sends zeros for what it leaves alone. runc reads those zeros, false, ""
and empty lists/maps as "not set" (its cgroup config holds plain numbers
and skips a 0). So here, before a controller is even looked for, each
section is cut down to what it sets (the prune_* functions): a section that sets
nothing needs no controller and writes nothing; a set value on a host
without its control is refused naming the field (as runc fails). Some
zeros are the kernel's default rather than "not set": at create they
are not written (a new cgroup has them; runc writes them, which only
adds the need for the controller); at update they put the default back
where the control exists ("reset"), and are skipped where it does not. Per field (null is "not set" everywhere):

  memory.limit, swap, reservation, kernelTCP  0 not set
  memory.swappiness           2^64-1 (Docker's -1) not set; 0..100 set
  memory.disableOOMKiller     false not set (runc never writes 0)
  memory.useHierarchy         false not set (runc ignores the field; this
                              host's 6.18 kernel refuses 0); true written
                              where v1 memory exists, never required
  memory.checkBeforeUpdate    only a check, with a limit or swap
  memory.kernel               deprecated: warned about when nonzero
  cpu.shares, quota, period, realtimeRuntime, realtimePeriod  0 not set
  cpu.burst, cpu.idle         0 is the default: reset
  cpu.cpus, cpu.mems          "" not set
  pids.limit                  0 not set at create (runc 1.1); at update
                              written as 1, as runc HEAD does (its spec
                              1.3 limit is a pointer); -1 is "max", set
  blockIO.weight, leafWeight  0 not set
  blockIO.weightDevice[i]     weight/leafWeight 0 not set; an entry
                              setting neither writes nothing
  blockIO.throttle*[i]        rate 0 (no limit, the default): reset
  hugepageLimits[i]           every entry set (limit 0 is a limit)
  network.classID             0 not set
  network.priorities[i]       priority 0 (the default): reset
  rdma.<dev>                  set when hcaHandles or hcaObjects is
                              given (0 is a limit)
  unified, devices            {} / [] set nothing; devices are always
                              applied at create (deny all + defaults)
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


def _where(mgr, v1_ctl, v2_ctl, field, required=True):
    """("v1"|"v2", dir) of the controller serving `field`; (None, None)
    when there is none and the field only resets a default."""
    d = mgr.v1_dir(v1_ctl) if v1_ctl else None
    if d:
        return "v1", d
    d = mgr.v2_dir(v2_ctl, field) if v2_ctl else None
    if d:
        return "v2", d
    if not required:
        return None, None
    raise NotSupported(field, f"the {v1_ctl or v2_ctl} cgroup controller is not available "
                              "on this host")


def _set(v):
    """A plain value of the spec that asks for something: 0, false, ""
    and empty lists or maps are "not set", as runc reads them."""
    return v is not None and v is not False and v != 0 and v != "" and v != [] and v != {}


class _Cut:
    """A section cut down to what it writes. `first` names the first set
    field (None: the section only resets defaults)."""

    __slots__ = ("values", "first")

    def __init__(self):
        self.values, self.first = {}, None

    def put(self, key, value, field):
        self.values[key] = value
        if self.first is None and field is not None:
            self.first = field


def _devices(mgr, rules):
    f = "linux.resources.devices"
    d = mgr.v1_dir("devices")
    if d:
        v1.devices(d, rules, f)
        return
    d = mgr.v2_dir(None, f)
    if d:
        _v2().devices(d, rules, f)


# 2^64-1: Docker's swappiness -1 ("use the parent's") as a uint64
_SWAPPINESS_UNSET = (-1, (1 << 64) - 1)


def prune_memory(m, f="linux.resources.memory"):
    cut = _Cut()
    for k in ("limit", "swap", "reservation", "kernelTCP"):
        if _set(m.get(k)):
            cut.put(k, m[k], f"{f}.{k}")
    if m.get("swappiness") is not None and m["swappiness"] not in _SWAPPINESS_UNSET:
        cut.put("swappiness", m["swappiness"], f"{f}.swappiness")
    if m.get("disableOOMKiller"):
        cut.put("disableOOMKiller", True, f"{f}.disableOOMKiller")
    if m.get("useHierarchy"):
        cut.put("useHierarchy", True, None)
    if m.get("checkBeforeUpdate") and ("limit" in cut.values or "swap" in cut.values):
        cut.put("checkBeforeUpdate", True, None)
    if _set(m.get("kernel")):
        # deprecated by the spec; Linux 5.16+ has no kernel memory limit
        from .. import log
        log.warn(f"{f}.kernel is deprecated and has no effect on this kernel; ignored "
                 "(as runc does)")
    return cut


def _memory(mgr, m, update):
    cut = prune_memory(m)
    if cut.values:
        kind, d = _where(mgr, "memory", "memory", cut.first, cut.first is not None)
        if kind:
            (v1 if kind == "v1" else _v2()).memory(d, cut.values, update)


_CPU_FIELDS = ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod")


def prune_cpu(c, update, f="linux.resources.cpu"):
    """(cpu controller values, cpuset values)."""
    cut, cpuset = _Cut(), _Cut()
    for k in _CPU_FIELDS + ("burst", "idle"):
        v = c.get(k)
        if _set(v):
            cut.put(k, v, f"{f}.{k}")
        elif v == 0 and k in ("burst", "idle") and update:
            cut.put(k, 0, None)
    for k in ("cpus", "mems"):
        if _set(c.get(k)):
            cpuset.put(k, c[k], f"{f}.{k}")
    return cut, cpuset


def _cpu(mgr, c, update):
    cut, cpuset = prune_cpu(c, update)
    if cut.values:
        kind, d = _where(mgr, "cpu", "cpu", cut.first, cut.first is not None)
        if kind:
            (v1 if kind == "v1" else _v2()).cpu(d, cut.values)
    if cpuset.values:
        _, d = _where(mgr, "cpuset", "cpuset", cpuset.first)
        v1.cpuset(d, cpuset.values)  # (the same files on v2)


def _pids(mgr, p, update):
    if _set(p.get("limit")) or (update and p.get("limit") == 0):
        _, d = _where(mgr, "pids", "pids", "linux.resources.pids.limit")
        v1.pids(d, p)  # (the same file on v2)


_THROTTLE = ("throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
             "throttleWriteIOPSDevice")


def prune_block_io(b, update, f="linux.resources.blockIO"):
    """List entries that write nothing become None, so the others keep
    their index in error messages."""
    cut = _Cut()
    for k in ("weight", "leafWeight"):
        if _set(b.get(k)):
            cut.put(k, b[k], f"{f}.{k}")
    wds = []
    for i, wd in enumerate(b.get("weightDevice") or ()):
        keep = {k: wd[k] for k in ("weight", "leafWeight") if _set(wd.get(k))}
        if keep:
            cut.first = cut.first or f"{f}.weightDevice[{i}]"
            keep.update(major=wd.get("major"), minor=wd.get("minor"))
        wds.append(keep or None)
    if any(wds):
        cut.values["weightDevice"] = wds
    for key in _THROTTLE:
        tds = []
        for i, td in enumerate(b.get(key) or ()):
            if _set(td.get("rate")):
                cut.first = cut.first or f"{f}.{key}[{i}]"
                tds.append(td)
            else:
                tds.append(td if update else None)
        if any(tds):
            cut.values[key] = tds
    return cut


def _block_io(mgr, b, update):
    cut = prune_block_io(b, update)
    if cut.values:
        kind, d = _where(mgr, "blkio", "io", cut.first, cut.first is not None)
        if kind == "v1":
            v1.blkio(d, cut.values)
        elif kind == "v2":
            _v2().io(d, cut.values)


def _hugetlb(mgr, limits, update):
    if limits:
        kind, d = _where(mgr, "hugetlb", "hugetlb", "linux.resources.hugepageLimits")
        (v1 if kind == "v1" else _v2()).hugetlb(d, limits)


def _network(mgr, n, update):
    f = "linux.resources.network"
    if _set(n.get("classID")):
        _, d = _where(mgr, "net_cls", None, f"{f}.classID")
        v1.net_cls(d, n)
    prios, first = [], None
    for i, p in enumerate(n.get("priorities") or ()):
        if _set(p.get("priority")):
            first = first or f"{f}.priorities[{i}]"
        prios.append(p if _set(p.get("priority")) or update else None)
    if any(prios):
        _, d = _where(mgr, "net_prio", None, first or f"{f}.priorities", first is not None)
        if d:
            v1.net_prio(d, {"priorities": prios})


def _rdma(mgr, r, update):
    r = {dev: lim for dev, lim in r.items()
         if lim and (lim.get("hcaHandles") is not None or lim.get("hcaObjects") is not None)}
    if r:
        _, d = _where(mgr, "rdma", "rdma", f"linux.resources.rdma.{next(iter(r))}")
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
