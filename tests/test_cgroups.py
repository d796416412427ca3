"""cgroups for real: limits that the kernel enforces, on whatever host the
suite runs on. Here that is a hybrid host (v1 controllers, hugetlb on the
unified tree); tests/v2vm/run.sh runs the `cgroupv2` ones again inside a
pure cgroup v2 VM. Each test finds the files through /proc/<pid>/cgroup,
so it checks what the kernel really holds, not what pyrunc says."""
import json
import math
import os
import subprocess
import time

import pytest

V2 = pytest.mark.cgroupv2
SLOW = 20 if os.environ.get("PYRUNC_V2VM") else 1  # TCG runs code ~20x slower


def cg_dir(pid, v1ctl, v2ctl=None):
    """("v1"|"v2", dir) of the hierarchy serving a controller for `pid`."""
    rel = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            rel[ctrls] = path
    for ctrls, path in rel.items():
        if v1ctl in ctrls.split(",") and os.path.isdir(f"/sys/fs/cgroup/{ctrls}"):
            return "v1", f"/sys/fs/cgroup/{ctrls}{path}"
    base = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    return "v2", base + rel[""]


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def pure_v2():
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def detached(runtime, bundle):
    """run -d the bundle (after the test's edits); deleted afterwards."""
    made = []

    def start(*script):
        if script:
            bundle.sh(script[0])
        bundle.write()
        cid = runtime.new_id()
        runtime("run", "-d", "-b", bundle.path, cid, check=True, timeout=60 * SLOW)
        made.append(cid)
        return cid, runtime.state(cid)["pid"]
    yield start
    for cid in made:
        runtime("delete", "-f", cid, timeout=60 * SLOW)


@V2
def test_memory_limit_oom_kill_is_an_event(runtime, bundle):
    bundle.config["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    # tail keeps its last line, and /dev/zero has no newline: it grows until
    # the kernel kills it; the shell (the init) survives and goes on
    bundle.sh("sleep 1; head -c 400000000 /dev/zero | tail >/dev/null; echo rc=$?; sleep 1")
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True, timeout=60 * SLOW)
    with open(os.path.join(bundle.path, "events.out"), "w+") as out:
        ev = subprocess.Popen([runtime.bin, "--root", runtime.root, "events", "--interval",
                               "1s", cid], stdout=out, stderr=subprocess.STDOUT)
        try:
            runtime("start", cid, check=True, timeout=60 * SLOW)
            ev.wait(timeout=60 * SLOW)
        finally:
            if ev.poll() is None:
                ev.kill()
                ev.wait()
            runtime("delete", "-f", cid)
        out.seek(0)
        lines = [json.loads(line) for line in out if line.strip()]
    types = [e["type"] for e in lines]
    assert "oom" in types, lines
    assert all(e["id"] == cid for e in lines)
    stats = [e for e in lines if e["type"] == "stats"]
    assert stats and "memory" in stats[0]["data"]


@V2
def test_pids_limit_stops_a_fork_bomb(runtime, bundle, detached):
    bundle.config["linux"]["resources"]["pids"] = {"limit": 8}
    cid, pid = detached("sleep 600")
    # the shell dies at the first fork the kernel refuses
    p = runtime("exec", cid, "sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 60 & "
                "i=$((i+1)); done; echo all forked", timeout=60 * SLOW)
    assert p.returncode != 0 and "all forked" not in p.stdout
    assert "fork" in p.stderr  # busybox sh: "can't fork: Resource temporarily unavailable"
    kind, d = cg_dir(pid, "pids")
    assert read(d, "pids.max") == "8"
    assert 1 < int(read(d, "pids.current")) <= 8
    p = runtime("events", "--stats", cid, check=True, timeout=30 * SLOW)
    data = json.loads(p.stdout)["data"]
    assert data["pids"]["limit"] == 8 and 1 < data["pids"]["current"] <= 8
    ps = runtime("ps", "--format", "json", cid, check=True, timeout=30 * SLOW)
    assert 1 < len(json.loads(ps.stdout)) <= 8


