#!/usr/bin/env python3
"""`list` and `state` with 10, 100 and 1,000 containers under the root
(stopped ones: created, started, their /bin/true exited), pyrunc, runc,
crun, paired at each size. Goals (issue 13): list at 1,000 <= crun's;
state flat from 10 to 1,000.
  python3 bench/list.py [N]     (default 15 rounds per size;
                                 SIZES=10,100,1000)"""
import os

from benchlib import Bench, median, ratio_goal, report, timed

SIZES = [int(s) for s in (os.environ.get("SIZES") or "10,100,1000").split(",")]
state_at = {}  # pyrunc's median of state at each size


def flat(t):
    """state at the largest size against the smallest: flat is within
    0.5 ms (this host's noise between two medians)."""
    lo, hi = state_at[SIZES[0]], state_at[SIZES[-1]]
    return (f"state flat from {SIZES[0]} to {SIZES[-1]} (within 0.5 ms): "
            f"{'met' if hi - lo <= 0.5 else 'NOT met'} ({lo:.1f} -> {hi:.1f} ms, {hi - lo:+.1f})")


with Bench("list", 15) as b:
    b.make_bundle(["/bin/true"])
    have = {rt.name: 0 for rt in b.runtimes}
    for size in SIZES:
        for rt in b.runtimes:
            while have[rt.name] < size:
                b.container(rt, f"c{have[rt.name]}")
                have[rt.name] += 1
        steps = [(rt.name, lambda i, rt=rt: timed(rt.cmd("list"))) for rt in b.runtimes]
        goal = ratio_goal("pyrunc", "crun", 1.0) if size == SIZES[-1] else None
        report(b, f"list, {size} containers", b.paired(steps), goal=goal)
        steps = [(rt.name, lambda i, rt=rt: timed(rt.cmd("state", b.cid(rt, "c0"))))
                 for rt in b.runtimes]
        t = b.paired(steps)
        state_at[size] = median(t["pyrunc"])
        report(b, f"state, {size} containers", t,
               goal=flat if size == SIZES[-1] and len(SIZES) > 1 else None)
