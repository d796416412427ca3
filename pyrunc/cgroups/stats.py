"""`events`: a container's statistics in the JSON shape runc prints
(types.Stats: cpu, memory, pids, blkio, hugetlb), read from whichever
hierarchy serves each controller (v1, or the unified one)."""
import os

from .files import flat_keyed, int_of, read

MAX = 2 ** 64 - 1  # what runc reports for an unlimited v2 value


def _limit(d, name):
    v = read(d, name).strip()
    if v == "max":
        return MAX
    try:
        return int(v)
    except ValueError:
        return 0


def _v2(mgr, ctl):
    """The unified dir when `ctl` is enabled in it."""
    d = mgr.path("unified")
    if d and ctl in read(d, "cgroup.controllers").split():
        return d
    return None


def collect(mgr):
    data = {}
    for key, fn in (("cpu", _cpu), ("memory", _memory), ("pids", _pids), ("blkio", _blkio),
                    ("hugetlb", _hugetlb)):
        v = fn(mgr)
        if v is not None:
            data[key] = v
    return data


def _cpu(mgr):
    d = mgr.v1_dir("cpuacct")
    if d:
        st = flat_keyed(d, "cpuacct.stat")
        tick = 10_000_000  # USER_HZ 100 -> ns
        out = {"usage": {"total": int_of(d, "cpuacct.usage"),
                         "percpu": [int(x) for x in read(d, "cpuacct.usage_percpu").split()],
                         "kernel": st.get("system", 0) * tick, "user": st.get("user", 0) * tick}}
        c = mgr.v1_dir("cpu")
        t = flat_keyed(c, "cpu.stat") if c else {}
        out["throttling"] = {"periods": t.get("nr_periods", 0),
                             "throttledPeriods": t.get("nr_throttled", 0),
                             "throttledTime": t.get("throttled_time", 0)}
        return out
    d = mgr.path("unified")
    if d is None:
        return None
    # cpu.stat's usage lines are there even without the cpu controller
    t = flat_keyed(d, "cpu.stat")
    return {"usage": {"total": t.get("usage_usec", 0) * 1000,
                      "kernel": t.get("system_usec", 0) * 1000,
                      "user": t.get("user_usec", 0) * 1000},
            "throttling": {"periods": t.get("nr_periods", 0),
                           "throttledPeriods": t.get("nr_throttled", 0),
                           "throttledTime": t.get("throttled_usec", 0) * 1000}}


def _memory(mgr):
    m = mgr.v1_dir("memory")
    if m:
        def entry(prefix):
            return {"limit": int_of(m, prefix + "limit_in_bytes"),
                    "usage": int_of(m, prefix + "usage_in_bytes"),
                    "max": int_of(m, prefix + "max_usage_in_bytes"),
                    "failcnt": int_of(m, prefix + "failcnt")}
        raw = flat_keyed(m, "memory.stat")
        return {"cache": raw.get("cache", 0), "usage": entry("memory."),
                "swap": entry("memory.memsw."), "kernel": entry("memory.kmem."),
                "kernelTCP": entry("memory.kmem.tcp."), "raw": raw}
    d = _v2(mgr, "memory")
    if d is None:
        return None
    raw = flat_keyed(d, "memory.stat")
    events = flat_keyed(d, "memory.events")
    usage = int_of(d, "memory.current")
    swap = int_of(d, "memory.swap.current")
    # as runc: "swap" is memory+swap, the v1 meaning the clients expect
    swap_limit = _limit(d, "memory.swap.max")
    mem_limit = _limit(d, "memory.max")
    return {"cache": raw.get("file", 0),
            "usage": {"limit": mem_limit, "usage": usage, "max": int_of(d, "memory.peak"),
                      "failcnt": events.get("max", 0)},
            "swap": {"limit": MAX if MAX in (swap_limit, mem_limit) else swap_limit + mem_limit,
                     "usage": usage + swap, "failcnt": 0},
            "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0},
            "raw": raw}


def _pids(mgr):
    d = mgr.v1_dir("pids") or _v2(mgr, "pids")
    if d is None:
        return None
    lim = _limit(d, "pids.max")
    return {"current": int_of(d, "pids.current"), "limit": 0 if lim == MAX else lim}


def _entries(lines):
    """v1 blkio lines "major:minor Op value" (the Total line has no device)."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, _, minor = parts[0].partition(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1],
                        "value": int(parts[2])})
    return out


def _blkio(mgr):
    d = mgr.v1_dir("blkio")
    if d:
        out = {}
        for key, name in (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
                          ("ioServicedRecursive", "io_serviced_recursive")):
            for prefix in ("blkio.", "blkio.throttle.", "blkio.bfq."):
                e = _entries(read(d, prefix + name).splitlines())
                if e:
                    out[key] = e
                    break
        return out
    d = _v2(mgr, "io")
    if d is None:
        return None
    out = {"ioServiceBytesRecursive": [], "ioServicedRecursive": []}
    for line in read(d, "io.stat").splitlines():
        dev, *kvs = line.split()
        major, _, minor = dev.partition(":")
        vals = dict(kv.split("=", 1) for kv in kvs if "=" in kv)
        for key, r, w in (("ioServiceBytesRecursive", "rbytes", "wbytes"),
                          ("ioServicedRecursive", "rios", "wios")):
            for op, k in (("Read", r), ("Write", w)):
                out[key].append({"major": int(major), "minor": int(minor), "op": op,
                                 "value": int(vals.get(k, 0))})
    return {k: v for k, v in out.items() if v}


def _hugetlb(mgr):
    d = mgr.v1_dir("hugetlb")
    v1 = d is not None
    d = d or _v2(mgr, "hugetlb")
    if d is None:
        return None
    out = {}
    for size in sorted({n.split(".")[1] for n in os.listdir(d) if n.startswith("hugetlb.")}):
        p = f"hugetlb.{size}."
        if v1:
            out[size] = {"usage": int_of(d, p + "usage_in_bytes"),
                         "max": int_of(d, p + "max_usage_in_bytes"),
                         "failcnt": int_of(d, p + "failcnt")}
        else:
            out[size] = {"usage": int_of(d, p + "current"),
                         "failcnt": flat_keyed(d, p + "events").get("max", 0)}
    return out