@V2
def test_pause_stops_progress(runtime, bundle, detached):
    cid, pid = detached("i=0; while :; do i=$((i+1)); echo $i > /tmp/n; done")
    n = os.path.join(bundle.rootfs, "tmp", "n")

    def count():
        # the shell truncates and rewrites the file: a read may land in
        # between (empty, or zeros on tmpfs); retry until it is a number
        for _ in range(1000):
            with open(n) as f:
                text = f.read().strip()
            if text.isdigit():
                return int(text)
            time.sleep(0.001)
        return 0
    assert wait_for(lambda: os.path.exists(n) and count() > 10, 30)
    runtime("pause", cid, check=True, timeout=30 * SLOW)
    try:
        assert runtime.state(cid)["status"] == "paused"
        before = count()
        time.sleep(0.5)
        assert count() == before
    finally:
        runtime("resume", cid, check=True, timeout=30 * SLOW)
    assert runtime.state(cid)["status"] == "running"
    assert wait_for(lambda: count() > before, 10)


FAKE = {"path": "/dev/fake0", "type": "c", "major": 240, "minor": 0, "fileMode": 0o666}


@V2
@pytest.mark.parametrize("rule,read_err,write_err", [
    (None, "Operation not permitted", "Operation not permitted"),
    ({"allow": True, "type": "c", "major": 240, "minor": 0, "access": "rw"},
     "No such device", "No such device"),
    ({"allow": True, "type": "c", "major": 240, "minor": -1, "access": "r"},
     "No such device", "Operation not permitted"),
    ({"allow": True, "type": "a", "access": "rwm"}, "No such device", "No such device"),
])
def test_device_rules_decide_open(runtime, bundle, rule, read_err, write_err):
    """A device node with no driver behind it: open(2) fails with EPERM
    when the cgroup denies it and ENXIO when the cgroup lets it through."""
    bundle.config["linux"]["devices"] = [FAKE]
    rules = [{"allow": False, "access": "rwm"}] + ([rule] if rule else [])
    bundle.config["linux"]["resources"]["devices"] = rules
    bundle.sh("cat /dev/fake0 2>&1; echo x 2>&1 > /dev/fake0; cat /dev/null && echo null-ok")
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id(), timeout=60 * SLOW)
    out = p.stdout.splitlines()
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert read_err in out[0] and write_err in out[1] and out[2] == "null-ok", out


