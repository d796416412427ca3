"""The runtime as a security boundary: runc's CVEs as tests."""
import errno
import hashlib
import json
import os
import sys

import pytest

from conftest import needs_root

pytestmark = needs_root


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_created_init_is_a_sealed_memfd_not_python(runtime, bundle):
    """CVE-2019-5736: /proc/<init>/exe must not be the host's interpreter."""
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        exe = os.readlink(f"/proc/{pid}/exe")
        assert exe.startswith("/memfd:pyrunc-init"), exe
        real_python = os.path.realpath(sys.executable)
        assert os.path.realpath(f"/proc/{pid}/exe") != real_python
        with pytest.raises(OSError) as e:
            os.open(f"/proc/{pid}/exe", os.O_WRONLY)
        assert e.value.errno in (errno.ETXTBSY, errno.EPERM, errno.EACCES)
        # nothing of the runtime is mapped into the waiting init
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        assert "python" not in maps and "pyrunc/" not in maps
        # non-dumpable while it waits: its fds are not reachable
        with open(f"/proc/{pid}/status") as f:
            assert "memfd:pyrunc-in" in f.read()
    finally:
        runtime("delete", "-f", cid, check=True)


def test_proc_self_exe_entrypoint_reaches_no_host_binary(runtime, bundle, tmp_path):
    """The attack: the container's program is /proc/self/exe (runc re-ran
    itself, then the container overwrote it through /proc/<pid>/exe)."""
    before = sha(os.path.realpath(sys.executable))
    bundle.args("/proc/self/exe").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    # it re-runs the sealed helper, which refuses its empty argv
    assert p.returncode != 0
    assert sha(os.path.realpath(sys.executable)) == before
    # and a script whose interpreter is /proc/self/exe
    with open(os.path.join(bundle.rootfs, "evil"), "w") as f:
        f.write("#!/proc/self/exe\n")
    os.chmod(os.path.join(bundle.rootfs, "evil"), 0o755)
    bundle.args("/evil").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode != 0
    assert sha(os.path.realpath(sys.executable)) == before


def test_container_cannot_write_through_proc_exe(runtime, bundle):
    bundle.sh("(echo x > /proc/self/exe) 2>/dev/null && echo WROTE; "
              "(echo x > /proc/1/exe) 2>/dev/null && echo WROTE1; readlink /proc/1/exe").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert "WROTE" not in p.stdout
    assert p.stdout.strip() == "/bin/busybox"


def test_cwd_is_resolved_inside_rootfs(runtime, bundle, tmp_path):
    """CVE-2024-21626: the cwd must not be a leaked host directory."""
    bundle.config["process"]["cwd"] = "/proc/self/fd/7"
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode != 0  # no fd 7 in the init: nothing of the host leaks
    # a symlinked cwd resolves inside the rootfs
    os.symlink("/", os.path.join(bundle.rootfs, "up"))
    bundle.config["process"]["cwd"] = "/up/../../../etc"
    bundle.sh("pwd; ls").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.split()[1:]) == ["group", "passwd"]


def test_only_stdio_fds_in_container(runtime, bundle):
    bundle.sh("ls -l /proc/self/fd/ | tail -n +2; ls /proc/1/fd").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0
    for line in p.stdout.splitlines():
        assert "pytest" not in line and "state" not in line and "exec.fifo" not in line


def test_mount_destination_symlink_to_proc_is_contained(runtime, bundle, tmp_path):
    # CVE-2019-19921 / CVE-2023-27561 class: a bundle symlink that would
    # redirect a mount onto the host's /proc
    os.symlink("/proc", os.path.join(bundle.rootfs, "evilproc"))
    bundle.config["mounts"].append({"destination": "/evilproc/sys", "type": "tmpfs",
                                    "source": "tmpfs", "options": ["size=1m"]})
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    # it resolves to the container's /proc/sys: refused, as runc does
    assert p.returncode != 0 and "mounts[7].destination" in p.stderr, p.stderr
    with open("/proc/self/mountinfo") as f:
        assert " /proc/sys " not in "".join(line for line in f if "tmpfs" in line)


def test_inherited_host_dir_fd_cannot_be_cwd(runtime, bundle, tmp_path):
    """CVE-2024-21626 through the caller: a directory fd left open."""
    import subprocess
    (tmp_path / "hostsecret").write_text("x")
    bundle.config["process"]["cwd"] = "/proc/self/fd/20"
    bundle.sh("ls").write()
    p = subprocess.run(["/bin/sh", "-c", f'exec 20<{tmp_path}; exec "$@"', "sh", runtime.bin,
                        "--root", runtime.root, "run", "-b", bundle.path, runtime.new_id()],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "hostsecret" not in p.stdout


def test_start_container_hook_runs_as_the_container_user(runtime, bundle):
    bundle.args("sleep", "30")
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["hooks"] = {"startContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", "id -u > /tmp/hook; grep CapEff /proc/self/status >> /tmp/hook; "
                             "readlink /proc/1/exe >> /tmp/hook 2>&1 || echo noexe >> /tmp/hook"]}]}
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    try:
        runtime("start", cid, check=True)
        with open(os.path.join(bundle.rootfs, "tmp", "hook")) as f:
            uid, capeff, exe = f.read().split("\n")[:3]
        assert uid == "1000"
        assert int(capeff.split()[1], 16) == 0
        assert "python" not in exe
    finally:
        runtime("delete", "-f", cid)


def test_kill_created_container_waiting_in_python(runtime, bundle):
    # with startContainer hooks the Python init itself waits for start
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/true"}]}
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    assert runtime("kill", cid, "TERM").returncode == 0
    import time
    for _ in range(100):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    assert runtime.state(cid)["status"] == "stopped"
    runtime("delete", cid, check=True)


# -- Nothing of the host's runtime enters a container (CVE-2019-5736 class) --
# An attacker's pid 1 (tests/attack/procwatch.c) watches /proc for every new
# process and records its exe, whether the host's root shows through
# /proc/N/root, and whether PTRACE_ATTACH works while it is pyrunc's.

def _procwatch(tmp_path):
    import subprocess
    out = str(tmp_path / "procwatch")
    src = os.path.join(os.path.dirname(__file__), "attack", "procwatch.c")
    subprocess.run(["gcc", "-static", "-O2", "-o", out, src], check=True)
    return out


