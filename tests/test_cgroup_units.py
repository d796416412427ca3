"""Unit tests of the cgroup logic: conversions, the v1/v2 routing and the
writers over a fake cgroupfs directory (no root). The kernel-enforced
behaviour is tested in test_cgroups.py, here and in the v2 VM."""
import os

import pytest

from pyrunc import cli
from pyrunc.cgroups import resources, resources_v1, resources_v2 as v2
from pyrunc.errors import ConfigError, NotSupported


@pytest.mark.parametrize("shares,weight", [(2, 1), (1, 1), (1024, 100), (262144, 10000),
                                           (512, 59), (2048, 174)])
def test_cpu_shares_to_weight(shares, weight):
    assert v2.cpu_weight(shares) == weight


@pytest.mark.parametrize("blkio,io", [(10, 1), (1000, 10000), (500, 4950)])
def test_blkio_to_io_weight(blkio, io):
    assert v2.io_weight(blkio) == io


@pytest.mark.parametrize("swap,limit,want", [
    (None, None, None), (0, 100, None), (-1, 100, "max"), (None, -1, "max"),
    (300, 100, "200"), (100, 100, "0"), (500, -1, "500")])
def test_swap_to_v2(swap, limit, want):
    assert v2.swap_value(swap, limit, "m") == want


@pytest.mark.parametrize("swap,limit,msg", [
    (300, None, "without memory limit"), (50, 100, ">= memory limit")])
def test_swap_to_v2_refused(swap, limit, msg):
    with pytest.raises(ConfigError, match=msg):
        v2.swap_value(swap, limit, "linux.resources.memory")


@pytest.mark.parametrize("text,n", [("-1", -1), ("100", 100), ("32m", 32 << 20),
                                    ("1G", 1 << 30), ("1.5k", 1536), ("64MiB", 64 << 20),
                                    ("10 kb", 10240), ("7b", 7)])
def test_update_byte_sizes(text, n):
    assert cli._bytes(text) == n


def test_update_flags_build_resources():
    opts, pos = cli.parse_cmd("update", ["--memory", "1m", "--cpu-share", "512",
                                         "--cpu-quota", "-1", "--pids-limit", "0",
                                         "--blkio-weight", "0", "--cpuset-cpus", "0-1", "x"])
    res = cli._update_flags(opts)
    assert res == {"memory": {"limit": 1 << 20}, "cpu": {"shares": 512, "quota": -1,
                                                        "cpus": "0-1"},
                   "pids": {"limit": 0}}
    res = cli._update_flags(cli.parse_cmd("update", ["--memory", "-1", "x"])[0])
    assert res == {"memory": {"limit": -1, "swap": 0}}
    with pytest.raises(cli.Usage, match="invalid value for cpu-share"):
        cli._update_flags(cli.parse_cmd("update", ["--cpu-share", "-5", "x"])[0])


def fake_dir(tmp_path, *names):
    d = tmp_path / "cg"
    d.mkdir(exist_ok=True)
    for n in names:
        (d / n).write_text("")
    return str(d)