def cpu_weight(shares):
    lg = math.log2(shares)
    return math.ceil(10 ** ((lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0))


@V2
def test_update_flags_reach_the_kernel(runtime, bundle, detached):
    cid, pid = detached("sleep 600")
    p = runtime("update", "--memory", "32m", "--memory-swap", "64M", "--cpu-share", "512",
                "--cpu-quota", "20000", "--cpu-period", "100000", "--pids-limit", "20", cid,
                timeout=30 * SLOW)
    assert p.returncode == 0, p.stderr
    mk, md = cg_dir(pid, "memory")
    ck, cd = cg_dir(pid, "cpu")
    _, pd = cg_dir(pid, "pids")
    assert read(pd, "pids.max") == "20"
    if mk == "v1":
        assert read(md, "memory.limit_in_bytes") == str(32 << 20)
        assert read(md, "memory.memsw.limit_in_bytes") == str(64 << 20)
        assert read(cd, "cpu.shares") == "512"
        assert read(cd, "cpu.cfs_quota_us") == "20000"
    else:
        assert read(md, "memory.max") == str(32 << 20)
        if os.path.exists(os.path.join(md, "memory.swap.max")):
            assert read(md, "memory.swap.max") == str(32 << 20)  # the total minus memory
        assert read(cd, "cpu.weight") == str(cpu_weight(512))
        assert read(cd, "cpu.max") == "20000 100000"
    # raising both limits past the old swap total needs swap written first
    assert runtime("update", "--memory", "128m", "--memory-swap", "256m", cid,
                   timeout=30 * SLOW).returncode == 0
    assert runtime("update", "--memory", "16m", "--memory-swap", "32m", cid,
                   timeout=30 * SLOW).returncode == 0
    # the quota alone keeps the period
    assert runtime("update", "--cpu-quota", "30000", cid, timeout=30 * SLOW).returncode == 0
    if ck == "v2":
        assert read(cd, "cpu.max") == "30000 100000"
    else:
        assert read(cd, "cpu.cfs_quota_us") == "30000"
    # checkBeforeUpdate refuses a limit below what is in use
    p = runtime("update", "-r", "-", cid, timeout=30 * SLOW,
                input='{"memory": {"limit": 4096, "checkBeforeUpdate": true}}')
    assert p.returncode == 1 and "rejecting memory limit 4096" in p.stderr
    assert "linux.resources.memory.limit" in p.stderr
    # swap below memory is refused, naming the field
    p = runtime("update", "-r", "-", cid, timeout=30 * SLOW,
                input='{"memory": {"limit": 67108864, "swap": 33554432}}')
    assert p.returncode == 1 and "linux.resources.memory" in p.stderr
    p = runtime("update", "--memory", "lots", cid)
    assert p.returncode != 0 and "invalid value for memory" in p.stderr


@V2
def test_events_stats_in_runc_shape(runtime, bundle, detached):
    bundle.config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    bundle.config["linux"]["resources"]["cpu"] = {"quota": 50000, "period": 100000}
    cid, pid = detached("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 600")
    p = runtime("events", "--stats", cid, check=True, timeout=30 * SLOW)
    ev = json.loads(p.stdout)
    assert ev["type"] == "stats" and ev["id"] == cid
    d = ev["data"]
    assert d["cpu"]["usage"]["total"] > 0
    assert set(d["cpu"]["throttling"]) == {"periods", "throttledPeriods", "throttledTime"}
    assert d["memory"]["usage"]["limit"] == 64 << 20
    assert d["memory"]["usage"]["usage"] > 0
    assert d["pids"]["current"] >= 1


@V2
def test_bad_resource_leaves_nothing_behind(runtime, bundle):
    bundle.config["linux"]["resources"]["cpu"] = {"cpus": "4095"}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid, timeout=60 * SLOW)
    assert p.returncode == 1 and "linux.resources.cpu.cpus" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    # (the fixture's leak check looks for the cgroups)


@V2
def test_hugetlb_limit(runtime, bundle, detached):
    """hugetlb is a v1 controller on v1 hosts, a v2 one elsewhere; on this
    hybrid host it only exists on the unified tree, and pyrunc uses it
    there (runc would fail)."""
    unified = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else None
    root = unified or "/sys/fs/cgroup"
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        pytest.skip("no 2MB huge pages on this kernel")
    if "hugetlb" not in read(root, "cgroup.controllers").split() and \
            not os.path.isdir("/sys/fs/cgroup/hugetlb"):
        pytest.skip("no hugetlb controller")
    enabled_before = read(root, "cgroup.subtree_control")
    bundle.config["linux"]["resources"]["hugepageLimits"] = [
        {"pageSize": "2MB", "limit": 4 << 20}]
    try:
        cid, pid = detached("sleep 600")
        kind, d = cg_dir(pid, "hugetlb")
        name = "hugetlb.2MB.limit_in_bytes" if kind == "v1" else "hugetlb.2MB.max"
        assert read(d, name) == str(4 << 20)
        bundle.config["linux"]["resources"]["hugepageLimits"] = [
            {"pageSize": "3MB", "limit": 4 << 20}]
        bundle.write()
        p = runtime("run", "-d", "-b", bundle.path, runtime.new_id(), timeout=60 * SLOW)
        assert p.returncode == 1 and "linux.resources.hugepageLimits[0].pageSize" in p.stderr
        assert "2MB" in p.stderr  # the sizes the host has
    finally:
        if unified and "hugetlb" not in enabled_before.split():
            # leave the host's unified root as we found it, once the
            # container's cgroup is gone (a controller in use cannot go)
            for cid in list(runtime.ids):
                runtime("delete", "-f", cid)
            with open(os.path.join(root, "cgroup.subtree_control"), "w") as f:
                f.write("-hugetlb")