def _watched_container(runtime, bundle, tmp_path, caps=()):
    """A running container whose pid 1 is the watcher; returns
    (cid, outdir, mark): mark is a file on the host's / that must never be
    reachable through a /proc/N/root the watcher sees."""
    import shutil
    import uuid
    shutil.copy(_procwatch(tmp_path), os.path.join(bundle.rootfs, "procwatch"))
    outdir = tmp_path / "out"
    outdir.mkdir()
    mark = f"pyrunc-mark-{uuid.uuid4().hex}"
    open(f"/{mark}", "w").close()
    bundle.config["mounts"].append({"destination": "/out", "type": "bind",
                                    "source": str(outdir), "options": ["rbind", "rw"]})
    bundle.args("/procwatch", "/out/log", "/out/stop", mark)
    c = bundle.config["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        c[k] = sorted(set(c[k]) | set(caps))
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    import time
    for _ in range(200):
        if (outdir / "log").exists() and "watching" in (outdir / "log").read_text():
            break
        time.sleep(0.02)
    return cid, outdir, mark


def _stop_watcher(runtime, cid, outdir, mark):
    import time
    (outdir / "stop").touch()
    for _ in range(250):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    runtime("delete", "-f", cid, check=True)
    os.unlink(f"/{mark}")
    lines = (outdir / "log").read_text().splitlines()
    assert lines[0] == "watching" and lines[-1] == "stopped", lines[-3:]
    return [dict(kv.split("=", 1) for kv in line.split("\t")[1:]) for line in lines[1:-1]]


def _assert_no_host_reach(seen, attach_allowed):
    for s in seen:
        assert "python" not in s["exe"] and "python" not in s["after"], s
        assert s["rootmark"] == "0", s  # the host's / through /proc/N/root
        if not attach_allowed:
            assert s["attach"] != "helper", s


@pytest.mark.parametrize("ptrace", [True, False], ids=["cap_sys_ptrace", "no_ptrace"])
def test_exec_never_shows_the_host_interpreter(runtime, bundle, tmp_path, ptrace):
    """Every process that enters the container's pid namespace during
    `exec` is the sealed helper or the user's program: never the host's
    Python (whose exe an attacker could hold and overwrite later), never
    with the host's / as its root; without CAP_SYS_PTRACE the helper
    cannot be attached even in its first instructions."""
    cid, outdir, mark = _watched_container(
        runtime, bundle, tmp_path, caps=("CAP_SYS_PTRACE",) if ptrace else ())
    try:
        for _ in range(25):
            p = runtime("exec", cid, "/bin/sh", "-c", "sleep 0.01")
            assert p.returncode == 0, p.stderr
        for _ in range(5):
            p = runtime("exec", "--tty=false", "--user", "1000", cid, "/bin/true")
            assert p.returncode == 0, p.stderr
    finally:
        seen = _stop_watcher(runtime, cid, outdir, mark)
    assert len(seen) >= 25, seen  # the watcher saw the exec'd processes
    _assert_no_host_reach(seen, attach_allowed=ptrace)


@pytest.mark.parametrize("how", ["direct", "script"])
def test_start_container_hook_from_the_image_cannot_run_the_host_interpreter(
        runtime, bundle, tmp_path, how):
    """A startContainer hook is a path in the container: `/proc/self/exe`
    itself, or a `#!/proc/self/exe` script, must not find the host's Python
    behind /proc/self/exe (hooks run from the sealed helper, which refuses
    to be anything but pyrunc's last hop)."""
    outdir = tmp_path / "out"
    outdir.mkdir()
    code = "import os; open('/out/pwned', 'w').write(os.readlink('/proc/self/exe'))"
    if how == "direct":
        hook = {"path": "/proc/self/exe", "args": ["python3", "-c", code]}
    else:
        path = os.path.join(bundle.rootfs, "hook.py")
        with open(path, "w") as f:
            f.write(f"#!/proc/self/exe\n{code}\n")
        os.chmod(path, 0o755)
        hook = {"path": "/hook.py"}
    bundle.config["mounts"].append({"destination": "/out", "type": "bind",
                                    "source": str(outdir), "options": ["rbind", "rw"]})
    bundle.config["hooks"] = {"startContainer": [hook]}
    bundle.args("/bin/true")
    bundle.write()
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert not (outdir / "pwned").exists(), (outdir / "pwned").read_text()
    assert p.returncode != 0
    assert "error running startContainer hook #0: " in p.stderr, p.stderr


# -- uid/gid values that mean "no change" (CVE-2024-40635 class) -------------
# 4294967295 is (uid_t)-1: setresuid(-1, -1, -1), setresgid and chown take
# it as "leave this id as it is", so a process asked to run as that uid kept
# the runtime's uid 0. Every such value is refused before anything runs, with
# an error naming the field or flag; the program, had it run, would have
# written its ids into the bundle.

NOCHANGE = 4294967295
WHO = "id -u > /tmp/who; id -g >> /tmp/who; id -G >> /tmp/who"


def _assert_nothing_ran(bundle):
    who = os.path.join(bundle.rootfs, "tmp", "who")
    assert not os.path.exists(who), f"the process ran, as {open(who).read().split()}"


def _assert_no_container(runtime, cid):
    assert runtime("state", cid).returncode != 0
    assert not os.path.exists(os.path.join(runtime.root, cid))


@pytest.mark.parametrize("user, field", [
    ({"uid": NOCHANGE, "gid": 0}, "process.user.uid"),
    ({"uid": 1000, "gid": NOCHANGE}, "process.user.gid"),
    ({"uid": NOCHANGE, "gid": NOCHANGE}, "process.user.uid"),
    ({"uid": 1000, "gid": 1000, "additionalGids": [5, NOCHANGE]},
     "process.user.additionalGids[1]"),
    ({"uid": 2 ** 32, "gid": 0}, "process.user.uid"),
])
@pytest.mark.parametrize("command", ["run", "create"])
def test_config_no_change_ids_are_refused(runtime, bundle, user, field, command):
    bundle.sh(WHO)
    bundle.config["process"]["user"] = user
    bundle.write()
    cid = runtime.new_id()
    p = runtime(command, "-b", bundle.path, cid)
    assert p.returncode != 0, p.stdout
    assert f"{field}: expected integer in 0..4294967294, got " in p.stderr, p.stderr
    _assert_no_container(runtime, cid)
    _assert_nothing_ran(bundle)


@pytest.fixture
def running_root(runtime, bundle):
    """A container running as root, for exec attacks (its own process does
    not write the marker)."""
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    yield cid
    runtime("delete", "-f", cid)


@pytest.mark.parametrize("flags, message", [
    (["--user", str(NOCHANGE)], f"--user: {NOCHANGE} is not a valid uid (0..4294967294)"),
    (["--user", f"{NOCHANGE}:{NOCHANGE}"], f"--user: {NOCHANGE} is not a valid uid"),
    (["--user", f"0:{NOCHANGE}"], f"--user: {NOCHANGE} is not a valid gid (0..4294967294)"),
    (["--user", f"1000:{NOCHANGE}"], f"--user: {NOCHANGE} is not a valid gid"),
    (["--user", str(2 ** 32)], f"--user: {2 ** 32} is not a valid uid"),  # uint32(2**32) is 0
    (["--user", "-1"], "invalid --user '-1'"),
    (["--user", "1000", "--additional-gids", str(NOCHANGE)],
     f"--additional-gids: {NOCHANGE} is not a valid gid (0..4294967294)"),
])
def test_exec_user_flags_no_change_ids_are_refused(runtime, bundle, running_root, flags,
                                                   message):
    p = runtime("exec", *flags, running_root, "sh", "-c", WHO)
    assert p.returncode == 255, p.stdout
    assert message in p.stderr, p.stderr
    _assert_nothing_ran(bundle)
    # the container is untouched, and a valid exec still works
    p = runtime("exec", "--user", "1000:1000", running_root, "id", "-u")
    assert p.returncode == 0 and p.stdout.strip() == "1000", p.stderr


@pytest.mark.parametrize("user, field", [
    ({"uid": -1, "gid": 0}, "process.user.uid"),
    ({"uid": NOCHANGE, "gid": 0}, "process.user.uid"),
    ({"uid": 1000, "gid": -1}, "process.user.gid"),
    ({"uid": 1000, "gid": NOCHANGE}, "process.user.gid"),
    ({"uid": 1000, "gid": 1000, "additionalGids": [NOCHANGE]},
     "process.user.additionalGids[0]"),
])
def test_exec_process_file_no_change_ids_are_refused(runtime, bundle, running_root, tmp_path,
                                                     user, field):
    proc = {"args": ["sh", "-c", WHO], "cwd": "/", "env": ["PATH=/bin"], "user": user}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    p = runtime("exec", "--process", tmp_path / "p.json", running_root)
    assert p.returncode == 255, p.stdout
    assert f"{field}: expected integer in 0..4294967294, got " in p.stderr, p.stderr
    _assert_nothing_ran(bundle)


def test_exec_process_file_is_validated_like_config(runtime, bundle, running_root, tmp_path):
    """The whole of a --process file goes through config.json's `process`
    schema, named the same way."""
    proc = {"args": ["sh", "-c", WHO], "cwd": "/", "user": {"uid": "0", "gid": 0}}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    p = runtime("exec", "--process", tmp_path / "p.json", running_root)
    assert p.returncode == 255
    assert "process.user.uid: expected integer in 0..4294967294, got '0'" in p.stderr, p.stderr
    proc["user"] = {"uid": 1000}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    p = runtime("exec", "--process", tmp_path / "p.json", running_root)
    assert p.returncode == 255 and "process.user.gid: is required" in p.stderr, p.stderr
    _assert_nothing_ran(bundle)


@pytest.mark.parametrize("key, extra", [
    # the container side of a range ends at 4294967295
    ("uidMappings", {"containerID": 4294967000, "hostID": 200000, "size": 296}),
    ("gidMappings", {"containerID": 4294967000, "hostID": 200000, "size": 296}),
    # the host side of a range ends at 4294967295
    ("uidMappings", {"containerID": 65536, "hostID": 4294967000, "size": 296}),
    ("gidMappings", {"containerID": 65536, "hostID": 4294967000, "size": 296}),
    # a start that is (uid_t)-1 itself
    ("uidMappings", {"containerID": NOCHANGE, "hostID": 200000, "size": 1}),
    ("gidMappings", {"containerID": 65536, "hostID": NOCHANGE, "size": 1}),
])
def test_id_map_ranges_past_the_last_id_are_refused(runtime, bundle, key, extra):
    bundle.sh(WHO)
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    for k in ("uidMappings", "gidMappings"):
        bundle.config["linux"][k] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"][key].append(extra)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    bundle.write()
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert p.returncode != 0, p.stdout
    assert f"linux.{key}[1]" in p.stderr and "4294967294" in p.stderr, p.stderr
    _assert_no_container(runtime, cid)
    _assert_nothing_ran(bundle)


def test_idmapped_mount_ranges_past_the_last_id_are_refused(runtime, bundle, tmp_path):
    src = tmp_path / "idsrc"
    src.mkdir()
    bundle.sh(WHO)
    bundle.config["mounts"].append({
        "destination": "/idm", "type": "bind", "source": str(src), "options": ["bind"],
        "uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}],
        "gidMappings": [{"containerID": 1000, "hostID": 4294967290, "size": 6}]})
    bundle.write()
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert p.returncode != 0, p.stdout
    idx = len(bundle.config["mounts"]) - 1
    assert f"mounts[{idx}].gidMappings[0]" in p.stderr and "4294967294" in p.stderr, p.stderr
    _assert_no_container(runtime, cid)
    _assert_nothing_ran(bundle)


@pytest.mark.parametrize("ptrace", [True, False], ids=["cap_sys_ptrace", "no_ptrace"])
def test_joining_a_shared_pid_namespace_never_shows_the_host(runtime, bundle, tmp_path,
                                                              rootfs_template, ptrace):
    """A second container created into a running container's pid namespace
    (a pod sharing its pid namespace): the neighbour's pid 1 watches every
    process that appears. Beats runc HEAD, whose init shows the host's `/`
    there during create: here only the sealed helper's fork, already in
    the container's root, enters. The joiner still gets a procfs of the
    shared namespace, and a working terminal and startContainer hook."""
    import json
    from conftest import Bundle
    cid, outdir, mark = _watched_container(
        runtime, bundle, tmp_path, caps=("CAP_SYS_PTRACE",) if ptrace else ())
    try:
        watcher = runtime.state(cid)["pid"]
        b2 = Bundle(str(tmp_path / "b2"), rootfs_template)
        b2.config["linux"]["namespaces"] = [
            n if n["type"] != "pid" else {"type": "pid", "path": f"/proc/{watcher}/ns/pid"}
            for n in b2.config["linux"]["namespaces"]]
        b2.config["hooks"] = {"startContainer": [{
            "path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/hookstate"]}]}
        b2.sh("tr '\\0' ' ' < /proc/1/cmdline > /tmp/p1")
        b2.write()
        for i in range(6):
            c2 = runtime.new_id()
            p = runtime("create", "-b", b2.path, c2)
            assert p.returncode == 0, p.stderr
            pid2 = runtime.state(c2)["pid"]
            assert os.readlink(f"/proc/{pid2}/ns/pid") == os.readlink(f"/proc/{watcher}/ns/pid")
            assert os.readlink(f"/proc/{pid2}/exe").startswith("/memfd:pyrunc-init")
            runtime("start", c2, check=True)
            for _ in range(200):
                if runtime.state(c2)["status"] == "stopped":
                    break
                import time
                time.sleep(0.01)
            runtime("delete", "-f", c2, check=True)
            tmp = os.path.join(b2.rootfs, "tmp")
            with open(os.path.join(tmp, "p1")) as f:
                # the shared namespace's procfs: its pid 1 is the watcher
                assert f.read().split()[0] == "/procwatch"
            with open(os.path.join(tmp, "hookstate")) as f:
                # the pid as the shared namespace sees it (a hook run in the
                # container namespace: runtime-spec state.md, runc's getpid())
                with open(f"/proc/{pid2}/status") as st:
                    nspid = [ln.split()[-1] for ln in st if ln.startswith("NSpid:")][0]
                assert json.load(f)["pid"] == int(nspid) != pid2
    finally:
        seen = _stop_watcher(runtime, cid, outdir, mark)
    assert len(seen) >= 6, seen
    _assert_no_host_reach(seen, attach_allowed=ptrace)


