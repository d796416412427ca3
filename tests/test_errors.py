"""Bad input: a clear error naming the field, exit 1, nothing left behind."""
import json
import os

import pytest

from conftest import needs_root

pytestmark = needs_root


def cgroup_dirs(cid):
    found = []
    for base, dirs, _ in os.walk("/sys/fs/cgroup"):
        if cid in dirs:
            found.append(os.path.join(base, cid))
        if base.count("/") > 6:
            dirs[:] = []
    return found


def assert_nothing_left(runtime, cid):
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert cgroup_dirs(cid) == []


@pytest.mark.parametrize("mutate,field", [
    (lambda c: c["process"].__setitem__("args", "sh"), "process.args"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pidd"}), "linux.namespaces[5].type"),
    (lambda c: c["process"]["user"].__setitem__("uid", -1), "process.user.uid"),
    (lambda c: c["process"].__setitem__("cwd", "relative"), "process.cwd"),
    (lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}),
     "process.rlimits[1].type"),
    (lambda c: c.__setitem__("ociVersion", "2.0.0"), "ociVersion"),
    (lambda c: c["mounts"][0].__setitem__("options", ["ro", ""]), "mounts[0].options[1]"),
    (lambda c: c["linux"].__setitem__("seccomp", {"defaultAction": "SCMP_ACT_NOPE"}),
     "linux.seccomp.defaultAction"),
    (lambda c: c["linux"]["namespaces"].append({"type": "network", "path": "/nonexistent/ns"}),
     "linux.namespaces"),
    (lambda c: c["linux"].__setitem__("sysctl", {"vm.swappiness": "10"}), "linux.sysctl.vm.swappiness"),
    (lambda c: c["linux"].__setitem__("intelRdt", {"closID": "x"}), "linux.intelRdt"),
    (lambda c: c["process"].__setitem__("apparmorProfile", "p"), "process.apparmorProfile"),
    (lambda c: c["process"].__setitem__("selinuxLabel", "l"), "process.selinuxLabel"),
    (lambda c: c["linux"].__setitem__("mountLabel", "l"), "linux.mountLabel"),
    (lambda c: c["linux"].__setitem__("uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
     "linux.uidMappings"),
])
def test_invalid_config_names_field(runtime, bundle, mutate, field):
    mutate(bundle.config)
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1
    assert field in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert_nothing_left(runtime, cid)


def test_not_json(runtime, bundle):
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", ')
    p = runtime("create", "-b", bundle.path, "x1")
    assert p.returncode == 1 and "invalid JSON" in p.stderr and "line 1" in p.stderr


def test_missing_config(runtime, tmp_path):
    p = runtime("create", "-b", tmp_path, "x1")
    assert p.returncode == 1 and "config.json" in p.stderr and "not found" in p.stderr


def test_missing_executable_in_path(runtime, bundle, tmp_path):
    bundle.args("nosuchprog").write()
    cid = runtime.new_id()
    log = tmp_path / "log.json"
    p = runtime("--log", log, "--log-format", "json", "create", "-b", bundle.path, cid)
    assert p.returncode == 1
    assert 'exec: "nosuchprog": executable file not found in $PATH' in p.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "error" and "executable file not found in $PATH" in entry["msg"]
    assert entry["time"].endswith("Z") and entry["time"][10] == "T"
    assert_nothing_left(runtime, cid)


def test_missing_executable_absolute(runtime, bundle):
    bundle.args("/nonexistent").write()
    cid = runtime.new_id()
    p = runtime("--log-format=json", "create", "-b", bundle.path, cid)
    assert p.returncode == 1
    assert "no such file or directory" in p.stderr
    assert_nothing_left(runtime, cid)


def test_successful_call_logs_nothing(runtime, bundle, tmp_path):
    log = tmp_path / "log.json"
    cid = runtime.new_id()
    runtime("--log", log, "--log-format", "json", "create", "-b", bundle.path, cid, check=True)
    runtime("--log", log, "--log-format", "json", "delete", "-f", cid, check=True)
    assert not log.exists() or log.read_text() == ""


def test_rlimit_above_hard_limit_fails_cleanly(runtime, bundle):
    # above fs.nr_open: refused even with CAP_SYS_RESOURCE (which the
    # v2 VM has and these machines have not)
    with open("/proc/sys/fs/nr_open") as f:
        over = int(f.read()) + 1
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": over,
                                            "hard": over}]
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1
    assert "error setting rlimit type 7" in p.stderr
    assert "process.rlimits[0]" in p.stderr
    assert_nothing_left(runtime, cid)


def test_bad_cwd_fails_cleanly(runtime, bundle):
    bundle.config["process"]["cwd"] = "/etc/passwd/x"
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "process.cwd" in p.stderr
    assert_nothing_left(runtime, cid)


def test_bad_bind_source_fails_cleanly(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/x", "type": "bind", "source": "/nonexistent",
                                    "options": ["bind"]})
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "mounts[7]" in p.stderr
    assert_nothing_left(runtime, cid)


def test_concurrent_creates_of_one_id(runtime, bundle):
    import subprocess
    cid = runtime.new_id()
    procs = [subprocess.Popen([runtime.bin, "--root", runtime.root, "create", "-b", bundle.path, cid],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(4)]
    codes = [p.wait(30) for p in procs]
    for p in procs:
        p.stderr.close()
    assert sorted(codes) == [0, 1, 1, 1]
    assert runtime.state(cid)["status"] == "created"
    runtime("delete", "-f", cid, check=True)


def test_console_socket_without_terminal_refused(runtime, bundle, tmp_path):
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, "--console-socket", tmp_path / "sock", cid)
    assert p.returncode == 1 and "console socket" in p.stderr
    assert_nothing_left(runtime, cid)
