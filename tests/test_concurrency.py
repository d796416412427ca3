"""Concurrency: many commands at once, on many ids or on one, on a small
host (2 cores). Each ends in a defined result and leaves nothing behind.

PYRUNC_CONCURRENCY_REPEAT=N repeats each test N times in one run (by hand:
the suite runs them once); PYRUNC_CONCURRENT_EXECS=N sets the number of
parallel execs (60)."""
import json
import os
import statistics
import subprocess
import time

import pytest

from conftest import needs_root
from test_faults import _cgroups_named, _processes_with

pytestmark = needs_root

REPEAT = int(os.environ.get("PYRUNC_CONCURRENCY_REPEAT") or 1)
N = 100


def _spawn(rt, args, env=None):
    """Start one runtime command; its output goes to a temporary file (a
    created container inherits it and would hold a pipe open)."""
    import tempfile
    out = tempfile.TemporaryFile("w+")
    p = subprocess.Popen([rt.bin, "--root", rt.root] + [str(a) for a in args],
                         stdout=out, stderr=subprocess.STDOUT, env=env)
    p.out, p.t0 = out, time.monotonic()
    return p


def _finish(procs, timeout=120):
    """(returncode, output, seconds) of each, in order."""
    res = [None] * len(procs)
    deadline = time.monotonic() + timeout
    pending = set(range(len(procs)))
    while pending:
        for i in list(pending):
            p = procs[i]
            if p.poll() is not None:
                took = time.monotonic() - p.t0
                p.out.seek(0)
                res[i] = (p.returncode, p.out.read(), took)
                p.out.close()
                pending.discard(i)
        if pending:
            if time.monotonic() > deadline:
                for i in pending:
                    procs[i].kill()
                raise AssertionError(f"{len(pending)} command(s) still running after {timeout}s")
            time.sleep(0.005)
    return res


def _assert_clean(rt, cids, token=None):
    left = [n for n in os.listdir(rt.root) if n != ".seccomp-cache"] \
        if os.path.isdir(rt.root) else []
    left += _cgroups_named(cids)
    if token:
        left += [f"process {p}" for p in _processes_with(token)]
    assert not left, f"left behind: {left}"


def _env(token):
    return dict(os.environ, PYRUNC_FAULT_TOKEN=token)


def _repeat(fn):
    for _ in range(REPEAT):
        fn()


def test_parallel_creates_of_many_ids(runtime, bundle):
    bundle.args("sleep", "1000")
    bundle.write()

    def once():
        cids = [runtime.new_id() for _ in range(N)]
        res = _finish([_spawn(runtime, ("create", "-b", bundle.path, c)) for c in cids])
        try:
            bad = [(c, r[0], r[1]) for c, r in zip(cids, res) if r[0] != 0]
            assert not bad, f"{len(bad)} of {N} creates failed: {bad[:3]}"
            times = sorted(r[2] for r in res)
            print(f"\n{N} parallel creates: median {statistics.median(times) * 1000:.0f} ms, "
                  f"max {times[-1] * 1000:.0f} ms")
            for c in cids:
                assert runtime.state(c)["status"] == "created"
        finally:
            _finish([_spawn(runtime, ("delete", "--force", c)) for c in cids])
        _assert_clean(runtime, cids)
    _repeat(once)


def test_parallel_creates_of_one_id(runtime, bundle):
    bundle.args("sleep", "1000")
    bundle.write()

    def once():
        cid = runtime.new_id()
        res = _finish([_spawn(runtime, ("create", "-b", bundle.path, cid)) for _ in range(N)])
        try:
            won = [r for r in res if r[0] == 0]
            lost = [r for r in res if r[0] != 0]
            assert len(won) == 1, f"{len(won)} creates won: {[r[1] for r in lost][:3]}"
            odd = [r[1] for r in lost
                   if not r[1].strip().endswith("container with given ID already exists")]
            assert not odd, odd[:3]
            st = runtime.state(cid)
            assert st["status"] == "created" and st["pid"] > 0
            assert os.path.exists(f"/proc/{st['pid']}")
            assert runtime("start", cid).returncode == 0
            assert runtime.state(cid)["status"] == "running"
        finally:
            runtime("delete", "--force", cid)
        _assert_clean(runtime, [cid])
    _repeat(once)


def test_parallel_force_deletes(runtime, bundle):
    token = "pyrunc-conc-" + os.urandom(5).hex()
    bundle.args("sleep", "1000")
    bundle.config["process"]["env"].append("PYRUNC_FAULT_TOKEN=" + token)
    bundle.write()

    def once():
        cid = runtime.new_id()
        runtime("run", "-d", "-b", bundle.path, cid, check=True)
        res = _finish([_spawn(runtime, ("delete", "--force", cid)) for _ in range(10)])
        assert [r[0] for r in res] == [0] * 10, [r[1] for r in res if r[0]]
        assert not any("Traceback" in r[1] for r in res)
        _assert_clean(runtime, [cid], token)
    _repeat(once)


# what a command racing another may say (besides exiting 0)
RACE_OK = ("container not running", "container does not exist",
           "cannot start a container that has stopped", "container init exited before start",
           "cannot start an already running container")


def _race(runtime, bundle, first, second, prepare):
    token = "pyrunc-conc-" + os.urandom(5).hex()
    bundle.args("sleep", "1000")
    bundle.config["process"]["env"].append("PYRUNC_FAULT_TOKEN=" + token)
    bundle.write()

    def once():
        for _ in range(5):
            cid = runtime.new_id()
            prepare(cid)
            res = _finish([_spawn(runtime, a) for a in (first(cid), second(cid))])
            for (rc, out, _), args in zip(res, (first(cid), second(cid))):
                assert rc == 0 or any(m in out for m in RACE_OK), (args, rc, out)
                assert "Traceback" not in out, out
            st = runtime("state", cid)
            if st.returncode == 0:
                status = json.loads(st.stdout)["status"]
                assert status in ("created", "running", "stopped"), status
            p = runtime("delete", "--force", cid)
            assert p.returncode == 0, p.stderr
            _assert_clean(runtime, [cid], token)
    _repeat(once)


def test_start_racing_kill(runtime, bundle):
    _race(runtime, bundle, lambda c: ("start", c), lambda c: ("kill", c, "KILL"),
          lambda c: runtime("create", "-b", bundle.path, c, check=True))


def test_kill_racing_delete(runtime, bundle):
    _race(runtime, bundle, lambda c: ("kill", c, "KILL"), lambda c: ("delete", "--force", c),
          lambda c: runtime("run", "-d", "-b", bundle.path, c, check=True))


@pytest.mark.parametrize("n", [int(os.environ.get("PYRUNC_CONCURRENT_EXECS") or 60)])
def test_parallel_execs_report_what_happened(runtime, bundle, n):
    """Each exec exits with its process's status (it ran and printed), or
    255 with the cause when it did not run: never both, never a success
    reported as a failure."""
    bundle.args("sleep", "1000")
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)

    def once():
        res = _finish([_spawn(runtime, ("exec", cid, "sh", "-c", f"echo out{i}; exit {i % 7}"))
                       for i in range(n)])
        bad = [(i, rc, out) for i, (rc, out, _) in enumerate(res)
               if rc != i % 7 or out.strip() != f"out{i}"]
        assert not bad, f"{len(bad)} of {n} execs misreported: {bad[:3]}"
    try:
        _repeat(once)
    finally:
        runtime("delete", "--force", cid)
