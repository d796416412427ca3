#!/usr/bin/env python3
"""End to end, where users feel it: `podman run --rm` and `ctr run --rm` of
/bin/true, with pyrunc and with runc as the runtime, paired, the same
image for both clients (tests/ociimage.py: a one-layer OCI archive of the
bench's busybox rootfs, made locally, no registry).

podman runs with its own --root/--runroot and containers.conf in the
bench's work dir; containerd is a private daemon started here (its config,
root, state and socket in the work dir) and stopped at the end, as
tests/test_podman.py and tests/test_containerd.py do. Nothing of the
host's podman or containerd is touched. The runtime's share of the total
is small: these rows are here so nobody claims more than users see; the
goal line gives pyrunc's difference to runc as a share of runc's total.
podman applies its own default seccomp profile (SECCOMP/USERNS do not
apply here).
  python3 bench/e2e.py [N]     (default 10)"""
import os
import shutil
import signal
import subprocess
import sys
import time

from benchlib import TOP, Bench, median, report, timed

sys.path.insert(0, os.path.join(TOP, "tests"))
from ociimage import IMAGE, oci_archive  # noqa: E402

CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["pyrunc", "pyrunc-other", "runc"]
[engine.runtimes]
"""


def share(times):
    """pyrunc - runc, as a share of runc's end-to-end median."""
    if not times.get("runc") or not times.get("pyrunc"):
        return ""
    a, r = median(times["pyrunc"]), median(times["runc"])
    return (f"end to end, pyrunc - runc = {a - r:+.1f} ms of runc's {r:.1f} ms "
            f"({100 * (a - r) / r:+.1f}%)")


def cgroup_dirs(name):
    """/sys/fs/cgroup/<controller>/<name> (and unified/<name>) that exist."""
    bases = ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", c)
                                  for c in os.listdir("/sys/fs/cgroup")]
    return {os.path.join(b, name) for b in bases if os.path.isdir(os.path.join(b, name))}


def rmdir_quiet(d):
    try:
        os.rmdir(d)
    except OSError:
        pass


def umount_under(top):
    """Whatever the clients left mounted under the work dir (deepest first)."""
    with open("/proc/self/mountinfo") as f:
        for m in sorted((line.split()[4] for line in f if top in line), reverse=True):
            subprocess.run(["umount", "-l", m])


def podman_rows(b, rts, archive):
    top = os.path.join(b.work, "podman")
    os.makedirs(top)
    conf = os.path.join(top, "containers.conf")
    with open(conf, "w") as f:
        f.write(CONF + "".join(f'"{rt.name}" = ["{rt.argv[0]}"]\n' for rt in rts))
    env = dict(os.environ, CONTAINERS_CONF=conf)
    base = ["podman", "--root", os.path.join(top, "storage"),
            "--runroot", os.path.join(top, "run")]
    before = cgroup_dirs("libpod_parent")  # podman's cgroupsPath parent

    def pm(*args, check=True):
        # cwd: conmon may write an "oom" file into its working directory
        return subprocess.run(base + list(args), env=env, cwd=top, check=check,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        pm("load", "-q", "-i", archive)
        old = os.environ.get("CONTAINERS_CONF")
        os.environ["CONTAINERS_CONF"] = conf  # timed() runs in our environment
        try:
            steps = [(rt.name, lambda i, rt=rt: timed(
                base + ["--runtime", rt.name, "run", "--rm", IMAGE, "/bin/true"]))
                for rt in rts]
            t = b.paired(steps)
        finally:
            if old is None:
                del os.environ["CONTAINERS_CONF"]
            else:
                os.environ["CONTAINERS_CONF"] = old
        report(b, "podman run --rm /bin/true", t, goal=share)
    finally:
        pm("rm", "-af", "-t", "0", check=False)
        pm("system", "reset", "-f", check=False)
        umount_under(top)
        for d in cgroup_dirs("libpod_parent") - before:
            rmdir_quiet(os.path.join(d, "conmon"))
            rmdir_quiet(d)


def ctr_rows(b, rts, archive):
    top = os.path.join(b.work, "containerd")
    os.makedirs(top)
    sock = os.path.join(top, "c.sock")
    # ctr and the shim keep fifos and sockets under /run/containerd whatever
    # the daemon's state dir: remove afterwards what was not there before
    run_dirs = ("/run/containerd/fifo", "/run/containerd/s", "/run/containerd")
    preexisting = {d for d in run_dirs if os.path.exists(d)}
    before = cgroup_dirs("default")  # cgroupsPath /<namespace>/<id>
    with open(os.path.join(top, "config.toml"), "w") as f:
        f.write(f'version = 2\nroot = "{top}/root"\nstate = "{top}/state"\n'
                f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{sock}"\n')
    log = open(os.path.join(top, "containerd.log"), "w")
    daemon = subprocess.Popen(["containerd", "--config", os.path.join(top, "config.toml")],
                              stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def ctr(*args, check=True):
        return subprocess.run(["ctr", "-a", sock] + list(args), check=check, text=True,
                              stdin=subprocess.DEVNULL, capture_output=True)
    try:
        for _ in range(100):
            if os.path.exists(sock) and ctr("version", check=False).returncode == 0:
                break
            time.sleep(0.1)
        ctr("images", "import", archive)
        steps = []
        for rt in rts:
            def one(i, rt=rt):
                return timed(["ctr", "-a", sock, "run", "--rm", "--runc-binary", rt.argv[0],
                              "--runc-root", rt.root, IMAGE, b.cid(rt, f"c{i}"), "/bin/true"])
            steps.append((rt.name, one))
        t = b.paired(steps)
        report(b, "ctr run --rm /bin/true", t, goal=share)
    finally:
        for cid in ctr("containers", "ls", "-q", check=False).stdout.split():
            ctr("task", "kill", "-s", "KILL", cid, check=False)
            ctr("task", "delete", "-f", cid, check=False)
            ctr("containers", "delete", cid, check=False)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        umount_under(top)
        for d in sorted(cgroup_dirs("default") - before):
            rmdir_quiet(d)
        for d in run_dirs:
            if d not in preexisting:
                rmdir_quiet(d)


with Bench("e2e", 10) as b:
    b.make_bundle(["/bin/true"])
    b.notes = [n for n in b.notes if not n.startswith("crun")]
    rts = [rt for rt in b.runtimes if rt.name in ("pyrunc", "pyrunc-other", "runc")]
    archive = os.path.join(b.work, "bb.tar")
    oci_archive(os.path.join(b.bundle, "rootfs"), archive)
    if shutil.which("podman"):
        podman_rows(b, rts, archive)
    else:
        print("## podman run --rm: skipped (no podman)")
    print()
    if shutil.which("containerd") and shutil.which("ctr"):
        ctr_rows(b, rts, archive)
    else:
        print("## ctr run --rm: skipped (no containerd)")
