"""`events`: a container's statistics from its v1 cgroups, in the JSON
shape runc prints (types.Stats: cpu, memory, pids)."""
import os


def _read(d, name):
    try:
        with open(os.path.join(d, name)) as f:
            return f.read()
    except OSError:
        return ""


def _int(d, name):
    v = _read(d, name).strip()
    if v == "max":
        return 0
    try:
        return int(v)
    except ValueError:
        return 0


def _kv(d, name):
    out = {}
    for line in _read(d, name).splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            pass
    return out


def collect(mgr):
    data = {}
    d = mgr.path("cpuacct") or mgr.path("cpu,cpuacct")
    if d:
        st = _kv(d, "cpuacct.stat")
        tick = 10_000_000  # USER_HZ 100 -> ns
        data["cpu"] = {
            "usage": {"total": _int(d, "cpuacct.usage"),
                      "percpu": [int(x) for x in _read(d, "cpuacct.usage_percpu").split()],
                      "kernel": st.get("system", 0) * tick, "user": st.get("user", 0) * tick},
            "throttling": {}}
    c = mgr.path("cpu") or mgr.path("cpu,cpuacct")
    if c and "cpu" in data:
        t = _kv(c, "cpu.stat")
        data["cpu"]["throttling"] = {"periods": t.get("nr_periods", 0),
                                     "throttled_periods": t.get("nr_throttled", 0),
                                     "throttled_time": t.get("throttled_time", 0)}
    m = mgr.path("memory")
    if m:
        def entry(prefix):
            return {"limit": _int(m, prefix + "limit_in_bytes"),
                    "usage": _int(m, prefix + "usage_in_bytes"),
                    "max": _int(m, prefix + "max_usage_in_bytes"),
                    "failcnt": _int(m, prefix + "failcnt")}
        data["memory"] = {"usage": entry("memory."), "swap": entry("memory.memsw."),
                          "kernel": entry("memory.kmem."),
                          "kernelTCP": entry("memory.kmem.tcp."),
                          "raw": _kv(m, "memory.stat")}
    p = mgr.path("pids")
    if p:
        data["pids"] = {"current": _int(p, "pids.current"), "limit": _int(p, "pids.max")}
    return data
