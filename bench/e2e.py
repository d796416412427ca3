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
goal line gives pyrunc's difference to runc as a share of runc's total,
and then, in rounds of their own, each runtime is run through
bench/timelog.c, which logs every call the client makes to it and how
long it took: the runtime's own time, call by call, against the total.
podman applies its own default seccomp profile (SECCOMP/USERNS do not
apply here).
  python3 bench/e2e.py [N]     (default 10)"""
import os
import shutil
import signal
import subprocess
import sys
import time

from benchlib import HERE, TOP, Bench, median, report, timed

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


COMMANDS = ("create", "start", "delete", "kill", "state", "run", "exec", "features", "ps",
            "pause", "resume", "update", "events", "--version", "version")


def timelogged(b, rt):
    """A build of bench/timelog.c that runs rt and logs each call; its path
    and the log's."""
    exe = os.path.join(b.work, rt.name + "-timed")
    log = exe + ".log"
    subprocess.run(["gcc", "-O2", f'-DLOG="{log}"', f'-DRUNTIME="{rt.argv[0]}"', "-o", exe,
                    os.path.join(HERE, "timelog.c")],
                   check=True)
    return exe, log


def runtime_share(b, rts, paired, one):
    """b.runs rounds of one(rt, exe) per runtime, the runtime run through
    timelog: the median of each command's time and of the calls' total per
    round, against the paired end-to-end median."""
    out = []
    for rt in rts:
        exe, log = timelogged(b, rt)
        per_cmd, totals = {}, []
        for i in range(b.runs):
            if os.path.exists(log):
                os.unlink(log)
            one(rt, exe, i)
            calls = []
            with open(log) as f:
                for line in f:
                    ms, *args = line.split()
                    cmd = next((a for a in args if a in COMMANDS), "?")
                    calls.append((cmd, float(ms)))
            for cmd in dict.fromkeys(c for c, _ in calls):  # in call order
                per_cmd.setdefault(cmd, []).append(sum(ms for c, ms in calls if c == cmd))
            totals.append(sum(ms for _, ms in calls))
        total, e2e = median(totals), median(paired[rt.name])
        calls = " + ".join(f"{c} {median(v):.1f}" for c, v in per_cmd.items())
        out.append(f"{rt.name}'s calls {calls} = {total:.1f} ms of {e2e:.1f} "
                   f"({100 * total / e2e:.0f}%)")
    return f"runtime's own time (bench/timelog.c, {b.runs} rounds): " + "; ".join(out)


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
    timed_exe = {rt.name: timelogged(b, rt)[0] for rt in rts}
    with open(conf, "w") as f:
        f.write(CONF.replace('"runc"]', '"runc", "pyrunc-timed", "pyrunc-other-timed", '
                             '"runc-timed"]') +
                "".join(f'"{rt.name}" = ["{rt.argv[0]}"]\n' for rt in rts) +
                "".join(f'"{rt.name}-timed" = ["{timed_exe[rt.name]}"]\n' for rt in rts))
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
            own = runtime_share(b, rts, t, lambda rt, exe, i: timed(
                base + ["--runtime", rt.name + "-timed", "run", "--rm", IMAGE, "/bin/true"]))
        finally:
            if old is None:
                del os.environ["CONTAINERS_CONF"]
            else:
                os.environ["CONTAINERS_CONF"] = old
        report(b, "podman run --rm /bin/true", t, goal=lambda t: share(t) + "; " + own)
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
        own = runtime_share(b, rts, t, lambda rt, exe, i: timed(
            ["ctr", "-a", sock, "run", "--rm", "--runc-binary", exe, "--runc-root", rt.root,
             IMAGE, b.cid(rt, f"t{i}"), "/bin/true"]))
        report(b, "ctr run --rm /bin/true", t, goal=lambda t: share(t) + "; " + own)
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