# -- cgroups that are not the container's ----------------------------------
# Signalling "every process of the container" (kill --all, delete, a failed
# create) walks the container's cgroup: it must be one of its own, verified
# empty and not frozen before anything is done to it.
import signal as _signal_mod
import subprocess
import time


def _own_cgroups():
    """{hierarchy key: our own cgroup path} from /proc/self/cgroup."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls] = path
    return out


def _host_sleep(cgdirs=()):
    """A host process the test owns (not the runtime's), moved into cgdirs."""
    p = subprocess.Popen(["sleep", "300"])
    for d in cgdirs:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(p.pid))
    return p


def _alive(p):
    return p.poll() is None


def _kill(p):
    p.kill()
    p.wait()


def _refused(runtime, bundle, cgroups_path, *words):
    bundle.config["linux"]["cgroupsPath"] = cgroups_path
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    t = time.monotonic()
    p = runtime("create", "-b", bundle.path, cid, timeout=30)
    took = time.monotonic() - t
    assert p.returncode != 0, f"{cgroups_path!r} was accepted"
    for w in words:
        assert w in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    return took


@pytest.mark.cgroupv2
def test_cgroups_path_root_is_refused_and_nothing_signalled(runtime, bundle):
    victim = _host_sleep()  # in the runtime's own cgroups (root on most hierarchies)
    try:
        _refused(runtime, bundle, "/", "linux.cgroupsPath", "root")
        _refused(runtime, bundle, "/../../..", "linux.cgroupsPath")
        time.sleep(0.2)
        assert _alive(victim)
    finally:
        _kill(victim)


