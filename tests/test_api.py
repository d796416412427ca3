"""The Python API (docs/API.md): pyrunc.Runtime against pyrunc and runc
(installed 1.1.5) with real containers, pyrunc.Bundle, and the CLI's
import set (the API must cost the command line nothing).

runc 1.1.5 lacks --pidfd-socket (runc 1.2+ has it): that test is pyrunc's
only. runc gives no error classes: its errors are typed from its messages.
"""
import contextlib
import os
import subprocess
import sys
import time

import pytest

import pyrunc
from conftest import needs_root

pytestmark = needs_root

RUNC = "/usr/sbin/runc"


@pytest.fixture(params=["pyrunc", "runc"])
def api(request, runtime, tmp_path):
    """(pyrunc.Runtime, a new id): for runc its own fresh root, whatever
    a test left deleted by runc itself (ids of this test only)."""
    if request.param == "pyrunc":
        yield pyrunc.Runtime(runtime.bin, root=runtime.root), runtime.new_id
        return
    if not os.path.exists(RUNC):
        pytest.skip("runc not installed")
    rt = pyrunc.Runtime(RUNC, root=str(tmp_path / "runc-root"))
    yield rt, runtime.new_id
    for cid in runtime.ids:
        with contextlib.suppress(pyrunc.RuntimeFailed):
            rt.delete(cid, force=True)


def wait_status(rt, cid, status, timeout=10):
    deadline = time.monotonic() + timeout
    while (st := rt.state(cid)).status != status:
        assert time.monotonic() < deadline, st
        time.sleep(0.05)
    return st


def is_pyrunc(rt):
    return rt.binary != RUNC


def test_lifecycle(api, bundle):
    rt, new_id = api
    cid = new_id()
    bundle.sh("sleep 30").write()
    pid = rt.create(cid, bundle.path)
    st = rt.state(cid)
    assert (st.id, st.status, st.pid, st.bundle) == (cid, "created", pid, bundle.path)
    assert st.oci_version and st.rootfs == bundle.rootfs and st.created
    assert cid in [s.id for s in rt.list()]
    rt.start(cid)
    assert rt.state(cid).status == "running"
    assert pid in rt.ps(cid)
    rt.pause(cid)
    assert rt.state(cid).status == "paused"
    rt.resume(cid)
    assert rt.state(cid).status == "running"
    rt.kill(cid, "KILL")
    wait_status(rt, cid, "stopped")
    rt.delete(cid)
    assert cid not in [s.id for s in rt.list()]


def test_typed_errors(api, bundle):
    rt, new_id = api
    with pytest.raises(pyrunc.ContainerNotFound) as e:
        rt.state("nosuchcontainer")
    assert e.value.message == "container does not exist"
    assert e.value.exit_code == 1 and e.value.log  # the runtime's own log lines
    cid = new_id()
    rt.create(cid, bundle.path)
    with pytest.raises(pyrunc.ContainerExists):
        rt.create(cid, bundle.path)
    with pytest.raises(pyrunc.NotRunning):
        rt.resume(cid)
    rt.start(cid)  # /bin/true
    wait_status(rt, cid, "stopped")
    with pytest.raises(pyrunc.NotRunning):
        rt.start(cid)
    rt.delete(cid)
    if is_pyrunc(rt):  # the classes behind the types (runc has none)
        assert e.value.error_class == "container.not-found"


def test_invalid_config_has_the_json_path(api, bundle):
    rt, new_id = api
    bundle.config["process"]["user"]["uid"] = -1
    bundle.write()
    with pytest.raises(pyrunc.RuntimeFailed) as e:
        rt.create(new_id(), bundle.path)
    assert e.value.log
    if is_pyrunc(rt):
        assert isinstance(e.value, pyrunc.InvalidConfig)
        assert e.value.path == "process.user.uid"
        assert e.value.error_class == "config.invalid"


def test_run_returns_the_exit_status_and_uses_the_callers_stdio(api, bundle, tmp_path):
    rt, new_id = api
    bundle.sh("echo hello; exit 7").write()
    out = tmp_path / "out"
    with open(out, "w") as f:
        assert rt.run(new_id(), bundle.path, stdout=f) == 7
    assert out.read_text() == "hello\n"


