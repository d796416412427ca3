"""The command line next to runc: --root checks, --debug, `exec --cgroup`,
an execve failure, hooks' state and failures, and two inputs that once
gave tracebacks.

Side by side with the installed runc (1.1.5) where it behaves as runc's
current source (HEAD) does; where they differ, HEAD is what pyrunc
follows and the assertion is for pyrunc alone (each such test says what
HEAD does and where in its source). runc is NEVER run against a --root of
"/" (runc 1.1.5 accepts it, and `delete --force etc` then deletes the
host's /etc): the "/" refusal is checked in-process, on the function the
CLI calls before anything else.
"""
import json
import os
import subprocess

import pytest

from conftest import needs_root
from test_parity_lifecycle import wait_for
from test_parity_process import RUNC, ok, run_both, started  # noqa: F401 (fixtures)

pytestmark = [needs_root,
              pytest.mark.skipif(not os.path.exists(RUNC), reason="runc not installed")]


# -- 1. --root ----------------------------------------------------------------
@pytest.mark.parametrize("root,cwd", [("/", None), ("/tmp/..", None), ("//", None),
                                      ("", "/"), (".", "/"), ("../../..", "/usr/lib"),
                                      ("///", None), ("link", None)])
def test_root_slash_is_refused(root, cwd, monkeypatch, tmp_path):
    """runc HEAD (utils.go reviseRootDir): a --root that is "/" once made
    absolute and clean (given as "", ".", "../.." or "/") is refused with
    "Option --root argument should not be set to /". runc 1.1.5 takes it,
    which is how a host's /etc was once deleted: never run here."""
    from pyrunc import state
    from pyrunc.errors import ContainerError
    if cwd:
        monkeypatch.chdir(cwd)
    if root == "link":  # (beyond runc, which does not resolve symlinks)
        root = str(tmp_path / "link")
        os.symlink("/", root)
    with pytest.raises(ContainerError, match="^Option --root argument should not be set to /$"):
        state.check_root(root)


def test_root_is_made_absolute(tmp_path, monkeypatch):
    from pyrunc import state
    monkeypatch.chdir(tmp_path)
    assert state.check_root("st/../st2") == str(tmp_path / "st2")


@pytest.mark.parametrize("kind", ["file", "world-writable", "group-writable", "other-owner"])
def test_root_that_is_not_ours_is_refused(runtime, bundle, tmp_path, kind):
    """Beyond runc: an existing --root must be a directory that this user
    owns and nobody else may write to (another user could plant state
    entries for `delete`/`kill` to act on). Every command refuses it before
    reading or making anything under it."""
    root = tmp_path / "root"
    if kind == "file":
        root.write_text("")
    else:
        root.mkdir()
        if kind == "world-writable":
            root.chmod(0o1777)
        elif kind == "group-writable":
            root.chmod(0o770)
        else:
            os.chown(root, 65534, 65534)
    rt = runtime.__class__(str(root))
    cid = runtime.new_id()
    for args in (("create", "-b", bundle.path, cid), ("delete", "--force", cid), ("list",),
                 ("kill", cid)):
        p = rt(*args)
        assert p.returncode == 1, (args, p.stderr)
        assert p.stderr.startswith(f"--root {root}: "), (args, p.stderr)
        assert "Traceback" not in p.stderr
    if kind != "file":
        assert os.listdir(root) == []
        os.chown(root, 0, 0)


def test_partial_entry_holding_foreign_files_is_not_removed(runtime, tmp_path):
    """`delete --force ID` of an entry without a readable state.json removes
    it only when it holds what a state dir holds (state.json, its .tmp,
    exec.fifo): a directory of something else is left alone, with an error
    naming it. (runc HEAD os.RemoveAll's whatever <root>/<id> is.)"""
    os.makedirs(runtime.root, 0o711)
    d = os.path.join(runtime.root, "notours")
    os.mkdir(d)
    with open(os.path.join(d, "precious"), "w") as f:
        f.write("keep")
    p = runtime("delete", "--force", "notours")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert f"refusing to remove {d}: not a container's state directory" in p.stderr
    assert os.path.exists(os.path.join(d, "precious"))
    os.unlink(os.path.join(d, "precious"))
    os.rmdir(d)


def test_invalid_log_format(runtime, runc):  # noqa: F811
    """runc (main.go configLogrus): a --log-format other than text or json
    is an error, not a silent text log."""
    for rt in (runtime, runc):
        os.makedirs(rt.root, 0o711, exist_ok=True)
        p = rt("--log-format", "xml", "list")
        assert p.returncode == 1 and "invalid log-format: xml" in p.stderr, p.stderr
        assert p.stdout == ""


