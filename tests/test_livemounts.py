"""`pyrunc mounts add|remove` on running containers (pyrunc/livemounts.py):
what the container sees, what the state records, and attacks on the
destination (symlinks out, /proc, a destination swapped while adding)."""
import json
import os

import pytest

from conftest import needs_root

pytestmark = needs_root


def _statecheck(st):
    from pyrunc import _statecheck  # spec/state-schema.json, compiled at build
    _statecheck.validate(st)


@pytest.fixture
def running(runtime, bundle):
    bundle.sh("sleep 600").write()  # (deleted by the test)
    cid = runtime.new_id()
    p = runtime("run", "-d", "--bundle", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    yield cid
    runtime("delete", "--force", cid)


@pytest.fixture
def hostsrc(tmp_path):
    d = tmp_path / "hostsrc"
    d.mkdir()
    (d / "f").write_text("from the host\n")
    return d


def _file(tmp_path, entries, name="mounts.json"):
    p = tmp_path / name
    p.write_text(json.dumps(entries))
    return str(p)


def _sh(runtime, cid, script):
    return runtime("exec", cid, "sh", "-c", script)


def _mountinfo(runtime, cid):
    p = _sh(runtime, cid, "cat /proc/self/mountinfo")
    assert p.returncode == 0, p.stderr
    return {ln.split()[4]: ln for ln in p.stdout.splitlines()}


def _host_mounts_at(path):
    with open("/proc/self/mountinfo") as f:
        return [ln for ln in f if ln.split()[4] == str(path)]


def test_add_and_remove(runtime, running, hostsrc, tmp_path):
    cid = running
    entries = [{"destination": "/data", "type": "bind", "source": str(hostsrc),
                "options": ["rbind", "ro"]},
               {"destination": "/scratch/deep", "type": "tmpfs", "source": "tmpfs",
                "options": ["size=1m", "nosuid", "noexec", "noatime", "mode=700"]}]
    f = _file(tmp_path, entries)
    p = runtime("mounts", "add", cid, f)
    assert p.returncode == 0, p.stderr
    p = _sh(runtime, cid, "cat /data/f; touch /data/x; echo $?; stat -c %a /scratch/deep")
    assert p.stdout.split("\n")[0] == "from the host"
    assert "Read-only file system" in p.stderr
    assert p.stdout.split()[-1] == "700"
    mi = _mountinfo(runtime, cid)
    assert " ro," in mi["/data"] or " ro " in mi["/data"]
    opts = mi["/scratch/deep"].split()[5].split(",")
    assert {"nosuid", "noexec", "noatime"} <= set(opts) and "nodev" not in opts
    assert "size=1024k" in mi["/scratch/deep"]
    assert not _host_mounts_at("/data") and not _host_mounts_at("/scratch/deep")
    st = runtime.state(cid)
    _statecheck(st)
    assert [m["destination"] for m in st["addedMounts"]] == ["/data", "/scratch/deep"]
    assert st["addedMounts"][0]["options"] == ["rbind", "ro"]
    # by destination, then by the same file (what is left of it)
    p = runtime("mounts", "remove", cid, "/data")
    assert p.returncode == 0, p.stderr
    mi = _mountinfo(runtime, cid)
    assert "/data" not in mi and "/scratch/deep" in mi
    p = runtime("mounts", "remove", cid, f)
    assert p.returncode == 1 and "/data: no mount added" in p.stderr  # (gone already)
    p = runtime("mounts", "remove", cid, _file(tmp_path, entries[1:], "m2.json"))
    assert p.returncode == 0, p.stderr
    assert "/scratch/deep" not in _mountinfo(runtime, cid)
    assert "addedMounts" not in runtime.state(cid)


def test_propagation_respected(runtime, running, hostsrc, tmp_path):
    f = _file(tmp_path, [{"destination": "/shared", "type": "bind", "source": str(hostsrc),
                          "options": ["rbind", "rshared"]},
                         {"destination": "/private", "type": "bind", "source": str(hostsrc),
                          "options": ["bind", "private"]}])
    p = runtime("mounts", "add", running, f)
    assert p.returncode == 0, p.stderr
    mi = _mountinfo(runtime, running)
    assert "shared:" in mi["/shared"].split(" - ")[0]
    assert "shared:" not in mi["/private"].split(" - ")[0]
    assert "master:" not in mi["/private"].split(" - ")[0]


def test_symlinked_destination_stays_inside(runtime, running, bundle, hostsrc, tmp_path):
    """/evil -> <a host dir> (absolute) and /evil2 -> ../../../../<it>: both
    resolve inside the container's root; the host's dir gets nothing."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "mine").write_text("host data\n")
    os.symlink(str(victim), os.path.join(bundle.rootfs, "evil"))
    os.symlink("../../../../../.." + str(victim), os.path.join(bundle.rootfs, "evil2"))
    f = _file(tmp_path, [{"destination": "/evil", "type": "bind", "source": str(hostsrc),
                          "options": ["bind"]},
                         {"destination": "/evil2/sub", "type": "tmpfs", "source": "tmpfs"}])
    p = runtime("mounts", "add", running, f)
    assert p.returncode == 0, p.stderr
    assert not _host_mounts_at(victim) and not _host_mounts_at(victim / "sub")
    assert sorted(os.listdir(victim)) == ["mine"]
    # in the container: at the link's target inside its root
    mi = _mountinfo(runtime, running)
    assert str(victim) in mi and str(victim / "sub") in mi
    assert os.path.isdir(os.path.join(bundle.rootfs, str(victim).lstrip("/")))
    p = _sh(runtime, running, "cat /evil/f")
    assert p.stdout == "from the host\n"
    # removed by the destination as given (resolved the same way)
    p = runtime("mounts", "remove", running, "/evil", "/evil2/sub")
    assert p.returncode == 0, p.stderr
    mi = _mountinfo(runtime, running)
    assert str(victim) not in mi and str(victim / "sub") not in mi


def test_destination_into_proc_refused(runtime, running, bundle, tmp_path):
    """Written under /proc, or resolving there through a symlink of the
    image: refused, nothing mounted, nothing recorded."""
    os.symlink("/proc/sys/kernel", os.path.join(bundle.rootfs, "sneaky"))
    before = _mountinfo(runtime, running)
    src = tmp_path / "name"
    src.write_text("evil\n")
    for dest in ("/proc/sys/kernel/domainname", "/sneaky/domainname"):
        f = _file(tmp_path, [{"destination": dest, "type": "bind", "source": str(src),
                              "options": ["bind"]}])
        p = runtime("mounts", "add", running, f)
        assert p.returncode == 1
        assert "mounts[0].destination" in p.stderr and "inside /proc" in p.stderr, p.stderr
    # /pp -> /proc: a bind of what is not a procfs root cannot cover /proc
    os.symlink("/proc", os.path.join(bundle.rootfs, "pp"))
    f = _file(tmp_path, [{"destination": "/pp", "type": "bind", "source": str(tmp_path),
                          "options": ["bind"]}])
    p = runtime("mounts", "add", running, f)
    assert p.returncode == 1
    assert "mounts[0].destination" in p.stderr and "'/proc'" in p.stderr, p.stderr
    assert _mountinfo(runtime, running).keys() == before.keys()
    assert "addedMounts" not in runtime.state(running)


def test_destination_swapped_while_adding(runtime, running, bundle, hostsrc, tmp_path):
    """The container swaps /race between a directory and a symlink to a
    host path while mounts are added and removed: whatever the timing,
    the host's directory never gets a mount, and every mount lands inside
    the container's root."""
    victim = tmp_path / "victim"
    victim.mkdir()
    loop = (f"while :; do rm -rf /race; mkdir /race; rm -rf /race; "
            f"ln -s {victim} /race; done")
    p = runtime("exec", "-d", running, "sh", "-c", loop)
    assert p.returncode == 0, p.stderr
    f = _file(tmp_path, [{"destination": "/race", "type": "bind", "source": str(hostsrc),
                          "options": ["bind"]}])
    added = 0
    for _ in range(40):
        if runtime("mounts", "add", running, f).returncode == 0:
            added += 1
        assert not _host_mounts_at(victim)
        assert os.listdir(victim) == []
        runtime("mounts", "remove", running, "/race")
    assert added > 0
    # every bind of hostsrc left in the container (a removal may have
    # found the link in place) is at /race or at the link's target inside
    # its root
    for mp, line in _mountinfo(runtime, running).items():
        if line.split()[3] == str(hostsrc):
            assert mp in ("/race", str(victim)), line


def test_remove_refuses_a_mount_it_did_not_make(runtime, running, hostsrc, tmp_path):
    """The container mounted over the added mount: `remove` leaves both."""
    f = _file(tmp_path, [{"destination": "/data", "type": "bind", "source": str(hostsrc),
                          "options": ["bind"]}])
    assert runtime("mounts", "add", running, f).returncode == 0
    p = runtime("exec", "--cap", "CAP_SYS_ADMIN", running, "mount", "-t", "tmpfs", "x", "/data")
    assert p.returncode == 0, p.stderr
    p = runtime("mounts", "remove", running, "/data")
    assert p.returncode == 1
    assert "not the one `mounts add` made" in p.stderr
    mi = _sh(runtime, running, "grep -c ' /data ' /proc/self/mountinfo")
    assert mi.stdout.strip() == "2"
    assert runtime.state(running)["addedMounts"][0]["destination"] == "/data"


def test_bad_input(runtime, running, bundle, hostsrc, tmp_path):
    cases = [
        ({"destination": "/x"}, "not an array", "mounts must be an array"),
        ([{"type": "tmpfs"}], "no destination", "mounts[0]"),
        ([{"destination": "/x", "type": "proc", "source": "proc"}], "proc",
         "mounts[0].type"),
        ([{"destination": "x", "type": "tmpfs"}], "relative", "mounts[0].destination"),
        ([{"destination": "/x", "type": "bind", "source": str(tmp_path / "none"),
           "options": ["bind"]}], "no source", "mounts[0].source"),
        ([{"destination": "/x", "type": "tmpfs", "options": ["tmpcopyup"]}], "tmpcopyup",
         "mounts[0].options"),
        ([{"destination": "/x", "type": "tmpfs", "options": ["size=lots"]}], "bad size",
         "mounts[0].options"),
        ([{"destination": "/ok", "type": "tmpfs"},
          {"destination": "/proc/x", "type": "tmpfs"}], "second refused", "mounts[1]"),
    ]
    before = _mountinfo(runtime, running).keys()
    for doc, what, msg in cases:
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(doc))
        r = runtime("mounts", "add", running, str(p))
        assert r.returncode == 1, what
        assert msg in r.stderr, (what, r.stderr)
    assert _mountinfo(runtime, running).keys() == before
    assert "addedMounts" not in runtime.state(running)
    assert not os.path.exists(os.path.join(bundle.rootfs, "ok"))
    r = runtime("mounts", "remove", running, "/nothing")
    assert r.returncode == 1 and "no mount added" in r.stderr
    r = runtime("mounts", "frob", running)
    assert r.returncode == 1 and '"add" or "remove"' in r.stderr


