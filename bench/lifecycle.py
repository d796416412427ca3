#!/usr/bin/env python3
"""create + start + delete of one container (process /bin/true), the three
commands timed together: pyrunc, runc, crun, paired.
Goal (issue 13): pyrunc <= 0.7x runc.
  python3 bench/lifecycle.py [N]     (default 25)"""
from benchlib import Bench, ratio_goal, report, timed

with Bench("lifecycle", 25) as b:
    b.make_bundle(["/bin/true"])
    steps = []
    for rt in b.runtimes:
        def one(i, rt=rt):
            cid = b.cid(rt, f"l{i}")
            b.made.append((rt, cid))
            # (--force: /bin/true may not have exited when start returns)
            return (timed(rt.cmd("create", "--bundle", b.bundle, cid))
                    + timed(rt.cmd("start", cid))
                    + timed(rt.cmd("delete", "--force", cid)))
        steps.append((rt.name, one))
    t = b.paired(steps)
    report(b, "create + start + delete", t, goal=ratio_goal("pyrunc", "runc", 0.7))