# -- 6. two tracebacks ----------------------------------------------------------
def test_spec_bundle_missing(runtime, runc, tmp_path):  # noqa: F811
    """runc's words for `spec --bundle` of a missing or non-directory path
    (Go's PathError of the chdir), exit 1, no traceback."""
    afile = tmp_path / "afile"
    afile.write_text("")
    for b, why in ((tmp_path / "missing", "no such file or directory"),
                   (afile, "not a directory")):
        for rt in (runtime, runc):
            p = rt("spec", "--bundle", b)
            assert p.returncode == 1, p.stderr
            assert f"chdir {b}: {why}" in p.stderr, p.stderr
            assert "Traceback" not in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["afile"]


@pytest.mark.parametrize("content", ["dir", "dir-with-fifo"])
def test_force_delete_state_json_is_a_directory(runtime, content):
    """A state entry whose state.json is a directory: `state` fails with a
    clean error, `delete --force` removes the entry (a warning, exit 0)."""
    d = os.path.join(runtime.root, "broken")
    os.makedirs(os.path.join(d, "state.json"))
    if content == "dir-with-fifo":
        os.mkfifo(os.path.join(d, "exec.fifo"))
    p = runtime("state", "broken")
    assert p.returncode == 1 and "state.json of broken: is a directory" in p.stderr
    assert "Traceback" not in p.stderr
    p = runtime("delete", "broken")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    p = runtime("delete", "--force", "broken")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert not os.path.exists(d)


def test_force_delete_never_walks_a_tree(runtime):
    """A state.json that is a directory with something in it is not
    walked (it could be anything, a mount point even): `delete --force`
    fails naming it, and leaves it."""
    d = os.path.join(runtime.root, "broken")
    os.makedirs(os.path.join(d, "state.json", "sub"))
    p = runtime("delete", "--force", "broken")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert f"cannot remove {d}/state.json: directory not empty" in p.stderr
    assert os.path.isdir(os.path.join(d, "state.json", "sub"))
    os.rmdir(os.path.join(d, "state.json", "sub"))
    os.rmdir(os.path.join(d, "state.json"))
    os.rmdir(d)


# -- 3. exec --cgroup ---------------------------------------------------------
@pytest.mark.cgroupv2
@pytest.mark.parametrize("sub", ["..", "../x", "a/../../..", "/../.."])
def test_exec_cgroup_outside_the_container(started, sub):  # noqa: F811
    """runc HEAD (libcontainer/process_linux.go, and the cgroups module's
    AddPid): a sub-cgroup path that leaves the container's cgroup is
    refused as "bad sub cgroup path: <path>", exit 255 (exec.go:
    fatalWithCode 255). runc 1.1.5 exits 255 too, in other words
    ("..: is not a sub cgroup path")."""
    s = started()
    out = s.exec("--cgroup", sub, ["true"])
    mine = out["pyrunc"]
    assert mine.returncode == 255, mine.stderr
    assert f"bad sub cgroup path: {sub}" in mine.stderr
    if sub == "..":
        assert out["runc"].returncode == 255
        assert "sub cgroup path" in out["runc"].stderr


@pytest.mark.cgroupv2
def test_exec_cgroup_slash_is_the_container_cgroup(started):  # noqa: F811
    """`--cgroup /` is the container's own cgroup (runc's exec.bats)."""
    s = started()
    out = s.exec("--cgroup", "/", ["cat", "/proc/self/cgroup"])
    plain = s.exec(["cat", "/proc/self/cgroup"])
    for name in ("pyrunc", "runc"):
        assert ok(out[name], name) == ok(plain[name], name)


# -- 4. an execve failure --------------------------------------------------------
def _unrunnable(bundle):
    """A program that exists (so create finds it) but cannot be exec'd."""
    script = os.path.join(bundle.rootfs, "run.sh")
    with open(script, "w") as f:
        f.write("#!/no/such/shell\n")
    os.chmod(script, 0o755)


