"""Machine-readable error classes (docs/ERRORS.md): each class triggered
for real, read from the `--log-format json` line as an engine would.

The line keeps runc's level/msg/time (clients reading only msg keep
working); "class", "path" and "errno" are extra fields. Exit codes stay
runc's: 1 (255 for a failed exec).
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BUSYBOX, needs_root, pyrunc_bin

pytestmark = needs_root

RUNC = "/usr/sbin/runc"


def call(runtime, tmp_path, *args, **kw):
    """Run with a JSON log; (process, the last error line as a dict)."""
    log = tmp_path / "log.json"
    if log.exists():
        log.unlink()
    p = runtime("--log", str(log), "--log-format", "json", *args, **kw)
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    errs = [x for x in lines if x["level"] == "error"]
    return p, (errs[-1] if errs else None)


def created(runtime, bundle):
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    return cid


def assert_class(p, err, cls, code=1, path=None, errno=None):
    assert p.returncode == code, p.stderr
    assert err is not None, p.stderr
    assert err["class"] == cls, err
    # runc's three fields first, unchanged: msg is what stderr says
    assert list(err)[:3] == ["level", "msg", "time"]
    assert err["msg"] in p.stderr
    if path is not None:
        assert err.get("path") == path, err
    if errno is not None:
        assert err.get("errno") == errno, err
    assert "Traceback" not in p.stderr


def test_config_invalid_with_path(runtime, bundle, tmp_path):
    bundle.config["process"]["user"]["uid"] = -1
    bundle.write()
    p, err = call(runtime, tmp_path, "create", "-b", bundle.path, runtime.new_id())
    assert_class(p, err, "config.invalid", path="process.user.uid")
    assert "errno" not in err


@pytest.mark.parametrize("field,value", [
    ("apparmorProfile", "p"), ("selinuxLabel", "l")])
def test_config_unsupported_with_path(runtime, bundle, tmp_path, field, value):
    bundle.config["process"][field] = value
    bundle.write()
    p, err = call(runtime, tmp_path, "create", "-b", bundle.path, runtime.new_id())
    assert_class(p, err, "config.unsupported", path=f"process.{field}")


def test_container_not_found(runtime, tmp_path):
    p, err = call(runtime, tmp_path, "state", "nosuchcontainer")
    assert_class(p, err, "container.not-found")
    assert err["msg"] == "container does not exist"


@pytest.mark.skipif(not os.path.exists(RUNC), reason="runc not installed")
def test_runc_line_has_the_same_core_fields(tmp_path):
    """runc writes level/msg/time and the same msg: ours only adds fields."""
    log = tmp_path / "runc.json"
    root = tmp_path / "runc-root"
    p = subprocess.run([RUNC, "--root", str(root), "--log", str(log), "--log-format", "json",
                        "state", "nosuchcontainer"], capture_output=True, text=True)
    assert p.returncode == 1
    line = json.loads(log.read_text().splitlines()[-1])
    assert set(line) == {"level", "msg", "time"}
    assert line["msg"] == "container does not exist"


def test_container_exists(runtime, bundle, tmp_path):
    cid = created(runtime, bundle)
    p, err = call(runtime, tmp_path, "create", "-b", bundle.path, cid)
    assert_class(p, err, "container.exists")
    runtime("delete", "--force", cid, check=True)


def test_container_wrong_state(runtime, bundle, tmp_path):
    cid = created(runtime, bundle)
    p, err = call(runtime, tmp_path, "resume", cid)
    assert_class(p, err, "container.wrong-state")
    p, err = call(runtime, tmp_path, "delete", cid)
    assert_class(p, err, "container.wrong-state")
    runtime("delete", "--force", cid, check=True)


def test_container_failed(runtime, bundle, tmp_path):
    """No finer class: spec over an existing config.json."""
    p, err = call(runtime, tmp_path, "spec", "--bundle", bundle.path)
    assert_class(p, err, "container.failed")


def test_exec_failed_in_the_init_travels_with_errno(runtime, bundle, tmp_path):
    """Found missing by the container's init: the class crosses the
    parent-init channel (sync.py)."""
    bundle.args("/nonexistent")
    bundle.write()
    cid = runtime.new_id()
    p, err = call(runtime, tmp_path, "create", "-b", bundle.path, cid)
    assert_class(p, err, "process.exec-failed", errno=2)
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_exec_failed_not_executable_travels_with_errno(runtime, bundle, tmp_path):
    """A program that is not executable: EACCES, from the init too."""
    path = os.path.join(bundle.rootfs, "notexecutable")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(path, 0o644)
    bundle.args("/notexecutable")
    bundle.write()
    p, err = call(runtime, tmp_path, "create", "-b", bundle.path, runtime.new_id())
    assert_class(p, err, "process.exec-failed", errno=13)


def test_exec_failed_for_exec(runtime, bundle, tmp_path):
    bundle.sh("sleep 30")
    bundle.write()
    cid = created(runtime, bundle)
    p, err = call(runtime, tmp_path, "exec", cid, "/nonexistent")
    assert_class(p, err, "process.exec-failed", code=255, errno=2)
    p, err = call(runtime, tmp_path, "exec", "--cgroup", "nosuchsub", cid, "/bin/true")
    assert_class(p, err, "usage", code=255)
    runtime("delete", "--force", cid, check=True)


def test_exec_in_stopped_container_is_wrong_state(runtime, bundle, tmp_path):
    cid = created(runtime, bundle)
    runtime("start", cid, check=True)
    for _ in range(100):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    p, err = call(runtime, tmp_path, "exec", cid, "/bin/true")
    assert_class(p, err, "container.wrong-state", code=255)
    runtime("delete", cid, check=True)


def test_resource_cgroup_keeps_the_field(runtime, bundle, tmp_path):
    """The kernel refuses a valid-looking value: the write's errno, the field."""
    bundle.config["linux"]["resources"] = {"cpu": {"cpus": "4095"}}
    bundle.write()
    cid = runtime.new_id()
    p, err = call(runtime, tmp_path, "create", "-b", bundle.path, cid)
    if err and err["class"] == "config.unsupported":
        pytest.skip("no cpuset controller: " + err["msg"])
    assert_class(p, err, "resource.cgroup", path="linux.resources.cpu.cpus")
    assert err["errno"] > 0
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_resource_mount_travels_from_the_init(runtime, bundle, tmp_path):
    bundle.config["mounts"].append({"destination": "/mnt", "type": "nosuchfs",
                                    "source": "none"})
    bundle.write()
    idx = len(bundle.config["mounts"]) - 1
    cid = runtime.new_id()
    p, err = call(runtime, tmp_path, "create", "-b", bundle.path, cid)
    assert_class(p, err, "resource.mount", path=f"mounts[{idx}]", errno=19)  # ENODEV


