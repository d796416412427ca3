"""linux.resources written to cgroup v2 control files.

The spec's fields are cgroup v1 shaped; the conversions here are the ones
runc makes (cpu shares -> cpu.weight, blkio weight -> io.weight, memory
swap = memory+swap minus memory). A v1-only setting is refused naming the
field, never dropped silently.
"""
import os

from ..errors import ConfigError, NotSupported
from .files import int_of, read, write, write_field as w

V1_ONLY = "is a cgroup v1 setting; cgroup v2 has no equivalent"


def _num(v):
    """The spec's -1 (unlimited) is "max" in v2 files."""
    return "max" if v == -1 else str(v)


def swap_value(swap, limit, f):
    """memory.swap.max from the spec's memory+swap total, or None for
    "leave it"; raises for totals v2 cannot express."""
    if limit == -1 and not swap:
        return "max"  # unlimited memory, swap unset: both unlimited (as v1)
    if not swap:
        return None
    if swap == -1:
        return "max"
    if limit == -1:
        return str(swap)
    if not limit:
        raise ConfigError(f"{f}.swap", "unable to set swap limit without memory limit")
    if limit < 0:
        raise ConfigError(f"{f}.limit", f"invalid memory value: {limit}")
    if swap < limit:
        raise ConfigError(f"{f}.swap", "memory+swap limit should be >= memory limit")
    return str(swap - limit)


def memory(d, m, update, f="linux.resources.memory"):
    limit, swap = m.get("limit"), m.get("swap")
    # (resources.py has dropped what is not set: 0 kernelTCP, Docker's
    # 2^64-1 swappiness, false disableOOMKiller and useHierarchy)
    if m.get("swappiness") is not None:
        raise NotSupported(f"{f}.swappiness", V1_ONLY)
    if m.get("kernelTCP"):
        raise NotSupported(f"{f}.kernelTCP", V1_ONLY)
    if m.get("disableOOMKiller"):
        raise NotSupported(f"{f}.disableOOMKiller", V1_ONLY + " (the OOM killer cannot be "
                                                    "disabled for a cgroup)")
    if m.get("checkBeforeUpdate") and update:
        from .resources_v1 import check_usage
        check_usage(int_of(d, "memory.current"), limit, swap, f)
    sv = swap_value(swap, limit, f)
    if sv is not None:
        try:
            write(os.path.join(d, "memory.swap.max"), sv)
        except FileNotFoundError:
            # no swap accounting: "no swap" and "unlimited" are what we have
            if sv not in ("max", "0"):
                raise NotSupported(f"{f}.swap", "this kernel has no swap accounting "
                                                "(memory.swap.max)") from None
        except OSError as e:
            raise ConfigError(f"{f}.swap", f"writing {sv} to memory.swap.max: "
                                           f"{e.strerror}", "resource.cgroup", e.errno) from None
    if limit:
        w(d, "memory.max", _num(limit), f"{f}.limit")
    if m.get("reservation"):
        w(d, "memory.low", _num(m["reservation"]), f"{f}.reservation")


