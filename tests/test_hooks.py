"""OCI hooks: when each kind runs, where, with which state, and failures."""
import json
import os
import sys
import time

from conftest import needs_root

pytestmark = needs_root


def host_hook(log, kind, extra=""):
    # runtime namespace hooks: host paths, state appended as one line
    return {"path": "/bin/sh",
            "args": ["sh", "-c", f"{extra}read -r s; echo \"{kind} $s\" >> {log}"],
            "env": ["X=1"]}


def read_log(log):
    out = []
    with open(log) as f:
        for line in f:
            kind, _, state = line.partition(" ")
            out.append((kind, json.loads(state)))
    return out


def test_all_hooks_order_and_state(runtime, bundle, tmp_path):
    log = tmp_path / "hooks.log"
    bundle.args("sleep", "30")
    # startContainer runs in the container: path and log inside its rootfs
    bundle.config["hooks"] = {
        "prestart": [host_hook(log, "prestart")],
        "createRuntime": [host_hook(log, "createRuntime")],
        "createContainer": [host_hook(log, "createContainer",
                                      "test \"$(readlink /proc/self/ns/mnt)\" != "
                                      f"\"{os.readlink('/proc/self/ns/mnt')}\" || exit 9; ")],
        "startContainer": [{"path": "/bin/sh",
                            "args": ["sh", "-c", "read -r s; echo \"startContainer $s\" > /start.log"]}],
        "poststart": [host_hook(log, "poststart")],
        "poststop": [host_hook(log, "poststop")],
    }
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    pid = runtime.state(cid)["pid"]
    got = read_log(log)
    assert [k for k, _ in got] == ["prestart", "createRuntime", "createContainer"]
    for kind, st in got:
        # createContainer runs in the container namespace: the pid as the
        # container sees it (runtime-spec state.md; runc's getpid())
        want = 1 if kind == "createContainer" else pid
        assert st["id"] == cid and st["pid"] == want and st["bundle"] == bundle.path
        assert st["status"] == "creating", (kind, st)  # (runc HEAD: test_parity_cli.py)
    runtime("start", cid, check=True)
    got = read_log(log)
    assert got[-1][0] == "poststart" and got[-1][1]["status"] == "running"
    with open(os.path.join(bundle.rootfs, "start.log")) as f:
        kind, _, st = f.read().partition(" ")
    assert kind == "startContainer" and json.loads(st)["id"] == cid
    assert json.loads(st)["pid"] == 1
    # poststart runs after the user's program started
    assert os.readlink(f"/proc/{pid}/exe").endswith("/busybox")
    runtime("kill", cid, "KILL", check=True)
    runtime("delete", "-f", cid, check=True)
    got = read_log(log)
    assert got[-1][0] == "poststop" and got[-1][1]["status"] == "stopped"
    assert "pid" not in got[-1][1]


def test_failing_prestart_fails_create_and_cleans_up(runtime, bundle, tmp_path):
    log = tmp_path / "hooks.log"
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
                              "poststop": [host_hook(log, "poststop")]}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "error running prestart hook #0: exit status 3, stdout: , stderr: " in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    # the lifecycle goes on at delete: poststop ran
    assert [k for k, _ in read_log(log)] == ["poststop"]


def test_remaining_poststop_hooks_run_after_a_failure(runtime, bundle, tmp_path):
    log = tmp_path / "hooks.log"
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/false"}, host_hook(log, "poststop")]}
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    p = runtime("delete", "-f", cid)
    # the delete fails with the first failure (runc HEAD), the container is gone
    assert p.returncode == 1 and "error running poststop hook #0: exit status 1, stdout: , stderr: " in p.stderr
    assert [k for k, _ in read_log(log)] == ["poststop"]
    assert runtime("state", cid).returncode == 1


def test_hook_that_never_reads_stdin_still_times_out(runtime, bundle):
    bundle.config["annotations"] = {f"k{i}": "v" * 1000 for i in range(200)}  # > a pipe buffer
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"],
                                                 "timeout": 1}]}
    bundle.write()
    import time
    t = time.monotonic()
    p = runtime("create", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 1 and "ran past specified timeout of 1.0s" in p.stderr
    assert time.monotonic() - t < 10


def test_failing_createcontainer_fails_create(runtime, bundle):
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/false"}]}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "error running createContainer hook #0: exit status 1, stdout: , stderr: " in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_hook_timeout(runtime, bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "10"],
                                                 "timeout": 1}]}
    bundle.write()
    cid = runtime.new_id()
    t = time.monotonic()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "ran past specified timeout of 1.0s" in p.stderr
    assert time.monotonic() - t < 8


def test_failing_poststart_and_poststop_fail_as_runc_head(runtime, bundle):
    """runc HEAD, not the spec's warnings: a failed poststart hook fails
    `start` and kills the container; a failed poststop hook fails `delete`,
    which removes the container all the same (test_parity_cli.py)."""
    bundle.args("sleep", "30")
    bundle.config["hooks"] = {"poststart": [{"path": "/bin/false"}],
                              "poststop": [{"path": "/bin/false"}]}
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    p = runtime("start", cid)
    assert p.returncode == 1 and "error running poststart hook #0: exit status 1, stdout: , stderr: " in p.stderr
    assert runtime.state(cid)["status"] == "stopped"
    p = runtime("delete", "-f", cid)
    assert p.returncode == 1 and "error running poststop hook #0: exit status 1, stdout: , stderr: " in p.stderr
    assert runtime("state", cid).returncode == 1


def test_hooks_get_no_fd_above_stdio_however_high(runtime, bundle, tmp_path):
    """Hooks close every fd above stdio (close_range), not just 3..1023:
    a high fd the caller leaked must not reach a hook."""
    import subprocess
    out = tmp_path / "fds"
    bundle.config["hooks"] = {"prestart": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"ls /proc/self/fd > {out}"]}]}
    bundle.write()
    code = ("import os, sys\n"
            "fd = os.open('/dev/null', os.O_RDONLY)\n"
            "os.dup2(fd, 4000, inheritable=True)\n"
            "os.execv(sys.argv[1], sys.argv[1:])\n")
    cid = runtime.new_id()
    p = subprocess.run([sys.executable, "-c", code, runtime.bin, "--root", runtime.root,
                        "run", "-b", bundle.path, cid], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    fds = sorted(int(x) for x in out.read_text().split())
    assert max(fds) <= 3, fds  # 0-2, and ls's own directory fd