def test_mounts_add_classes(runtime, bundle, tmp_path):
    """`mounts add`: the state checked in the runtime, the destination in
    a child inside the container's mount namespace (its class and path
    reach the log through that child's answer)."""
    os.symlink("/proc/sys/kernel", os.path.join(bundle.rootfs, "sneaky"))
    bundle.sh("sleep 30").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    mounts = tmp_path / "mounts.json"
    mounts.write_text(json.dumps([{"destination": "/sneaky/domainname", "type": "bind",
                                   "source": str(mounts), "options": ["bind"]}]))
    p, err = call(runtime, tmp_path, "mounts", "add", cid, str(mounts))
    assert_class(p, err, "config.invalid", path="mounts[0].destination")
    runtime("kill", cid, "KILL", check=True)
    for _ in range(100):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    p, err = call(runtime, tmp_path, "mounts", "add", cid, str(mounts))
    assert_class(p, err, "container.wrong-state")
    runtime("delete", cid, check=True)


@pytest.mark.parametrize("kind", ["prestart", "createContainer"])
def test_hook_failed(runtime, bundle, tmp_path, kind):
    """prestart runs in the runtime, createContainer in the container's
    init (its class crosses the channel)."""
    bundle.config["hooks"] = {kind: [{"path": BUSYBOX, "args": ["false"]}]}
    bundle.write()
    cid = runtime.new_id()
    p, err = call(runtime, tmp_path, "create", "-b", bundle.path, cid)
    assert_class(p, err, "hook.failed")
    assert kind in err["msg"]