def cpu_weight(shares):
    """cpu.shares (2..262144, 1024 default) to cpu.weight (1..10000, 100
    default): the quadratic in log2(shares) runc and crun use now, which
    maps the defaults onto each other (the older linear formula gave 39)."""
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    import math
    lg = math.log2(shares)
    return math.ceil(10 ** ((lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0))


def cpu(d, c, f="linux.resources.cpu"):
    for k in ("realtimeRuntime", "realtimePeriod"):
        if c.get(k):
            raise NotSupported(f"{f}.{k}", "cgroup v2 has no real-time CPU budget")
    idle = c.get("idle")
    # idle 0 and burst 0 are the defaults (an update puts them back): a
    # kernel without the file has them anyway
    if idle is not None and (idle or os.path.exists(os.path.join(d, "cpu.idle"))):
        w(d, "cpu.idle", idle, f"{f}.idle")
    if c.get("shares"):
        w(d, "cpu.weight", cpu_weight(c["shares"]), f"{f}.shares")
    quota, period, burst = c.get("quota"), c.get("period"), c.get("burst")
    pending = None
    if burst == 0 and not os.path.exists(os.path.join(d, "cpu.max.burst")):
        burst = None
    if burst is not None:
        try:
            write(os.path.join(d, "cpu.max.burst"), str(burst))
        except OSError as e:
            # a burst above the current quota is refused until the new
            # quota is in: retry after it
            if e.errno != 22 or not quota:
                raise ConfigError(f"{f}.burst", f"writing {burst} to cpu.max.burst: "
                                                f"{e.strerror}") from None
            pending = burst
    if quota or period:
        # a period alone keeps the quota in force (runc's update keeps the
        # quota of its stored config); a quota alone, the period
        q = _quota(d) if quota is None else quota if quota > 0 else "max"
        text = f"{q} {period or _period(d)}"
        w(d, "cpu.max", text, f"{f}.quota" if quota else f"{f}.period")
        if pending is not None:
            w(d, "cpu.max.burst", pending, f"{f}.burst")


def _quota(d):
    """The quota in force ("max" when none)."""
    parts = read(d, "cpu.max").split()
    return parts[0] if len(parts) == 2 else "max"


def _period(d):
    """The period in force (an update of the quota alone keeps it)."""
    parts = read(d, "cpu.max").split()
    return parts[1] if len(parts) == 2 else "100000"


def io_weight(weight):
    """blkio weight (10..1000) to io.weight (1..10000), linearly."""
    return 1 + (weight - 10) * 9999 // 990


def io(d, b, f="linux.resources.blockIO"):
    if b.get("leafWeight"):
        raise NotSupported(f"{f}.leafWeight", V1_ONLY)
    bfq = os.path.exists(os.path.join(d, "io.bfq.weight"))
    has_weight = bfq or os.path.exists(os.path.join(d, "io.weight"))
    if b.get("weight"):  # (0: not set)
        if not has_weight:
            raise NotSupported(f"{f}.weight", "no io weight control on this host (needs the "
                                              "BFQ scheduler or io.cost)")
        if bfq:  # BFQ takes the blkio scale as it is
            w(d, "io.bfq.weight", b["weight"], f"{f}.weight")
        else:
            w(d, "io.weight", io_weight(b["weight"]), f"{f}.weight")
    for i, wd in enumerate(b.get("weightDevice") or ()):
        if wd is None:  # (resources.py: an entry that sets nothing)
            continue
        at = f"{f}.weightDevice[{i}]"
        if wd.get("leafWeight"):
            raise NotSupported(f"{at}.leafWeight", V1_ONLY)
        if not wd.get("weight"):
            continue
        dev = f"{wd['major']}:{wd['minor']}"
        if bfq:
            w(d, "io.bfq.weight", f"{dev} {wd['weight']}", at)
        elif has_weight:
            w(d, "io.weight", f"{dev} {io_weight(wd['weight'])}", at)
        else:
            raise NotSupported(at, "no io weight control on this host")
    for key, word in THROTTLE_V2:
        for i, td in enumerate(b.get(key) or ()):
            if td is None:  # (resources.py: rate 0 at create)
                continue
            # rate 0 is v1's "no limit" (an update lifting one): v2's "max"
            w(d, "io.max", f"{td['major']}:{td['minor']} {word}={td['rate'] or 'max'}",
              f"{f}.{key}[{i}]")


THROTTLE_V2 = (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
               ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops"))


def hugetlb(d, limits, f="linux.resources.hugepageLimits"):
    for i, h in enumerate(limits):
        size = h["pageSize"]
        if not os.path.exists(os.path.join(d, f"hugetlb.{size}.max")):
            sizes = sorted({n.split(".")[1] for n in os.listdir(d) if n.startswith("hugetlb.")})
            raise ConfigError(f"{f}[{i}].pageSize", f"{size!r} is not a huge page size of "
                              f"this host ({', '.join(sizes) or 'none'})")
        w(d, f"hugetlb.{size}.max", h["limit"], f"{f}[{i}].limit")
        if h.get("rsvd") is not None:
            w(d, f"hugetlb.{size}.rsvd.max", h["rsvd"], f"{f}[{i}].rsvd")


MEMBERSHIP_FILES = {"cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze",
                    "cgroup.subtree_control", "cgroup.type"}


def unified(d, values, f="linux.resources.unified"):
    for key, value in values.items():
        at = f"{f}[{key!r}]"
        if "/" in key or key.startswith("."):
            raise ConfigError(at, "must be a control file name (no slashes)")
        if key in MEMBERSHIP_FILES:
            # which processes are in the cgroup, and its life, belong to the
            # runtime: a config must not move host processes in or kill
            raise ConfigError(at, f"{key} is not a resource setting")
        try:
            write(os.path.join(d, key), value)
        except FileNotFoundError:
            raise NotSupported(at, f"no control file {key} in the container's cgroup") from None
        except OSError as e:
            raise ConfigError(at, f"writing {value!r}: {e.strerror}", "resource.cgroup",
                              e.errno) from None


def devices(d, rules, f="linux.resources.devices"):
    """The rules (then runc's defaults) as an eBPF program attached to the
    cgroup: v2 has no devices files."""
    from . import devices_bpf
    from .resources_v1 import DEFAULT_DEVICE_RULES
    for i, r in enumerate(rules):
        if r.get("type", "a") not in ("a", "b", "c"):
            raise ConfigError(f"{f}[{i}].type", f"invalid device type {r['type']!r}")
    defaults = []
    for text in DEFAULT_DEVICE_RULES:
        t, num, access = text.split()
        major, minor = num.split(":")
        defaults.append({"allow": True, "type": t, "access": access,
                         "major": None if major == "*" else int(major),
                         "minor": None if minor == "*" else int(minor)})
    try:
        devices_bpf.attach(d, list(rules) + defaults)
    except OSError as e:
        raise ConfigError(f, f"cannot install the device filter on {d}: {e}", "resource.cgroup",
                          e.errno) from None
