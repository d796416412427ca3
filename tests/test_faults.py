"""Fault injection: an engine kills the runtime (SIGKILL of the pyrunc
process, or of its whole process group) at any instant of create, run,
start, exec or delete; `delete --force ID` must then bring the host back to
where it was: no state entry, cgroup directory (in every hierarchy), mount,
fifo, socket or process of that container left.

The kill instants are spread evenly over each command's measured duration
(a little past it too), plus random ones. CI runs a reduced sweep (about a
minute); the full one is run by hand:

    PYRUNC_FAULTS_FULL=1 pytest -q -p no:cacheprovider -m faults tests/test_faults.py

(PYRUNC_FAULTS_SEED=N replays a random sweep; the test prints the number of
kill points it made.)
"""
import json
import os
import random
import signal
import statistics
import struct
import subprocess
import time
import uuid

import pytest

from conftest import needs_root

pytestmark = [needs_root, pytest.mark.faults]

FULL = os.environ.get("PYRUNC_FAULTS_FULL") == "1"
# kill points per command and kill mode: evenly spaced + random (fewer in
# the cgroup v2 VM, where emulation makes each one ~20x slower)
EVEN, RANDOM = (40, 10) if FULL else (4, 1) if os.environ.get("PYRUNC_V2VM") else (10, 4)
SEED = int(os.environ.get("PYRUNC_FAULTS_SEED") or random.randrange(1 << 30))


class Sweep:
    """One command's kill points, with the leak checks after each."""

    def __init__(self, runtime, bundle, tmp_path):
        self.rt = runtime
        self.bundle = bundle
        self.token = "pyrunc-fault-" + uuid.uuid4().hex[:10]
        self.cg_parent = "/" + self.token  # a parent the creates make too
        self.env = dict(os.environ, PYRUNC_FAULT_TOKEN=self.token)
        self.out = str(tmp_path / "out")
        self.points = 0
        self.rand = random.Random(SEED)
        # v2 device filters are BPF programs: none may outlive its container
        self.progs_before = _device_prog_ids() if _v1_devices() is None else None
        bundle.config["process"]["env"].append("PYRUNC_FAULT_TOKEN=" + self.token)

    def new_id(self):
        return "f" + uuid.uuid4().hex[:12]

    def set_args(self, *args, cgroup_id=None):
        self.bundle.args(*args)
        self.bundle.config["linux"]["cgroupsPath"] = f"{self.cg_parent}/{cgroup_id}"
        self.bundle.write()

    def cmd(self, *args):
        return [self.rt.bin, "--root", self.rt.root] + [str(a) for a in args]

    def call(self, *args, timeout=30):
        with open(self.out, "w") as out:
            p = subprocess.run(self.cmd(*args), stdout=out, stderr=subprocess.STDOUT,
                               env=self.env, timeout=timeout)
        return p.returncode, open(self.out).read()

    def timed(self, args):
        """Duration of one uninterrupted run of the command (s), which must
        succeed (else the sweep would kill a command that fails early)."""
        t = time.monotonic()
        with open(self.out, "w") as out:
            p = subprocess.run(self.cmd(*args), stdout=out, stderr=subprocess.STDOUT,
                               env=self.env, timeout=30, start_new_session=True)
        took = time.monotonic() - t
        assert p.returncode == 0, f"{args[0]} exited {p.returncode}: {open(self.out).read()}"
        return took

    def instants(self, duration):
        """Evenly spaced over 0..1.2 x duration, then random ones."""
        span = duration * 1.2
        even = [span * i / max(EVEN - 1, 1) for i in range(EVEN)]
        return even + [self.rand.uniform(0, span) for _ in range(RANDOM)]

    def kill_at(self, args, delay, group):
        """Start the command in its own process group and SIGKILL it (or
        the whole group) `delay` seconds later."""
        with open(self.out, "w") as out:
            p = subprocess.Popen(self.cmd(*args), stdout=out, stderr=subprocess.STDOUT,
                                 env=self.env, start_new_session=True)
        if delay:
            time.sleep(delay)
        try:
            os.kill(-p.pid if group else p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=30)
        self.points += 1

    def force_delete_and_check(self, cid, what):
        rc, out = self.call("--debug", "delete", "--force", cid)
        assert rc == 0, f"{what}: delete --force exited {rc}: {out}"
        assert "Traceback" not in out, f"{what}: {out}"
        self.check_clean(cid, what)

    def check_clean(self, cid, what):
        left = []
        root = self.rt.root
        if os.path.isdir(root):
            left += [f"state {n}" for n in os.listdir(root) if n != ".seccomp-cache"]
        left += _cgroups_named((cid, self.token))
        with open("/proc/self/mountinfo") as f:
            left += [f"mount {ln.split()[4]}" for ln in f
                     if cid in ln or self.bundle.path in ln.split()[4]]
        deadline = time.monotonic() + 3
        while True:  # a killed process's children may take a moment to go
            procs = _processes_with(self.token)
            if not procs or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        left += [f"process {p}" for p in procs]
        if self.progs_before is not None:
            deadline = time.monotonic() + 3
            while True:  # (a removed cgroup releases its programs asynchronously)
                progs = set(_device_prog_ids()) - set(self.progs_before)
                if not progs or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            left += [f"BPF device program {i}" for i in sorted(progs)]
        for p in procs:  # (ours: they carry this test's token)
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert not left, f"{what}: left behind {left}"

    def report(self, name):
        print(f"\n{name}: {self.points} kill points (seed {SEED}, "
              f"{'full' if FULL else 'reduced'} sweep), 0 leftovers")