@pytest.mark.cgroupv2
def test_cgroups_path_dotdot_is_refused(runtime, bundle):
    # relative: cleaned against "/" to "", i.e. the runtime's own cgroup
    _refused(runtime, bundle, "../..", "linux.cgroupsPath")
    _refused(runtime, bundle, "x/../../..", "linux.cgroupsPath")


@pytest.mark.cgroupv2
def test_cgroups_path_of_the_runtime_itself_is_refused(runtime, bundle):
    own = [p for p in _own_cgroups().values() if p != "/"]
    if not own:
        pytest.skip("the test runs in the root cgroup of every hierarchy")
    deepest = max(own, key=len)
    _refused(runtime, bundle, deepest, "linux.cgroupsPath", "runtime's own cgroup")
    # an ancestor holds it too
    _refused(runtime, bundle, "/" + deepest.strip("/").split("/")[0],
             "linux.cgroupsPath", "runtime's own cgroup")


def _v1_mount(ctl):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fs, _, opts = post.split()[:3]
            if fs == "cgroup" and ctl in opts.split(","):
                return pre.split()[4]
    return None


def _v2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.split()[0] == "cgroup2":
                return pre.split()[4]
    return None


def _precreated(name):
    """The dirs of cgroup /name in the freezer (v1) or unified (v2) tree."""
    dirs = []
    for top in (_v1_mount("freezer"), _v1_mount("pids"), _v2_mount()):
        if top:
            d = os.path.join(top, name)
            os.mkdir(d)
            dirs.append(d)
    return dirs


def _rmdirs(dirs):
    for d in reversed(dirs):
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


@pytest.mark.cgroupv2
def test_non_empty_cgroup_is_refused_and_its_process_left_alone(runtime, bundle):
    name = "pyrunc-test-busy-" + runtime.new_id()
    dirs = _precreated(name)
    victim = None
    try:
        # a host process of ours in the would-be container's cgroup
        victim = _host_sleep(dirs[:1])
        _refused(runtime, bundle, "/" + name, "container's cgroup is not empty",
                 "1 process(es) found")
        time.sleep(0.2)
        assert _alive(victim)
        for d in dirs:
            assert os.path.isdir(d), f"{d} was removed"
        # a sub-cgroup counts too: the container's cgroup is a subtree
        os.mkdir(os.path.join(dirs[0], "inner"))
        with open(os.path.join(dirs[0], "inner", "cgroup.procs"), "w") as f:
            f.write(str(victim.pid))
        _refused(runtime, bundle, "/" + name, "container's cgroup is not empty")
        assert _alive(victim)
        assert os.path.isdir(os.path.join(dirs[0], "inner"))
    finally:
        if victim is not None:
            _kill(victim)
        _rmdirs(dirs + [os.path.join(dirs[0], "inner")])  # (reversed: inner first)