def content(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read()


def test_v2_memory_and_cpu_files(tmp_path):
    d = fake_dir(tmp_path, "memory.max", "memory.swap.max", "memory.low", "cpu.weight",
                 "cpu.max", "cpu.max.burst", "cpu.idle")
    v2.memory(d, {"limit": 100, "swap": 300, "reservation": 50}, False)
    assert (content(d, "memory.max"), content(d, "memory.swap.max"),
            content(d, "memory.low")) == ("100", "200", "50")
    v2.cpu(d, {"shares": 1024, "quota": 5000, "burst": 1000, "idle": 1})
    assert (content(d, "cpu.weight"), content(d, "cpu.max"), content(d, "cpu.max.burst"),
            content(d, "cpu.idle")) == ("100", "5000 100000", "1000", "1")
    with pytest.raises(NotSupported, match="swappiness"):
        v2.memory(d, {"swappiness": 10}, False)
    with pytest.raises(NotSupported, match="realtimeRuntime"):
        v2.cpu(d, {"realtimeRuntime": 10})


def test_v2_memory_without_swap_accounting(tmp_path):
    d = fake_dir(tmp_path, "memory.max")
    v2.memory(d, {"limit": 100, "swap": 100}, False)  # "no swap": nothing to do
    with pytest.raises(NotSupported, match="swap accounting"):
        v2.memory(d, {"limit": 100, "swap": 300}, False)


def test_v2_io_files(tmp_path):
    d = fake_dir(tmp_path, "io.weight", "io.max")
    v2.io(d, {"weight": 1000, "throttleReadBpsDevice": [{"major": 8, "minor": 0,
                                                         "rate": 10}]})
    assert content(d, "io.weight") == "10000"
    assert content(d, "io.max") == "8:0 rbps=10"
    with pytest.raises(NotSupported, match="leafWeight"):
        v2.io(d, {"leafWeight": 10})


def test_v1_hugetlb_names_a_wrong_page_size(tmp_path):
    d = fake_dir(tmp_path, "hugetlb.2MB.limit_in_bytes", "hugetlb.1GB.limit_in_bytes")
    resources_v1.hugetlb(d, [{"pageSize": "2MB", "limit": 4096}])
    assert content(d, "hugetlb.2MB.limit_in_bytes") == "4096"
    with pytest.raises(ConfigError) as e:
        resources_v1.hugetlb(d, [{"pageSize": "2MB", "limit": 1}, {"pageSize": "4MB",
                                                                     "limit": 1}])
    assert e.value.path == "linux.resources.hugepageLimits[1].pageSize"
    assert "1GB, 2MB" in str(e.value)


class FakeManager:
    """Routes controllers to fake directories, as the real manager does."""

    def __init__(self, v1, v2):
        self.v1, self.v2 = v1, v2

    def v1_dir(self, ctl):
        return self.v1.get(ctl)

    def v2_dir(self, ctl, field):
        if ctl is None or ctl in self.v2:
            return self.v2.get(ctl or "", None) or (self.v2 and next(iter(self.v2.values())))
        return None


def test_routing_prefers_v1_then_unified(tmp_path):
    v1pids = tmp_path / "v1pids"
    v1pids.mkdir()
    (v1pids / "pids.max").write_text("")
    uni = tmp_path / "unified"
    uni.mkdir()
    for n in ("hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"):
        (uni / n).write_text("")
    mgr = FakeManager({"pids": str(v1pids)}, {"hugetlb": str(uni)})
    resources.apply(mgr, {"pids": {"limit": 5},
                          "hugepageLimits": [{"pageSize": "2MB", "limit": 8, "rsvd": 9}]},
                    update=True)
    assert (v1pids / "pids.max").read_text() == "5"
    assert (uni / "hugetlb.2MB.max").read_text() == "8"
    assert (uni / "hugetlb.2MB.rsvd.max").read_text() == "9"
    with pytest.raises(NotSupported) as e:
        resources.apply(mgr, {"memory": {"limit": 5}}, update=True)
    assert e.value.path == "linux.resources.memory.limit" and "memory" in str(e.value)
    with pytest.raises(NotSupported) as e:
        resources.apply(mgr, {"rdma": {"mlx": {"hcaHandles": 1}}}, update=True)
    assert e.value.path == "linux.resources.rdma.mlx"


def test_v1_network_and_rdma_files(tmp_path):
    """net_cls/net_prio and rdma are not on these machines: their writers
    are checked here, the refusal for real in test_cgroups.py."""
    d = fake_dir(tmp_path, "net_cls.classid", "net_prio.ifpriomap", "rdma.max")
    resources_v1.net_cls(d, {"classID": 1048577})
    assert content(d, "net_cls.classid") == "1048577"
    resources_v1.net_prio(d, {"priorities": [{"name": "eth0", "priority": 5}]})
    assert content(d, "net_prio.ifpriomap") == "eth0 5"
    resources_v1.rdma(d, {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}})
    assert content(d, "rdma.max") == "mlx5_1 hca_handle=3 hca_object=10000"