def test_execve_failure_start_succeeds_process_exits_255(runtime, runc, bundle):  # noqa: F811
    """runc HEAD (standard_init_linux.go): the exec fifo is written and
    closed before execve, so `start` succeeds; the init's execve error is
    printed on the container's stderr ("exec /run.sh: no such file or
    directory") and it exits 255 (init_linux.go Init). runc 1.1.5 exits 1
    there; HEAD's 255 is asserted for pyrunc."""
    _unrunnable(bundle)
    bundle.args("/run.sh").write()
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        cid = rt.new_id()
        ok(rt("create", "-b", bundle.path, cid, stdin=subprocess.DEVNULL), name)
        p = rt("start", cid)
        assert p.returncode == 0, (name, p.stderr)
        assert wait_for(lambda: rt.state(cid)["status"] == "stopped"), name
        rt("delete", "--force", cid)
    mine, theirs = run_both(runtime, runc, bundle)
    assert theirs.returncode != 0
    assert mine.returncode == 255
    assert mine.stderr.splitlines()[0] == "exec /run.sh: no such file or directory"
    assert "exec /run.sh: no such file or directory" in theirs.stderr


def test_exec_execve_failure_exits_255(started, bundle):  # noqa: F811
    """runc HEAD (setns_init_linux.go): the same for `exec`: the process
    says `exec /run.sh: ...` and exits 255, which `exec` exits with;
    `exec -d` has started it and succeeds. (runc 1.1.5's process exits 1.)"""
    _unrunnable(bundle)
    s = started()
    out = s.exec(["/run.sh"])
    assert out["pyrunc"].returncode == 255 and out["runc"].returncode != 0
    for name in ("pyrunc", "runc"):
        assert out[name].stderr.splitlines()[0] == "exec /run.sh: no such file or directory"
    mine = s.exec("-d", ["/run.sh"])["pyrunc"]
    assert mine.returncode == 0, mine.stderr


# -- 5. hooks -------------------------------------------------------------------
def _record_hook(log, kind):
    """A host hook appending `<kind> <state>` to `log`."""
    return {"path": "/bin/sh", "args": ["sh", "-c", f'read -r s; echo "{kind} $s" >> {log}']}


def test_hooks_before_start_see_creating(runtime, runc, bundle, tmp_path):  # noqa: F811
    """runc HEAD: the state given to prestart and createRuntime hooks
    (libcontainer/process_linux.go, procHooks) and to createContainer hooks
    (rootfs_linux.go) says "creating"; poststart's "running" (postStart
    reads the state once the exec fifo is gone), poststop's "stopped".
    runc 1.1.5 agrees but for poststart, which it runs at create
    ("created"): HEAD's "running" is asserted for pyrunc."""
    bundle.args("sleep", "30")
    got = {}
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        log = tmp_path / f"{name}.log"
        bundle.config["hooks"] = {k: [_record_hook(log, k)] for k in (
            "prestart", "createRuntime", "createContainer", "poststart", "poststop")}
        bundle.write()
        cid = rt.new_id()
        ok(rt("create", "-b", bundle.path, cid), name)
        ok(rt("start", cid), name)
        ok(rt("delete", "--force", cid), name)
        got[name] = [(line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1])["status"])
                     for line in log.read_text().splitlines()]
    want = [("prestart", "creating"), ("createRuntime", "creating"),
            ("createContainer", "creating"), ("poststart", "running"), ("poststop", "stopped")]
    assert got["pyrunc"] == want
    assert got["runc"][:3] == want[:3] and got["runc"][4] == want[4]


def test_poststart_failure_fails_start_and_kills(runtime, runc, bundle):  # noqa: F811
    """runc HEAD (libcontainer/container_linux.go, postStart): a failed
    poststart hook fails `start` ("error running poststart hook #0: ...",
    exit 1) and SIGKILLs the container (its `sleep` as pid 1 would ignore a
    SIGTERM): it is then stopped. `run` fails the same way and removes it.
    runc 1.1.5 runs poststart hooks at create, whose failure removes the
    container: the same end for `run`, asserted side by side."""
    bundle.args("sleep", "30")
    bundle.config["hooks"] = {"poststart": [{"path": "/bin/false"}]}
    bundle.write()
    cid = runtime.new_id()
    ok(runtime("create", "-b", bundle.path, cid))
    pid = runtime.state(cid)["pid"]
    p = runtime("start", cid)
    assert p.returncode == 1, p.stderr
    assert "error running poststart hook #0: exit status 1, stdout: , stderr: " in p.stderr
    assert runtime.state(cid)["status"] == "stopped"
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
    ok(runtime("delete", cid))
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        cid = rt.new_id()
        p = rt("run", "-b", bundle.path, cid, stdin=subprocess.DEVNULL)
        assert p.returncode == 1 and "error running " in p.stderr, (name, p.stderr)
        assert "exit status 1" in p.stderr, name
        assert rt("state", cid).returncode == 1, name


