"""Unit tests of the runtime's logic: no root, no containers."""
import json
import os

import pytest

from pyrunc import cli, config, jsonlite, mountopts, paths, specgen, state
from pyrunc import syscalls as sc
from pyrunc.cgroups import resolve_path
from pyrunc.container import parse_signal
from pyrunc.errors import ConfigError, ContainerError


def test_global_and_command_flags():
    g, rest = cli.parse_global(["--root", "/r", "--log=/l", "--log-format", "json",
                                "--systemd-cgroup", "create", "--bundle", "b", "x"])
    assert (g["root"], g["log"], g["log_format"], g["systemd_cgroup"]) == ("/r", "/l", "json", True)
    opts, pos = cli.parse_cmd("create", rest[1:])
    assert opts == {"bundle": "b"} and pos == ["x"]
    opts, pos = cli.parse_cmd("kill", ["--all", "id", "9"])
    assert opts == {"all": True} and pos == ["id", "9"]
    opts, pos = cli.parse_cmd("delete", ["-f", "id"])
    assert opts == {"force": True}
    with pytest.raises(cli.Usage):
        cli.parse_cmd("delete", ["--bogus", "id"])
    with pytest.raises(cli.Usage):
        cli.parse_global(["--root"])


@pytest.mark.parametrize("s,n", [("TERM", 15), ("SIGKILL", 9), ("kill", 9), ("9", 9),
                                 ("SIGRTMIN", 34), ("RTMIN+2", 36), ("RTMAX", 64), ("USR1", 10)])
def test_parse_signal(s, n):
    assert parse_signal(s) == n


@pytest.mark.parametrize("s", ["NOPE", "0", "65", "SIGRTMAX+1"])
def test_parse_signal_bad(s):
    with pytest.raises(ContainerError):
        parse_signal(s)


def test_mount_options():
    o = mountopts.Options(["rbind", "ro", "nosuid", "rprivate", "size=1m", "mode=755",
                           "rro", "tmpcopyup"], "mounts[0]")
    assert o.flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY | sc.MS_NOSUID
    assert o.propagation == [sc.MS_PRIVATE | sc.MS_REC]
    assert o.data == "size=1m,mode=755"
    assert o.attr_set == mountopts.ATTR_RDONLY and o.extensions == ["tmpcopyup"]
    o = mountopts.Options(["ro", "rw", "nodev", "dev"], "m")
    assert o.flags == 0


def test_cgroups_path_forms():
    assert resolve_path("", "cid") == ("cid", True)
    assert resolve_path("/a/../b", "cid") == ("/b", False)
    assert resolve_path("x/y", "cid") == ("x/y", True)
    assert resolve_path("x/../../..", "cid")[0] == ""
    with pytest.raises(ConfigError) as e:
        resolve_path("machine.slice:libpod:abc", "cid")
    assert e.value.path == "linux.cgroupsPath"


def test_systemd_cgroups_path_forms():
    """runc's slice:prefix:name reading (specconv, systemd.ExpandSlice)."""
    from pyrunc.cgroups import systemd as sd
    assert sd.parse("system.slice:docker:abc", "cid") == ("system.slice", "docker-abc.scope")
    assert sd.parse(":libpod:abc", "cid") == ("system.slice", "libpod-abc.scope")
    assert sd.parse("", "cid") == ("system.slice", "runc-cid.scope")
    assert sd.parse("machine.slice:x:my-sub.slice", "c") == ("machine.slice", "my-sub.slice")
    assert sd.expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert sd.expand_slice("-.slice") == "/"
    for bad, msg in (("a:b", 'expected cgroupsPath to be of format "slice:prefix:name"'),
                     ("a:b:c:d", "slice:prefix:name"),
                     ("foo:p:n", "invalid slice name: foo"),
                     ("a--b.slice:p:n", "invalid slice name: a--b.slice"),
                     ("-a.slice:p:n", "invalid slice name"),
                     ("a/b.slice:p:n", "invalid slice name"),
                     ("system.slice:p:a/b", "invalid systemd unit name"),
                     ("system.slice:p:", "invalid systemd unit name")):
        with pytest.raises(ConfigError) as e:
            sd.parse(bad, "cid")
        assert e.value.path == "linux.cgroupsPath" and msg in str(e.value), (bad, e.value)


