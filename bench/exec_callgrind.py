#!/usr/bin/env python3
"""Instructions of `pyrunc exec` (callgrind), for changes that wall time on
a shared host cannot show: the parent and the exec child (from its fork:
--zero-before=PyOS_AfterFork_Child), OTHER's build beside PYRUNC's.
  python3 bench/exec_callgrind.py      (PYRUNC=, OTHER= as benchlib.py)

Valgrind 3.19 lacks pidfd_open, pidfd_send_signal and openat2, so the
interpreter starts from bench/exec_cgboot.py, which stands in for them
(a /proc/PID fd; openat; setns of each /proc/PID/ns file) and for the
sealed helper (static, not Python: its protocol only), and valgrind does
not follow the exec. The figures are for comparing builds, not absolute:
the container has no rlimits (valgrind keeps fds for itself) and a
writable root (the child's output file is written inside it)."""
import glob
import json
import os
import subprocess
import sys

from benchlib import HERE, Bench


def count(b, rt, cid, outdir, flags, cmd):
    py = os.path.join(os.path.dirname(rt.argv[0]), "python3")
    site = glob.glob(os.path.join(os.path.dirname(os.path.dirname(rt.argv[0])),
                                  "lib", "python3*", "site-packages"))[0]
    for f in glob.glob(outdir + "/cg.*") + glob.glob(b.bundle + "/rootfs" + outdir + "/cg.*"):
        os.unlink(f)
    p = subprocess.run(["valgrind", "-q", "--tool=callgrind", "--trace-children=no",
                        "--zero-before=PyOS_AfterFork_Child",
                        f"--callgrind-out-file={outdir}/cg.%p", py, "-I", "-S",
                        os.path.join(HERE, "exec_cgboot.py"), site, "--root", rt.root, "exec",
                        *flags, cid, *cmd],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"{rt.name} exec {' '.join(flags + cmd)}: exit {p.returncode}: "
                 f"{p.stderr.decode(errors='replace')[-300:]}")
    total = 0
    for f in glob.glob(outdir + "/cg.*") + glob.glob(b.bundle + "/rootfs" + outdir + "/cg.*"):
        with open(f) as fh:
            total += next(int(x.split()[1]) for x in fh if x.startswith("summary:"))
    return total


with Bench("exec (callgrind)", 1) as b:
    b.make_bundle(["/bin/sleep", "600"])
    cfg = os.path.join(b.bundle, "config.json")
    with open(cfg) as f:
        c = json.load(f)
    c["process"].pop("rlimits", None)
    c["root"]["readonly"] = False
    with open(cfg, "w") as f:
        json.dump(c, f)
    outdir = os.path.join(b.work, "cg")
    os.makedirs(outdir)
    os.makedirs(b.bundle + "/rootfs" + outdir)
    proc = os.path.join(b.work, "process.json")
    with open(proc, "w") as f:
        json.dump({"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
                   "env": ["PATH=/bin"], "cwd": "/"}, f)
    pid = ["--pid-file", os.path.join(b.work, "pid")]
    cases = [("exec /bin/true", [], ["/bin/true"]),
             ("exec -d --pid-file /bin/true", ["-d"] + pid, ["/bin/true"]),
             ("exec --process F -d --pid-file (containerd)", ["--process", proc, "-d"] + pid, [])]
    rts = [rt for rt in b.runtimes if rt.name.startswith("pyrunc")]
    print("## instructions (callgrind: parent + exec child), M")
    for rt in rts:
        cid = b.container(rt, "cg")
        for what, flags, cmd in cases:
            n = count(b, rt, cid, outdir, flags, cmd)
            print(f"  {rt.name:14s} {what:44s} {n / 1e6:8.2f}")
