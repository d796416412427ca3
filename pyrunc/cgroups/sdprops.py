"""linux.resources as systemd unit properties, split as runc's systemd
driver splits them (cgroup v2, opencontainers/cgroups systemd/v2.go).

A scope starts with the unit's own properties only (unit_props: slice,
Delegate, the PIDs, accounting, DefaultDependencies=no); the resources are
then set on it with SetUnitProperties (resource_props), and afterwards
*every* resource is written to cgroupfs too, as with the cgroupfs driver:
systemd cannot express some of them (io, hugetlb, rdma, most of
`unified`), and what it can express it may round (CPUQuotaPerSecUSec is in
10 ms steps: the quota written to cgroupfs is rounded the same way, so
that both agree). Properties are (name, (D-Bus signature, value)) pairs,
as jeepney sends variants.
"""
from ..errors import ConfigError

INFINITY = (1 << 64) - 1  # systemd's "infinity" for the uint64 limits
DEF_PERIOD = 100000  # the kernel's default CPU period, in us
CPU_IDLE_VERSION = 252  # CPUWeight=0 means cpu.idle=1 from this version on
OOM_POLICY_VERSION = 253  # OOMPolicy on a scope


def unit_props(unit, slice_, pid, description, version, res=None, v1=False, extra=()):
    """The properties of StartTransientUnit (v1: the legacy layout's);
    `extra`: the annotations' (sdannot.py), after runc's own as runc puts
    them."""
    props = [("Description", ("s", description))]
    if unit.endswith(".slice"):
        props.append(("Wants", ("as", [slice_])))  # a slice's parent goes by Wants=
    else:
        props.append(("Slice", ("s", slice_)))
        props.append(("Delegate", ("b", True)))
    if pid > 0:
        props.append(("PIDs", ("au", [pid])))
    io = "BlockIOAccounting" if v1 else "IOAccounting"
    for acc in ("MemoryAccounting", "CPUAccounting", io, "TasksAccounting"):
        props.append((acc, ("b", True)))
    props.append(("DefaultDependencies", ("b", False)))
    props += list(extra)
    # OOMPolicy can only be given when the unit is made
    oom = ((res or {}).get("unified") or {}).get("memory.oom.group")
    if oom is not None and version >= OOM_POLICY_VERSION and not v1:
        policy = {"0": "continue", "1": "kill"}.get(str(oom).strip())
        if policy:
            props.append(("OOMPolicy", ("s", policy)))
    return props


def resource_props(res, version, update=False):
    """(properties for SetUnitProperties, the resources to write to
    cgroupfs afterwards: `res` with the CPU quota rounded as systemd
    rounds it)."""
    from . import resources
    res = dict(res or {})
    props = []
    if not update:  # an update leaves the device rules alone (as create set them)
        props += device_props(res.get("devices") or [], version)
    mem = resources.prune_memory(res.get("memory") or {}).values
    if mem.get("limit"):
        props.append(("MemoryMax", ("t", _limit(mem["limit"]))))
    if mem.get("reservation"):
        props.append(("MemoryLow", ("t", _limit(mem["reservation"]))))
    from .resources_v2 import cpu_weight, swap_value
    sv = swap_value(mem.get("swap"), mem.get("limit"), "linux.resources.memory")
    if sv is not None and (mem.get("swap") or mem.get("limit") == -1):
        props.append(("MemorySwapMax", ("t", INFINITY if sv == "max" else int(sv))))
    cpu = dict(res.get("cpu") or {})
    cut, cpuset = resources.prune_cpu(cpu, update)
    idle_set = False
    if cut.values.get("idle") == 1 and version >= CPU_IDLE_VERSION:
        props.append(("CPUWeight", ("t", 0)))
        idle_set = True
    if cut.values.get("shares") and not idle_set:
        props.append(("CPUWeight", ("t", cpu_weight(cut.values["shares"]))))
    quota = cut.values.get("quota") or 0
    period = cut.values.get("period") or 0
    rounded = _cpu_quota(props, quota, period)
    if rounded != quota:
        cpu["quota"] = rounded
        res["cpu"] = cpu
    pids = res.get("pids") or {}
    limit = pids.get("limit")
    if limit is not None and (limit != 0 or update):
        props.append(("TasksMax", ("t", INFINITY if limit < 0 else max(limit, 1))))
    if version >= 244:
        for k, name in (("cpus", "AllowedCPUs"), ("mems", "AllowedMemoryNodes")):
            if cpuset.values.get(k):
                props.append((name, ("ay", range_to_bits(cpuset.values[k],
                                                         f"linux.resources.cpu.{k}"))))
    props += _unified_props(res.get("unified") or {}, version)
    return props, res