def test_permission(runtime, bundle):
    """A caller without the privileges the config asks for: its
    capabilities cannot be granted (EPERM), the field named; nothing left."""
    work = tempfile.mkdtemp(prefix="pyrunc-errclass-")
    try:
        os.chmod(work, 0o755)  # (the test's tmp dir is root's alone)
        cfg = dict(bundle.config, root={"path": bundle.rootfs})
        with open(os.path.join(work, "config.json"), "w") as f:
            json.dump(cfg, f)
        root, log = os.path.join(work, "root"), os.path.join(work, "log.json")
        os.mkdir(root, 0o700)
        os.chown(root, 65534, 65534)  # the caller's own state root
        with open(log, "w"):
            pass
        os.chmod(log, 0o666)
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            pyrunc_bin(), "--root", root, "--log", log, "--log-format",
                            "json", "create", "-b", work, runtime.new_id()],
                           capture_output=True, text=True, timeout=60)
        with open(log) as f:
            err = json.loads(f.read().splitlines()[-1])
        assert os.listdir(root) == []
    finally:
        shutil.rmtree(work)
    assert_class(p, err, "permission", errno=1)
    assert err["path"].startswith("process.capabilities."), err


def test_state_root_refused(runtime, tmp_path):
    """A --root another user could write to is refused (permission), a
    file is no --root (usage)."""
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    p = runtime("--root", str(loose), "--log", str(tmp_path / "l1"), "--log-format", "json",
                "list")
    err = json.loads((tmp_path / "l1").read_text().splitlines()[-1])
    assert_class(p, err, "permission")
    afile = tmp_path / "afile"
    afile.write_text("")
    p = runtime("--root", str(afile), "--log", str(tmp_path / "l2"), "--log-format", "json",
                "list")
    err = json.loads((tmp_path / "l2").read_text().splitlines()[-1])
    assert_class(p, err, "usage")


def test_usage(runtime, tmp_path):
    p, err = call(runtime, tmp_path, "kill", "somecontainer", "SIGNOPE")
    assert_class(p, err, "usage")
    p, err = call(runtime, tmp_path, "state", "bad/id")
    assert_class(p, err, "usage")
    p, err = call(runtime, tmp_path, "list", "--format", "yaml")
    assert_class(p, err, "usage")
    p, err = call(runtime, tmp_path, "--bogus-flag", "list")
    assert p.returncode == 1 and "flag provided but not defined" in p.stderr


def test_internal_unreadable_state(runtime, tmp_path):
    """pyrunc's own record is broken: not the user's config."""
    d = os.path.join(runtime.root, "broken")
    os.makedirs(d)
    try:
        with open(os.path.join(d, "state.json"), "w") as f:
            f.write("{not json")
        p, err = call(runtime, tmp_path, "state", "broken")
        assert_class(p, err, "internal")
    finally:
        shutil.rmtree(d)


def test_the_helpers_own_failure_is_internal_with_errno(runtime, bundle, rootfs_template,
                                                       tmp_path):
    """The static helper words its failures itself ("pyrunc-init: fork:
    errno 1"): class internal, its errno. Here: forking the process into a
    joined pid namespace under a filter refusing fork
    (test_seccomp.py::test_joined_pid_namespace_and_a_filter_forbidding_fork_fails_create)."""
    from conftest import Bundle
    from test_seccomp import profile
    bundle.args("sleep", "60").write()
    first = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, first, check=True)
    try:
        pid = runtime.state(first)["pid"]
        b2 = Bundle(str(tmp_path / "b2"), rootfs_template)
        b2.config["process"]["noNewPrivileges"] = False
        b2.config["linux"]["seccomp"] = profile(
            {"names": ["clone", "fork", "clone3"], "action": "SCMP_ACT_ERRNO"})
        b2.config["linux"]["namespaces"] = [
            n if n["type"] != "pid" else {"type": "pid", "path": f"/proc/{pid}/ns/pid"}
            for n in b2.config["linux"]["namespaces"]]
        b2.args("true").write()
        p, err = call(runtime, tmp_path, "create", "-b", b2.path, runtime.new_id())
        assert_class(p, err, "internal", errno=1)  # EPERM, the filter's answer
        assert "fork" in err["msg"]
    finally:
        runtime("delete", "-f", first)


def test_every_documented_class_is_tested_and_defined():
    """docs/ERRORS.md lists exactly errors.CLASSES; this file triggers each."""
    from pyrunc import errors
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "docs", "ERRORS.md")) as f:
        doc = f.read()
    with open(__file__) as f:
        me = f.read()
    for cls in errors.CLASSES:
        assert f"`{cls}`" in doc, cls
        assert f'"{cls}"' in me, cls


def test_text_log_unchanged(runtime, tmp_path):
    """The text format stays runc's (no extra fields)."""
    log = tmp_path / "log.txt"
    p = runtime("--log", str(log), "state", "nosuchcontainer")
    assert p.returncode == 1
    line = log.read_text().splitlines()[-1]
    assert line.endswith('level=error msg="container does not exist"'), line