def test_stopped_container_refused(runtime, bundle, tmp_path):
    cid = runtime.new_id()
    assert runtime("run", "--keep", "--bundle", bundle.path, cid).returncode == 0
    f = _file(tmp_path, [{"destination": "/x", "type": "tmpfs"}])
    p = runtime("mounts", "add", cid, f)
    assert p.returncode == 1 and "container not running" in p.stderr
    assert runtime("delete", cid).returncode == 0


def test_container_with_user_namespace(runtime, bundle, hostsrc, tmp_path):
    """The mount namespace is owned by the container's user namespace: the
    runtime (root of the host's) still joins it and attaches there."""
    from test_console import _userns
    _userns(bundle)
    bundle.sh("sleep 600").write()  # (deleted by the test)
    os.chmod(tmp_path, 0o755)
    cid = runtime.new_id()
    p = runtime("run", "-d", "--bundle", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    try:
        f = _file(tmp_path, [{"destination": "/data", "type": "bind", "source": str(hostsrc),
                              "options": ["rbind", "ro"]},
                             {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                              "options": ["mode=1777"]}])
        p = runtime("mounts", "add", cid, f)
        assert p.returncode == 0, p.stderr
        p = _sh(runtime, cid, "cat /data/f; echo x > /scratch/y && cat /scratch/y")
        assert p.stdout == "from the host\nx\n", p.stderr
        p = runtime("mounts", "remove", cid, f)
        assert p.returncode == 0, p.stderr
        mi = _mountinfo(runtime, cid)
        assert "/data" not in mi and "/scratch" not in mi
    finally:
        runtime("delete", "--force", cid)


def test_killed_mounts_add_leaves_a_valid_state(runtime, running, hostsrc, tmp_path):
    """`mounts add` SIGKILLed at spread instants: state still loads and
    validates (an entry recorded before its mount, never shown without
    its mount id), later adds and removes work, delete removes all."""
    import signal
    import subprocess
    import time
    entries = [{"destination": f"/k{i}", "type": "bind", "source": str(hostsrc),
                "options": ["bind"]} for i in range(20)]
    f = _file(tmp_path, entries)
    for delay in (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15):
        p = subprocess.Popen([runtime.bin, "--root", runtime.root, "mounts", "add", running, f],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        st = runtime.state(running)
        _statecheck(st)
        assert st["status"] == "running"
    g = _file(tmp_path, [{"destination": "/after", "type": "tmpfs"}], "after.json")
    assert runtime("mounts", "add", running, g).returncode == 0
    assert runtime("mounts", "remove", running, "/after").returncode == 0
    assert runtime("delete", "--force", running).returncode == 0


def _userns_running(runtime, bundle, tmp_path, script="sleep 600", caps=()):
    """A running container with its own user namespace (test_console's
    mapping), root there holding `caps` too."""
    from test_console import _userns
    _userns(bundle)
    for s in ("bounding", "effective", "permitted"):
        c = bundle.config["process"]["capabilities"]
        c[s] = sorted(set(c.get(s, [])) | set(caps))
    bundle.sh(script).write()
    os.chmod(tmp_path, 0o755)
    cid = runtime.new_id()
    p = runtime("run", "-d", "--bundle", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    return cid


def test_added_mount_flags_are_locked_in_a_user_namespace(runtime, bundle, hostsrc, tmp_path):
    """Attack: root of the container's user namespace (CAP_SYS_ADMIN there)
    remounts a read-only, nosuid, nodev, noexec mount that `mounts add`
    made read-write, to write to the host's directory. The flags are
    locked as those of a mount the kernel copied into that namespace
    (as create's bind mounts are): the remount is refused."""
    os.chown(hostsrc, 100000, 100000)
    cid = _userns_running(runtime, bundle, tmp_path, caps=["CAP_SYS_ADMIN"])
    try:
        f = _file(tmp_path, [{"destination": "/data", "type": "bind", "source": str(hostsrc),
                              "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]},
                             {"destination": "/one", "type": "bind", "source": str(hostsrc / "f"),
                              "options": ["bind", "ro"]},
                             {"destination": "/t", "type": "tmpfs", "options": ["ro"]}])
        on_root = _host_mounts_at("/")
        p = runtime("mounts", "add", cid, f)
        assert p.returncode == 0, p.stderr
        assert _host_mounts_at("/") == on_root  # (the staging never reached the host)
        for opts in ("rw", "ro,suid", "ro,dev", "ro,exec"):
            p = _sh(runtime, cid, f"mount -o remount,bind,{opts} /data")
            assert p.returncode != 0, opts
        for dest in ("/one", "/t"):
            assert _sh(runtime, cid, f"mount -o remount,bind,rw {dest}").returncode != 0
        p = _sh(runtime, cid, "echo x > /data/new; echo x >> /one; echo x > /t/x")
        assert p.returncode != 0
        assert not (hostsrc / "new").exists()
        assert (hostsrc / "f").read_text() == "from the host\n"
        opts = _mountinfo(runtime, cid)["/data"].split()[5].split(",")
        assert {"ro", "nosuid", "nodev", "noexec"} <= set(opts)
        # still the container's to unmount, and ours to remove
        assert runtime("mounts", "remove", cid, f).returncode == 0
        assert not {"/data", "/one", "/t"} & set(_mountinfo(runtime, cid))
    finally:
        runtime("delete", "--force", cid)


def test_source_in_the_rootfs_stays_inside(runtime, running, bundle, tmp_path):
    """Attack: the container turns a path of its rootfs into a symlink to
    a host directory, and `mounts add` is given that path as its source.
    The source is resolved inside the rootfs (as create's): the host's
    directory is never mounted into the container."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("host secret\n")
    assert _sh(runtime, running, f"ln -s {secret} /link && mkdir -p /real && "
               "echo inside > /real/f").returncode == 0
    f = _file(tmp_path, [{"destination": "/got", "type": "bind",
                          "source": os.path.join(bundle.rootfs, "link"), "options": ["rbind"]}])
    p = runtime("mounts", "add", running, f)
    assert p.returncode == 1 and "mounts[0].source" in p.stderr, p.stderr
    assert "host secret" not in _sh(runtime, running, "cat /got/key").stdout
    assert "/got" not in _mountinfo(runtime, running)
    assert "added_mounts" not in json.dumps(runtime.state(running))
    # a real directory of the rootfs (relative to the bundle, too) is fine
    f = _file(tmp_path, [{"destination": "/got", "type": "bind", "source": "rootfs/real",
                          "options": ["rbind"]}])
    p = runtime("mounts", "add", running, f)
    assert p.returncode == 0, p.stderr
    assert _sh(runtime, running, "cat /got/f").stdout == "inside\n"
    assert runtime("mounts", "remove", running, "/got").returncode == 0
def test_a_helper_that_never_answers_is_killed_at_the_deadline(runtime, running, hostsrc,
                                                                tmp_path):
    """The child that works in the container's mount namespace is bounded
    (a lookup on a hung FUSE or network file system there): stopped here
    with SIGSTOP, `mounts add` kills it after PYRUNC_INIT_TIMEOUT, says
    so, and releases the lock: the state is valid and delete works."""
    import signal
    import subprocess
    import time
    entries = [{"destination": f"/k{i}", "type": "bind", "source": str(hostsrc),
                "options": ["bind"]} for i in range(200)]  # (a helper that lives a while)
    f = _file(tmp_path, entries)
    env = dict(os.environ, PYRUNC_INIT_TIMEOUT="1")
    for _ in range(20):  # (the helper may finish before it is seen: again)
        p = subprocess.Popen([runtime.bin, "--root", runtime.root, "mounts", "add", running, f],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        stopped = None
        while stopped is None and p.poll() is None:
            try:
                with open(f"/proc/{p.pid}/task/{p.pid}/children") as c:
                    kids = c.read().split()
            except OSError:
                break
            for k in kids:  # (our child's child: the helper)
                os.kill(int(k), signal.SIGSTOP)
                stopped = int(k)
        t = time.monotonic()
        out, err = p.communicate(timeout=30)
        if stopped is not None and p.returncode != 0:
            break
        assert p.returncode == 0, err
        assert runtime("mounts", "remove", running, *[e["destination"] for e in entries]) \
            .returncode == 0
    else:
        pytest.skip("never caught the helper alive")
    assert "timed out after 1s waiting for the helper" in err, err
    assert time.monotonic() - t < 10
    st = runtime.state(running)
    _statecheck(st)
    assert not st.get("addedMounts"), st
    assert runtime("delete", "--force", running).returncode == 0