def test_poststop_failure_fails_delete_but_removes(runtime, runc, bundle, tmp_path):  # noqa: F811
    """runc HEAD (libcontainer/state_linux.go, destroy): the cgroups and the
    state dir are removed, then poststop hooks run and the first failure is
    delete's error (delete.go returns it: exit 1): the container is gone
    all the same. pyrunc still runs the hooks after a failed one (the
    spec's "remaining hooks ... continue"; runc stops at the first). runc
    1.1.5 logs the error but exits 0: HEAD's exit 1 is asserted for
    pyrunc."""
    bundle.args("sleep", "30")
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        log = tmp_path / f"{name}.log"
        bundle.config["hooks"] = {"poststop": [{"path": "/bin/false"}, _record_hook(log, "x")]}
        bundle.write()
        cid = rt.new_id()
        ok(rt("run", "-d", "-b", bundle.path, cid, stdin=subprocess.DEVNULL), name)
        p = rt("delete", "--force", cid)
        assert "error running " in p.stderr and "exit status 1" in p.stderr, name
        assert rt("state", cid).returncode == 1, name
        assert not os.path.exists(os.path.join(rt.root, cid)), name
        if name == "pyrunc":
            assert p.returncode == 1
            assert "error running poststop hook #0: exit status 1, stdout: , stderr: " in p.stderr
            assert log.exists()


# -- 2. --debug -----------------------------------------------------------------
# runc's words for steps pyrunc has too (libcontainer: init_linux.go,
# standard_init_linux.go, setns_init_linux.go; signals.go), common to runc
# HEAD and 1.1.5. (runc's nsexec stage lines have no pyrunc counterpart.)
INIT_WORDS = ("child process in init()", "init: closing the pipe to signal completion")
EXEC_WORDS = ("child process in init()", "setns_init: about to exec")


def _debug_lines(text, fmt):
    """The debug lines of a log or of stderr: (msg, fields) each."""
    out = []
    for line in text.splitlines():
        if fmt == "json" and line.startswith("{"):
            d = json.loads(line)
            if d.get("level") == "debug":
                assert set(d) >= {"msg", "time"}, d
                out.append((d["msg"], d))
        elif fmt == "text" and "level=debug" in line:
            assert line.startswith('time="') and ' msg="' in line, line
            msg, _ = json.JSONDecoder().raw_decode(line, line.index(" msg=") + 5)
            out.append((msg, line))
    return out