@V2
def test_unified_values(runtime, bundle, detached):
    res = bundle.config["linux"]["resources"]
    if pure_v2():
        res["unified"] = {"memory.high": "52428800", "pids.max": "11"}
        cid, pid = detached("sleep 600")
        d = cg_dir(pid, "memory")[1]
        assert read(d, "memory.high") == "52428800"
        assert read(d, "pids.max") == "11"
        res["unified"] = {"nosuch.file": "1"}
    else:
        # memory belongs to v1 here: its unified files cannot be had
        res["unified"] = {"memory.high": "50000000"}
    bundle.write()
    p = runtime("run", "-d", "-b", bundle.path, runtime.new_id(), timeout=60 * SLOW)
    assert p.returncode == 1 and "linux.resources.unified[" in p.stderr, p.stderr


def test_v1_blkio_weight_and_throttle(runtime, bundle, detached):
    if pure_v2() or not os.path.isdir("/sys/fs/cgroup/blkio"):
        pytest.skip("needs the v1 blkio controller")
    disks = sorted(os.listdir("/sys/block"))
    if not disks:
        pytest.skip("no block device")
    with open(f"/sys/block/{disks[0]}/dev") as f:
        major, minor = map(int, f.read().split(":"))
    res = bundle.config["linux"]["resources"]
    res["blockIO"] = {"throttleReadBpsDevice": [{"major": major, "minor": minor,
                                                  "rate": 1048576}],
                      "throttleWriteIOPSDevice": [{"major": major, "minor": minor,
                                                   "rate": 100}]}
    cid, pid = detached("sleep 600")
    _, d = cg_dir(pid, "blkio")
    assert f"{major}:{minor} 1048576" in read(d, "blkio.throttle.read_bps_device")
    assert f"{major}:{minor} 100" in read(d, "blkio.throttle.write_iops_device")
    p = runtime("update", "--blkio-weight", "300", cid)
    if os.path.exists(os.path.join(d, "blkio.bfq.weight")):
        assert p.returncode == 0, p.stderr
        assert read(d, "blkio.bfq.weight") == "300"
    else:
        assert p.returncode == 1 and "linux.resources.blockIO.weight" in p.stderr


def test_v1_cpu_burst_and_idle(runtime, bundle, detached):
    if pure_v2():
        pytest.skip("v1 host test")
    bundle.config["linux"]["resources"]["cpu"] = {"quota": 50000, "period": 100000,
                                                  "burst": 20000}
    cid, pid = detached("sleep 600")
    _, d = cg_dir(pid, "cpu")
    assert read(d, "cpu.cfs_burst_us") == "20000"
    assert runtime("update", "--cpu-idle", "1", cid).returncode == 0
    assert read(d, "cpu.idle") == "1"


def test_missing_controller_is_named(runtime, bundle):
    if os.path.isdir("/sys/fs/cgroup/net_cls"):
        pytest.skip("net_cls is mounted here")
    bundle.config["linux"]["resources"]["network"] = {"classID": 0x100001}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "linux.resources.network.classID" in p.stderr
    assert "net_cls" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