def v1_resource_props(res, version, update=False):
    """runc's genV1ResourcesProperties (the legacy layout): devices,
    MemoryLimit, CPUShares, the CPU quota, BlockIOWeight, TasksMax, the
    cpuset masks; like v2, everything goes to cgroupfs afterwards."""
    from . import resources
    res = dict(res or {})
    props = []
    if not update:
        props += device_props(res.get("devices") or [], version)
    mem = resources.prune_memory(res.get("memory") or {}).values
    if mem.get("limit"):
        props.append(("MemoryLimit", ("t", _limit(mem["limit"]))))
    cpu = dict(res.get("cpu") or {})
    cut, cpuset = resources.prune_cpu(cpu, update)
    if cut.values.get("shares"):
        props.append(("CPUShares", ("t", cut.values["shares"])))
    quota = cut.values.get("quota") or 0
    rounded = _cpu_quota(props, quota, cut.values.get("period") or 0)
    if rounded != quota:
        cpu["quota"] = rounded
        res["cpu"] = cpu
    weight = (res.get("blockIO") or {}).get("weight")
    if weight:
        props.append(("BlockIOWeight", ("t", weight)))
    limit = (res.get("pids") or {}).get("limit")
    if limit is not None and (limit != 0 or update):
        props.append(("TasksMax", ("t", INFINITY if limit < 0 else max(limit, 1))))
    if version >= 244:
        for k, name in (("cpus", "AllowedCPUs"), ("mems", "AllowedMemoryNodes")):
            if cpuset.values.get(k):
                props.append((name, ("ay", range_to_bits(cpuset.values[k],
                                                         f"linux.resources.cpu.{k}"))))
    return props, res


def _limit(v):
    return INFINITY if v == -1 else v


