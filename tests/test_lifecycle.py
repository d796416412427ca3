"""create/start/state/kill/delete/run/list as runc's clients use them."""
import json
import os
import signal
import time

from conftest import needs_root

pytestmark = needs_root


def wait_status(runtime, cid, want, timeout=5):
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        p = runtime("state", cid)
        if p.returncode == 0:
            st = json.loads(p.stdout)
            if st["status"] == want:
                return st
        time.sleep(0.02)
    raise AssertionError(f"{cid} never became {want}: {st}")


def test_run_exit_status(runtime, bundle):
    bundle.sh("exit 3").write()
    p = runtime("run", "--bundle", bundle.path, runtime.new_id())
    assert p.returncode == 3, p.stderr
    assert os.listdir(runtime.root) == []


def test_run_killed_by_signal_is_128_plus(runtime, bundle):
    import subprocess
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    proc = subprocess.Popen([runtime.bin, "--root", runtime.root, "run", "-b", bundle.path, cid])
    try:
        st = wait_status(runtime, cid, "running")
        os.kill(st["pid"], signal.SIGKILL)
        assert proc.wait(10) == 128 + 9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_output_and_pid1(runtime, bundle):
    bundle.sh("echo pid=$$ host=$(hostname)").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "pid=1 host=pyrunc"


def test_lifecycle_states_and_pid_file(runtime, bundle, tmp_path):
    bundle.sh("sleep 30").write()
    cid = runtime.new_id()
    pidfile = tmp_path / "pid"
    p = runtime("create", "--bundle", bundle.path, "--pid-file", pidfile, cid)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == ""
    raw = pidfile.read_bytes()
    assert raw.isdigit(), raw  # no trailing newline: containerd Atoi's it
    st = runtime.state(cid)
    assert st["status"] == "created"
    assert st["pid"] == int(raw)
    from pyrunc import _statecheck  # spec/state-schema.json, compiled at build
    _statecheck.validate(st)
    assert st["id"] == cid and st["bundle"] == bundle.path
    assert st["ociVersion"].startswith("1.")
    # the pid is the container's process, already in its namespaces
    assert os.readlink(f"/proc/{st['pid']}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert runtime("start", cid).returncode == 0
    st = wait_status(runtime, cid, "running")
    _statecheck.validate(st)
    # start again: refused
    p = runtime("start", cid)
    assert p.returncode == 1
    assert runtime("kill", cid, "KILL").returncode == 0
    wait_status(runtime, cid, "stopped")
    assert runtime.state(cid)["pid"] == 0
    p = runtime("kill", cid, "TERM")
    assert p.returncode == 1 and "container not running" in p.stderr
    assert runtime("delete", cid).returncode == 0
    p = runtime("state", cid)
    assert p.returncode == 1 and "container does not exist" in p.stderr


def test_kill_created_container_delivers_signal(runtime, bundle):
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    assert runtime("kill", cid).returncode == 0  # SIGTERM by default
    wait_status(runtime, cid, "stopped")
    runtime("delete", cid, check=True)


def test_kill_signal_forms(runtime, bundle):
    bundle.sh("trap 'echo got >/tmp/sig; exit 0' USR1; while :; do sleep 0.05; done").write()
    for form in ("SIGUSR1", "usr1", "10"):
        cid = runtime.new_id()
        runtime("create", "-b", bundle.path, cid, check=True)
        runtime("start", cid, check=True)
        time.sleep(0.1)
        assert runtime("kill", cid, form).returncode == 0
        wait_status(runtime, cid, "stopped")
        with open(os.path.join(bundle.rootfs, "tmp", "sig")) as f:
            assert f.read() == "got\n"
        os.unlink(os.path.join(bundle.rootfs, "tmp", "sig"))
        runtime("delete", cid, check=True)
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    p = runtime("kill", cid, "NOSUCHSIG")
    assert p.returncode == 1 and "signal" in p.stderr
    runtime("delete", "-f", cid, check=True)


def test_start_and_delete_make_no_error_class(runtime, bundle):
    """A start and a delete that succeed never make the error classes
    (errors.py makes them on first use: ~0.6M instructions a command)."""
    import subprocess
    import sys
    import pyrunc
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "--bundle", bundle.path, cid, check=True)
    site = os.path.dirname(os.path.dirname(pyrunc.__file__))
    code = (f"import sys; sys.path.append({site!r})\n"
            "from pyrunc.cli import main\nfrom pyrunc import errors\n"
            f"for argv in (['start', {cid!r}], ['delete', '--force', {cid!r}]):\n"
            f"    print(main(['--root', {runtime.root!r}] + argv) or 0,\n"
            "          'PyruncError' in vars(errors))\n")
    p = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert p.stdout.split("\n")[:2] == ["0 False", "0 False"], (p.stdout, p.stderr)
    assert runtime("state", cid).returncode != 0  # deleted