@V2
def test_exec_into_a_sub_cgroup(runtime, bundle, detached):
    cid, pid = detached("sleep 600")
    ctls = ("pids",) if pure_v2() else ("pids", "memory")
    for ctl in ctls:
        os.mkdir(os.path.join(cg_dir(pid, ctl)[1], "sub"))
    spec = "sub" if pure_v2() else "pids,memory:sub"
    p = runtime("exec", "--cgroup", spec, cid, "cat", "/proc/self/cgroup", timeout=60 * SLOW)
    assert p.returncode == 0, p.stderr
    lines = dict(line.split(":", 2)[1:] for line in p.stdout.splitlines())
    for ctrls, path in lines.items():
        if ctrls in ("pids", "memory") or pure_v2():
            assert path.endswith("/sub"), (ctrls, path)
        else:
            assert not path.endswith("/sub"), (ctrls, path)
    p = runtime("exec", "--cgroup", "nosuch", cid, "true")
    assert p.returncode == 255 and "does not exist" in p.stderr
    p = runtime("exec", "--cgroup", "../x", cid, "true")
    assert p.returncode == 255 and "inside the container" in p.stderr
    # (delete removes the container's sub-cgroups with it)


@V2
@pytest.mark.parametrize("sig", ["KILL", "TERM"])
def test_kill_all_reaches_every_process(runtime, bundle, detached, sig):
    # the init ignores TERM, its children (started before the trap, which
    # they would inherit) do not: only --all reaches them
    cid, pid = detached("sleep 600 & sleep 600 & trap '' TERM; touch /tmp/up; wait; "
                        "sleep 600")
    assert wait_for(lambda: os.path.exists(os.path.join(bundle.rootfs, "tmp", "up")), 30)
    _, d = cg_dir(pid, "pids")
    assert int(read(d, "pids.current")) == 3
    assert runtime("kill", "--all", cid, sig, timeout=30 * SLOW).returncode == 0
    if sig == "KILL":
        assert wait_for(lambda: runtime.state(cid)["status"] == "stopped", 30)
    else:  # the sleeps are gone, the init lives on
        assert wait_for(lambda: int(read(d, "pids.current")) == 1, 30)
        assert runtime.state(cid)["status"] == "running"


@pytest.fixture
def loop_device(tmp_path):
    """A loop device over an 8 MiB file, detached afterwards."""
    import shutil
    if not shutil.which("losetup"):
        pytest.skip("no losetup")
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    p = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"no loop device: {p.stderr.strip()}")
    dev = p.stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev])


@V2
def test_io_throttle_slows_reads(runtime, bundle, loop_device):
    rdev = os.stat(loop_device).st_rdev
    major, minor = os.major(rdev), os.minor(rdev)
    bundle.config["linux"]["devices"] = [{"path": "/dev/xblk", "type": "b", "major": major,
                                          "minor": minor, "fileMode": 0o444}]
    res = bundle.config["linux"]["resources"]
    res["devices"].append({"allow": True, "type": "b", "major": major, "minor": minor,
                           "access": "r"})
    res["blockIO"] = {"throttleReadBpsDevice": [{"major": major, "minor": minor,
                                                 "rate": 1 << 20}]}
    # 3 MiB, bypassing the page cache, at 1 MiB/s: two seconds at least
    bundle.sh("dd if=/dev/xblk of=/dev/null bs=64k count=48 iflag=direct 2>&1").write()
    t = time.monotonic()
    p = runtime("run", "-b", bundle.path, runtime.new_id(), timeout=120 * SLOW)
    took = time.monotonic() - t
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "3145728 bytes" in p.stdout or "3.0MB" in p.stdout or "48+0 records in" in p.stdout
    assert took >= 1.8, took


def test_update_resources_are_validated(runtime, bundle, detached):
    cid, pid = detached("sleep 600")
    p = runtime("update", "-r", "-", cid, input='{"blockIO": {"throttleReadBpsDevice": '
                '[{"major": 8, "minor": 0}]}}')
    assert p.returncode == 1
    assert "linux.resources.blockIO.throttleReadBpsDevice[0].rate" in p.stderr
    assert "Traceback" not in p.stderr
    p = runtime("update", "-r", "-", cid, input='{"pids": {"limit": "many"}}')
    assert p.returncode == 1 and "linux.resources.pids.limit" in p.stderr