def test_v2_unified_keys_stay_in_the_cgroup(tmp_path):
    d = fake_dir(tmp_path, "memory.high")
    v2.unified(d, {"memory.high": "1000"})
    assert content(d, "memory.high") == "1000"
    for key in ("../memory.high", "..", "a/b", ".hidden", "cgroup.procs", "cgroup.kill"):
        with pytest.raises(ConfigError) as e:
            v2.unified(d, {key: "1"})
        assert e.value.path == f"linux.resources.unified[{key!r}]"
    with pytest.raises(NotSupported, match="no control file"):
        v2.unified(d, {"memory.nosuch": "1"})


# --- zeros, false, null and empty: "not set", as runc reads them -----------

NO_CONTROLLERS = FakeManager({}, {})

# Each of these sets nothing: on a host without any controller it must not
# fail, at create or at update (resources.py's table).
UNSET = [
    {"memory": {"limit": 0, "swap": 0, "reservation": 0, "kernelTCP": 0, "kernel": 0}},
    {"memory": {"disableOOMKiller": False, "useHierarchy": False,
                "checkBeforeUpdate": True}},
    {"memory": {"swappiness": (1 << 64) - 1}},  # Docker's -1 as a uint64
    {"memory": {"limit": None, "swappiness": None, "disableOOMKiller": None}},
    {"memory": {}}, {"memory": None},
    {"cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0,
             "realtimePeriod": 0, "cpus": "", "mems": ""}},
    {"cpu": {"shares": None, "cpus": None}}, {"cpu": {}},
    {"pids": {}}, {"pids": None},
    {"blockIO": {"weight": 0}}, {"blockIO": {"weight": 0, "leafWeight": 0}},
    {"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 0, "leafWeight": 0},
                                  {"major": 8, "minor": 16}]}},
    {"blockIO": {"weightDevice": [], "throttleReadBpsDevice": [],
                 "throttleWriteBpsDevice": None, "throttleReadIOPSDevice": [],
                 "throttleWriteIOPSDevice": []}},
    {"blockIO": {}}, {"blockIO": None},
    {"hugepageLimits": []}, {"hugepageLimits": None},
    {"network": {"classID": 0, "priorities": []}}, {"network": {}},
    {"rdma": {}}, {"rdma": None}, {"unified": None},
    {"devices": []}, {"devices": None},
]


@pytest.mark.parametrize("res", UNSET)
@pytest.mark.parametrize("update", [False, True])
def test_unset_values_need_no_controller(res, update):
    resources.apply(NO_CONTROLLERS, res, update=update)


def test_pids_limit_zero_is_unset_at_create_and_one_at_update(tmp_path):
    """runc HEAD (runtime-spec 1.3, runc #4949) writes an update's pids
    limit 0 as 1; at create 0 stays "not set" here (the table's rule)."""
    resources.apply(NO_CONTROLLERS, {"pids": {"limit": 0}})
    d = fake_dir(tmp_path, "pids.max")
    resources.apply(FakeManager({"pids": d}, {}), {"pids": {"limit": 0}}, update=True)
    assert content(d, "pids.max") == "1"


def test_docker_20_10_resources_need_no_controller():
    """What Docker 20.10 sends for every container."""
    res = {"devices": [{"allow": False, "access": "rwm"}],
           "memory": {"disableOOMKiller": False}, "cpu": {"shares": 0},
           "blockIO": {"weight": 0}}
    resources.apply(NO_CONTROLLERS, res)
    # and Docker's update payload (moby's toContainerdResources)
    resources.apply(NO_CONTROLLERS, {"cpu": {"shares": 0, "period": 0, "quota": 0},
                                     "memory": {"limit": 0, "reservation": 0,
                                                "kernel": 0}}, update=True)