def test_how_a_stopped_container_ended(api, bundle):
    """pyrunc's extras of a stopped container, typed (runc: None)."""
    rt, new_id = api
    cid = new_id()
    bundle.sh("exit 3").write()
    assert rt.run(cid, bundle.path, keep=True) == 3
    st = rt.state(cid)
    assert st.status == "stopped"
    if is_pyrunc(rt):
        assert (st.exit_status, st.oom_killed, st.oom_kills, st.exit_source) == \
            (3, False, 0, "waited")
        assert st.finished and st.finished >= st.created
    else:
        assert (st.exit_status, st.oom_killed, st.finished, st.extras) == (None, None, None, {})
    rt.delete(cid)


def test_exec(api, bundle, tmp_path):
    rt, new_id = api
    cid = new_id()
    bundle.sh("sleep 30").write()
    rt.run(cid, bundle.path, detach=True)
    assert rt.exec(cid, ["sh", "-c", "exit 3"]) == 3
    out = tmp_path / "out"
    proc = {"args": ["sh", "-c", "id -u; pwd"], "cwd": "/tmp", "user": {"uid": 1000, "gid": 1000},
            "env": ["PATH=/bin"]}
    with open(out, "w") as f:
        assert rt.exec(cid, proc, stdout=f) == 0
    assert out.read_text() == "1000\n/tmp\n"
    pid = rt.exec(cid, ["sleep", "30"], detach=True)
    assert pid in rt.ps(cid)
    with pytest.raises(pyrunc.ExecFailed) as e:
        rt.exec(cid, ["/nonexistent"])
    if is_pyrunc(rt):
        assert e.value.errno == 2
    rt.delete(cid, force=True)


def test_mounts_add_and_remove(runtime, bundle, tmp_path):
    """pyrunc's `mounts add|remove` (crun's shape; runc has none)."""
    rt = pyrunc.Runtime(runtime.bin, root=runtime.root)
    cid = runtime.new_id()
    src = tmp_path / "shared"
    src.mkdir()
    (src / "f").write_text("from the host\n")
    bundle.sh("sleep 30").write()
    rt.run(cid, bundle.path, detach=True)
    out = tmp_path / "out"
    rt.mounts_add(cid, [{"destination": "/mnt/shared", "type": "bind", "source": str(src),
                         "options": ["rbind", "ro"]}])
    assert rt.state(cid).extras["addedMounts"]
    with open(out, "w") as f:
        assert rt.exec(cid, ["cat", "/mnt/shared/f"], stdout=f) == 0
    assert out.read_text() == "from the host\n"
    with pytest.raises(pyrunc.InvalidConfig) as e:
        rt.mounts_add(cid, [{"destination": "relative", "type": "bind", "source": str(src)}])
    assert e.value.path.startswith("mounts[0]"), e.value.path
    rt.mounts_remove(cid, ["/mnt/shared"])
    assert rt.exec(cid, ["test", "-e", "/mnt/shared/f"]) == 1
    rt.delete(cid, force=True)


def test_update_stats_and_events(api, bundle):
    rt, new_id = api
    cid = new_id()
    bundle.sh("sleep 30").write()
    rt.run(cid, bundle.path, detach=True)
    rt.update(cid, {"pids": {"limit": 42}})
    s = rt.stats(cid)
    assert s.pids_limit == 42 and s.pids_current == 1
    assert s.memory_usage > 0 and s.cpu_total_ns > 0 and "memory" in s.raw
    events = rt.events(cid, interval=0.1, timeout=10)
    got = [next(events) for _ in range(2)]
    events.close()  # stops the runtime's `events` process
    assert [e.type for e in got] == ["stats", "stats"]
    assert got[0].id == cid and got[0].stats.pids_current == 1
    rt.kill(cid, 9)
    wait_status(rt, cid, "stopped")
    rt.delete(cid)


def test_events_end_when_the_container_stops(api, bundle):
    rt, new_id = api
    if not is_pyrunc(rt):
        pytest.skip("runc 1.1.5's events keeps polling a stopped container")
    cid = new_id()
    bundle.sh("sleep 0.5").write()
    rt.run(cid, bundle.path, detach=True)
    types = [e.type for e in rt.events(cid, interval=0.1, timeout=10)]
    assert types and set(types) == {"stats"}
    rt.delete(cid)


def test_console_socket(api, bundle):
    rt, new_id = api
    cid = new_id()
    bundle.config["process"]["terminal"] = True
    bundle.sh("tty; sleep 30").write()
    with pyrunc.ConsoleSocket() as sock:
        rt.create(cid, bundle.path, console_socket=sock)
        master = sock.receive_master(timeout=10)
    try:
        rt.start(cid)
        data = b""
        while b"\n" not in data:
            data += os.read(master, 1024)
        assert data.strip() in (b"/dev/console", b"/dev/pts/0"), data
    finally:
        os.close(master)
    rt.delete(cid, force=True)