def test_delete_refuses_created_and_running(runtime, bundle):
    bundle.sh("sleep 30").write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    p = runtime("delete", cid)
    assert p.returncode == 1 and "not stopped" in p.stderr
    assert runtime.state(cid)["status"] == "created"  # nothing changed
    runtime("start", cid, check=True)
    p = runtime("delete", cid)
    assert p.returncode == 1
    assert runtime.state(cid)["status"] == "running"
    pid = runtime.state(cid)["pid"]
    p = runtime("delete", "--force", cid)
    # (the wait for the init's death on its pidfd ended well before its bound)
    assert p.returncode == 0 and "timed out" not in p.stderr, p.stderr
    try:  # dead: a zombie, or reaped (the file may go between two looks)
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().split()[2] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # ESRCH: reaped after the open
        pass
    assert runtime("state", cid).returncode == 1


def test_delete_force_unknown_is_ok_plain_delete_is_not(runtime):
    assert runtime("delete", "--force", "nosuch").returncode == 0
    p = runtime("delete", "nosuch")
    assert p.returncode == 1 and "container does not exist" in p.stderr


def test_duplicate_id_refused(runtime, bundle):
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "already exists" in p.stderr
    assert runtime.state(cid)["status"] == "created"
    runtime("delete", "-f", cid, check=True)


def test_invalid_id_refused(runtime, bundle):
    for bad in ("../x", "a/b", ".."):
        p = runtime("create", "-b", bundle.path, bad)
        assert p.returncode == 1 and "invalid container id" in p.stderr


def test_list_formats(runtime, bundle):
    ids = sorted(runtime.new_id() for _ in range(2))
    for cid in ids:
        runtime("create", "-b", bundle.path, cid, check=True)
    p = runtime("list", "-q", check=True)
    assert p.stdout.split() == ids
    # runc's owner: the user owning the entry's directory, by name
    import pwd
    owner = pwd.getpwuid(os.lstat(os.path.join(runtime.root, ids[0])).st_uid).pw_name
    p = runtime("list", "--format", "json", check=True)
    items = json.loads(p.stdout)
    assert [i["id"] for i in items] == ids and all(i["status"] == "created" for i in items)
    assert all(i["owner"] == owner for i in items)
    p = runtime("list", check=True)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert len(lines) == 3
    # runc's tabwriter (minwidth 12, padding 3): the PID and STATUS columns
    # ("created", pids of at most 9 digits) are 12 wide, the last unpadded
    assert "PID" + " " * 9 + "STATUS" + " " * 6 + "BUNDLE" in lines[0], lines
    assert all(line.endswith("   " + owner) for line in lines[1:]), lines
    for cid in ids:
        runtime("delete", "-f", cid, check=True)


def test_list_record_follows_state_json(runtime, bundle):
    """`list` reads each entry's list.json (state.LIST_FILE) only while it
    is the record of the state.json beside it: state.json rewritten in
    place, the record missing, garbage or torn (its CRC), `list` shows what
    state.json says; `delete` removes it."""
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    d = os.path.join(runtime.root, cid)
    rec = os.path.join(d, "list.json")
    with open(rec, "rb") as f:  # (its CRC32, 8 hex digits, then JSON)
        assert json.loads(f.read()[8:])["bundle"] == bundle.path

    def listed():
        items = json.loads(runtime("list", "--format", "json", check=True).stdout)
        return next(i for i in items if i["id"] == cid)
    assert listed()["status"] == "created" and listed()["bundle"] == bundle.path
    path = os.path.join(d, "state.json")
    st = json.load(open(path))
    try:
        st["bundle"] = "/elsewhere"
        with open(path, "w") as f:  # same inode, another size and mtime
            json.dump(st, f)
        assert listed()["bundle"] == "/elsewhere"
        good = open(rec, "rb").read()
        for content in (None, b"{not json", b"00000000{}", b"[]", good[:-3], good[:-1] + b"  "):
            if os.path.exists(rec):
                os.unlink(rec)
            if content is not None:
                with open(rec, "wb") as f:
                    f.write(content)
            assert listed()["bundle"] == "/elsewhere"
        assert runtime("state", cid, check=True).stdout.count("/elsewhere") == 1
    finally:
        runtime("delete", "-f", cid, check=True)
    assert not os.path.exists(d)


def test_commands_without_path_or_home(runtime, bundle):
    # podman runs kill/delete/state/pause with only XDG_RUNTIME_DIR set
    env = {"XDG_RUNTIME_DIR": ""}
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    assert runtime("state", cid, env=env).returncode == 0
    assert runtime("kill", cid, "9", env=env).returncode == 0
    wait_status(runtime, cid, "stopped")
    assert runtime("delete", "--force", cid, env=env).returncode == 0