def test_systemd_resource_properties():
    """What SetUnitProperties gets, as runc's genV2ResourcesProperties."""
    from pyrunc.cgroups import sdprops
    inf = (1 << 64) - 1
    res = {"memory": {"limit": 100 << 20, "reservation": 50 << 20, "swap": 200 << 20},
           "cpu": {"shares": 1024, "quota": 12345, "period": 100000, "cpus": "0-1,3"},
           "pids": {"limit": -1}}
    props, fs = sdprops.resource_props(res, 252, update=True)
    d = dict(props)
    assert d["MemoryMax"] == ("t", 100 << 20) and d["MemoryLow"] == ("t", 50 << 20)
    assert d["MemorySwapMax"] == ("t", 100 << 20)
    assert d["CPUWeight"] == ("t", 100)
    # 12345us per 100ms is 123450us per s: systemd keeps 10ms steps, and so
    # does the quota written to cgroupfs afterwards
    assert d["CPUQuotaPerSecUSec"] == ("t", 130000) and d["CPUQuotaPeriodUSec"] == ("t", 100000)
    assert fs["cpu"]["quota"] == 13000 and res["cpu"]["quota"] == 12345
    assert d["TasksMax"] == ("t", inf)
    assert d["AllowedCPUs"] == ("ay", bytes([0b1011]))
    assert "DevicePolicy" not in d  # an update leaves the devices alone
    props, _ = sdprops.resource_props({"devices": [{"allow": False, "access": "rwm"}]}, 252)
    assert props[0] == ("DeviceAllow", ("a(ss)", [])) and props[1] == ("DevicePolicy", ("s", "strict"))
    allow = dict(props[2:])["DeviceAllow"][1]
    assert ("/dev/char/1:3", "rwm") in allow and ("char-136", "rwm") in allow
    props, _ = sdprops.resource_props({"unified": {"memory.high": "max", "pids.max": "0",
                                                   "io.weight": "50"}}, 252, update=True)
    assert dict(props) == {"MemoryHigh": ("t", inf), "TasksMax": ("t", 1)}
    with pytest.raises(ConfigError) as e:
        sdprops.resource_props({"unified": {"memory.max": "lots"}}, 252, update=True)
    assert e.value.path == "linux.resources.unified['memory.max']"


def test_jsonlite_roundtrip_and_errors():
    doc = {"a": [1, -2, 3.5, True, False, None, "é\"\n"], "b": {}, "c": []}
    assert json.loads(jsonlite.dumps(doc)) == doc
    assert jsonlite.dumps(doc, "  ") == json.dumps(doc, indent=2, ensure_ascii=False)
    assert jsonlite.loads(b' {"x": 1} \n') == {"x": 1}
    for bad in ('{"x": }', '{"x": 1} extra', '', 'NaN', b'\xff'):
        with pytest.raises(ConfigError):
            jsonlite.loads(bad)


def test_spec_default_matches_runc_shape():
    d = specgen.default()
    config.validate(d)
    assert d["process"]["capabilities"]["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL",
                                                        "CAP_NET_BIND_SERVICE"]
    # (runc adds a cgroup namespace on a pure cgroup v2 host)
    assert [n["type"] for n in d["linux"]["namespaces"]][:5] == ["pid", "network", "ipc", "uts",
                                                                 "mount"]
    r = specgen.default(rootless=True)
    config.validate(r)
    assert {"type": "user"} in r["linux"]["namespaces"]


def test_config_semantic_checks(tmp_path):
    d = specgen.default()
    d["process"]["terminal"] = False
    os.makedirs(tmp_path / "rootfs")
    with open(tmp_path / "config.json", "w") as f:
        json.dump(d, f)
    spec = config.load(str(tmp_path))
    assert spec.root_path == str(tmp_path / "rootfs")
    assert spec.linux.ns("pid") is not None and spec.linux.ns("user") is None
    d["linux"]["namespaces"].append({"type": "pid"})
    with pytest.raises(ConfigError) as e:
        config.Spec(d, str(tmp_path))
    assert e.value.path == "linux.namespaces[5].type"