# Zeros that are the kernel's default: an update puts the default back
# where the control exists, and is skipped where it does not.
RESETS = [
    {"cpu": {"idle": 0}}, {"cpu": {"burst": 0}},
    {"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 0}]}},
    {"network": {"priorities": [{"name": "eth0", "priority": 0}]}},
    {"memory": {"useHierarchy": True}},
]


@pytest.mark.parametrize("res", RESETS)
@pytest.mark.parametrize("update", [False, True])
def test_defaults_need_no_controller(res, update):
    resources.apply(NO_CONTROLLERS, res, update=update)


# Each of these asks for something: without the controller it is refused,
# naming the field (runc fails too: it has no directory to write to).
SET = [
    ({"memory": {"limit": 1 << 20}}, "linux.resources.memory.limit"),
    ({"memory": {"limit": -1}}, "linux.resources.memory.limit"),
    ({"memory": {"reservation": 5}}, "linux.resources.memory.reservation"),
    ({"memory": {"swappiness": 0}}, "linux.resources.memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, "linux.resources.memory.disableOOMKiller"),
    ({"cpu": {"shares": 512}}, "linux.resources.cpu.shares"),
    ({"cpu": {"shares": 0, "quota": -1}}, "linux.resources.cpu.quota"),
    ({"cpu": {"idle": 1}}, "linux.resources.cpu.idle"),
    ({"cpu": {"cpus": "0"}}, "linux.resources.cpu.cpus"),
    ({"pids": {"limit": -1}}, "linux.resources.pids.limit"),
    ({"blockIO": {"weight": 500}}, "linux.resources.blockIO.weight"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 0},
                                   {"major": 8, "minor": 0, "weight": 10}]}},
     "linux.resources.blockIO.weightDevice[1]"),
    ({"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0},
                                              {"major": 8, "minor": 0, "rate": 10}]}},
     "linux.resources.blockIO.throttleWriteIOPSDevice[1]"),
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}, "linux.resources.hugepageLimits"),
    ({"network": {"classID": 1}}, "linux.resources.network.classID"),
    ({"network": {"priorities": [{"name": "lo", "priority": 0},
                                 {"name": "eth0", "priority": 3}]}},
     "linux.resources.network.priorities[1]"),
    ({"rdma": {"mlx": {"hcaHandles": 0}}}, "linux.resources.rdma.mlx"),
]


@pytest.mark.parametrize("res,field", SET)
@pytest.mark.parametrize("update", [False, True])
def test_set_values_without_controller_are_refused(res, field, update):
    with pytest.raises(NotSupported) as e:
        resources.apply(NO_CONTROLLERS, res, update=update)
    assert e.value.path == field


V1_FILES = ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
            "memory.soft_limit_in_bytes", "memory.swappiness", "memory.oom_control",
            "memory.use_hierarchy", "memory.kmem.tcp.limit_in_bytes",
            "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us",
            "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle", "cpuset.cpus",
            "cpuset.mems", "pids.max", "blkio.weight", "blkio.weight_device",
            "blkio.leaf_weight", "blkio.leaf_weight_device",
            "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
            "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device",
            "net_cls.classid", "net_prio.ifpriomap")
V1_CTLS = ("memory", "cpu", "cpuset", "pids", "blkio", "net_cls", "net_prio")

ALL_ZEROS = {
    "memory": {"limit": 0, "swap": 0, "reservation": 0, "kernelTCP": 0,
               "swappiness": (1 << 64) - 1, "disableOOMKiller": False,
               "useHierarchy": False},
    "cpu": {"shares": 0, "quota": 0, "period": 0, "burst": 0, "idle": 0,
            "realtimeRuntime": 0, "realtimePeriod": 0, "cpus": "", "mems": ""},
    "pids": {"limit": 0},
    "blockIO": {"weight": 0, "leafWeight": 0,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 0, "leafWeight": 0}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 0}]},
    "network": {"classID": 0, "priorities": [{"name": "eth0", "priority": 0}]},
}


def test_v1_zeros_write_nothing_at_create(tmp_path):
    d = fake_dir(tmp_path, *V1_FILES)
    resources.apply(FakeManager({c: d for c in V1_CTLS}, {}), ALL_ZEROS)
    written = {n: content(d, n) for n in V1_FILES if content(d, n)}
    assert written == {}


def test_v1_update_zeros_reset_only_the_defaults(tmp_path):
    d = fake_dir(tmp_path, *V1_FILES)
    resources.apply(FakeManager({c: d for c in V1_CTLS}, {}), ALL_ZEROS, update=True)
    written = {n: content(d, n) for n in V1_FILES if content(d, n)}
    # (v1 throttle: rate 0 removes the device's rule)
    assert written == {"cpu.cfs_burst_us": "0", "cpu.idle": "0", "pids.max": "1",
                       "blkio.throttle.read_bps_device": "8:0 0",
                       "net_prio.ifpriomap": "eth0 0"}


