#!/usr/bin/env python3
"""Memory: the peak RSS of the `create` process (GNU time's %M: its
rusage, forked from a small process; a child forked from this Python
would inherit Python's RSS as its high-water mark across exec) and what a created container costs while it waits for `start`
(the RSS and PSS of the process in the container's pid: pyrunc's sealed
helper, `runc init`, crun's). Goals (issue 13): create's peak no higher
than runc's; the waiting container at ~0.
  python3 bench/memory.py [N]     (default 10)"""
import json
import os
import subprocess

from benchlib import Bench, median, report, timed


def kib(pid, path, key):
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


with Bench("memory", 10) as b:
    b.make_bundle(["/bin/sleep", "600"])
    peak = {rt.name: [] for rt in b.runtimes}
    rss = {rt.name: [] for rt in b.runtimes}
    pss = {rt.name: [] for rt in b.runtimes}

    def one(i, rt):
        cid = b.cid(rt, f"m{i}")
        b.made.append((rt, cid))
        out = os.path.join(b.work, "maxrss")
        timed(["/usr/bin/time", "-f", "%M", "-o", out] + rt.cmd("create", "--bundle",
                                                                 b.bundle, cid))
        with open(out) as f:
            peak[rt.name].append(int(f.read().split()[-1]) / 1024)
        pid = json.loads(b.run(rt, "state", cid, out=subprocess.PIPE).stdout)["pid"]
        rss[rt.name].append(kib(pid, "status", "VmRSS") / 1024)
        pss[rt.name].append(kib(pid, "smaps_rollup", "Pss") / 1024)
        b.run(rt, "delete", "--force", cid)
        return 0
    b.paired([(rt.name, lambda i, rt=rt: one(i, rt)) for rt in b.runtimes])

    def goal(t):
        if not t.get("runc"):
            return "runc not measured"
        a, r = median(t["pyrunc"]), median(t["runc"])
        return (f"create's peak RSS <= runc's: {'met' if a <= r else 'NOT met'} "
                f"({a:.1f} vs {r:.1f} MiB)")
    report(b, "peak RSS of create", peak, unit="MiB", goal=goal)

    def waiting(t):  # the process waiting for start is pyrunc's sealed helper
        a = median(t["pyrunc"])
        return f"a waiting container ~0 (<= 0.5 MiB): {'met' if a <= 0.5 else 'NOT met'} " \
               f"({a:.1f} MiB)"
    report(b, "a created container waiting for start: RSS", rss, unit="MiB", goal=waiting)
    report(b, "a created container waiting for start: PSS", pss, unit="MiB")