def test_container_ids():
    for good in ("a", "abc-DEF_1.2+3", "x" * 64):
        assert state.valid_id(good)
    for bad in ("", ".", "..", "a/b", "a b", "é", "x" * 1025):
        assert not state.valid_id(bad)


def test_mkdir_all_stays_in_root(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(str(outside), root / "abs")
    os.symlink("../../../../../../outside", root / "rel")
    os.symlink("/nonexistent/deep", root / "dangling")
    rfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for p in ("abs/a/b", "rel/c", "dangling/d", "../../e"):
            os.close(paths.mkdir_all(rfd, p))
        fd = paths.make_file(rfd, "abs/file")
        os.close(fd)
    finally:
        os.close(rfd)
    assert os.listdir(outside) == []
    assert os.path.isdir(root / str(outside).lstrip("/") / "a" / "b")
    assert os.path.isdir(root / "nonexistent" / "deep" / "d")
    assert os.path.isdir(root / "e")


def test_status_derivation(tmp_path):
    st, lock = state.new(str(tmp_path), "c1", {"ociVersion": "1.0.2", "pid": 0, "status": "creating",
                                         "creator": os.getpid(), "bundle": "/b", "rootfs": "/r",
                                         "created": "x"})
    assert st.status() == "creating"
    st.d["creator"] = 2 ** 22 + 1  # no such process: a create that died half-way
    assert st.status() == "stopped"
    del st.d["status"]
    st.d["pid"] = os.getpid()
    st.d["start_time"] = state.proc_start_time(os.getpid())
    open(os.path.join(st.dir, state.FIFO), "w").close()
    assert st.status() == "created"
    os.unlink(os.path.join(st.dir, state.FIFO))
    assert st.status() == "running"
    st.d["start_time"] += 1  # same pid, another process: not ours
    assert st.status() == "stopped" and st.oci()["pid"] == 0
    st.save()
    assert state.load(str(tmp_path), "c1").d["pid"] == os.getpid()
    assert state.list_ids(str(tmp_path)) == ["c1"]
    lock.release()


def test_features_report_this_build():
    from pyrunc import features
    f = features.get()
    assert f["ociVersionMin"] == "1.0.0" and set(f["hooks"]) >= {"prestart", "poststop"}
    assert "rro" in f["mountOptions"] and "tmpcopyup" in f["mountOptions"]
    sc_ = f["linux"]["seccomp"]
    assert sc_["enabled"] and "SCMP_ACT_ERRNO" in sc_["actions"]
    assert "SCMP_ACT_NOTIFY" in sc_["actions"] and "SCMP_ACT_KILL_PROCESS" in sc_["actions"]
    assert "SCMP_ARCH_X86_64" in sc_["archs"] and "SCMP_CMP_MASKED_EQ" in sc_["operators"]
    assert f["linux"]["apparmor"] == {"enabled": False}
    assert f["linux"]["mountExtensions"]["idmap"]["enabled"] is True
    assert "mount" in f["linux"]["namespaces"]


# -- uid/gid ranges: 4294967295 is (uid_t)-1, "leave unchanged" ---------------

NOCHANGE = 4294967295


def _userns_config(uid_maps, gid_maps=None):
    d = specgen.default()
    d["linux"]["namespaces"].append({"type": "user"})
    d["linux"]["uidMappings"] = uid_maps
    d["linux"]["gidMappings"] = gid_maps if gid_maps is not None else \
        [{"containerID": 0, "hostID": 100000, "size": 65536}]
    return d


@pytest.mark.parametrize("maps, path, words", [
    ([{"containerID": 0, "hostID": 100000, "size": 65536},
      {"containerID": 4294967000, "hostID": 200000, "size": 296}],
     "linux.uidMappings[1]", "containerID 4294967000 + size 296 ends at 4294967295"),
    ([{"containerID": 65536, "hostID": 4294967000, "size": 296}],
     "linux.uidMappings[0]", "hostID 4294967000 + size 296 ends at 4294967295"),
    ([{"containerID": 1, "hostID": 0, "size": NOCHANGE}],
     "linux.uidMappings[0]", "containerID 1 + size 4294967295 ends at 4294967295"),
    ([{"containerID": 0, "hostID": 2 ** 31, "size": 2 ** 32 - 1}],
     "linux.uidMappings[0]", "hostID 2147483648 + size 4294967295 ends at 6442450942"),
])
def test_id_map_range_end_refused(maps, path, words):
    d = _userns_config(maps)
    with pytest.raises(ConfigError) as e:
        config.validate(d)
        config.Spec(d, "/b")
    assert e.value.path == path
    assert words in e.value.message and "past the last valid id 4294967294" in e.value.message


@pytest.mark.parametrize("maps", [
    [{"containerID": 0, "hostID": 0, "size": NOCHANGE}],  # the host's own map
    [{"containerID": 4294967294, "hostID": 4294967294, "size": 1}],
    [{"containerID": 4294967000, "hostID": 100000, "size": 295}],
])
def test_id_map_ranges_up_to_the_last_id_accepted(maps):
    d = _userns_config(maps, maps)
    config.validate(d)
    spec = config.Spec(d, "/b")
    assert spec.linux.uid_mappings[0].size == maps[0]["size"]


def test_mount_id_map_ranges_checked():
    d = specgen.default()
    d["mounts"].append({"destination": "/idm", "type": "bind", "source": "/x",
                        "options": ["bind"],
                        "uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}],
                        "gidMappings": [{"containerID": 1000, "hostID": 4294967290,
                                         "size": 6}]})
    config.validate(d)  # the schema has no arithmetic: config.py checks the end
    with pytest.raises(ConfigError) as e:
        config.Spec(d, "/b")
    i = len(d["mounts"]) - 1
    assert e.value.path == f"mounts[{i}].gidMappings[0]"
    assert "hostID 4294967290 + size 6 ends at 4294967295" in e.value.message


@pytest.mark.parametrize("user, path", [
    ({"uid": NOCHANGE, "gid": 0}, "process.user.uid"),
    ({"uid": 0, "gid": NOCHANGE}, "process.user.gid"),
    ({"uid": -1, "gid": 0}, "process.user.uid"),
    ({"uid": True, "gid": 0}, "process.user.uid"),
    ({"uid": 0, "gid": 0, "additionalGids": [1, 2 ** 32]}, "process.user.additionalGids[1]"),
])
def test_process_ids_checked_without_the_schema(user, path):
    """config.Process (what exec builds from the state and its flags) checks
    the ids itself, worded as the schema."""
    with pytest.raises(ConfigError) as e:
        config.Process({"args": ["sh"], "cwd": "/", "user": user})
    assert e.value.path == path
    assert e.value.message.startswith("expected integer in 0..4294967294, got ")
    p = config.Process({"args": ["sh"], "cwd": "/",
                        "user": {"uid": 4294967294, "gid": 0, "additionalGids": [4294967294]}})
    assert (p.user.uid, p.user.additional_gids) == (4294967294, [4294967294])


@pytest.mark.parametrize("doc, path, message", [
    ({"args": ["sh"], "cwd": "/", "user": {"uid": -1, "gid": 0}}, "process.user.uid",
     "expected integer in 0..4294967294, got -1"),
    ({"args": ["sh"], "cwd": "/", "user": {"uid": NOCHANGE, "gid": 0}}, "process.user.uid",
     "expected integer in 0..4294967294, got 4294967295"),
    ({"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0, "additionalGids": [NOCHANGE]}},
     "process.user.additionalGids[0]", "expected integer in 0..4294967294, got 4294967295"),
    ({"args": ["sh"], "cwd": "/", "user": {"uid": 0}}, "process.user.gid", "is required"),
    ({"args": ["sh"]}, "process.cwd", "is required"),
    ({"args": [], "cwd": "/"}, "process.args", "expected at least 1 item, got 0"),
    ({"args": ["sh"], "cwd": "/", "rlimits": [{"type": "RLIMIT_NOFILE", "soft": -1,
                                               "hard": 1}]},
     "process.rlimits[0].soft", None),
])
def test_process_file_validated_by_the_config_schema(tmp_path, doc, path, message):
    f = tmp_path / "process.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as e:
        config.load_process(str(f))
    assert e.value.path == path
    if message is not None:
        assert e.value.message == message
    f.write_text(json.dumps({"args": ["sh"], "cwd": "/", "user": {"uid": 1000, "gid": 1000}}))
    assert config.load_process(str(f)).user.uid == 1000


def _exec_opts(**kw):
    from pyrunc import execute
    return execute.ExecOptions(args=["id"], **kw)


class _State:
    d = {"process": {"args": ["sleep", "60"], "cwd": "/", "env": ["PATH=/bin"],
                     "user": {"uid": 0, "gid": 0, "additionalGids": [7]}}}


@pytest.mark.parametrize("kw, message", [
    ({"user": "4294967295"}, "--user: 4294967295 is not a valid uid (0..4294967294)"),
    ({"user": "4294967295:4294967295"}, "--user: 4294967295 is not a valid uid"),
    ({"user": "0:4294967295"}, "--user: 4294967295 is not a valid gid (0..4294967294)"),
    ({"user": "4294967296"}, "--user: 4294967296 is not a valid uid"),
    ({"user": "-1"}, "invalid --user '-1'"),
    ({"user": "0:-1"}, "invalid --user '0:-1'"),
    ({"user": "\u0661"}, "invalid --user"),  # a digit to str.isdigit, not to runc
    ({"user": ":0"}, "invalid --user"),
    ({"additional_gids": ["5", "4294967295"]},
     "--additional-gids: 4294967295 is not a valid gid (0..4294967294)"),
    ({"additional_gids": ["-1"]}, "invalid --additional-gids"),
])
def test_exec_user_flags_refuse_no_change_ids(kw, message):
    from pyrunc import execute
    with pytest.raises(ContainerError) as e:
        execute.build_process(_State(), _exec_opts(**kw))
    assert message in str(e.value)


def test_exec_user_flags_accept_the_last_id():
    from pyrunc import execute
    p = execute.build_process(_State(), _exec_opts(user="4294967294:4294967294",
                                                   additional_gids=["4294967294"]))
    assert (p.user.uid, p.user.gid, p.user.additional_gids) == \
        (4294967294, 4294967294, [7, 4294967294])
    p = execute.build_process(_State(), _exec_opts(user="1000"))
    assert (p.user.uid, p.user.gid) == (1000, 0)


@pytest.mark.parametrize("uid, gid, groups, field", [
    (NOCHANGE, 0, [], "process.user.uid"),
    (-1, 0, [], "process.user.uid"),
    (0, NOCHANGE, [], "process.user.gid"),
    (0, -1, [], "process.user.gid"),
    (0, 0, [3, NOCHANGE], "process.user.additionalGids[1]"),
    (0, 0, [-1], "process.user.additionalGids[0]"),
    (True, 0, [], "process.user.uid"),
])
def test_set_user_never_passes_no_change_ids(monkeypatch, uid, gid, groups, field):
    """The last line before the set*id calls: whatever built the process,
    (uid_t)-1 never reaches setresuid/setresgid/setgroups."""
    from types import SimpleNamespace

    from pyrunc import process
    from pyrunc.errors import InitError
    called = []
    for name in ("setgroups", "setresgid", "setresuid", "umask"):
        monkeypatch.setattr(process.os, name, lambda *a, n=name: called.append(n))
    monkeypatch.setattr(process.sc, "prctl", lambda *a: called.append("prctl"))
    user = SimpleNamespace(uid=uid, gid=gid, additional_gids=groups, umask=None)
    with pytest.raises(InitError) as e:
        process.set_user(SimpleNamespace(user=user), None)
    assert f"({field})" in str(e.value) and "0..4294967294" in str(e.value)
    assert called == []


# -- procfs is proven, never trusted by its path -----------------------------

def test_mount_destinations_are_cleaned():
    from pyrunc.mounts import clean
    for d in ("/proc/x", "//proc/x", "/proc/../proc/x", "proc/./x", "/../proc/x", "///proc//x/"):
        assert clean(d) == "/proc/x", d
    assert clean("/proc/..") == "/" and clean("/") == "/"


class _Spec:
    bundle = "/nonexistent-bundle"


@pytest.mark.parametrize("dest,typ,source,ok", [
    ("/proc", "proc", "proc", True),
    ("/proc/cpuinfo", "bind", "/etc/passwd", True),
    ("/proc/meminfo", "bind", "/etc/passwd", True),
    ("/proc/sys/kernel/ns_last_pid", "bind", "/etc/passwd", True),
    ("/proc/sys/crypto/fips_enabled", "bind", "/etc/passwd", True),
    ("/procfoo", "tmpfs", "tmpfs", True),
    ("/proc", "bind", "/proc", True),                      # a procfs root
    ("/proc/sys/kernel/domainname", "bind", "/etc/passwd", False),
    ("/proc/sys/kernel/cap_last_cap", "bind", "/etc/passwd", False),
    ("/proc/sys", "tmpfs", "tmpfs", False),
    ("/proc/self/fd", "bind", "/tmp", False),
    ("/proc/meminfo/x", "bind", "/etc/passwd", False),
    ("/proc", "tmpfs", "tmpfs", False),
    ("/proc", "bind", "/tmp", False),                      # not procfs
    ("/proc", "bind", "/proc/sys", False),                 # procfs, not its root
])
def test_check_proc_dest(dest, typ, source, ok):
    from pyrunc.mounts import check_proc_dest
    m = config.Mount({"destination": dest, "type": typ, "source": source,
                      "options": ["rbind"] if typ == "bind" else []}, 3)
    if ok:
        check_proc_dest(_Spec, m, dest)
    else:
        with pytest.raises(ConfigError) as e:
            check_proc_dest(_Spec, m, dest)
        assert e.value.path == "mounts[3].destination"
        assert "cannot be mounted" in str(e.value)


def test_procfs_handle_is_proven():
    from pyrunc import procfs
    with procfs.host() as p:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            assert p.read("sys/kernel/cap_last_cap").decode() == f.read()
        assert p.pid() == str(os.getpid())
        assert b"Name:" in p.read("self/status")
        with pytest.raises(procfs.NotProcfs, match="symlink"):
            p.open("mounts")  # a symlink to self/mounts
        with pytest.raises(procfs.NotProcfs, match="leaves procfs"):
            p.open("sys/../../etc/passwd")
        with pytest.raises(OSError):
            p.open("self/cwd")  # a magic link
        fd = os.open("/etc", os.O_PATH | os.O_CLOEXEC)
        try:
            assert p.fd_target(fd) == "/etc"
            path = procfs.fd_path(fd)
            assert path == f"/proc/self/fd/{fd}" and os.path.samestat(os.stat(path), os.stat("/etc"))
        finally:
            os.close(fd)
    for path, why in (("/sys", "is not procfs"), ("/proc/sys", "not the root of a procfs")):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        with pytest.raises(procfs.NotProcfs, match=why):
            procfs.Handle(fd, path)


def test_procfs_root_must_not_be_a_symlink(tmp_path, monkeypatch):
    from pyrunc import procfs
    os.symlink("/proc", tmp_path / "proc")
    with pytest.raises(procfs.NotProcfs, match="symlink"):
        procfs._open_root(str(tmp_path / "proc"))
    with pytest.raises(procfs.NotProcfs, match="does not exist"):
        procfs._open_root(str(tmp_path / "none"))


def test_last_cap_is_read_once_in_the_parent(monkeypatch):
    """init.preload (the parent, before the fork) finds the last cap (by
    prctl, else the host's procfs): the host's cap_last_cap; the forked
    child uses that value and never opens a procfs for it (its /proc is
    the container's)."""
    from types import SimpleNamespace

    from pyrunc import capabilities, init, procfs
    monkeypatch.setattr(capabilities, "_last_cap", None)
    init.preload(SimpleNamespace(rlimits=[], terminal=False))
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert capabilities._last_cap == int(f.read())

    def no_procfs():
        raise AssertionError("procfs read after the fork")
    monkeypatch.setattr(procfs, "host", no_procfs)
    monkeypatch.setattr(procfs, "container", no_procfs)
    assert capabilities.last_cap() == capabilities._last_cap


def test_last_cap_without_procfs_probes_the_kernel(monkeypatch):
    from pyrunc import capabilities, procfs

    def broken():
        raise procfs.NotProcfs("/proc", "is not procfs")
    monkeypatch.setattr(capabilities, "_last_cap", None)
    monkeypatch.setattr(procfs, "host", broken)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert capabilities.last_cap() == int(f.read())


def test_systemd_cgroup_names_escaped_as_systemd():
    """systemd's cg_escape: a unit whose name could be a kernel file of the
    cgroup directory ("cpu.slice", "cgroup.*", "_x") lives in "_<name>";
    the directory of the plain name is not the unit's (anyone with
    cgroupfs access could have made it). Names that systemd's versions
    escape differently are refused, as runc's invalid names are worded."""
    from pyrunc.cgroups import systemd as sd
    assert sd.expand_slice("cpu.slice") == "/_cpu.slice"
    assert sd.expand_slice("memory-a.slice") == "/_memory.slice/memory-a.slice"
    assert sd.expand_slice("_x-y.slice") == "/__x.slice/__x-y.slice"
    assert sd.expand_slice("cgroup.slice") == "/_cgroup.slice"
    assert sd.expand_slice("cpux.slice") == "/cpux.slice"
    assert sd.expand_slice("system.slice") == "/system.slice"
    assert sd._unit_path("system.slice", "_p-n.scope") == "/system.slice/__p-n.scope"
    assert sd._unit_path("io.slice", "p-n.scope") == "/_io.slice/p-n.scope"
    assert sd.parse("cpu.slice:p:n", "c") == ("cpu.slice", "p-n.scope")
    for bad, msg in (("cpu.x.slice:p:n", "invalid slice name: cpu.x.slice"),
                     ("a.slice:pids.x:n", "invalid systemd unit name 'pids.x-n.scope'")):
        with pytest.raises(ConfigError) as e:
            sd.parse(bad, "cid")
        assert e.value.path == "linux.cgroupsPath" and msg in str(e.value), (bad, e.value)


def test_wait_gone_is_bounded_names_the_init_and_reaps_it(capfd):
    """delete --force's wait for the SIGKILLed init (lifecycle._wait_gone,
    on its pidfd): a process that outlives the bound is named in a
    warning; one that dies ends the wait at once, and is reaped when it
    is ours (`run`)."""
    import signal
    import subprocess
    import time
    from pyrunc import lifecycle
    p = subprocess.Popen(["sleep", "30"])
    try:
        st = state.State("/nonexistent", "x",
                         {"pid": p.pid, "start_time": state.proc_start_time(p.pid)})
        t = time.monotonic()
        assert lifecycle._wait_gone(st, timeout=0.2) is False
        assert 0.2 <= time.monotonic() - t < 2
        assert (f"timed out after 0.2s waiting for the container's init (pid {p.pid}) "
                "to exit") in capfd.readouterr().err
        os.kill(p.pid, signal.SIGKILL)
        t = time.monotonic()
        assert lifecycle._wait_gone(st, timeout=5) is True
        assert time.monotonic() - t < 1
        assert not os.path.exists(f"/proc/{p.pid}")  # reaped here, no zombie left
        assert lifecycle._wait_gone(st, timeout=5) is True  # gone: no wait at all
    finally:
        p.kill()
        p.wait()


# last_cap under a filter that lies (needs root: seccomp_load)
FOOL = """
import sys, tempfile
from pyrunc import capabilities, seccomp, syscalls as sc
prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["prctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
     "args": [{"index": 0, "value": 23, "op": "SCMP_CMP_EQ"},
              {"index": 1, "value": 38, "op": "SCMP_CMP_GE"}]}]}
prog, flags = seccomp.compile_bpf(prof, tempfile.mkdtemp())
sc.seccomp_load(flags, prog)
print(capabilities.probe_last_cap(), capabilities.last_cap())
"""


def test_last_cap_not_fooled_by_a_filter_answering_einval():
    """A seccomp filter around the runtime answering PR_CAPBSET_READ with
    EINVAL from cap 38 on (as if the kernel ended at 37): the binary
    search says 37, but the runtime holds caps above it, so last_cap asks
    the host's procfs. (Otherwise CAP_PERFMON, CAP_BPF and
    CAP_CHECKPOINT_RESTORE stayed in the container's bounding set.)"""
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-I", "-c", FOOL], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with open("/proc/sys/kernel/cap_last_cap") as f:
        real = int(f.read())
    probed, last = map(int, p.stdout.split())
    assert probed == min(real, 37) and last == real
