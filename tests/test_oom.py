"""`pyrunc state` of a stopped container says how its init ended
(pyrunc/exitinfo.py): exit status, OOM kill, OOM counter, finish time,
and where that was learnt. Real memory limits, real OOM kills."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import needs_root

pytestmark = [needs_root, pytest.mark.cgroupv2]

# a shell that doubles a string until the memory limit kills it (the host
# has no swap; with swap the limit would bite once swap is full too)
HOG = "a=xxxxxxxxxxxxxxxx; while :; do a=$a$a; done"
LIMIT = 32 << 20


def _statecheck(st):
    from pyrunc import _statecheck  # spec/state-schema.json, compiled at build
    _statecheck.validate(st)


def _limited(bundle, script):
    res = bundle.config["linux"].setdefault("resources", {})
    res["memory"] = {"limit": LIMIT}
    bundle.sh(script).write()


def _wait_stopped(runtime, cid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = runtime.state(cid)
        if st["status"] == "stopped":
            return st
        time.sleep(0.05)
    raise AssertionError(f"{cid} still {st['status']}")


def test_run_keep_oom_killed(runtime, bundle):
    """`run --keep`: pyrunc reaped the init: exact status, OOM kill."""
    _limited(bundle, HOG)
    cid = runtime.new_id()
    p = runtime("run", "--keep", "--bundle", bundle.path, cid)
    assert p.returncode == 137, p.stderr
    st = runtime.state(cid)
    _statecheck(st)
    assert st["status"] == "stopped" and st["pid"] == 0
    assert st["exitStatus"] == 137 and st["oomKilled"] is True
    assert st["oomKills"] >= 1
    assert st["exitSource"] == "waited"
    assert st["finished"] >= st["created"]
    assert runtime("delete", cid).returncode == 0


def test_run_keep_plain_exit(runtime, bundle):
    """Not every death is an OOM kill: exit 3 under the same limit."""
    _limited(bundle, "exit 3")
    cid = runtime.new_id()
    p = runtime("run", "--keep", "--bundle", bundle.path, cid)
    assert p.returncode == 3, p.stderr
    st = runtime.state(cid)
    _statecheck(st)
    assert (st["exitStatus"], st["oomKilled"], st["oomKills"]) == (3, False, 0)
    assert st["exitSource"] == "waited"
    assert runtime("delete", cid).returncode == 0


def test_running_container_has_no_exit_fields(runtime, bundle):
    _limited(bundle, "sleep 30")
    cid = runtime.new_id()
    assert runtime("run", "-d", "--bundle", bundle.path, cid).returncode == 0
    st = runtime.state(cid)
    assert st["status"] == "running"
    assert not {"exitStatus", "oomKilled", "oomKills", "finished"} & set(st)
    assert runtime("delete", "--force", cid).returncode == 0


def _kmsg_readable():
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


def test_oom_killed_not_our_child(runtime, bundle):
    """create + start: the init's parent is not pyrunc (here it is
    reparented to the host's init, which reaps it). The counter comes from
    the cgroup; that the init was the victim, from the kernel's report."""
    _limited(bundle, HOG)
    cid = runtime.new_id()
    assert runtime("create", "--bundle", bundle.path, cid).returncode == 0
    assert runtime("start", cid).returncode == 0
    st = _wait_stopped(runtime, cid)
    _statecheck(st)
    assert st["oomKills"] >= 1
    # (the host's init may not have reaped it yet: then the zombie says)
    if st["exitSource"] == "zombie" or _kmsg_readable():
        assert st["exitSource"] in ("zombie", "kmsg"), st
        assert st["exitStatus"] == 137 and st["oomKilled"] is True
    else:
        assert st["exitSource"] == "observed" and "exitStatus" not in st
    # learnt once, kept: the same answer later
    again = runtime.state(cid)
    assert again["finished"] == st["finished"] and again["exitSource"] == st["exitSource"]
    assert runtime("delete", cid).returncode == 0