def test_frozen_v1_cgroup_is_refused_at_once(runtime, bundle):
    top = _v1_mount("freezer")
    if top is None:
        pytest.skip("no v1 freezer hierarchy")
    name = "pyrunc-test-frozen-" + runtime.new_id()
    d = os.path.join(top, name)
    os.mkdir(d)
    try:
        with open(os.path.join(d, "freezer.state"), "w") as f:
            f.write("FROZEN")
        took = _refused(runtime, bundle, "/" + name, "container's cgroup unexpectedly frozen")
        assert took < 5
        assert os.listdir(d) and not [x for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))]
        # a child of it would be born frozen: refused as well, nothing made
        took = _refused(runtime, bundle, f"/{name}/child", "unexpectedly frozen", d)
        assert took < 5
        assert not os.path.exists(os.path.join(d, "child"))
        for other in (_v1_mount("pids"), _v1_mount("memory"), _v2_mount()):
            if other:
                assert not os.path.exists(os.path.join(other, name))
    finally:
        with open(os.path.join(d, "freezer.state"), "w") as f:
            f.write("THAWED")
        _rmdirs([d])


@pytest.mark.cgroupv2
def test_frozen_v2_cgroup_is_refused_at_once(runtime, bundle):
    top = _v2_mount()
    if top is None or _v1_mount("freezer") is not None:
        pytest.skip("needs a pure cgroup v2 host")
    name = "pyrunc-test-frozen-" + runtime.new_id()
    d = os.path.join(top, name)
    os.mkdir(d)
    try:
        with open(os.path.join(d, "cgroup.freeze"), "w") as f:
            f.write("1")
        took = _refused(runtime, bundle, "/" + name, "container's cgroup unexpectedly frozen")
        assert took < 5
        assert not [x for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))]
    finally:
        with open(os.path.join(d, "cgroup.freeze"), "w") as f:
            f.write("0")
        _rmdirs([d])


def _forking_container(runtime, bundle):
    """A container in the host's pid namespace (killing its init does not
    take the rest with it) whose process forks without end."""
    bundle.config["linux"]["namespaces"] = [
        n for n in bundle.config["linux"]["namespaces"] if n["type"] != "pid"]
    bundle.config["linux"].setdefault("resources", {})["pids"] = {"limit": 64}
    bundle.sh("while :; do sh -c 'sleep 300 & sleep 300 &'; done").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    return cid


def _container_pids(runtime, cid):
    p = runtime("ps", "--format", "json", cid)
    import json
    return (json.loads(p.stdout or "[]") or []) if p.returncode == 0 else []  # (null: none)


@pytest.mark.cgroupv2
@pytest.mark.parametrize("sig", ["KILL", "TERM"])
def test_kill_all_of_a_forking_container_leaves_nothing(runtime, bundle, sig):
    cid = _forking_container(runtime, bundle)
    try:
        time.sleep(0.5)
        assert len(_container_pids(runtime, cid)) > 2
        assert runtime("kill", "--all", cid, sig).returncode == 0
        deadline = time.monotonic() + 5
        while _container_pids(runtime, cid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _container_pids(runtime, cid) == []
        assert runtime.state(cid)["status"] == "stopped"
        # and it is not left frozen
        assert runtime("delete", cid).returncode == 0
    finally:
        runtime("delete", "-f", cid)


@pytest.mark.cgroupv2
def test_delete_refuses_to_signal_a_recorded_host_cgroup(runtime, bundle):
    """A state recorded by a runtime that accepted cgroupsPath "/": delete
    must not walk the hierarchy's root (every process of the host)."""
    import json
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    victim = _host_sleep()
    path = os.path.join(runtime.root, cid, "state.json")
    with open(path) as f:
        st = json.load(f)
    real = dict(st["cgroups"]["dirs"])
    try:
        # the recorded directories become the hierarchy roots (or the
        # runtime's own cgroups): as if the container had been made there
        import pyrunc.cgroups as cgroups
        v1, v2 = cgroups.probe()
        mounts = {h.name: h.mountpoint for h in v1 + ([v2] if v2 else [])}
        st["cgroups"]["dirs"] = {n: mounts[n] for n in real}
        st["cgroups"]["created"] = []
        with open(path, "w") as f:
            json.dump(st, f)
        p = runtime("delete", "-f", cid)
        assert p.returncode == 0, p.stderr
        time.sleep(0.2)
        assert _alive(victim)
        assert "not the container's" in p.stderr
    finally:
        _kill(victim)
        _rmdirs(list(real.values()))


@pytest.mark.cgroupv2
def test_failed_create_in_a_preexisting_cgroup_signals_no_host_process(runtime, bundle):
    """The cgroup was empty when create checked it; a prestart hook (run on
    the host) moves a host process into it and fails: the failed create
    kills its own init, not what it finds in a cgroup it did not make."""
    name = "pyrunc-test-pre-" + runtime.new_id()
    dirs = _precreated(name)
    victim = _host_sleep()
    try:
        moves = "; ".join(f"echo {victim.pid} > {d}/cgroup.procs" for d in dirs)
        bundle.config["hooks"] = {"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", moves + "; exit 1"]}]}
        bundle.config["linux"]["cgroupsPath"] = "/" + name
        bundle.args("sleep", "60").write()
        cid = runtime.new_id()
        p = runtime("create", "-b", bundle.path, cid)
        assert p.returncode != 0
        time.sleep(0.2)
        assert _alive(victim)
        for d in dirs:
            assert os.path.isdir(d), f"{d} was removed"
            with open(os.path.join(d, "cgroup.procs")) as f:
                assert f.read().split() == [str(victim.pid)]
        assert not os.path.exists(os.path.join(runtime.root, cid))
    finally:
        _kill(victim)
        _rmdirs(dirs)