def _cpu_quota(props, quota, period):
    """CPUQuotaPeriodUSec and CPUQuotaPerSecUSec (systemd keeps a quota in
    us per CPU second, rounded up to 10 ms); returns the quota that matches
    what systemd will write."""
    if period:
        props.append(("CPUQuotaPeriodUSec", ("t", period)))
    if not quota and not period:
        return quota
    per_sec = INFINITY
    if quota > 0:
        p = period or DEF_PERIOD
        per_sec = quota * 1000000 // p
        if per_sec % 10000:
            per_sec = (per_sec // 10000 + 1) * 10000
            quota = per_sec * p // 1000000
    props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    return quota


def _unified_props(values, version):
    """The keys of linux.resources.unified systemd has a property for;
    everything (these too) still goes to cgroupfs."""
    f = "linux.resources.unified"
    props = []
    for k, v in values.items():
        if "/" in k:
            raise ConfigError(f"{f}[{k!r}]", "must be a file name (no slashes)")
        if k.find(".") <= 0:
            raise ConfigError(f"{f}[{k!r}]", "must be in the form CONTROLLER.PARAMETER")
        v = str(v).strip()
        if k == "cpu.idle":
            if v == "1" and version >= CPU_IDLE_VERSION:
                props.append(("CPUWeight", ("t", 0)))
        elif k == "cpu.weight":
            if str(values.get("cpu.idle", "")).strip() == "1" and version >= CPU_IDLE_VERSION:
                continue
            props.append(("CPUWeight", ("t", _uint(v, f, k))))
        elif k == "cpu.max":
            parts = v.split()
            if not 1 <= len(parts) <= 2:
                raise ConfigError(f"{f}[{k!r}]", f"invalid value {v!r}")
            quota = 0 if parts[0] == "max" else _uint(parts[0], f, k)
            period = _uint(parts[1], f, k) if len(parts) == 2 else DEF_PERIOD
            _cpu_quota(props, quota, period)
        elif k in ("cpuset.cpus", "cpuset.mems") and version >= 244:
            name = "AllowedCPUs" if k == "cpuset.cpus" else "AllowedMemoryNodes"
            props.append((name, ("ay", range_to_bits(v, f"{f}[{k!r}]"))))
        elif k in _MEMORY_KEYS:
            props.append((_MEMORY_KEYS[k], ("t", INFINITY if v == "max" else _uint(v, f, k))))
        elif k == "pids.max":
            props.append(("TasksMax", ("t", INFINITY if v == "max" else
                                       max(_uint(v, f, k), 1))))
    return props


_MEMORY_KEYS = {"memory.high": "MemoryHigh", "memory.low": "MemoryLow",
                "memory.min": "MemoryMin", "memory.max": "MemoryMax",
                "memory.swap.max": "MemorySwapMax"}


def _uint(v, f, k):
    try:
        n = int(v)
    except ValueError:
        n = -1
    if n < 0:
        raise ConfigError(f"{f}[{k!r}]", f"value conversion error: {v!r} is not an "
                                         "unsigned number")
    return n


def range_to_bits(text, field):
    """"0-2,7" as systemd's CPU/NUMA node mask: bytes, lowest CPU in the
    lowest bit of the first byte."""
    bits = 0
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi if sep else lo)
        except ValueError:
            raise ConfigError(field, f"invalid range {part!r} in {text!r}") from None
        if a < 0 or b < a:
            raise ConfigError(field, f"invalid range {part!r} in {text!r}")
        for n in range(a, b + 1):
            bits |= 1 << n
    if not bits:
        raise ConfigError(field, f"no CPU or node in {text!r}")
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


def device_props(rules, version):
    """DevicePolicy=strict with a DeviceAllow= list for the rules (then
    runc's defaults), as runc's devices/systemd.go: systemd has no deny
    rules, so a config that ends allowing all but some devices gets a
    deny-all here (and the exact rules from our own BPF program)."""
    from . import devices_bpf
    from .resources_v1 import DEFAULT_DEVICE_RULES
    defaults = []
    for text in DEFAULT_DEVICE_RULES:
        t, num, access = text.split()
        major, minor = num.split(":")
        defaults.append({"allow": True, "type": t, "access": access,
                         "major": None if major == "*" else int(major),
                         "minor": None if minor == "*" else int(minor)})
    try:
        default_allow, exceptions = devices_bpf.reduce(list(rules) + defaults)
    except OSError as e:
        raise ConfigError("linux.resources.devices", str(e)) from None
    if default_allow:
        if not exceptions:
            return [("DevicePolicy", ("s", "auto")),
                    ("DeviceAllow", ("a(ss)", [("char-*", "rwm"), ("block-*", "rwm")]))]
        from .. import log
        log.warn("systemd has no deny rules for devices: the unit denies every device "
                 "(the container's own device filter applies the rules)")
        return [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "strict"))]
    allow = []
    for t, major, minor, bits in exceptions:
        kind = "block" if t == devices_bpf.DEV_BLOCK else "char"
        perms = devices_bpf._access_text(bits)
        if major is None:
            if minor is not None:
                continue  # systemd has no "*:n" rules (runc skips them too)
            allow.append((f"{kind}-*", perms))
        elif minor is None:
            allow.append((f"{kind}-{major}", perms))
        else:
            allow.append((f"/dev/{kind}/{major}:{minor}", perms))
    return [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "strict")),
            ("DeviceAllow", ("a(ss)", allow))]