def test_v1_update_resets_skip_missing_files(tmp_path):
    d = fake_dir(tmp_path, "cpu.shares")  # an old kernel: no burst, no idle
    resources.apply(FakeManager({"cpu": d}, {}), {"cpu": {"burst": 0, "idle": 0}},
                    update=True)
    with pytest.raises(NotSupported) as e:
        resources.apply(FakeManager({"cpu": d}, {}), {"cpu": {"idle": 1}}, update=True)
    assert e.value.path == "linux.resources.cpu.idle"


def test_v1_set_values_are_written(tmp_path):
    d = fake_dir(tmp_path, *V1_FILES)
    mgr = FakeManager({c: d for c in V1_CTLS}, {})
    resources.apply(mgr, {"memory": {"swappiness": 0, "disableOOMKiller": True,
                                     "useHierarchy": True},
                          "pids": {"limit": -1}, "cpu": {"shares": 0, "quota": -1},
                          "blockIO": {"weight": 0, "weightDevice": [
                              {"major": 8, "minor": 0, "weight": 0},
                              {"major": 8, "minor": 16, "weight": 300}]}})
    assert (content(d, "memory.swappiness"), content(d, "memory.oom_control"),
            content(d, "memory.use_hierarchy"), content(d, "pids.max"),
            content(d, "cpu.cfs_quota_us"), content(d, "cpu.shares"),
            content(d, "blkio.weight"), content(d, "blkio.weight_device")) == \
        ("0", "1", "1", "max", "-1", "", "", "8:16 300")


def test_v1_update_disable_oom_killer_false_is_not_written(tmp_path):
    d = fake_dir(tmp_path, "memory.oom_control")
    resources.apply(FakeManager({"memory": d}, {}), {"memory": {"disableOOMKiller": False}},
                    update=True)
    assert content(d, "memory.oom_control") == ""


def test_v1_blkio_weight_without_weight_files_is_refused(tmp_path):
    """This host's case (mq-deadline/none: no CFQ or BFQ weights): 0 is
    fine, a weight is refused naming the field."""
    d = fake_dir(tmp_path, "blkio.throttle.read_bps_device")
    mgr = FakeManager({"blkio": d}, {})
    resources.apply(mgr, {"blockIO": {"weight": 0}})
    with pytest.raises(NotSupported) as e:
        resources.apply(mgr, {"blockIO": {"weight": 10}})
    assert e.value.path == "linux.resources.blockIO.weight"


V2_FILES = ("memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max",
            "cpu.max.burst", "cpu.idle", "pids.max", "io.max", "cpuset.cpus")


def test_v2_zeros_write_nothing(tmp_path):
    d = fake_dir(tmp_path, *V2_FILES)  # no io.weight: no weight control
    mgr = FakeManager({}, {"memory": d, "cpu": d, "io": d, "pids": d, "cpuset": d})
    mgr.v2_dir = lambda ctl, field: ctl and mgr.v2.get(ctl)  # (no device filter here)
    zeros = {k: v for k, v in ALL_ZEROS.items() if k != "network"}
    resources.apply(mgr, zeros)
    assert {n: content(d, n) for n in V2_FILES if content(d, n)} == {}
    resources.apply(mgr, zeros, update=True)
    # (v2: rate 0, v1's "no limit", is io.max's "max")
    assert {n: content(d, n) for n in V2_FILES if content(d, n)} == \
        {"cpu.max.burst": "0", "cpu.idle": "0", "io.max": "8:0 rbps=max", "pids.max": "1"}
    for res, field in (({"blockIO": {"weight": 100}}, "weight"),
                       ({"memory": {"swappiness": 0}}, "swappiness"),
                       ({"memory": {"kernelTCP": 1}}, "kernelTCP"),
                       ({"memory": {"disableOOMKiller": True}}, "disableOOMKiller")):
        with pytest.raises(NotSupported, match=field):
            resources.apply(mgr, res)