def test_no_pivot_hides_the_hosts_proc_and_sys(runtime, bundle):
    """--no-pivot leaves the host's mounts under the chroot: the host's full
    procfs and sysfs must not be among them (one chroot escape away)."""
    import subprocess
    bundle.args("sleep", "30")
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "-d", "--no-pivot", "-b", bundle.path, cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        # every mount of its mount namespace, as seen from the namespace's
        # real root (what a process that escaped the chroot would see)
        code = ("import ctypes, os\n"
                "proc = os.open('/proc', os.O_RDONLY)\n"
                f"ns = os.open('/proc/{pid}/ns/mnt', os.O_RDONLY)\n"
                "assert ctypes.CDLL(None, use_errno=True).setns(ns, 0x20000) == 0\n"
                "fd = os.open('self/mountinfo', os.O_RDONLY, dir_fd=proc)\n"
                "print(os.read(fd, 1 << 20).decode())\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
    finally:
        runtime("delete", "-f", cid, check=True)
    # whole file systems (mount root "/"), not the read-only binds of parts
    types = [line.split(" - ")[1].split()[0] for line in out.splitlines()
             if " - " in line and line.split()[3] == "/"]
    assert types.count("proc") == 1, out  # the container's own
    assert types.count("sysfs") == 1, out


# -- /dev/console (CVE-2025-52565): the pty bind cannot be redirected ---------
def _console_setup(bundle, tmp_path, dev, kind):
    """A host file and a /dev/console planted by the rootfs/bundle that
    names it: dev is where (the rootfs' /dev under pyrunc's tmpfs, a
    bundle directory bound on /dev, or the rootfs' own /dev without a /dev
    mount), kind what (an up-climbing absolute symlink, a relative one, a
    hard link). Returns the host file's path."""
    host = tmp_path / "host-secret"
    host.write_text("precious\n")
    devdir = os.path.join(bundle.rootfs, "dev")
    if dev == "bind":
        devdir = os.path.join(bundle.path, "devdir")
        os.makedirs(os.path.join(devdir, "pts"))
        os.symlink("pts/ptmx", os.path.join(devdir, "ptmx"))  # as a real /dev has
        os.mknod(os.path.join(devdir, "null"), 0o20666, os.makedev(1, 3))
        for m in bundle.config["mounts"]:
            if m["destination"] == "/dev":
                m.update(type="bind", source=devdir, options=["rbind"])
    elif dev == "none":
        bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                                   if m["destination"] != "/dev"]
    link = os.path.join(devdir, "console")
    if kind == "abs":
        os.symlink("/../../../../../../../.." + str(host), link)
    elif kind == "rel":
        os.symlink(os.path.relpath(str(host), devdir), link)
    else:
        os.link(str(host), link)
    bundle.config["process"]["terminal"] = True
    bundle.sh("stat -c '%F %t:%T' /dev/console $(tty); cat /proc/self/mountinfo").write()
    return str(host)


def _host_mounts_on(path):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if line.split()[4] == path or "devdir" in line.split()[4]]


@pytest.mark.parametrize("kind", ["abs", "rel"])
def test_dev_console_symlink_under_our_dev_tmpfs_is_gone(runtime, bundle, tmp_path, kind):
    """The rootfs' /dev/console symlink is hidden by pyrunc's /dev tmpfs:
    /dev/console is the pty, the host file is untouched and mounted over
    nowhere."""
    host = _console_setup(bundle, tmp_path, "tmpfs", kind)
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == lines[1] and lines[0].startswith("character special file 88:")
    inside = [line.split()[4] for line in lines[2:]]
    assert inside.count("/dev/console") == 1
    assert not any("host-secret" in m for m in inside)
    with open(host) as f:
        assert f.read() == "precious\n"
    assert not _host_mounts_on(host)


@pytest.mark.parametrize("dev", ["bind", "none"])
@pytest.mark.parametrize("kind", ["abs", "rel"])
def test_dev_console_symlink_in_a_dev_not_ours_is_refused(runtime, bundle, tmp_path, dev, kind):
    """/dev bind-mounted from a bundle directory (or the rootfs' own /dev)
    with /dev/console a symlink: never followed -- the container is refused
    (runc 1.1.5 mounts the pty wherever the relative one points)."""
    host = _console_setup(bundle, tmp_path, dev, kind)
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert p.returncode != 0
    assert "/dev/console in the container is a symlink" in p.stderr
    with open(host) as f:
        assert f.read() == "precious\n"
    assert not _host_mounts_on(host)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    # the symlink itself is left as it was
    where = os.path.join(bundle.path, "devdir") if dev == "bind" else os.path.join(bundle.rootfs,
                                                                                  "dev")
    assert os.path.islink(os.path.join(where, "console"))


def test_dev_console_hard_link_in_a_bound_dev_is_only_mounted_over(runtime, bundle, tmp_path):
    """/dev/console already there as a file (here a hard link to a host
    file): mounted over in the container, never opened for writing (runc
    1.1.5 truncates it)."""
    host = _console_setup(bundle, tmp_path, "bind", "hard")
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == lines[1] and lines[0].startswith("character special file 88:")
    with open(host) as f:
        assert f.read() == "precious\n"
    assert not _host_mounts_on(host)


def test_dev_ptmx_magic_link_is_not_followed(runtime, bundle, tmp_path):
    """The pty comes from the container's own ptmx, looked up inside the
    root without magic links: /dev/ptmx as a /proc/<pid>/root/... link
    (the host's root for a pid outside the container) is refused, here
    with the init's own, which the kernel would let us follow."""
    devdir = os.path.join(bundle.path, "devdir")
    os.makedirs(os.path.join(devdir, "pts"))
    os.symlink("/proc/self/root/dev/pts/ptmx", os.path.join(devdir, "ptmx"))
    os.mknod(os.path.join(devdir, "null"), 0o20666, os.makedev(1, 3))
    for m in bundle.config["mounts"]:
        if m["destination"] == "/dev":
            m.update(type="bind", source=devdir, options=["rbind"])
    bundle.config["process"]["terminal"] = True
    bundle.sh("tty").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode != 0
    assert "Too many levels of symbolic links: dev/ptmx" in p.stderr
    assert not os.path.exists(os.path.join(devdir, "console"))


