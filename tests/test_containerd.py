"""containerd (ctr and the runc v2 shim) with pyrunc as the runc binary,
against a private containerd daemon this module starts and stops."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import make_rootfs, needs_root, pyrunc_bin
from ociimage import IMAGE, oci_archive

pytestmark = [needs_root, pytest.mark.skipif(not shutil.which("containerd") or
                                             not shutil.which("ctr"), reason="no containerd")]

class Ctr:
    def __init__(self, top):
        self.top = top
        self.sock = os.path.join(top, "c.sock")
        self.runc_root = os.path.join(top, "runc-root")

    def __call__(self, *args, timeout=90, check=False, tty=False):
        cmd = ["ctr", "-a", self.sock] + [str(a) for a in args]
        if tty:
            cmd = ["script", "-qec", subprocess.list2cmdline(cmd), "/dev/null"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode:
            raise AssertionError(f"{cmd}: {p.returncode} {p.stderr}")
        return p

    def run(self, *args, **kw):
        return self("run", "--runc-binary", self.binary, "--runc-root", self.runc_root,
                    *args, **kw)


# every scenario with pyrunc, and with runc as the reference
RUNTIMES = ["pyrunc"] + (["runc"] if shutil.which("runc") else [])


@pytest.fixture(scope="module", params=RUNTIMES)
def ctr(request, tmp_path_factory):
    top = str(tmp_path_factory.mktemp("ctd"))
    # ctr and the shim keep fifos and sockets under /run/containerd whatever
    # the daemon's state dir: remove afterwards what was not there before
    preexisting = {d for d in ("/run/containerd", "/run/containerd/fifo", "/run/containerd/s")
                   if os.path.exists(d)}
    # cgroupsPath is /<namespace>/<id>: runc leaves the /default parent
    parents = lambda: {os.path.join("/sys/fs/cgroup", c, "default")  # noqa: E731
                       for c in os.listdir("/sys/fs/cgroup")
                       if os.path.isdir(os.path.join("/sys/fs/cgroup", c, "default"))}
    cg_before = parents()
    with open(os.path.join(top, "config.toml"), "w") as f:
        f.write(f'version = 2\nroot = "{top}/root"\nstate = "{top}/state"\n'
                f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{top}/c.sock"\n')
    log = open(os.path.join(top, "containerd.log"), "w")
    daemon = subprocess.Popen(["containerd", "--config", os.path.join(top, "config.toml")],
                              stdout=log, stderr=log)
    c = Ctr(top)
    c.binary = os.path.realpath(pyrunc_bin()) if request.param == "pyrunc" else shutil.which("runc")
    c.name = request.param
    try:
        for _ in range(100):
            if os.path.exists(c.sock) and c("version").returncode == 0:
                break
            time.sleep(0.1)
        rootfs = os.path.join(top, "rootfs")
        make_rootfs(rootfs)
        oci_archive(rootfs, os.path.join(top, "bb.tar"))
        c("images", "import", os.path.join(top, "bb.tar"), check=True)
        yield c
    finally:
        for cid in c("containers", "ls", "-q").stdout.split():
            c("task", "kill", "-s", "KILL", cid)
            c("task", "delete", "-f", cid)
            c("containers", "delete", cid)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        with open("/proc/self/mountinfo") as f:
            for m in sorted((line.split()[4] for line in f if top in line), reverse=True):
                subprocess.run(["umount", "-l", m])
        for d in sorted(parents() - cg_before):
            try:
                os.rmdir(d)
            except OSError:
                pass
        for d in ("/run/containerd/fifo", "/run/containerd/s", "/run/containerd"):
            if d not in preexisting:
                try:
                    os.rmdir(d)
                except OSError:
                    pass


def test_run_rm_and_exit_status(ctr):
    p = ctr.run("--rm", IMAGE, "r1", "sh", "-c", "echo hello; exit 3")
    assert p.returncode == 3, p.stderr
    assert p.stdout.strip() == "hello"


def test_missing_binary_error(ctr):
    p = ctr.run("--rm", IMAGE, "r2", "/nonexistent")
    assert p.returncode != 0
    assert "no such file or directory" in p.stderr  # from our JSON log line


def test_task_exec_ps_pause_kill(ctr):
    ctr.run("-d", IMAGE, "r3", "sleep", "100", check=True)
    try:
        if ctr.name == "pyrunc":
            with open(os.path.join(ctr.runc_root, "default", "r3", "state.json")) as f:
                assert "start_time" in json.load(f)  # pyrunc's state, not runc's
        p = ctr("task", "metrics", "r3")  # the shim reads the task's cgroups itself
        assert p.returncode == 0 and "memory" in p.stdout.lower(), p.stderr
        p = ctr("task", "exec", "--exec-id", "e1", "r3", "sh", "-c", "echo in; exit 5")
        assert p.returncode == 5 and p.stdout.strip() == "in", p.stderr
        p = ctr("task", "ps", "r3")
        assert p.returncode == 0 and len(p.stdout.splitlines()) >= 2, p.stderr
        ctr("task", "pause", "r3", check=True)
        assert "PAUSED" in ctr("task", "ls").stdout
        ctr("task", "resume", "r3", check=True)
        assert "RUNNING" in ctr("task", "ls").stdout
        ctr("task", "kill", "-s", "KILL", "r3", check=True)
        for _ in range(100):
            if "STOPPED" in ctr("task", "ls").stdout:
                break
            time.sleep(0.05)
    finally:
        ctr("task", "delete", "-f", "r3")
        ctr("containers", "delete", "r3")
    assert os.listdir(ctr.runc_root + "/default") == []


def test_tty(ctr):
    p = ctr.run("--rm", "-t", IMAGE, "r4", "sh", "-c", "tty", tty=True)
    assert p.returncode == 0, p.stderr
    assert "/dev/pts/0" in p.stdout
