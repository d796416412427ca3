#!/usr/bin/env python3
"""`exec` of /bin/true into a running container (a `sleep`): pyrunc, runc,
crun, paired. Goal (issue 13): pyrunc <= 0.6x runc.
  python3 bench/exec.py [N]     (default 30)"""
from benchlib import Bench, ratio_goal, report, timed

with Bench("exec", 30) as b:
    b.make_bundle(["/bin/sleep", "600"])
    steps = []
    for rt in b.runtimes:
        cid = b.container(rt, "e")
        steps.append((rt.name, lambda i, rt=rt, cid=cid: timed(rt.cmd("exec", cid,
                                                                      "/bin/true"))))
    t = b.paired(steps)
    report(b, "exec /bin/true", t, goal=ratio_goal("pyrunc", "runc", 0.6))
