#!/usr/bin/env python3
"""`run` of /bin/true from the default spec: pyrunc, runc, crun, paired.
Goals (issue 13): pyrunc <= 0.7x runc and <= 1.0x crun; the same with
podman's default seccomp profile (SECCOMP=podman) and in a user namespace
(USERNS=1), each a row of its own.
  python3 bench/run.py [N]     (default 25; see benchlib.py for the env)"""
from benchlib import Bench, ratio_goal, report, timed

with Bench("run", 25) as b:
    b.make_bundle(["/bin/true"])
    steps = []
    for rt in b.runtimes:
        def one(i, rt=rt):
            cid = b.cid(rt, f"r{i}")
            b.made.append((rt, cid))
            return timed(rt.cmd("run", "--bundle", b.bundle, cid))
        steps.append((rt.name, one))
    steps.append(("python -I -S", lambda i: timed(b.floor)))
    crun = next((r for r in b.runtimes if r.note), None)
    if crun:
        steps.append(("crun* wrapper", lambda i: timed([crun.argv[0], "/bin/true"])))
    t = b.paired(steps)

    def goal(times):
        out = [ratio_goal("pyrunc", "runc", 0.7)(times)]
        if times.get("crun"):
            out.append(ratio_goal("pyrunc", "crun", 1.0)(times))
        return "; ".join(out)
    report(b, "run /bin/true" + b.variant, t, goal=goal)