# -- procfs is never trusted by its path (CVE-2019-16884, CVE-2019-19921,
#    CVE-2025-52881 classes) -------------------------------------------------

def _host_file(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(data)
    return str(p)


def _bind(src, dest):
    return {"destination": dest, "type": "bind", "source": src, "options": ["bind"]}


def _refused_run(runtime, bundle, field, *words):
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert p.returncode != 0, p.stdout
    assert field in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    return p


def test_sysctl_through_host_file_bound_over_proc_is_refused_run(runtime, bundle, tmp_path):
    """A host file bind-mounted onto /proc/sys/kernel/domainname plus the
    sysctl kernel.domainname: the runtime wrote the sysctl into the host
    file. The mount is refused (nothing but procfs and lxcfs's files under
    /proc), and the host file is untouched."""
    host = _host_file(tmp_path, "victim", "HOST DATA\n")
    bundle.config["mounts"].append(_bind(host, "/proc/sys/kernel/domainname"))
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused_run(runtime, bundle, f"mounts[{n}].destination", "inside /proc")
    assert open(host).read() == "HOST DATA\n"


@pytest.mark.parametrize("dest", [
    "/proc/sys/kernel/foo", "//proc/sys/kernel/domainname", "/proc/../proc/sys/kernel/domainname",
    "proc/./sys/kernel/hostname", "/proc/self/fd", "/proc/1/attr/current"])
def test_bind_under_proc_is_refused_run(runtime, bundle, tmp_path, dest):
    host = _host_file(tmp_path, "victim", "HOST DATA\n")
    bundle.config["mounts"].append(_bind(host, dest))
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused_run(runtime, bundle, f"mounts[{n}].destination", "cannot be mounted")
    assert open(host).read() == "HOST DATA\n"


def test_mount_over_proc_through_a_symlink_is_refused_run(runtime, bundle, tmp_path):
    """The destination as it resolves in the rootfs counts too: /k is a
    link to /proc/sys/kernel in the image, /k/domainname is /proc's."""
    host = _host_file(tmp_path, "victim", "HOST DATA\n")
    os.symlink("/proc/sys/kernel", os.path.join(bundle.rootfs, "k"))
    bundle.config["mounts"].append(_bind(host, "/k/domainname"))
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused_run(runtime, bundle, f"mounts[{n}].destination", "inside /proc")
    assert open(host).read() == "HOST DATA\n"


def test_non_proc_over_proc_itself_is_refused_run(runtime, bundle, tmp_path):
    # a tmpfs, or a bind of a plain directory, as the container's /proc
    bundle.config["mounts"].append({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"})
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused_run(runtime, bundle, f"mounts[{n}].destination", "not of type proc")
    d = tmp_path / "fakeproc"
    d.mkdir()
    bundle.config["mounts"][n] = _bind(str(d), "/proc")
    bundle.write()
    _refused_run(runtime, bundle, f"mounts[{n}].destination", "not procfs")
    # a directory of procfs is not a procfs root either
    bundle.config["mounts"][n] = _bind("/proc/sys", "/proc")
    bundle.write()
    _refused_run(runtime, bundle, f"mounts[{n}].destination", "not the root of a procfs")


def test_bind_of_procfs_root_onto_proc_is_allowed(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/proc", "type": "bind", "source": "/proc",
                                    "options": ["rbind"]})
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                            if n["type"] != "pid"]
    bundle.sh("test -r /proc/self/status && echo ok").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["ok"]


def test_cap_last_cap_mounted_in_the_container_is_refused_run(runtime, bundle, tmp_path):
    """A file saying 31 on /proc/sys/kernel/cap_last_cap: the runtime
    dropped only capabilities 0-31 and the process kept CAP_MAC_ADMIN,
    CAP_SYSLOG, CAP_BPF... (32-40). Refused by the /proc mount rule."""
    fake = _host_file(tmp_path, "cap_last_cap", "31\n")
    bundle.config["mounts"].append(_bind(fake, "/proc/sys/kernel/cap_last_cap"))
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused_run(runtime, bundle, f"mounts[{n}].destination", "inside /proc")


def _cap_mask(names):
    from pyrunc.capabilities import BY_NAME
    m = 0
    for n in names:
        m |= 1 << BY_NAME[n]
    return m


def test_cap_last_cap_is_the_hosts(runtime, bundle, tmp_path):
    """Even with a lying cap_last_cap in the container's /proc (here put
    there by a createContainer hook, which runs in the container's mount
    namespace before pivot_root, past the config's mount rules), the
    process's sets are exactly what the config grants: the runtime read
    cap_last_cap from the host's procfs before entering."""
    fake = _host_file(tmp_path, "cap_last_cap", "31\n")
    mount = "/bin/mount" if os.path.exists("/bin/mount") else "/usr/bin/mount"
    target = os.path.join(bundle.rootfs, "proc/sys/kernel/cap_last_cap")
    bundle.config["hooks"] = {"createContainer": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"{mount} --bind {fake} {target}"]}]}
    caps = bundle.config["process"]["capabilities"]
    bundle.config["process"]["noNewPrivileges"] = False  # root's exec would gain the bounding set
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        runtime("start", cid, check=True)
        import time
        for _ in range(100):  # until the helper has exec'd sleep
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "sleep":
                    break
            time.sleep(0.02)
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
        # the hook's file was there, in the container's /proc
        assert runtime("exec", cid, "cat", "/proc/sys/kernel/cap_last_cap").stdout.strip() == "31"
        assert int(status["CapBnd"], 16) == _cap_mask(caps["bounding"]), status["CapBnd"]
        assert int(status["CapEff"], 16) == _cap_mask(caps["effective"]), status["CapEff"]
        assert int(status["CapPrm"], 16) == _cap_mask(caps["permitted"]), status["CapPrm"]
    finally:
        runtime("delete", "-f", cid)


