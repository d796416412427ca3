"""process.scheduler/ioPriority/execCPUAffinity, linux.personality and
linux.memoryPolicy, seen from inside the container (and for exec)."""
import pytest

from conftest import needs_root

pytestmark = needs_root


def run_out(runtime, bundle, script):
    bundle.sh(script).write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_scheduler_io_priority_affinity(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
    # execCPUAffinity is for exec'd processes only (runtime-spec, runc):
    # test_parity_process.py has it
    bundle.config["process"]["execCPUAffinity"] = {"initial": "0", "final": "0"}
    out = run_out(runtime, bundle, "awk '{print $19, $41}' /proc/self/stat; ionice -p $$; "
                                   "grep Cpus_allowed_list /proc/self/status")
    lines = out.splitlines()
    assert lines[0] == "5 3"  # nice 5, SCHED_BATCH
    assert lines[1] == "idle"
    import os
    if len(os.sched_getaffinity(0)) > 1:
        assert lines[2].split()[1] != "0"


def test_realtime_policy(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_FIFO", "priority": 10}
    # with RT group scheduling the container's cgroup needs an RT budget
    import os
    if os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"):
        bundle.config["linux"]["resources"]["cpu"] = {"realtimeRuntime": 10000}
    out = run_out(runtime, bundle, "awk '{print $40, $41}' /proc/self/stat")
    assert out.split() == ["10", "1"]  # rt_priority, SCHED_FIFO


def test_personality_and_memory_policy(runtime, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    out = run_out(runtime, bundle, "uname -m; head -1 /proc/self/numa_maps")
    lines = out.splitlines()
    assert lines[0] in ("i686", "i386", "armv8l")
    assert "bind:0" in lines[1]


@pytest.mark.parametrize("field,value,path", [
    ("scheduler", {"policy": "SCHED_NOPE"}, "process.scheduler.policy"),
    ("ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 9}, "process.ioPriority.priority"),
    ("execCPUAffinity", {"final": "3-1"}, "process.execCPUAffinity.final"),
])
def test_bad_values_name_the_field(runtime, bundle, field, value, path):
    bundle.config["process"][field] = value
    bundle.write()
    p = runtime("create", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 1 and path in p.stderr


def test_affinity_outside_the_machine_fails_cleanly(runtime, bundle):
    """Not for the init (runc): the container starts; an exec with it
    fails, naming the field, and leaves nothing behind."""
    import os
    bundle.config["process"]["execCPUAffinity"] = {"final": str(os.cpu_count() + 7)}
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    p = runtime("run", "-d", "-b", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    try:
        p = runtime("exec", cid, "true")
        assert p.returncode == 255 and "process.execCPUAffinity.final" in p.stderr
        pid = runtime.state(cid)["pid"]
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            assert f.read().split() == []
        assert runtime.state(cid)["status"] == "running"
    finally:
        runtime("delete", "--force", cid)
