#!/usr/bin/env python3
"""End to end, where users feel it: `podman run --rm` of /bin/true from a
busybox rootfs, with pyrunc and with runc as podman's runtime, paired.
podman runs with its own --root/--runroot and containers.conf in the
bench's work dir (nothing of the host's podman is touched). The runtime's
share of the total is small: this row is here so nobody claims more than
users see. `ctr run --rm` is not measured: containerd is a daemon shared
with the rest of the host (its fifos and shims under /run/containerd).
  python3 bench/e2e.py [N]     (default 10)"""
import os
import shutil
import sys

from benchlib import Bench, report, timed

CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["pyrunc", "runc"]
[engine.runtimes]
"""

with Bench("e2e", 10) as b:
    if not shutil.which("podman"):
        print("## podman run --rm: skipped (no podman)")
        sys.exit(0)
    b.make_bundle(["/bin/true"])
    rts = [rt for rt in b.runtimes if rt.name in ("pyrunc", "pyrunc-other", "runc")]
    conf = os.path.join(b.work, "containers.conf")
    with open(conf, "w") as f:
        f.write(CONF + "".join(f'"{rt.name}" = ["{rt.argv[0]}"]\n' for rt in rts))
    os.environ["CONTAINERS_CONF"] = conf
    base = ["podman", "--root", os.path.join(b.work, "storage"),
            "--runroot", os.path.join(b.work, "run")]
    rootfs = os.path.join(b.bundle, "rootfs")
    steps = [(rt.name, lambda i, rt=rt: timed(base + ["--runtime", rt.name, "run", "--rm",
                                                      "--rootfs", rootfs, "/bin/true"]))
             for rt in rts]
    t = b.paired(steps)
    b.notes = [n for n in b.notes if not n.startswith("crun")]
    report(b, "podman run --rm /bin/true", t)
