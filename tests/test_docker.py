"""Docker (Debian's docker.io 20.10) with pyrunc as an added runtime,
every scenario side by side with runc, against a private dockerd this
module starts and stops: its own data-root, exec-root, pidfile and socket,
no bridge and no iptables rules (containers run with --network none)."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import make_rootfs, needs_root, pyrunc_bin

DOCKERD = shutil.which("dockerd")
# Debian's client, of the daemon's version (another one may be first on PATH)
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")

pytestmark = [needs_root, pytest.mark.skipif(not DOCKERD or not DOCKER, reason="no docker")]

IMAGE = "localhost/bb:latest"
# every scenario with pyrunc, and with runc as the reference
RUNTIMES = ["pyrunc"] + (["runc"] if shutil.which("runc") else [])
KEY = "/etc/docker/key.json"  # dockerd 20.10 writes its trust key there


class Docker:
    def __init__(self, top):
        self.top = top
        self.sock = os.path.join(top, "docker.sock")
        self.env = dict(os.environ, DOCKER_CONFIG=os.path.join(top, "cli"))

    def __call__(self, *args, timeout=90, check=False, tty=False):
        cmd = [DOCKER, "-H", "unix://" + self.sock] + [str(a) for a in args]
        if tty:  # a real terminal for -t, as a user has
            cmd = ["script", "-qec", subprocess.list2cmdline(cmd), "/dev/null"]
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd=self.top)
        if check and p.returncode:
            raise AssertionError(f"{cmd}: {p.returncode} {p.stderr}")
        return p

    def run(self, rt, *args, **kw):
        return self("run", "--runtime", rt, "--network", "none", *args, **kw)


def _cgroup_parents():
    return {os.path.join(base, c, "docker") for base in ("/sys/fs/cgroup",)
            for c in os.listdir(base) if os.path.isdir(os.path.join(base, c, "docker"))}


@pytest.fixture(scope="module")
def docker(tmp_path_factory):
    top = str(tmp_path_factory.mktemp("docker"))
    had_key = os.path.exists(KEY)
    cg_before = _cgroup_parents()
    # the runc shims keep sockets under /run/containerd whatever the state dir
    preexisting = {d for d in ("/run/containerd", "/run/containerd/fifo", "/run/containerd/s")
                   if os.path.exists(d)}
    with open(os.path.join(top, "daemon.json"), "w") as f:
        f.write("{}\n")  # not the host's /etc/docker/daemon.json
    log = open(os.path.join(top, "dockerd.log"), "w")
    daemon = subprocess.Popen(
        [DOCKERD, "--config-file", os.path.join(top, "daemon.json"),
         "--data-root", os.path.join(top, "data"), "--exec-root", os.path.join(top, "exec"),
         "--pidfile", os.path.join(top, "docker.pid"), "-H", "unix://" + os.path.join(
             top, "docker.sock"),
         # nothing on the host's network: no bridge, no iptables rules
         "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false",
         "--ip-masq=false", "--userland-proxy=false",
         "--exec-opt", "native.cgroupdriver=cgroupfs",
         "--add-runtime", "pyrunc=" + os.path.realpath(pyrunc_bin())],
        stdout=log, stderr=log)
    d = Docker(top)
    try:
        for _ in range(300):
            if os.path.exists(d.sock) and d("version").returncode == 0:
                break
            if daemon.poll() is not None:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("dockerd did not start")
        assert daemon.poll() is None, open(os.path.join(top, "dockerd.log")).read()[-2000:]
        rootfs = os.path.join(top, "rootfs")
        make_rootfs(rootfs)
        tar = os.path.join(top, "bb.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        d("import", "-c", 'CMD ["sh"]', "-c", "ENV PATH=/bin", tar, IMAGE, check=True)
        yield d
    finally:
        ids = d("ps", "-aq").stdout.split()
        if ids:
            d("rm", "-f", *ids)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        with open("/proc/self/mountinfo") as f:
            for m in sorted((line.split()[4] for line in f if top in line), reverse=True):
                subprocess.run(["umount", "-l", m])
        for p in sorted(_cgroup_parents() - cg_before):
            try:
                os.rmdir(p)
            except OSError:
                pass
        if not had_key and os.path.exists(KEY):
            os.unlink(KEY)
        for p in ("/run/containerd/fifo", "/run/containerd/s", "/run/containerd"):
            if p not in preexisting:
                try:
                    os.rmdir(p)
                except OSError:
                    pass


@pytest.fixture(params=RUNTIMES)
def rt(request):
    return request.param


def test_run_rm_output_and_seccomp(docker, rt):
    p = docker.run(rt, "--rm", IMAGE, "sh", "-c", "echo hello; grep Seccomp: /proc/self/status")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["hello", "Seccomp:", "2"]  # Docker's default profile


def test_exit_codes(docker, rt):
    assert docker.run(rt, "--rm", IMAGE, "sh", "-c", "exit 7").returncode == 7
    p = docker.run(rt, "--rm", IMAGE, "nosuchcmd")
    assert p.returncode == 127 and "executable file not found in $PATH" in p.stderr, p.stderr
    p = docker.run(rt, "--rm", IMAGE, "/nonexistent")
    assert p.returncode == 127, p.stderr
    p = docker.run(rt, "--rm", IMAGE, "/etc/passwd")  # not executable
    assert p.returncode == 126 and "permission denied" in p.stderr, p.stderr


def test_detached_exec_stop_rm(docker, rt):
    name = f"d-{rt}"
    docker.run(rt, "-d", "--name", name, IMAGE, "sleep", "100", check=True)
    try:
        p = docker("exec", "-u", "1000", "-e", "X=1", "-w", "/tmp", name, "sh", "-c",
                   "id -u; echo $X; pwd; exit 4")
        assert p.returncode == 4, p.stderr
        assert p.stdout.split() == ["1000", "1", "/tmp"]
        assert "sleep 100" in docker("top", name).stdout
        p = docker("stop", "-t", "1", name)  # sleep as pid 1 ignores TERM: then KILL
        assert p.returncode == 0, p.stderr
        assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "137"
        docker("rm", name, check=True)
        assert name not in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    finally:
        docker("rm", "-f", name)


def test_pause_unpause(docker, rt):
    name = f"p-{rt}"
    docker.run(rt, "-d", "--name", name, IMAGE, "sleep", "100", check=True)
    try:
        docker("pause", name, check=True)
        assert docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "paused"
        docker("unpause", name, check=True)
        assert docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
        p = docker("exec", name, "echo", "alive")
        assert p.returncode == 0 and p.stdout.strip() == "alive", p.stderr
    finally:
        docker("rm", "-f", name)


def test_memory_and_pids_limits(docker, rt):
    p = docker.run(rt, "--rm", "--memory", "20m", "--pids-limit", "10", IMAGE, "sh", "-c",
                   "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                   "/sys/fs/cgroup/pids/pids.max")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["20971520", "10"]


def test_read_only_rootfs(docker, rt):
    p = docker.run(rt, "--rm", "--read-only", IMAGE, "sh", "-c",
                   "touch /x 2>/dev/null || echo rofs; touch /tmp/x 2>/dev/null || echo rotmp")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["rofs", "rotmp"]


def test_tty(docker, rt):
    p = docker.run(rt, "--rm", "-t", IMAGE, "sh", "-c", "tty; stty size >/dev/null && echo ok",
                   tty=True)
    assert p.returncode == 0, p.stderr
    assert "/dev/pts/0" in p.stdout and "ok" in p.stdout