def _cgroup_mountpoints():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fstype = line.split(" - ")[1].split()[0]
            if fstype in ("cgroup", "cgroup2"):
                out.append(line.split()[4])
    return sorted(set(out))


def _cgroups_named(names):
    """Directories of any cgroup hierarchy whose name contains one of
    `names` (the container's id, or the test's token: the parent made by
    the creates)."""
    left = []
    for mp in _cgroup_mountpoints():
        for base, dirs, _ in os.walk(mp):
            for d in dirs:
                if any(n in d for n in names):
                    left.append(f"cgroup {base}/{d}")
            if base.count("/") - mp.count("/") >= 3:
                dirs[:] = []
    return left


def _v1_devices():
    for mp in _cgroup_mountpoints():
        if os.path.exists(os.path.join(mp, "devices.allow")):
            return mp
    return None


def _device_prog_ids():
    """Ids of the BPF_PROG_TYPE_CGROUP_DEVICE programs loaded on the host."""
    from pyrunc import syscalls
    out, cur = [], 0
    while True:
        attr = bytearray(struct.pack("<III", cur, 0, 0))
        try:
            syscalls.bpf(11, attr)  # BPF_PROG_GET_NEXT_ID
        except OSError:
            return out  # ENOENT: no more
        cur = struct.unpack_from("<I", attr, 4)[0]
        try:
            fd = syscalls.bpf(13, bytearray(struct.pack("<III", cur, 0, 0)))  # GET_FD_BY_ID
        except OSError:
            continue  # freed meanwhile
        try:
            info = bytearray(256)  # struct bpf_prog_info: its type comes first
            keep, addr = syscalls.buffer_address(info)
            syscalls.bpf(15, bytearray(struct.pack("<IIQ", fd, len(info), addr)))
            del keep
        finally:
            os.close(fd)
        if struct.unpack_from("<I", info, 0)[0] == 15:  # BPF_PROG_TYPE_CGROUP_DEVICE
            out.append(cur)