def test_pidfd_socket(runtime, bundle):
    """runc 1.2+ has --pidfd-socket, 1.1.5 not: pyrunc only."""
    rt = pyrunc.Runtime(runtime.bin, root=runtime.root)
    cid = runtime.new_id()
    bundle.sh("sleep 30").write()
    with pyrunc.PidfdSocket() as sock:
        rt.create(cid, bundle.path, pidfd_socket=sock)
        pidfd = sock.receive_pidfd(timeout=10)
    try:
        import signal
        rt.start(cid)
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        wait_status(rt, cid, "stopped")
    finally:
        os.close(pidfd)
    rt.delete(cid)


def test_timeout(api, bundle):
    rt, new_id = api
    cid = new_id()
    bundle.sh("sleep 30").write()
    rt.run(cid, bundle.path, detach=True)
    t = time.monotonic()
    with pytest.raises(pyrunc.RuntimeTimeout):
        rt.exec(cid, ["sleep", "30"], timeout=0.5)
    assert time.monotonic() - t < 10
    rt.delete(cid, force=True)
    # the Runtime's default timeout does not bound a wait for the process
    rt.timeout = 0.3
    bundle.sh("sleep 1; exit 6").write()
    assert rt.run(new_id(), bundle.path) == 6


def test_features(api):
    rt, _ = api
    f = rt.features()
    assert f["ociVersionMin"].startswith("1.") and "linux" in f
    assert "version" in rt.version()


def test_extra_files_and_log(api, bundle, tmp_path):
    """extra_files become fds 3.. of the container; `log` keeps the lines."""
    rt, new_id = api
    log = tmp_path / "user.log"
    rt.log = str(log)
    r, w = os.pipe()
    bundle.sh("echo via-fd3 >&3; echo via-fd4 >&4").write()
    try:
        with open(tmp_path / "fd4", "w") as f4:  # a file object as well as an fd
            assert rt.run(new_id(), bundle.path, extra_files=[w, f4]) == 0
        os.close(w)
        w = -1
        assert os.read(r, 100) == b"via-fd3\n"
        assert (tmp_path / "fd4").read_text() == "via-fd4\n"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    with pytest.raises(pyrunc.ContainerNotFound):
        rt.state("nosuchcontainer")
    assert "container does not exist" in log.read_text()


# -- Bundle -------------------------------------------------------------------
def test_bundle_from_rootfs_runs(api, bundle, tmp_path):
    rt, new_id = api
    b = pyrunc.Bundle.from_rootfs(str(tmp_path / "b2"), bundle.rootfs, ["sh", "-c", "exit 5"])
    assert b.get("root.path") == bundle.rootfs  # outside the bundle: absolute
    b.set("root.readonly", False)
    b.save()
    assert pyrunc.Bundle.load(b.path).config == b.config
    assert rt.run(new_id(), b.path) == 5


def test_bundle_validate_uses_the_runtimes_validator(tmp_path):
    b = pyrunc.Bundle(str(tmp_path / "b"))
    b.validate()  # spec()'s defaults are valid
    b.set("process.user.uid", -1)
    with pytest.raises(pyrunc.InvalidConfig) as e:
        b.validate()
    assert e.value.path == "process.user.uid"
    b.set("process.user.uid", 0)
    b.set("linux.namespaces[5]", {"type": "pidd"})
    with pytest.raises(pyrunc.InvalidConfig) as e:
        b.validate()
    assert e.value.path == "linux.namespaces[5].type"
    b.config["linux"]["namespaces"].pop()
    b.set("process.apparmorProfile", "x")
    with pytest.raises(pyrunc.Unsupported) as e:
        b.validate()
    assert e.value.path == "process.apparmorProfile"
    assert e.value.error_class == "config.unsupported"
    # a semantic check, beyond the schema
    del b.config["process"]["apparmorProfile"]
    b.config["linux"]["namespaces"] = [n for n in b.config["linux"]["namespaces"]
                                       if n["type"] != "uts"]
    with pytest.raises(pyrunc.InvalidConfig) as e:
        b.validate()
    assert e.value.path == "hostname"


