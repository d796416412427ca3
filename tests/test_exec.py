"""exec: a new process in a running container."""
import json
import os
import subprocess

import pytest

from conftest import needs_root

pytestmark = needs_root


@pytest.fixture
def running(runtime, bundle):
    bundle.args("sleep", "60")
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    yield cid
    runtime("delete", "-f", cid)


@pytest.mark.cgroupv2
def test_exec_joins_namespaces_and_cgroups(runtime, running):
    pid = runtime.state(running)["pid"]
    p = runtime("exec", running, "sh", "-c",
                "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; "
                "cat /proc/self/cgroup; echo --; cat /proc/1/cgroup; exit 3")
    assert p.returncode == 3, p.stderr
    lines = p.stdout.splitlines()
    for n, got in zip(("pid", "net", "ipc", "uts", "mnt", "cgroup"), lines):
        assert got == os.readlink(f"/proc/{pid}/ns/{n}")
    # the same cgroups as the init (pid 1 there), both seen from inside (the
    # default spec has a cgroup namespace on a pure v2 host)
    mine, _, init = "\n".join(lines[6:]).partition("\n--\n")
    assert sorted(mine.splitlines()) == sorted(init.splitlines())


def test_exec_flags(runtime, running):
    p = runtime("exec", "--user", "1000:1000", "-e", "FOO=bar", "--cwd", "/tmp",
                "--additional-gids", "5", running, "sh", "-c", 'id -u; id -G; echo $FOO; pwd')
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:4] == ["1000", "1000 5", "bar", "/tmp"]


def test_exec_gets_the_containers_seccomp(runtime, running):
    p = runtime("exec", running, "sh", "-c", "mkdir /tmp/x 2>&1")
    assert "Operation not permitted" in p.stdout


def test_exec_process_file_detach_pid_file(runtime, running, tmp_path):
    proc = {"args": ["sh", "-c", "echo detached > /tmp/out; sleep 5"], "cwd": "/",
            "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    p = runtime("exec", "--process", tmp_path / "p.json", "--detach", "--pid-file",
                tmp_path / "pid", running)
    assert p.returncode == 0, p.stderr
    pid = int((tmp_path / "pid").read_bytes())
    assert os.path.exists(f"/proc/{pid}")
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(
        f"/proc/{runtime.state(running)['pid']}/ns/pid")


def test_exec_failures(runtime, running, bundle):
    p = runtime("exec", running, "nosuchprog")
    assert p.returncode == 255 and "executable file not found in $PATH" in p.stderr
    p = runtime("exec", "nosuchcontainer", "true")
    assert p.returncode == 255 and "container does not exist" in p.stderr
    runtime("kill", running, "KILL", check=True)
    import time
    for _ in range(100):
        if runtime.state(running)["status"] == "stopped":
            break
        time.sleep(0.05)
    p = runtime("exec", running, "true")
    assert p.returncode == 255 and "stopped" in p.stderr


def test_exec_leaks_no_fd(runtime, running):
    p = subprocess.run(["/bin/sh", "-c", 'exec 7</; exec "$@"', "sh", runtime.bin, "--root",
                        runtime.root, "exec", running, "ls", "/proc/self/fd"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert sorted(int(x) for x in p.stdout.split()) == [0, 1, 2, 3]


def test_exec_with_terminal(runtime, running):
    p = runtime("exec", "-t", running, "sh", "-c", "test -t 0 && echo tty")
    assert p.returncode == 0, p.stderr
    assert p.stdout.replace("\r", "").strip() == "tty"


def test_exec_format_error_is_255(runtime, running, bundle):
    with open(os.path.join(bundle.rootfs, "junk"), "w") as f:
        f.write("not a program\n")
    os.chmod(os.path.join(bundle.rootfs, "junk"), 0o755)
    p = runtime("exec", running, "/junk")
    assert p.returncode == 255 and "exec format error" in p.stderr


def test_exec_cap_goes_where_runc_puts_it(runtime, running):
    p = runtime("exec", "--cap", "CAP_CHOWN", running, "grep", "Cap", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in p.stdout.splitlines()}
    assert caps["CapEff"] & 1 and caps["CapBnd"] & 1
    assert not caps["CapInh"] & 1 and not caps["CapAmb"] & 1  # CVE-2022-29162


@pytest.mark.cgroupv2
def test_exec_ignore_paused_does_not_block_resume(runtime, running):
    import time
    runtime("pause", running, check=True)
    proc = subprocess.Popen([runtime.bin, "--root", runtime.root, "exec", "--ignore-paused",
                             running, "echo", "thawed"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        assert runtime("resume", running, timeout=10).returncode == 0
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0 and out.strip() == "thawed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exec_tty_returns_when_the_process_exits(runtime, running):
    import time
    t = time.monotonic()
    p = runtime("exec", "-t", running, "sh", "-c", "trap '' HUP; sleep 5 & exit 3")
    assert p.returncode == 3
    assert time.monotonic() - t < 4


@pytest.mark.cgroupv2
def test_delete_removes_sub_cgroups(runtime, running, tmp_path):
    pid = runtime.state(running)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = dict(line.rstrip("\n").split(":", 2)[1:] for line in f)
    if "pids" in lines:
        sub = f"/sys/fs/cgroup/pids{lines['pids']}/sub"
    else:  # a v2 host
        sub = f"/sys/fs/cgroup{lines['']}/sub"
    os.mkdir(sub)
    p = runtime("exec", "-d", "--pid-file", tmp_path / "pid", running, "sleep", "30")
    assert p.returncode == 0, p.stderr
    import time
    t = time.monotonic()
    assert runtime("delete", "-f", running).returncode == 0
    assert time.monotonic() - t < 3
    assert not os.path.exists(sub) and not os.path.exists(os.path.dirname(sub))