def _processes_with(token):
    """Live pids whose environment or command line has the token."""
    me = os.getpid()
    out = []
    tok = token.encode()
    for n in os.listdir("/proc"):
        if not n.isdigit() or int(n) == me:
            continue
        try:
            with open(f"/proc/{n}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{n}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if tok in env or tok in cmd:
            out.append(int(n))
    return out


def _measure(sweep, setup, args_of, teardown, runs=3):
    """Median duration of the command, on fresh containers."""
    times = []
    for _ in range(runs):
        cid = sweep.new_id()
        setup(cid)
        times.append(sweep.timed(args_of(cid)))
        teardown(cid)
    return statistics.median(times)


def _sweep(sweep, name, setup, args_of):
    def teardown(cid):
        sweep.force_delete_and_check(cid, f"{name} (measuring)")
    duration = _measure(sweep, setup, args_of, teardown)
    for group in (False, True):
        for t in sweep.instants(duration):
            cid = sweep.new_id()
            setup(cid)
            sweep.kill_at(args_of(cid), t, group)
            sweep.force_delete_and_check(
                cid, f"{name} killed {'(group) ' if group else ''}at {t * 1000:.1f} ms "
                     f"of {duration * 1000:.1f} ms")
    sweep.report(f"{name} ({duration * 1000:.0f} ms)")


def _delete_all(runtime):
    for cid in os.listdir(runtime.root) if os.path.isdir(runtime.root) else ():
        if not cid.startswith("."):
            runtime("delete", "--force", cid)


@pytest.fixture
def sweep(runtime, bundle, tmp_path):
    s = Sweep(runtime, bundle, tmp_path)
    yield s
    _delete_all(runtime)


@pytest.fixture
def userns_sweep(runtime, rootfs_template, tmp_path):
    """A Sweep of a user-namespace bundle in a /tmp dir of its own
    (test_userns.own_tmp_bundle: mapped root must reach the rootfs)."""
    from test_userns import own_tmp_bundle
    made = own_tmp_bundle(rootfs_template)
    s = Sweep(runtime, next(made), tmp_path)
    try:
        yield s
    finally:
        _delete_all(runtime)
        next(made, None)  # (its leak check and removal)


@pytest.mark.cgroupv2
def test_create_killed(sweep):
    def setup(cid):
        sweep.set_args("sleep", "1000", cgroup_id=cid)
    _sweep(sweep, "create", setup, lambda cid: ("create", "-b", sweep.bundle.path, cid))


def test_run_killed(sweep):
    def setup(cid):
        sweep.set_args("true", cgroup_id=cid)
    _sweep(sweep, "run", setup, lambda cid: ("run", "-b", sweep.bundle.path, cid))


def test_start_killed(sweep):
    def setup(cid):
        sweep.set_args("sleep", "1000", cgroup_id=cid)
        rc, out = sweep.call("create", "-b", sweep.bundle.path, cid)
        assert rc == 0, out
    _sweep(sweep, "start", setup, lambda cid: ("start", cid))


def test_exec_killed(sweep):
    def setup(cid):
        sweep.set_args("sleep", "1000", cgroup_id=cid)
        rc, out = sweep.call("run", "-d", "-b", sweep.bundle.path, cid)
        assert rc == 0, out
    _sweep(sweep, "exec", setup, lambda cid: ("exec", cid, "sh", "-c", "echo x"))


def test_delete_killed(sweep):
    def setup(cid):
        sweep.set_args("sleep", "1000", cgroup_id=cid)
        rc, out = sweep.call("run", "-d", "-b", sweep.bundle.path, cid)
        assert rc == 0, out
    _sweep(sweep, "delete", setup, lambda cid: ("delete", "--force", cid))


def test_create_without_a_mount_namespace_killed(sweep):
    """Its mounts are in the host's namespace (hostmounts.py): recorded
    before the fork, all gone after delete --force at any kill instant
    (check_clean: no mount at or under the bundle, the rootfs's bind of
    itself included)."""
    lx = sweep.bundle.config["linux"]
    lx["namespaces"] = [n for n in lx["namespaces"] if n["type"] != "mount"]
    lx["maskedPaths"] = lx["readonlyPaths"] = []

    def setup(cid):
        sweep.set_args("sleep", "1000", cgroup_id=cid)
    _sweep(sweep, "create, no mount namespace", setup,
           lambda cid: ("create", "-b", sweep.bundle.path, cid))


def test_create_with_an_unreachable_bind_source_in_a_user_namespace_killed(userns_sweep,
                                                                          tmp_path):
    """The init asks the runtime for a source mapped root cannot reach
    (bindsources.py: a short-lived child of the runtime joins the init's
    mount namespace and sends an fd back): a kill at any instant leaves
    neither that child nor anything else."""
    from test_console import _userns
    from test_userns import _hidden_source
    sweep = userns_sweep
    _userns(sweep.bundle)
    sweep.bundle.config["mounts"].append({"destination": "/data", "type": "bind",
                                          "source": str(_hidden_source(tmp_path)),
                                          "options": ["rbind", "ro"]})

    def setup(cid):
        sweep.set_args("sleep", "1000", cgroup_id=cid)
    cid = sweep.new_id()  # (uninterrupted, it works)
    setup(cid)
    rc, out = sweep.call("create", "-b", sweep.bundle.path, cid)
    assert rc == 0, out
    sweep.force_delete_and_check(cid, "create, unreachable bind source")
    _sweep(sweep, "create, user namespace, unreachable bind source", setup,
           lambda cid: ("create", "-b", sweep.bundle.path, cid))


def _container_pids(sweep, cid):
    out = set()
    for mp in _cgroup_mountpoints():
        try:
            with open(os.path.join(mp, sweep.token, cid, "cgroup.procs")) as f:
                out.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return out - {0}


def test_init_killed_during_create(sweep):
    """SIGKILL of whatever the container's cgroup holds (the init, on its
    way) at instants spread over create: create fails cleanly or succeeds
    with a container whose state says `stopped`; delete --force leaves
    nothing."""
    def setup(cid):
        sweep.set_args("sleep", "1000", cgroup_id=cid)
    duration = _measure(sweep, setup, lambda cid: ("create", "-b", sweep.bundle.path, cid),
                        lambda cid: sweep.force_delete_and_check(cid, "create (measuring)"))
    for t in sweep.instants(duration):
        cid = sweep.new_id()
        setup(cid)
        with open(sweep.out, "w") as out:
            p = subprocess.Popen(sweep.cmd("create", "-b", sweep.bundle.path, cid), stdout=out,
                                 stderr=subprocess.STDOUT, env=sweep.env)
        end = time.monotonic() + t
        while time.monotonic() < end and p.poll() is None:
            time.sleep(0.0005)
        for pid in _container_pids(sweep, cid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        rc = p.wait(timeout=30)
        sweep.points += 1
        out = open(sweep.out).read()
        assert "Traceback" not in out, out
        st = sweep.call("state", cid)
        if rc != 0:
            assert st[0] != 0, f"create failed ({out}) but left {st[1]}"
        elif st[0] == 0 and _container_pids(sweep, cid) == set():
            # a killed task leaves cgroup.procs as it starts exiting, but
            # /proc shows it alive until its namespaces are torn down (a
            # while, on a loaded host): `stopped` within a deadline
            deadline = time.monotonic() + 5
            while json.loads(st[1])["status"] != "stopped" and time.monotonic() < deadline:
                time.sleep(0.02)
                st = sweep.call("state", cid)
            assert json.loads(st[1])["status"] == "stopped", st[1]
        sweep.force_delete_and_check(cid, f"init killed at {t * 1000:.1f} ms of create")
    sweep.report(f"init killed during create ({duration * 1000:.0f} ms)")


@pytest.mark.cgroupv2
@pytest.mark.parametrize("stage", ["created", "running", "exec"])
def test_init_killed(sweep, stage):
    """SIGKILL of the container's init at each stage: the state then says
    `stopped`, and delete (no --force needed) removes everything."""
    cid = sweep.new_id()
    sweep.set_args("sleep", "1000", cgroup_id=cid)
    rc, out = sweep.call("create", "-b", sweep.bundle.path, cid)
    assert rc == 0, out
    if stage != "created":
        assert sweep.call("start", cid)[0] == 0
    if stage == "exec":
        assert sweep.call("exec", "-d", cid, "sleep", "1000")[0] == 0
    st = json.loads(sweep.call("state", cid)[1])
    assert st["status"] == ("created" if stage == "created" else "running")
    os.kill(st["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while json.loads(sweep.call("state", cid)[1])["status"] != "stopped":
        assert time.monotonic() < deadline, "state never said stopped"
        time.sleep(0.02)
    rc, out = sweep.call("delete", cid)
    assert rc == 0, out
    sweep.check_clean(cid, f"init killed when {stage}")


# -- bounded waits (docs/ARCHITECTURE.md, "Bounded waits") --------------------
def test_init_that_never_reaches_the_fifo(sweep):
    """An init stuck before the hand-over (here in a createContainer hook
    without a timeout): create gives up after PYRUNC_INIT_TIMEOUT and
    leaves nothing, the hook's process included."""
    import shutil
    cid = sweep.new_id()
    sweep.bundle.config["hooks"] = {"createContainer": [
        {"path": shutil.which("sleep"), "args": ["sleep", "1000"],
         "env": ["PYRUNC_FAULT_TOKEN=" + sweep.token]}]}
    sweep.set_args("true", cgroup_id=cid)
    sweep.env["PYRUNC_INIT_TIMEOUT"] = "1.5"
    t = time.monotonic()
    rc, out = sweep.call("create", "-b", sweep.bundle.path, cid)
    took = time.monotonic() - t
    assert rc != 0 and "timed out after 1.5s waiting for the container's init" in out, out
    assert took < 8, took
    sweep.check_clean(cid, "create with a hung init")


def test_init_that_never_takes_the_start(sweep):
    """A created container whose init is stopped (SIGSTOP) before it opens
    the fifo: start gives up after PYRUNC_INIT_TIMEOUT, state is still
    `created`, delete --force removes it all."""
    cid = sweep.new_id()
    sweep.set_args("true", cgroup_id=cid)
    rc, out = sweep.call("create", "-b", sweep.bundle.path, cid)
    assert rc == 0, out
    pid = json.loads(sweep.call("state", cid)[1])["pid"]
    os.kill(pid, signal.SIGSTOP)
    sweep.env["PYRUNC_INIT_TIMEOUT"] = "1"
    t = time.monotonic()
    rc, out = sweep.call("start", cid)
    took = time.monotonic() - t
    assert rc != 0 and "timed out after 1s waiting for the container's init" in out, out
    assert took < 6, took
    assert json.loads(sweep.call("state", cid)[1])["status"] == "created"
    sweep.force_delete_and_check(cid, "start of a stopped init")


def test_paused_container_force_delete(sweep):
    """delete --force of a paused (frozen) container: thawed, killed,
    removed, in bounded time."""
    cid = sweep.new_id()
    sweep.set_args("sleep", "1000", cgroup_id=cid)
    rc, out = sweep.call("run", "-d", "-b", sweep.bundle.path, cid)
    assert rc == 0, out
    assert sweep.call("pause", cid)[0] == 0
    assert json.loads(sweep.call("state", cid)[1])["status"] == "paused"
    t = time.monotonic()
    sweep.force_delete_and_check(cid, "delete --force of a paused container")
    assert time.monotonic() - t < 10


_OK = '"ociVersion": "1.0.2", "bundle": "/nonexistent", '


@pytest.mark.parametrize("content", [None, b"", b'{"ociVersion": "1.0.2", "id"', b"[]",
                                     b'{"unrelated": 1}', b"garbage{[", b"null"] + [
    # garbage that parses: each field delete acts on, of the wrong type
    ("{" + _OK + f).encode() for f in (
        '"pid": "abc"}', '"status": "creating", "creator": "z"}', '"cgroups": 5}',
        '"cgroups": {"dirs": []}}', '"hooks": 5}', '"hooks": {"poststop": [5]}}',
        '"host_mounts": "x"}', '"host_mounts": {"path": 5}}', '"added_mounts": 5}',
        '"exit": 5}', '"pid": true, "start_time": 1}', '"cgroups": {"dirs": {"a": 5}}}',
        '"cgroups": {"created": [5]}}', '"host_mounts": {"path": "/x", "before": [[1]]}}')])
def test_half_written_state_entry(runtime, content):
    """A state entry that is only a dir, or whose state.json is empty or
    cut short: invisible to `list`, `state` an error message, `delete`
    without --force "does not exist" or an error, `delete --force` removes
    it; never a traceback."""
    cid = runtime.new_id()
    d = os.path.join(runtime.root, cid)
    os.makedirs(d)
    # (what a save killed half-way leaves; delete --force removes only what
    # a state dir holds: state.ENTRY_FILES)
    open(os.path.join(d, "state.json.tmp"), "w").close()
    if content is not None:
        with open(os.path.join(d, "state.json"), "wb") as f:
            f.write(content)
    p = runtime("list", "-q")
    assert p.returncode == 0 and cid not in p.stdout, p.stderr
    for args in (("state", cid), ("delete", cid)):
        p = runtime(*args)
        assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    p = runtime("--debug", "delete", "--force", cid)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "removed state dir" in p.stderr, p.stderr
    assert not os.path.exists(d)


def test_interrupted_create_temp_dir_is_swept(runtime, bundle):
    """What a create killed before its rename leaves (a `@new.<pid>.*` dir
    of a dead process) goes with the next `delete --force`."""
    os.makedirs(runtime.root, exist_ok=True)
    p = subprocess.Popen(["true"])
    p.wait()
    d = os.path.join(runtime.root, f"@new.{p.pid}.abcdef")
    os.mkdir(d)
    with open(os.path.join(d, "state.json"), "w") as f:
        f.write("{}")
    r = runtime("list", "-q")
    assert r.returncode == 0 and r.stdout == "", (r.stdout, r.stderr)
    r = runtime("--debug", "delete", "--force", runtime.new_id())
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(d), r.stderr


def _entry(runtime, **fields):
    """A state entry as create writes it, with `fields` over it."""
    cid = runtime.new_id()
    d = os.path.join(runtime.root, cid)
    os.makedirs(d)
    rec = {"ociVersion": "1.0.2", "pid": 0, "start_time": None, "status": "created",
           "bundle": "/nonexistent", "rootfs": "/nonexistent/rootfs", "created": "",
           "cgroups": {}}
    rec.update(fields)
    with open(os.path.join(d, "state.json"), "w") as f:
        json.dump(rec, f)
    return cid, d


def test_host_mounts_record_of_a_mount_not_made_by_the_container(runtime, tmp_path):
    """delete --force never detaches a mount on the recorded path that is
    not the rootfs bound onto itself (hostmounts checks the directory's
    device and inode recorded at create): here a tmpfs this test mounted,
    with a record lacking that identity, then with the directory's."""
    target = tmp_path / "target"
    target.mkdir()
    ident = os.stat(target)
    subprocess.run(["mount", "-t", "tmpfs", "pyrunc-fault-test", str(target)], check=True)
    try:
        for extra in ({}, {"dir": [ident.st_dev, ident.st_ino]}):
            cid, d = _entry(runtime, host_mounts=dict({"path": str(target), "before": []},
                                                      **extra))
            p = runtime("--debug", "delete", "--force", cid)
            assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
            assert not os.path.exists(d)
            assert "not the container's rootfs bind" in p.stderr, p.stderr
            assert os.path.ismount(target), f"{extra}: the test's tmpfs was unmounted"
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_pid_reused_by_an_unrelated_process(runtime):
    """A state entry whose init pid now names another process (its start
    time differs from the recorded one): delete --force and kill leave
    that process alone."""
    p = subprocess.Popen(["sleep", "1000"])
    try:
        from pyrunc import state
        start = state.proc_start_time(p.pid)
        for status in ("running", "created", "creating"):
            cid, d = _entry(runtime, pid=p.pid, start_time=start + 1, status=status,
                            creator=p.pid, creator_start=start + 1)
            r = runtime("kill", cid, "KILL")
            assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
            r = runtime("--debug", "delete", "--force", cid)
            assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
            assert not os.path.exists(d)
            assert p.poll() is None, f"{status}: delete --force killed an unrelated process"
    finally:
        p.kill()
        p.wait()