def test_bundle_json_paths(tmp_path):
    b = pyrunc.Bundle(str(tmp_path / "b"), {"ociVersion": "1.2.0"})
    b.set("linux.resources.pids.limit", 10)
    b.set("linux.sysctl['net.ipv4.ip_forward']", "1")
    b.set("process.args", [])
    b.set("process.args[0]", "sh")
    assert b.config["linux"] == {"resources": {"pids": {"limit": 10}},
                                 "sysctl": {"net.ipv4.ip_forward": "1"}}
    assert b.get("process.args[0]") == "sh" and b.get("process.args[3]") is None
    assert b.get('linux.sysctl["net.ipv4.ip_forward"]') == "1"
    with pytest.raises(ValueError):
        b.get("process..args")


def test_spec_defaults():
    s = pyrunc.spec()
    assert s["root"] == {"path": "rootfs", "readonly": True} and s["process"]["args"] == ["sh"]
    assert pyrunc.spec() is not s  # a fresh copy to edit


# -- the command line's import set -------------------------------------------
def _modules_after(code):
    site = os.path.dirname(os.path.dirname(pyrunc.__file__))
    p = subprocess.run([sys.executable, "-I", "-S", "-c",
                        f"import sys; sys.path.append({site!r}); base = set(sys.modules)\n"
                        f"{code}\nprint(' '.join(sorted(set(sys.modules) - base)))"],
                       capture_output=True, text=True, check=True)
    return set(p.stdout.split())


def test_import_pyrunc_imports_nothing_more():
    assert _modules_after("import pyrunc") == {"pyrunc"}
    # every public name of the API is reachable from the package
    from pyrunc import bundle, client
    assert set(pyrunc._API) == set(client.__all__) | set(bundle.__all__)
    for n in pyrunc._API:
        assert getattr(pyrunc, n) is getattr(client if n in client.__all__ else bundle, n)


def test_cli_import_set_has_no_api(tmp_path):
    """What a CLI command imports: none of the API's modules (nor what
    they pull in: subprocess, json, dataclasses, typing, tempfile)."""
    root = str(tmp_path / "root")
    mods = _modules_after("from pyrunc.cli import main\n"
                          f"main(['--root', {root!r}, 'state', 'x'])")
    assert "pyrunc.cli" in mods and "pyrunc.state" in mods
    assert not mods & {"pyrunc.client", "pyrunc.bundle", "subprocess", "json", "dataclasses",
                       "typing", "tempfile", "socket"}, mods
    # exactly these (log: to say "container does not exist"): not even `os`
    # (~4M instructions; the short commands use posix, and pyrunc/fspath.py)
    assert mods == {"_json", "pyrunc", "pyrunc.cli", "pyrunc.errors", "pyrunc.jsonlite",
                    "pyrunc.log", "pyrunc.state"}, mods
    # kill, pause, resume, ps --format json, list, start, delete: none
    # imports os either (nor container.py: start and delete are lifecycle.py's)
    mods = _modules_after("from pyrunc.cli import main\n" + "".join(
        f"main(['--root', {root!r}] + {argv!r})\n"
        for argv in (["kill", "x"], ["pause", "x"], ["resume", "x"],
                     ["ps", "--format", "json", "x"], ["list"], ["start", "x"],
                     ["delete", "x"])))
    assert "pyrunc.lifecycle" in mods
    assert not mods & {"os", "posixpath", "stat", "_collections_abc", "pyrunc.container",
                       "pyrunc.syscalls", "pyrunc.procfs", "_cffi_backend"}, mods
    # and using the API loads it on demand
    assert {"pyrunc.client", "pyrunc.bundle"} <= _modules_after("import pyrunc; pyrunc.Bundle")


def test_the_api_is_typed_for_checkers(tmp_path):
    """py.typed and inline hints: a type checker sees the API's types
    through `import pyrunc` (its lazy names are declared for checkers)."""
    pytest.importorskip("mypy")
    src = tmp_path / "use.py"
    src.write_text("import pyrunc\n"
                   "rt = pyrunc.Runtime('runc', root='/tmp/x')\n"
                   "st: pyrunc.State = rt.state('a')\n"
                   "n: int = st.pid + rt.run('b', '/b') + len(rt.ps('a'))\n"
                   "b = pyrunc.Bundle.load('/b'); b.validate()\n"
                   "bad: int = rt.state('a')\n")
    # (the interpreter's own site-packages: the installed pyrunc)
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                        "--cache-dir", str(tmp_path / "cache"), str(src)],
                       capture_output=True, text=True, cwd=str(tmp_path))
    errors = [x for x in p.stdout.splitlines() if ": error:" in x]
    assert len(errors) == 1 and "use.py:6:" in errors[0] and '"State"' in errors[0], \
        p.stdout + p.stderr