@pytest.mark.parametrize("kind,dest", [("proc", "/proc"), ("sysfs", "/sys")])
def test_proc_or_sys_on_a_symlink_is_refused_run(runtime, bundle, kind, dest):
    """A rootfs whose /proc is a symlink: procfs went wherever the link
    points and the container ran without procfs at /proc (so no mask
    covered anything there). runc's words."""
    link = os.path.join(bundle.rootfs, dest.lstrip("/"))
    os.rmdir(link)
    os.makedirs(os.path.join(bundle.rootfs, "tmp/elsewhere"))
    os.symlink("/tmp/elsewhere", link)
    bundle.write()
    n = next(i for i, m in enumerate(bundle.config["mounts"]) if m["destination"] == dest)
    _refused_run(runtime, bundle, f"mounts[{n}].destination",
             f"filesystem '{kind}' must be mounted on ordinary directory")


def test_lxcfs_style_binds_under_proc_still_work(runtime, bundle, tmp_path):
    meminfo = _host_file(tmp_path, "meminfo", "MemTotal:       42 kB\n")
    uptime = _host_file(tmp_path, "uptime", "12.00 34.00\n")
    bundle.config["mounts"] += [_bind(meminfo, "/proc/meminfo"), _bind(uptime, "//proc/uptime")]
    bundle.sh("cat /proc/meminfo /proc/uptime").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == "MemTotal:       42 kB\n12.00 34.00\n"


def test_sysctl_is_written_only_into_the_kernels_file(runtime, bundle, tmp_path):
    """Past the config's mount rules (here a createContainer hook, which
    runs in the container's mount namespace before pivot_root, binds a
    host file over the sysctl's file): the sysctl goes through the
    container's verified procfs without crossing a mount, so it is
    refused, naming it, and the host file stays as it was."""
    host = _host_file(tmp_path, "victim", "HOST DATA\n")
    mount = "/bin/mount" if os.path.exists("/bin/mount") else "/usr/bin/mount"
    target = os.path.join(bundle.rootfs, "proc/sys/kernel/domainname")
    bundle.config["hooks"] = {"createContainer": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"{mount} --bind {host} {target}"]}]}
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.write()
    _refused_run(runtime, bundle, "linux.sysctl.kernel.domainname", "covered by a mount")
    assert open(host).read() == "HOST DATA\n"


def test_masked_or_readonly_path_through_a_symlink_is_an_error(runtime, bundle):
    """Masking /data/secret where /data links to /etc would mask (or fail
    to mask) something else than named: an error, not a silent skip."""
    os.symlink("/etc", os.path.join(bundle.rootfs, "data"))
    bundle.config["linux"]["maskedPaths"].append("/data/passwd")
    bundle.sh("cat /etc/passwd").write()
    n = len(bundle.config["linux"]["maskedPaths"]) - 1
    _refused_run(runtime, bundle, f"linux.maskedPaths[{n}]", "symlink")
    bundle.config["linux"]["maskedPaths"].pop()
    bundle.config["linux"]["readonlyPaths"].append("/data")
    bundle.write()
    n = len(bundle.config["linux"]["readonlyPaths"]) - 1
    _refused_run(runtime, bundle, f"linux.readonlyPaths[{n}]", "symlink")


def test_masked_proc_path_not_on_procfs_is_an_error(runtime, bundle):
    """No procfs at /proc (the config mounts none) and the image has a
    /proc/kcore: masking it would protect nothing of the kernel's."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] != "proc"]
    with open(os.path.join(bundle.rootfs, "proc", "kcore"), "w") as f:
        f.write("image file\n")
    bundle.write()
    n = bundle.config["linux"]["maskedPaths"].index("/proc/kcore")
    _refused_run(runtime, bundle, f"linux.maskedPaths[{n}]", "not on procfs")


def test_missing_masked_paths_are_skipped(runtime, bundle):
    bundle.config["linux"]["maskedPaths"] += ["/proc/nonexistent", "/sys/nonexistent", "/nope"]
    bundle.config["linux"]["readonlyPaths"] += ["/proc/nonexistent2", "/nope2"]
    bundle.sh("cat /proc/kcore | wc -c").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0"]


def test_delete_force_never_follows_symlinks_out_of_the_state_root(runtime, tmp_path):
    """Attack on `delete --force`'s sweep of broken entries: symlinks in the
    state root (named as a create's temporary dir, or as a container id)
    pointing at other directories, and a `@new.*` dir holding what no state
    dir holds. Nothing is followed, nothing outside is removed."""
    os.makedirs(runtime.root, 0o711, exist_ok=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    for n in ("keep", "state.json", "exec.fifo"):
        (victim / n).write_text("x")
    os.utime(victim, (1, 1))  # (older than a create's grace)
    root = runtime.root
    os.symlink(victim, os.path.join(root, "@new.1.aaaa"))
    cid = runtime.new_id()
    os.symlink(victim, os.path.join(root, cid))
    odd = os.path.join(root, "@new.1.bbbb")
    os.mkdir(odd)
    with open(os.path.join(odd, "keep"), "w") as f:
        f.write("x")
    os.utime(odd, (1, 1))
    try:
        runtime("delete", "--force", cid)
        runtime("delete", "--force", runtime.new_id())
        assert sorted(os.listdir(victim)) == ["exec.fifo", "keep", "state.json"]
        assert os.listdir(odd) == ["keep"]
    finally:
        for n in ("@new.1.aaaa", cid):
            os.unlink(os.path.join(root, n))
        os.unlink(os.path.join(odd, "keep"))
        os.rmdir(odd)


def test_exec_pid_file_in_the_hosts_pid_namespace_names_the_process(runtime, bundle, tmp_path):
    """A container sharing the host's pid namespace: there the exec'd
    helper is visible to the container's processes for the instants
    between its execve and its first act (non-dumpable), and a "pid" line
    on its pipe would name a host process for --pid-file. The runtime
    takes one only from a helper that forks (a pid or time namespace to
    enter); here the pid file names the exec'd process itself."""
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                            if n["type"] != "pid"]
    bundle.sh("sleep 600").write()
    cid = runtime.new_id()
    assert runtime("run", "-d", "--bundle", bundle.path, cid).returncode == 0
    try:
        pidfile = tmp_path / "pid"
        p = runtime("exec", "-d", "--pid-file", pidfile, cid, "sleep", "31")
        assert p.returncode == 0, p.stderr
        pid = int(pidfile.read_bytes())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read() == b"sleep\x0031\x00"
    finally:
        runtime("delete", "--force", cid)
