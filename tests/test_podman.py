"""podman with pyrunc as its runtime (conmon drives create/exec; podman
itself start/kill/delete/pause/resume), as users run it."""
import os
import shutil
import subprocess

import pytest

from conftest import make_rootfs, needs_root, pyrunc_bin

pytestmark = [needs_root, pytest.mark.skipif(not shutil.which("podman"), reason="no podman")]

CONF = """[containers]
# the host's hard limits: podman's defaults are above them here
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
# no bridge, veth or firewall rules on the host: each container only
# gets its own empty network namespace (loopback)
netns = "none"
[engine]
runtime = "pyrunc"
runtime_supports_json = ["pyrunc"]
cgroup_manager = "cgroupfs"
events_logger = "file"
[engine.runtimes]
pyrunc = ["{bin}"]
runc = ["{runc}"]
"""


class Podman:
    def __init__(self, top):
        self.top = top
        self.env = dict(os.environ, CONTAINERS_CONF=os.path.join(top, "containers.conf"))
        self.base = ["podman", "--root", os.path.join(top, "storage"),
                     "--runroot", os.path.join(top, "run")]

    def __call__(self, *args, timeout=90, check=False, tty=False):
        cmd = self.base + list(args)
        if tty:  # a real terminal for -t, as a user has
            cmd = ["script", "-qec", subprocess.list2cmdline(cmd), "/dev/null"]
        # cwd: conmon writes an "oom" file into its working directory when
        # the kernel OOM-kills in the container; keep it out of the checkout
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd=self.top)
        if check and p.returncode:
            raise AssertionError(f"{cmd}: {p.returncode} {p.stderr}")
        return p


# every scenario with pyrunc, and with runc as the reference
RUNTIMES = ["pyrunc"] + (["runc"] if shutil.which("runc") else [])


def _parents():
    return {os.path.join(base, d) for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
            if os.path.isdir(base) for d in os.listdir(base) if d == "libpod_parent"} | {
        os.path.join("/sys/fs/cgroup", c, "libpod_parent") for c in os.listdir("/sys/fs/cgroup")
        if os.path.isdir(os.path.join("/sys/fs/cgroup", c, "libpod_parent"))}


@pytest.fixture(scope="module", params=RUNTIMES)
def podman(request, tmp_path_factory):
    top = str(tmp_path_factory.mktemp("podman"))
    before = _parents()  # podman's cgroupsPath parent, left by runc
    with open(os.path.join(top, "containers.conf"), "w") as f:
        f.write(CONF.format(bin=os.path.realpath(pyrunc_bin()), runc=shutil.which("runc") or "")
                .replace('runtime = "pyrunc"', f'runtime = "{request.param}"'))
    rootfs = os.path.join(top, "rootfs")
    make_rootfs(rootfs)
    tar = os.path.join(top, "bb.tar")
    subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
    pm = Podman(top)
    pm("import", tar, "localhost/bb:latest", check=True)
    yield pm
    pm("rm", "-af", "-t", "0")
    pm("system", "reset", "-f")
    with open("/proc/self/mountinfo") as f:
        for m in sorted((line.split()[4] for line in f if top in line), reverse=True):
            subprocess.run(["umount", "-l", m])
    for d in _parents() - before:  # made during this test: ours to remove
        for sub in ("conmon",):  # podman's own cgroup for conmon
            try:
                os.rmdir(os.path.join(d, sub))
            except OSError:
                pass
        try:
            os.rmdir(d)
        except OSError:
            pass


def test_run_rm(podman):
    p = podman("run", "--rm", "localhost/bb:latest", "sh", "-c",
               "echo hello; grep Seccomp: /proc/self/status")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["hello", "Seccomp:", "2"]  # podman's default profile


def test_exit_code_and_missing_binary(podman):
    assert podman("run", "--rm", "localhost/bb:latest", "sh", "-c", "exit 7").returncode == 7
    p = podman("run", "--rm", "localhost/bb:latest", "/nonexistent")
    assert p.returncode == 127, p.stderr  # podman's classification of runc's wording
    p = podman("run", "--rm", "localhost/bb:latest", "nosuchcmd")
    assert p.returncode == 127 and "executable file not found in $PATH" in p.stderr
    p = podman("run", "--rm", "localhost/bb:latest", "/etc/passwd")  # not executable
    assert p.returncode == 126 and "permission denied" in p.stderr


def test_detached_exec_pause_stop(podman):
    podman("run", "-d", "--name", "c1", "localhost/bb:latest", "sleep", "100", check=True)
    try:
        p = podman("exec", "-u", "1000", "-e", "X=1", "-w", "/tmp", "c1", "sh", "-c",
                   "id -u; echo $X; pwd; exit 4")
        assert p.returncode == 4, p.stderr
        assert p.stdout.split() == ["1000", "1", "/tmp"]
        podman("pause", "c1", check=True)
        assert podman("inspect", "-f", "{{.State.Status}}", "c1").stdout.strip() == "paused"
        podman("unpause", "c1", check=True)
        assert "sleep 100" in podman("top", "c1").stdout
        p = podman("stop", "-t", "1", "c1")  # sleep as pid 1 ignores TERM: then KILL
        assert p.returncode == 0, p.stderr
    finally:
        podman("rm", "-f", "c1")


def test_tty_and_limits(podman):
    p = podman("run", "--rm", "-t", "localhost/bb:latest", "sh", "-c", "tty", tty=True)
    assert p.returncode == 0, p.stderr
    assert "/dev/pts/0" in p.stdout
    p = podman("run", "--rm", "-m", "20m", "--pids-limit", "10", "localhost/bb:latest", "sh",
               "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max")
    assert p.stdout.split() == ["20971520", "10"], p.stderr


def test_read_only_volume_tmpfs_caps(podman, tmp_path):
    (tmp_path / "f").write_text("vol\n")
    p = podman("run", "--rm", "--read-only", "-v", f"{tmp_path}:/v:ro", "--cap-drop", "all",
               "--cap-add", "chown", "--network", "none", "localhost/bb:latest", "sh", "-c",
               "cat /v/f; touch /x 2>/dev/null || echo rofs; grep CapEff /proc/self/status; "
               "ls /sys/class/net")
    assert p.returncode == 0, p.stderr
    out = p.stdout.split()
    assert out[:2] == ["vol", "rofs"]
    assert int(out[3], 16) == 1  # CAP_CHOWN only
    assert out[4:] == ["lo"]


def test_run_flags_tmpfs_kill(podman):
    p = podman("run", "--rm", "-e", "A=b", "-w", "/tmp", "-u", "1000:1000", "--tmpfs",
               "/scratch:size=1m", "localhost/bb:latest", "sh", "-c",
               "echo $A; pwd; id -u; touch /scratch/x && grep -c ' /scratch ' /proc/self/mountinfo")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["b", "/tmp", "1000", "1"]
    podman("run", "-d", "--name", "k1", "localhost/bb:latest", "sleep", "100", check=True)
    try:
        podman("kill", "k1", check=True)
        p = podman("wait", "k1")
        assert p.stdout.strip() == "137", p.stderr
    finally:
        podman("rm", "-f", "k1")


def test_memory_limit_oom_kills(podman):
    # tail keeps its last line, and /dev/zero has no newline: far past 20 MiB
    p = podman("run", "--rm", "-m", "20m", "--memory-swap", "20m", "localhost/bb:latest",
               "sh", "-c", "head -c 200000000 /dev/zero | tail >/dev/null")
    assert p.returncode == 137, (p.returncode, p.stderr)
