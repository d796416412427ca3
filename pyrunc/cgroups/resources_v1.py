"""linux.resources written to cgroup v1 control files.

resources.py decides which hierarchy serves a field; the functions here
take the controller's directory and the config section. Values are
written as the spec gives them (v1 files take the spec's units), in the
order the kernel's checks need.
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from .. import fspath
from ..errors import ConfigError, NotSupported
from .files import read, write_field as w

# Devices every container gets, as runc grants them (the default device
# nodes, /dev/pts and /dev/ptmx, tun, and mknod of anything; not 5:1: a
# /dev/console is the container's pty, 136:*, bound there).
DEFAULT_DEVICE_RULES = (
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
    "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
)


def device_rule(r):
    t = r.get("type", "a")
    if t == "a":
        return "a"
    major, minor = r.get("major"), r.get("minor")
    return f"{t} {'*' if major is None or major < 0 else major}:" \
           f"{'*' if minor is None or minor < 0 else minor} {r.get('access') or 'rwm'}"


def devices(d, rules, f="linux.resources.devices"):
    # Start from deny-all so the order of the config's rules is what counts.
    w(d, "devices.deny", "a", f)
    for i, r in enumerate(rules):
        w(d, "devices.allow" if r.get("allow") else "devices.deny", device_rule(r), f"{f}[{i}]")
    # after the config's rules, as runc does: a leading deny-all must not
    # take away the container's own /dev/null
    for rule in DEFAULT_DEVICE_RULES:
        w(d, "devices.allow", rule, f)


def memory(d, m, update, f="linux.resources.memory"):
    limit, swap = m.get("limit"), m.get("swap")
    if m.get("checkBeforeUpdate") and update:
        check_usage(int(read(d, "memory.usage_in_bytes") or 0), limit, swap, f)
    if limit == -1 and not swap and _has(d, "memory.memsw.limit_in_bytes"):
        # unlimited memory with swap unset: memsw unlimited too (as runc,
        # and as v2's swap_value), else a memsw limit left from before
        # refuses the new memory limit
        swap = -1
    # memsw must stay >= the memory limit at every step: raising both means
    # swap first, lowering both means memory first
    swap_first = False
    if limit is not None and swap is not None and swap != 0:
        cur = int(read(d, "memory.limit_in_bytes") or 0)
        swap_first = swap == -1 or cur < swap
    if swap is not None and swap != 0 and swap_first:
        _swap(d, swap, f)
    if limit is not None and limit != 0:
        w(d, "memory.limit_in_bytes", limit, f"{f}.limit")
    if swap is not None and swap != 0 and not swap_first:
        _swap(d, swap, f)
    if m.get("reservation"):
        w(d, "memory.soft_limit_in_bytes", m["reservation"], f"{f}.reservation")
    if m.get("swappiness") is not None:
        w(d, "memory.swappiness", m["swappiness"], f"{f}.swappiness")
    if m.get("disableOOMKiller"):  # (false is the default: never written, as runc)
        w(d, "memory.oom_control", 1, f"{f}.disableOOMKiller")
    if m.get("kernelTCP"):
        w(d, "memory.kmem.tcp.limit_in_bytes", m["kernelTCP"], f"{f}.kernelTCP")
    if m.get("useHierarchy"):  # (false: not set, see resources.py)
        w(d, "memory.use_hierarchy", 1, f"{f}.useHierarchy")


def _swap(d, swap, f):
    if not fspath.exists(fspath.join(d, "memory.memsw.limit_in_bytes")):
        raise NotSupported(f"{f}.swap", "this kernel has no swap accounting "
                                        "(memory.memsw.limit_in_bytes)")
    w(d, "memory.memsw.limit_in_bytes", swap, f"{f}.swap")


def check_usage(usage, limit, swap, f):
    """memory.checkBeforeUpdate: refuse a limit at or below what is in use
    (the kernel would reclaim or OOM-kill to meet it)."""
    if swap is not None and swap > 0 and swap <= usage:
        raise ConfigError(f"{f}.swap", f"rejecting memory+swap limit {swap} <= usage {usage}")
    if limit is not None and limit > 0 and limit <= usage:
        raise ConfigError(f"{f}.limit", f"rejecting memory limit {limit} <= usage {usage}")


def cpu(d, c, f="linux.resources.cpu"):
    """In runc's order: shares, then the CFS period, burst and quota, the
    idle flag, the real-time period and runtime. Zeros arrive only where
    they mean something (resources.prune_cpu): burst and idle 0 reset
    their default, which a kernel without the file has anyway."""
    def given(k, name):
        v = c.get(k)
        if v is None or (v == 0 and (k not in ("burst", "idle") or not _has(d, name))):
            return None
        _need(d, name, f"{f}.{k}")
        return v
    shares = given("shares", "cpu.shares")
    if shares is not None:
        w(d, "cpu.shares", shares, f"{f}.shares")
    # the kernel checks each of period and burst against the quota in
    # force: when the new quota is what makes one valid, it is written
    # again after the quota (runc's retry on EINVAL)
    quota = given("quota", "cpu.cfs_quota_us")
    later = _budget(d, (("period", "cpu.cfs_period_us"), ("burst", "cpu.cfs_burst_us")),
                    given, quota is not None, f)
    if quota is not None:
        w(d, "cpu.cfs_quota_us", quota, f"{f}.quota")
    for k, name, v in later:
        w(d, name, v, f"{f}.{k}")
    idle = given("idle", "cpu.idle")
    if idle is not None:
        w(d, "cpu.idle", idle, f"{f}.idle")
    # the real-time pair likewise: a period the current runtime does not
    # fit in waits for the new runtime
    runtime = given("realtimeRuntime", "cpu.rt_runtime_us")
    later = _budget(d, (("realtimePeriod", "cpu.rt_period_us"),), given, runtime is not None, f)
    if runtime is not None:
        w(d, "cpu.rt_runtime_us", runtime, f"{f}.realtimeRuntime")
    for k, name, v in later:
        w(d, name, v, f"{f}.{k}")


def _budget(d, fields, given, retry, f):
    """Write each field now; on EINVAL, when `retry` (its partner is being
    set too), return it to be written after the partner."""
    from .files import write
    later = []
    for k, name in fields:
        v = given(k, name)
        if v is None:
            continue
        try:
            write(fspath.join(d, name), str(v))
        except OSError as e:
            if e.errno != 22 or not retry:
                raise ConfigError(f"{f}.{k}", f"writing {v!r} to {fspath.join(d, name)}: "
                                              f"{e.strerror}", "resource.cgroup",
                                  e.errno) from None
            later.append((k, name, v))
    return later


# cpuset, pids and rdma files have the same names and syntax on v1 and v2:
# resources.py uses these writers for both

def cpuset(d, c, f="linux.resources.cpu"):
    for k in ("cpus", "mems"):
        if c.get(k):
            w(d, "cpuset." + k, c[k], f"{f}.{k}")


def pids(d, p, f="linux.resources.pids"):
    # a negative value lifts the limit; 0 reaches here only from an update
    # (resources.py), where runc HEAD writes it as 1 (systemd's TasksMax
    # cannot be 0, and the fs driver does the same to agree with it)
    limit = p.get("limit")
    if limit is not None:
        w(d, "pids.max", "max" if limit < 0 else max(limit, 1), f"{f}.limit")


def blkio(d, b, f="linux.resources.blockIO"):
    # CFQ had blkio.weight; with BFQ the files are blkio.bfq.weight*; with
    # neither (mq-deadline, none) weights cannot be honoured
    weight_file = next((n for n in ("blkio.weight", "blkio.bfq.weight")
                        if fspath.exists(fspath.join(d, n))), None)
    if b.get("weight"):  # (0: not set)
        if weight_file is None:
            raise NotSupported(f"{f}.weight", "no blkio weight control on this host (needs "
                                              "the BFQ or CFQ I/O scheduler)")
        w(d, weight_file, b["weight"], f"{f}.weight")
    if b.get("leafWeight"):
        _need(d, "blkio.leaf_weight", f"{f}.leafWeight")
        w(d, "blkio.leaf_weight", b["leafWeight"], f"{f}.leafWeight")
    for i, wd in enumerate(b.get("weightDevice") or ()):
        if wd is None:  # (resources.py: an entry that sets nothing)
            continue
        at = f"{f}.weightDevice[{i}]"
        dev = f"{wd['major']}:{wd['minor']}"
        if wd.get("weight"):
            if weight_file is None:
                raise NotSupported(at, "no blkio weight control on this host")
            w(d, weight_file + "_device", f"{dev} {wd['weight']}", at)
        if wd.get("leafWeight"):
            _need(d, "blkio.leaf_weight_device", at)
            w(d, "blkio.leaf_weight_device", f"{dev} {wd['leafWeight']}", at)
    for key, name in THROTTLE_V1:
        for i, td in enumerate(b.get(key) or ()):
            if td is None or (not td.get("rate") and not _has(d, name)):
                continue  # nothing to write, or no limit to lift
            at = f"{f}.{key}[{i}]"
            _need(d, name, at)
            w(d, name, f"{td['major']}:{td['minor']} {td['rate']}", at)


THROTTLE_V1 = (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
               ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
               ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
               ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"))


def hugetlb(d, limits, f="linux.resources.hugepageLimits"):
    for i, h in enumerate(limits):
        size = h["pageSize"]
        name = f"hugetlb.{size}.limit_in_bytes"
        if not fspath.exists(fspath.join(d, name)):
            raise ConfigError(f"{f}[{i}].pageSize", f"{size!r} is not a huge page size "
                              f"of this host ({_sizes(d)})")
        w(d, name, h["limit"], f"{f}[{i}].limit")
        if "rsvd" in h and h["rsvd"] is not None:
            _need(d, f"hugetlb.{size}.rsvd.limit_in_bytes", f"{f}[{i}].rsvd")
            w(d, f"hugetlb.{size}.rsvd.limit_in_bytes", h["rsvd"], f"{f}[{i}].rsvd")


def _sizes(d):
    sizes = sorted({n.split(".")[1] for n in os.listdir(d) if n.startswith("hugetlb.")})
    return ", ".join(sizes) or "none"


def net_cls(d, n, f="linux.resources.network"):
    if n.get("classID") is not None:
        w(d, "net_cls.classid", n["classID"], f"{f}.classID")


def net_prio(d, n, f="linux.resources.network"):
    for i, p in enumerate(n.get("priorities") or ()):
        if p is None:  # (resources.py: priority 0 at create)
            continue
        w(d, "net_prio.ifpriomap", f"{p['name']} {p['priority']}", f"{f}.priorities[{i}]")


def rdma(d, r, f="linux.resources.rdma"):
    """Same file and syntax on v1 and v2."""
    for dev, lim in r.items():
        parts = [dev]
        for k in ("hcaHandles", "hcaObjects"):
            if lim.get(k) is not None:
                parts.append(f"{'hca_handle' if k == 'hcaHandles' else 'hca_object'}={lim[k]}")
        if len(parts) > 1:
            w(d, "rdma.max", " ".join(parts), f"{f}.{dev}")


def _has(d, name):
    return fspath.exists(fspath.join(d, name))


def _need(d, name, field):
    if not _has(d, name):
        raise NotSupported(field, f"this kernel has no {name}")