def test_update_resources_zeros_change_nothing(tmp_path):
    """What `update -r` payloads from containerd look like (zeros for
    every field left alone), through the same routing."""
    d = fake_dir(tmp_path, *V1_FILES)
    (tmp_path / "cg" / "cpu.shares").write_text("512")
    resources.apply(FakeManager({c: d for c in V1_CTLS}, {}),
                    {"cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": ""},
                     "memory": {"limit": 0, "swap": 0, "reservation": 0, "kernel": 0},
                     "pids": {"limit": 0}, "blockIO": {"weight": 0}}, update=True)
    assert content(d, "cpu.shares") == "512"
    # (but a pids limit 0, which runc HEAD writes as 1)
    assert {n: content(d, n) for n in V1_FILES if n != "cpu.shares" and content(d, n)} == \
        {"pids.max": "1"}


def test_v1_unlimited_memory_with_unset_swap_lifts_memsw(tmp_path):
    d = fake_dir(tmp_path, "memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    resources_v1.memory(d, {"limit": -1, "swap": 0}, True)
    assert (content(d, "memory.memsw.limit_in_bytes"),
            content(d, "memory.limit_in_bytes")) == ("-1", "-1")
    (tmp_path / "cg" / "memory.memsw.limit_in_bytes").unlink()  # no swap accounting
    (tmp_path / "cg" / "memory.limit_in_bytes").write_text("")
    resources_v1.memory(d, {"limit": -1}, False)
    assert content(d, "memory.limit_in_bytes") == "-1"


def _hier(tmp_path, own="/a/b", root="/"):
    from pyrunc.cgroups import Hierarchy
    return Hierarchy(str(tmp_path), root, ("freezer",), "freezer", own)


def test_foreign_cgroup_dirs(tmp_path):
    """The directories a container may not have: the hierarchy's root, the
    runtime's own cgroup and its ancestors, anything outside the mount."""
    from pyrunc.cgroups import foreign_reason
    h = _hier(tmp_path)
    top = str(tmp_path)
    assert "root" in foreign_reason(top, h)
    assert "root" in foreign_reason(top + "/", h)
    assert "own cgroup" in foreign_reason(top + "/a", h)
    assert "own cgroup" in foreign_reason(top + "/a/b", h)
    assert "not inside" in foreign_reason("/etc", h)
    assert foreign_reason(top + "/a/b/c", h) is None  # the default: own/<id>
    assert foreign_reason(top + "/ab", h) is None
    assert foreign_reason(top + "/x/y", h) is None


def _v1_manager(tmp_path, path, relative, own="/a"):
    from pyrunc.cgroups.v1 import Manager
    return Manager([_hier(tmp_path, own)], None, path, relative)


@pytest.mark.parametrize("path,relative", [("/", False), ("", True), ("/a", False)])
def test_cgroups_path_that_is_not_the_containers_is_refused(tmp_path, path, relative):
    with pytest.raises(ConfigError) as e:
        _v1_manager(tmp_path, path, relative)
    assert e.value.path == "linux.cgroupsPath"


def test_check_usable_over_a_fake_cgroupfs(tmp_path):
    from pyrunc.errors import ContainerError
    m = _v1_manager(tmp_path, "c", True)
    m.check_usable()  # nothing there yet: fine
    d = tmp_path / "a" / "c"
    (d / "sub").mkdir(parents=True)
    (d / "cgroup.procs").write_text("")
    (d / "sub" / "cgroup.procs").write_text("123\n456\n")
    with pytest.raises(ContainerError, match=r"^container's cgroup is not empty: "
                                             r"2 process\(es\) found$"):
        m.check_usable()
    (d / "sub" / "cgroup.procs").write_text("")
    (d / "freezer.state").write_text("FREEZING\n")
    with pytest.raises(ContainerError, match="^container's cgroup unexpectedly frozen$"):
        m.check_usable()
    (d / "freezer.state").write_text("THAWED\n")
    m.check_usable()
    # a cgroup still to be made under a frozen parent would be born frozen
    (tmp_path / "a" / "freezer.state").write_text("FROZEN\n")
    with pytest.raises(ContainerError, match="unexpectedly frozen"):
        _v1_manager(tmp_path, "new", True).check_usable()