def test_run_detach_then_delete(runtime, bundle, tmp_path):
    bundle.sh("sleep 30").write()
    cid = runtime.new_id()
    p = runtime("run", "-d", "-b", bundle.path, "--pid-file", tmp_path / "p", cid)
    assert p.returncode == 0, p.stderr
    assert runtime.state(cid)["status"] == "running"
    runtime("delete", "-f", cid, check=True)


def test_run_forwards_signals(runtime, bundle):
    import subprocess
    bundle.sh("trap 'exit 42' TERM; while :; do sleep 0.05; done").write()
    cid = runtime.new_id()
    proc = subprocess.Popen([runtime.bin, "--root", runtime.root, "run", "-b", bundle.path, cid])
    try:
        wait_status(runtime, cid, "running")
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 42
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pause_resume(runtime, bundle):
    counter = os.path.join(bundle.rootfs, "tmp", "count")
    bundle.sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.01; done").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    time.sleep(0.2)
    assert runtime("pause", cid).returncode == 0
    assert runtime.state(cid)["status"] == "paused"
    with open(counter) as f:
        a = f.read()
    time.sleep(0.3)
    with open(counter) as f:
        assert f.read() == a  # no progress while frozen
    p = runtime("pause", cid)
    assert p.returncode == 1
    assert runtime("resume", cid).returncode == 0
    assert runtime.state(cid)["status"] == "running"
    time.sleep(0.3)
    with open(counter) as f:
        assert f.read() != a
    runtime("pause", cid, check=True)
    # a paused container is deleted (thawed so SIGKILL lands)
    assert runtime("delete", "-f", cid).returncode == 0
    assert runtime("state", cid).returncode == 1


def test_pause_requires_running(runtime, bundle):
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    p = runtime("pause", cid)
    assert p.returncode == 1 and "not running" in p.stderr
    p = runtime("resume", cid)
    assert p.returncode == 1 and "not paused" in p.stderr
    runtime("delete", "-f", cid, check=True)


def test_pid_file_never_replaces_a_device(runtime, bundle, tmp_path):
    dev = tmp_path / "nul"
    os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, "--pid-file", dev, cid)
    assert p.returncode == 1 and "not a regular file" in p.stderr
    assert os.path.exists(dev) and not os.path.isfile(dev)
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_update_resources(runtime, bundle, tmp_path):
    bundle.args("sleep", "30")
    bundle.config["linux"]["resources"]["pids"] = {"limit": 50}
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        with open(f"/proc/{pid}/cgroup") as f:
            rel = {l.split(":")[1]: l.split(":", 2)[2].strip() for l in f}
        pids_max = f"/sys/fs/cgroup/pids{rel['pids']}/pids.max"
        mem = f"/sys/fs/cgroup/memory{rel['memory']}/memory.limit_in_bytes"
        assert runtime("update", "--pids-limit", "7", "--memory", "33554432", cid).returncode == 0
        assert open(pids_max).read().strip() == "7"
        assert open(mem).read().strip() == "33554432"
        (tmp_path / "r.json").write_text('{"pids": {"limit": 9}}')
        assert runtime("update", "--resources", tmp_path / "r.json", cid).returncode == 0
        assert open(pids_max).read().strip() == "9"
        p = runtime("update", "--resources", "-", cid, input='{"rdma": {"mlx5_0": {"hcaHandles": 3}}}')
        assert p.returncode == 1 and "linux.resources.rdma" in p.stderr
        # the device rules are left as they are
        out = runtime("exec", cid, "sh", "-c", "echo ok > /dev/null && echo fine").stdout
        assert out.strip() == "fine"
    finally:
        runtime("delete", "-f", cid)


def test_events_stats(runtime, bundle):
    bundle.args("sleep", "30")
    bundle.config["linux"]["resources"]["pids"] = {"limit": 50}
    bundle.config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        p = runtime("events", "--stats", cid)
        assert p.returncode == 0, p.stderr
        ev = json.loads(p.stdout)
        assert ev["type"] == "stats" and ev["id"] == cid
        data = ev["data"]
        assert data["pids"] == {"current": 1, "limit": 50}
        assert data["memory"]["usage"]["limit"] == 64 << 20
        assert data["memory"]["usage"]["usage"] > 0
        assert data["cpu"]["usage"]["total"] > 0
    finally:
        runtime("delete", "-f", cid)
    p = runtime("events", "--stats", cid)
    assert p.returncode == 1


def test_events_interval_stream_ends_with_the_container(runtime, bundle):
    bundle.args("sleep", "1")
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        p = runtime("events", "--interval", "200ms", cid, timeout=15)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert len(lines) >= 2 and all(json.loads(x)["type"] == "stats" for x in lines)
    finally:
        runtime("delete", "-f", cid)
