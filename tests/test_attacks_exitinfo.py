"""Attacks on how `state` learns the way a stopped container ended
(pyrunc/exitinfo.py): a container that exits normally but makes `state`
say its init was OOM-killed (exitStatus 137, oomKilled), through the
kernel log that "kmsg" reads when the init was reaped by someone else.

- a process of the container, named so that its OOM report carries
  ",pid=<init's pid>," (the comm is the container's to choose, and the
  kernel prints it just before the real pid), is really OOM-killed while
  the init exits 0;
- a container given /dev/kmsg (as kind/k3s nodes are) writes a whole
  "oom-kill:" line naming its init and its memory cgroup (a line written
  to /dev/kmsg is logged with the user facility, never the kernel's).
No pid namespace: the init knows its host pid (a container in one would
have to guess it)."""
import pytest

from conftest import needs_root
from test_oom import LIMIT, _kmsg_readable, _statecheck, _zombie_states

pytestmark = [needs_root, pytest.mark.skipif(not _kmsg_readable(),
                                             reason="the kernel log is not readable")]

# a subshell that renames itself, then grows until the limit kills it;
# the init ($$: its pid is the host's) exits 0 after it
FORGED_COMM = ("( echo -n \"x,pid=$$,\" > /proc/self/comm; "
               "a=xxxxxxxxxxxxxxxx; while :; do a=$a$a; done ); exit 0")

FORGED_LINE = (
    "m=$(grep -E ':memory:|^0::' /proc/self/cgroup | head -1 | cut -d: -f3); "
    "echo \"<3>oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=x,"
    "mems_allowed=0,oom_memcg=$m,task_memcg=$m,task=sh,pid=$$,uid=0\" > /dev/kmsg; "
    "( a=xxxxxxxxxxxxxxxx; while :; do a=$a$a; done ); exit 0")


def _no_pidns(bundle, script, keep_cgroupns=True):
    lx = bundle.config["linux"]
    lx["namespaces"] = [n for n in lx["namespaces"]
                        if n["type"] != "pid" and (keep_cgroupns or n["type"] != "cgroup")]
    lx.setdefault("resources", {})["memory"] = {"limit": LIMIT}
    bundle.sh(script).write()


def _assert_not_forged(states):
    for st in states:
        _statecheck(st)
        assert st["oomKills"] >= 1  # (a real OOM kill happened in it)
        assert st["exitSource"] == "observed", st
        assert "exitStatus" not in st and "oomKilled" not in st, st


def test_oom_report_of_a_process_named_after_the_init_is_not_the_inits(runtime, bundle):
    _no_pidns(bundle, FORGED_COMM)
    cid = runtime.new_id()
    try:
        _assert_not_forged(_zombie_states(runtime, bundle, cid, reap_first=True))
    finally:
        assert runtime("delete", "-f", cid).returncode == 0


def test_oom_line_written_to_dev_kmsg_is_not_the_kernels(runtime, bundle):
    _no_pidns(bundle, FORGED_LINE, keep_cgroupns=False)
    lx = bundle.config["linux"]
    lx["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11,
                      "fileMode": 0o644}]
    lx["resources"].setdefault("devices", []).append(
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"})
    bundle.write()
    cid = runtime.new_id()
    try:
        _assert_not_forged(_zombie_states(runtime, bundle, cid, reap_first=True))
    finally:
        assert runtime("delete", "-f", cid).returncode == 0


# A pid wrap-around without a pid namespace: the init ends (exit 0, reaped
# by the host's init), and a process of the container that outlived it
# forks until the kernel gives it the init's pid again, then ends its own
# way: OOM-killed in the container's memory cgroup (its report names the
# init's pid, after the init started), or a zombie with its own status.
# The wrap is faked with clone3's set_tid (tests/attack/pidat.c), the
# process put in the container's cgroups as a fork of the container's
# would be. Neither may be taken for the init.
def _pidat(tmp_path):
    import os
    import subprocess
    out = str(tmp_path / "pidat")
    src = os.path.join(os.path.dirname(__file__), "attack", "pidat.c")
    subprocess.run(["gcc", "-O2", "-o", out, src], check=True)
    return out


def _ended_init(runtime, bundle, cid):
    """Create and start; the init's pid and cgroup dirs once it is gone
    (never asking `state` meanwhile: what it learns first, it keeps)."""
    import json
    import os
    import time
    runtime("create", "-b", bundle.path, cid, check=True)
    with open(os.path.join(runtime.root, cid, "state.json")) as f:
        d = json.load(f)
    runtime("start", cid, check=True)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{d['pid']}"):
        assert time.monotonic() < deadline, "the init was not reaped"
        time.sleep(0.05)
    return d["pid"], [p for p in d["cgroups"]["dirs"].values() if p]


def _as_pid(tool, pid, dirs, *cmd):
    import subprocess
    p = subprocess.Popen([tool, str(pid), *dirs, "--", *cmd], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("exited "), line
    return p, int(line.split()[1])


def test_oom_kill_of_a_recycled_init_pid_is_not_the_inits(runtime, bundle, tmp_path):
    tool = _pidat(tmp_path)
    _no_pidns(bundle, "exit 0")
    cid = runtime.new_id()
    try:
        pid, dirs = _ended_init(runtime, bundle, cid)
        p, ws = _as_pid(tool, pid, dirs, "/bin/sh", "-c",
                        "a=xxxxxxxxxxxxxxxx; while :; do a=$a$a; done")
        p.stdin.close()
        p.wait()
        assert ws == 9  # (SIGKILL: the OOM killer took pid <init's> in the cgroup)
        _assert_not_forged([runtime.state(cid)])
    finally:
        assert runtime("delete", "-f", cid).returncode == 0


def test_zombie_at_a_recycled_init_pid_is_not_the_init(runtime, bundle, tmp_path):
    tool = _pidat(tmp_path)
    _no_pidns(bundle, "exit 0")
    cid = runtime.new_id()
    try:
        pid, dirs = _ended_init(runtime, bundle, cid)
        p, ws = _as_pid(tool, pid, dirs, "/bin/sh", "-c", "exit 5")
        try:
            assert ws == 5 << 8
            st = runtime.state(cid)  # pid <init's> is a zombie now, exit 5
        finally:
            p.stdin.close()
            p.wait()
        _statecheck(st)
        assert st["exitSource"] == "observed" and "exitStatus" not in st, st
        assert "oomKilled" not in st, st
    finally:
        assert runtime("delete", "-f", cid).returncode == 0