# Run by a subreaper that does not reap: the init stays a zombie, as under
# a shim that has not called wait yet.
ZOMBIE_PARENT = r"""
import ctypes, json, os, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pyrunc, root, bundle, cid, sig, reap_first = sys.argv[1:]
def rt(*a):  # (a pipe would be held open by the container: files)
    import tempfile
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.run([pyrunc, "--root", root] + list(a), stdout=out, stderr=out, text=True)
        out.seek(0)
        p.stdout = out.read()
    return p
assert rt("create", "--bundle", bundle, cid).returncode == 0
pid = json.loads(rt("state", cid).stdout)["pid"]
assert rt("start", cid).returncode == 0
if sig != "-":
    assert rt("kill", cid, sig).returncode == 0
while open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
    time.sleep(0.02)
if reap_first == "1":
    os.waitpid(pid, 0)
first = json.loads(rt("state", cid).stdout)
if reap_first != "1":
    os.waitpid(pid, 0)
after = json.loads(rt("state", cid).stdout)
print(json.dumps([first, after]))
"""


def _zombie_states(runtime, bundle, cid, sig="-", reap_first=False):
    p = subprocess.run([sys.executable, "-c", ZOMBIE_PARENT, runtime.bin, runtime.root,
                        bundle.path, cid, sig, "1" if reap_first else "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_oom_killed_zombie(runtime, bundle):
    """The parent has not reaped the init yet: its status is read from the
    zombie, and kept once the parent reaps it."""
    _limited(bundle, HOG)
    cid = runtime.new_id()
    first, after = _zombie_states(runtime, bundle, cid)
    for st in (first, after):
        _statecheck(st)
        assert st["exitSource"] == "zombie"
        assert st["exitStatus"] == 137 and st["oomKilled"] is True and st["oomKills"] >= 1
    assert after["finished"] == first["finished"]
    assert runtime("delete", cid).returncode == 0


def test_sigkill_is_not_an_oom_kill(runtime, bundle):
    """SIGKILL from `kill`, no OOM: status 137, oomKilled false."""
    _limited(bundle, "sleep 30")
    cid = runtime.new_id()
    first, _ = _zombie_states(runtime, bundle, cid, "KILL")
    _statecheck(first)
    assert (first["exitStatus"], first["oomKilled"], first["oomKills"]) == (137, False, 0)
    assert runtime("delete", cid).returncode == 0


def test_oom_killed_reaped_by_another(runtime, bundle):
    """The parent reaped the init before anyone asked pyrunc: no zombie
    left; the kernel's OOM report names the init's pid in the container's
    memory cgroup (when the kernel log can be read), else only the
    counter is known and the status is left out, not guessed."""
    _limited(bundle, HOG)
    cid = runtime.new_id()
    first, after = _zombie_states(runtime, bundle, cid, reap_first=True)
    for st in (first, after):
        _statecheck(st)
        assert st["oomKills"] >= 1
        if _kmsg_readable():
            assert st["exitSource"] == "kmsg"
            assert st["exitStatus"] == 137 and st["oomKilled"] is True
        else:
            assert st["exitSource"] == "observed"
            assert "exitStatus" not in st and "oomKilled" not in st
    assert runtime("delete", cid).returncode == 0


from test_parity_lifecycle import both, runc  # noqa: E402,F401 (runc: the fixture)

EXTRAS = {"exitStatus", "oomKilled", "oomKills", "finished", "exitSource"}


def test_side_by_side_with_runc(runtime, bundle, runc):  # noqa: F811
    """runc and pyrunc agree on `run --keep` of an OOM-killed init (137)
    and on every field runc's state has; pyrunc only adds the extras."""
    _limited(bundle, HOG)
    seen = {}
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "--keep", "--bundle", bundle.path, cid)
        assert p.returncode == 137, (name, p.stderr)
        seen[name] = json.loads(rt("state", cid).stdout)
        assert rt("delete", cid).returncode == 0, name
    ours, theirs = seen["pyrunc"], seen["runc"]
    assert set(ours) - set(theirs) == EXTRAS
    assert not EXTRAS & set(theirs)
    for k in ("status", "pid", "bundle", "rootfs"):
        assert ours[k] == theirs[k], k
    assert ours["oomKilled"] is True
