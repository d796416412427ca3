#!/usr/bin/env python3
"""The short commands on a running container: state, kill (SIGCONT),
pause, resume, ps --format json; and the floor, `python3 -I -S -c pass`
(the interpreter pyrunc runs), in the same rounds. Goal (issue 13): pyrunc within 1.5 ms of the floor.
  python3 bench/commands.py [N]     (default 25)"""
from benchlib import Bench, median, report, timed

COMMANDS = (("state", ("state", "{}")), ("kill", ("kill", "{}", "CONT")),
            ("pause", ("pause", "{}")), ("resume", ("resume", "{}")),
            ("ps --format json", ("ps", "--format", "json", "{}")))

with Bench("commands", 25) as b:
    b.make_bundle(["/bin/sleep", "600"])
    ids = {rt.name: b.container(rt, "c") for rt in b.runtimes}
    per = {(name, rt.name): [] for name, _ in COMMANDS for rt in b.runtimes}
    floor = []

    def rnd(i):
        """floor, then every command of every runtime (pause before
        resume: the container ends each round running)."""
        floor.append(timed(b.floor) * 1000)
        k = i % len(b.runtimes)
        for rt in b.runtimes[k:] + b.runtimes[:k]:
            for name, args in COMMANDS:
                argv = rt.cmd(*(a.format(ids[rt.name]) for a in args))
                per[(name, rt.name)].append(timed(argv) * 1000)
        return 0
    rnd(0)  # warm-up
    for xs in [floor] + list(per.values()):
        xs.clear()
    b.paired([("round", rnd)], warmup=0)
    f = median(floor)
    for name, _ in COMMANDS:
        times = {rt.name: per[(name, rt.name)] for rt in b.runtimes}
        times["python -I -S"] = floor

        def goal(times, f=f):
            d = median(times["pyrunc"]) - f
            return (f"pyrunc within 1.5 ms of the interpreter's start: "
                    f"{'met' if d <= 1.5 else 'NOT met'} (+{d:.1f} ms)")
        report(b, name, times, goal=goal)