def test_debug_run_on_stderr(runtime, runc, bundle):  # noqa: F811
    """`--debug run`: runc's `level=debug msg="..."` lines on stderr, the
    steps of the init among them (sent over its channel: they happen in
    the container); the program's own output is untouched."""
    bundle.args("echo", "hi").write()
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        cid = rt.new_id()
        p = rt("--debug", "run", "-b", bundle.path, cid, stdin=subprocess.DEVNULL)
        assert p.returncode == 0 and p.stdout == "hi\n", (name, p.stderr)
        msgs = [m for m, _ in _debug_lines(p.stderr, "text")]
        for w in INIT_WORDS + ("process exited",):
            assert w in msgs, (name, w, p.stderr)
        exited = [line for m, line in _debug_lines(p.stderr, "text") if m == "process exited"]
        assert " status=0" in exited[0] and " pid=" in exited[0], (name, exited)
    p = runtime("--debug", "run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL)
    mine = [m for m, _ in _debug_lines(p.stderr, "text")]
    # pyrunc's own steps: create, the init, start, the wait, delete
    for w in ("create: config loaded", "create: cgroups made", "init: about to wait on exec fifo",
              "start: opening the exec fifo", "read sync ready"):
        assert w in mine, (w, mine)
    assert any(m.startswith("delete: removed state dir ") for m in mine), mine


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_debug_into_log_only(runtime, runc, bundle, tmp_path, fmt):  # noqa: F811
    """With --log, debug lines go into the log and none to stderr (runc's
    debug.bats); --log-format json makes each one JSON object with level,
    msg and time (the "process exited" line with its pid and status). The
    init's lines reach the log too, and never the container's stderr."""
    bundle.sh("echo out; echo err >&2").write()
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        log = tmp_path / f"{name}.{fmt}"
        cid = rt.new_id()
        p = rt("--debug", "--log", log, "--log-format", fmt, "run", "-b", bundle.path, cid,
               stdin=subprocess.DEVNULL)
        assert p.returncode == 0, (name, p.stderr)
        assert p.stdout == "out\n" and p.stderr == "err\n", (name, p.stderr)
        lines = _debug_lines(log.read_text(), fmt)
        msgs = [m for m, _ in lines]
        for w in INIT_WORDS + ("process exited",):
            assert w in msgs, (name, w, msgs)
        if fmt == "json":
            exited = [d for m, d in lines if m == "process exited"][0]
            assert exited["status"] == 0 and exited["pid"] > 0, (name, exited)


def test_debug_exec(started, tmp_path):  # noqa: F811
    """`--debug exec`: runc's exec.bats words (setns_init), on stderr or
    into --log only."""
    s = started()
    for name, rt in s.rts.items():
        p = rt("--debug", "exec", s.ids[name], "true")
        assert p.returncode == 0, (name, p.stderr)
        msgs = [m for m, _ in _debug_lines(p.stderr, "text")]
        for w in EXEC_WORDS:
            assert w in msgs, (name, w, p.stderr)
        log = tmp_path / f"{name}.log"
        p = rt("--debug", "--log", log, "exec", s.ids[name], "true")
        assert p.returncode == 0 and "level=debug" not in p.stderr, (name, p.stderr)
        msgs = [m for m, _ in _debug_lines(log.read_text(), "text")]
        for w in EXEC_WORDS:
            assert w in msgs, (name, w, msgs)


def test_debug_create_start_delete(runtime, bundle):
    """Each of create, start and delete names its steps with --debug, and
    says nothing without it."""
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    steps = {"create": ("create: forking the init", "child process in init()",
                        "init: about to wait on exec fifo"),
             "start": ("start: opening the exec fifo", "start: the container's process was exec'd"),
             "delete": ("delete: killed the container's init",)}
    args = {"create": ("create", "-b", bundle.path, cid), "start": ("start", cid),
            "delete": ("delete", "--force", cid)}
    for cmd in ("create", "start", "delete"):
        p = runtime("--debug", *args[cmd])
        assert p.returncode == 0, (cmd, p.stderr)
        msgs = [m for m, _ in _debug_lines(p.stderr, "text")]
        for w in steps[cmd]:
            assert any(m.startswith(w) for m in msgs), (cmd, w, msgs)
    cid = runtime.new_id()
    args = {"create": ("create", "-b", bundle.path, cid), "start": ("start", cid),
            "delete": ("delete", "--force", cid)}
    for cmd in ("create", "start", "delete"):
        p = runtime(*args[cmd])
        assert p.returncode == 0 and p.stderr == "", (cmd, p.stderr)


def test_debug_names_the_id_maps(runtime, runc, bundle):  # noqa: F811
    """With a new user namespace: runc's nsexec words for the id maps the
    runtime writes, `update /proc/<pid>/uid_map to '0 100000 65536'`."""
    d = bundle.path  # (the mapped root must reach its rootfs: tmp dirs are 0700)
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    subprocess.run(["chown", "-R", "-h", "100000:100000", bundle.rootfs], check=True)
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    for k in ("uidMappings", "gidMappings"):
        bundle.config["linux"][k] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    bundle.args("true").write()
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        p = rt("--debug", "run", "-b", bundle.path, rt.new_id(), stdin=subprocess.DEVNULL)
        assert p.returncode == 0, (name, p.stderr)
        msgs = [m for m, _ in _debug_lines(p.stderr, "text")]
        for f in ("uid_map", "gid_map"):
            assert any(f"/{f} to '0 100000 65536" in m for m in msgs), (name, f, msgs)


def test_start_container_hook_failure_exits_255(runtime, runc, bundle):  # noqa: F811
    """runc HEAD (standard_init_linux.go): startContainer hooks run after
    the exec fifo was written and closed, so `start` has succeeded; a
    failure is the init's, printed on its stderr
    ("error running startContainer hook #0: ..."), exit 255 (init_linux.go
    Init), which `run` exits with. (runc 1.1.5: the same line without the
    kind, "error running hook #0: ...", and exit 1.)"""
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    bundle.args("true").write()
    mine, theirs = run_both(runtime, runc, bundle)
    assert theirs.returncode != 0 and theirs.stderr.startswith("error running hook #0: ")
    assert mine.returncode == 255, mine.stderr
    assert mine.stderr.startswith("error running startContainer hook #0: "
                                  "exit status 1, stdout: , stderr: "), mine.stderr
