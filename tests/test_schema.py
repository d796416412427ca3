"""spec/*.json, the validators pyrunc.schemagen compiles from them, and
agreement of those validators with the jsonschema package.

The validators are generated into tmp_path here, so no build step is needed.
Runs without root (`runc spec` is used when runc is installed).
"""
import ast
import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

# the spec/ files of this checkout; pyrunc itself is the installed package
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from pyrunc import schemagen  # noqa: E402
from pyrunc.errors import ConfigError  # noqa: E402

jsonschema = pytest.importorskip("jsonschema")

CONFIG_SCHEMA = os.path.join(ROOT, "spec", "config-schema.json")
STATE_SCHEMA = os.path.join(ROOT, "spec", "state-schema.json")


# --------------------------------------------------------------------------
# fixtures

def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("schemagen")
    for schema, out in ((CONFIG_SCHEMA, "gen_configcheck.py"), (STATE_SCHEMA, "gen_statecheck.py")):
        with open(d / out, "w") as f:
            f.write(schemagen.generate(schema))
    return d


@pytest.fixture(scope="module")
def cfgcheck(gen_dir):
    return _load_module(gen_dir / "gen_configcheck.py", "gen_configcheck")


@pytest.fixture(scope="module")
def statecheck(gen_dir):
    return _load_module(gen_dir / "gen_statecheck.py", "gen_statecheck")


def _strict_validator_class():
    """Draft 2020-12 where "integer" excludes 1.0, as in the generated code."""
    from jsonschema import Draft202012Validator, validators
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, x: type(x) is int)
    return validators.extend(Draft202012Validator, type_checker=checker)


def _reference(schema_path):
    with open(schema_path) as f:
        schema = json.load(f)
    cls = _strict_validator_class()
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def cfgref():
    return _reference(CONFIG_SCHEMA)


@pytest.fixture(scope="module")
def stateref():
    return _reference(STATE_SCHEMA)


# What `runc spec` writes (runc 1.1); used when runc is not installed.
RUNC_DEFAULT = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"],
        "cwd": "/",
        "capabilities": {k: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                         for k in ("bounding", "effective", "permitted", "ambient")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}


@pytest.fixture(scope="module")
def runc_default(tmp_path_factory):
    runc = shutil.which("runc")
    if runc is None:
        return copy.deepcopy(RUNC_DEFAULT)
    d = tmp_path_factory.mktemp("runcspec")
    subprocess.run([runc, "spec"], cwd=d, check=True, timeout=20,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(d / "config.json") as f:
        return json.load(f)


def podman_like():
    """A config of the shape podman/crun/CRI-O generate, most sections filled."""
    caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
            "CAP_SETUID", "CAP_SYS_CHROOT"]
    return {
        "ociVersion": "1.1.0+dev",
        "process": {
            "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [1000, 10]},
            "args": ["/usr/bin/sleep", "infinity"],
            "env": ["PATH=/usr/bin:/bin", "container=podman", "HOSTNAME=c0ffee"],
            "cwd": "/home/app",
            "capabilities": {k: list(caps) for k in
                             ("bounding", "effective", "inheritable", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576},
                        {"type": "RLIMIT_NPROC", "hard": 4194304, "soft": 4194304}],
            "oomScoreAdj": 0,
            "apparmorProfile": "containers-default-0.50.0",
            "selinuxLabel": "system_u:system_r:container_t:s0:c1,c2",
            "terminal": False,
            "consoleSize": {"height": 24, "width": 80},
            "noNewPrivileges": False,
        },
        "root": {"path": "/var/lib/containers/storage/overlay/abc/merged"},
        "hostname": "c0ffee",
        "domainname": "example.org",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/etc/hosts", "type": "bind",
             "source": "/run/containers/storage/overlay-containers/abc/userdata/hosts",
             "options": ["bind", "rprivate", "nosuid", "noexec", "nodev"]},
            {"destination": "/data", "type": "bind", "source": "/srv/data",
             "options": ["rbind", "idmap"],
             "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
             "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "hooks": {
            "prestart": [{"path": "/usr/libexec/podman/hook", "args": ["hook", "prestart"]}],
            "createRuntime": [{"path": "/usr/bin/nvidia-ctk",
                               "args": ["nvidia-ctk", "hook", "create"],
                               "env": ["NVIDIA_VISIBLE_DEVICES=all"], "timeout": 10}],
            "createContainer": [{"path": "/bin/true"}],
            "startContainer": [{"path": "/bin/true", "args": ["true"]}],
            "poststart": [{"path": "/bin/true"}],
            "poststop": [{"path": "/usr/bin/podman",
                          "args": ["/usr/bin/podman", "--root", "/var/lib/containers",
                                   "container", "cleanup", "abc"],
                          "env": [], "timeout": 30}],
        },
        "annotations": {
            "io.container.manager": "libpod",
            "org.opencontainers.image.stopSignal": "15",
            "io.podman.annotations.autoremove": "FALSE",
            "empty.value": "",
        },
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "network", "path": "/run/netns/cni-1234"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "cgroup"},
                {"type": "user", "path": "/proc/4242/ns/user"},
                {"type": "time"},
            ],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "timeOffsets": {"monotonic": {"secs": -3600, "nanosecs": 0},
                            "boottime": {"secs": 86400, "nanosecs": 500}},
            "devices": [
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                 "fileMode": 438, "uid": 0, "gid": 0},
                {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0},
                {"path": "/dev/pipe0", "type": "p"},
            ],
            "netDevices": {"eth1": {"name": "net1"}},
            "cgroupsPath": "machine.slice:libpod:abc",
            "resources": {
                "devices": [{"allow": False, "access": "rwm"},
                            {"allow": True, "type": "c", "major": 10, "minor": 229,
                             "access": "rwm"},
                            {"allow": True, "type": "b", "major": -1, "minor": -1,
                             "access": "r"}],
                "memory": {"limit": 536870912, "reservation": 268435456,
                           "swap": 1073741824, "swappiness": 60,
                           "disableOOMKiller": False, "useHierarchy": True,
                           "checkBeforeUpdate": False},
                "cpu": {"shares": 1024, "quota": 50000, "burst": 10000, "period": 100000,
                        "realtimeRuntime": 0, "realtimePeriod": 1000000,
                        "cpus": "0-3,7", "mems": "0", "idle": 0},
                "blockIO": {
                    "weight": 500, "leafWeight": 300,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 104857600}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 52428800}],
                    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 500}],
                },
                "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
                "network": {"classID": 1048577,
                            "priorities": [{"name": "eth0", "priority": 500}]},
                "pids": {"limit": 2048},
                "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000},
                         "rxe3": {"hcaObjects": 1000}},
                "unified": {"memory.high": "400000000", "io.max": "8:0 rbps=2097152"},
            },
            "intelRdt": {"closID": "guaranteed", "l3CacheSchema": "L3:0=7f0;1=1f",
                         "memBwSchema": "MB:0=20;1=70", "schemata": ["L2:0=ff"],
                         "enableMonitoring": True},
            "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"},
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 38,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "listenerPath": "/run/seccomp-agent.sock",
                "listenerMetadata": "opaque",
                "syscalls": [
                    {"names": ["accept", "accept4", "read", "write", "exit_group"],
                     "action": "SCMP_ACT_ALLOW"},
                    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                               "op": "SCMP_CMP_MASKED_EQ"}]},
                    {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                    {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"},
                ],
            },
            "rootfsPropagation": "rslave",
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/sys"],
            "mountLabel": "system_u:object_r:container_file_t:s0:c1,c2",
            "personality": {"domain": "LINUX", "flags": []},
            "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0-1",
                             "flags": ["MPOL_F_STATIC_NODES"]},
        },
    }


def podman_sched():
    """process.scheduler/ioPriority/execCPUAffinity (a separate doc: exec-ish)."""
    d = podman_like()
    d["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "nice": -5, "priority": 0,
                                 "flags": ["SCHED_FLAG_RESET_ON_FORK"],
                                 "runtime": 10000000, "deadline": 20000000,
                                 "period": 30000000}
    d["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    d["process"]["execCPUAffinity"] = {"initial": "0", "final": "0-3"}
    return d


# --------------------------------------------------------------------------
# helpers

def _fmt(parts):
    """A jsonschema path (deque) in the generated validator's format."""
    s = ""
    for k in parts:
        if isinstance(k, int):
            s += f"[{k}]"
        elif k and k.replace("_", "").replace("-", "").isalnum():
            s = s + "." + k if s else k
        else:
            s += '["' + k.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return s


def reference_paths(ref, doc):
    """Every location the jsonschema validator reports a fault at, our format."""
    out = set()
    for e in ref.iter_errors(doc):
        parts = list(e.absolute_path)
        if e.validator in ("required", "dependentRequired"):
            inst = e.instance
            if e.validator == "required":
                missing = [k for k in e.validator_value if k not in inst]
            else:
                missing = [n for k, needs in e.validator_value.items() if k in inst
                           for n in needs if n not in inst]
            out.update(_fmt(parts + [k]) for k in missing)
        elif "propertyNames" in e.absolute_schema_path:
            out.add(_fmt(parts + [e.instance]))
        else:
            out.add(_fmt(parts))
    return out


def check(validator, doc):
    """None if valid, else the ConfigError."""
    try:
        validator.validate(doc)
    except ConfigError as e:
        assert isinstance(e.path, str) and isinstance(e.message, str) and e.message
        return e
    return None


def nodes(doc, parts=()):
    """(path parts, value) of every node under doc, doc itself first."""
    yield parts, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from nodes(v, parts + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from nodes(v, parts + (i,))


class _Swap:
    """Put `value` at `parts` in doc for the duration of a with block."""

    def __init__(self, doc, parts, value=None, remove=False):
        self.doc, self.parts, self.value, self.remove = doc, parts, value, remove

    def __enter__(self):
        if not self.parts:
            return self.value
        node = self.doc
        for k in self.parts[:-1]:
            node = node[k]
        self.node, self.key = node, self.parts[-1]
        self.old = node[self.key]
        if self.remove:
            self.items = list(node.items())
            del node[self.key]
        else:
            node[self.key] = self.value
        return self.doc

    def __exit__(self, *exc):
        if not self.parts:
            return
        if self.remove:  # restore the key order too
            self.node.clear()
            self.node.update(self.items)
        else:
            self.node[self.key] = self.old


def replaced(doc, parts, value):
    with _Swap(doc, parts, value) as d:
        return copy.deepcopy(d)


def replacements(value):
    """Values of the wrong JSON type, bad enum strings, out-of-range numbers."""
    if isinstance(value, bool):
        return ["true", 1, None]
    if isinstance(value, int):
        return ["1", True, 1.5, 1.0, -1, 2 ** 32, 2 ** 64, -2 ** 63 - 1]
    if isinstance(value, str):
        return [5, None, False, "", "bogus" + value.upper()]
    if isinstance(value, list):
        return [{}, "x", [7], [], [None]]
    if isinstance(value, dict):
        return [[], "x", 0, {}]
    return []


def _shape(parts):
    """A node's place in the schema: array indices do not matter."""
    return tuple("#" if isinstance(k, int) else k for k in parts)


def mutations(doc, dedup=False):
    """(description, mutated doc, path parts, kind) for the nodes of doc.

    The document is changed in place and restored after each step, so use
    each mutated doc before asking for the next. With dedup, array elements
    of a shape already covered (the 2nd capability, the 5th mount...) are
    skipped.
    """
    done = set()
    for parts, value in list(nodes(doc)):
        shape = _shape(parts)
        if dedup and shape in done:
            continue
        done.add(shape)
        for r in replacements(value):
            with _Swap(doc, parts, r) as mdoc:
                yield f"{_fmt(parts) or '<doc>'} = {r!r}", mdoc, parts, "replace"
        if isinstance(value, dict):
            for k in list(value):
                with _Swap(doc, parts + (k,), remove=True) as mdoc:
                    yield f"del {_fmt(parts + (k,))}", mdoc, parts + (k,), "remove"


# --------------------------------------------------------------------------
# (a) real configs are accepted

def test_schemas_are_valid_2020_12():
    for path in (CONFIG_SCHEMA, STATE_SCHEMA):
        with open(path) as f:
            jsonschema.Draft202012Validator.check_schema(json.load(f))


def test_accepts_runc_spec_default(cfgcheck, cfgref, runc_default):
    assert check(cfgcheck, runc_default) is None
    assert cfgref.is_valid(runc_default)


@pytest.mark.parametrize("make", [podman_like, podman_sched])
def test_accepts_podman_like(cfgcheck, cfgref, make):
    doc = make()
    assert list(cfgref.iter_errors(doc)) == []
    assert check(cfgcheck, doc) is None


# --------------------------------------------------------------------------
# (b) systematic invalid mutations: same verdict as jsonschema, right path

def _focus(doc, parts):
    """Only the top-level (or linux.*) branch a deep mutation is in.

    Those branches are independent in the schema, and jsonschema is slow on
    a whole config: this keeps the test fast without weakening it.
    """
    if len(parts) < 2:
        return doc
    out = {"ociVersion": doc["ociVersion"], parts[0]: doc[parts[0]]}
    if parts[0] == "linux" and len(parts) >= 3:
        out["linux"] = {parts[1]: doc["linux"][parts[1]]}
    return out


def _agree(cfgcheck, cfgref, doc, dedup=False):
    invalid = seen = 0
    for desc, mdoc, parts, kind in mutations(doc, dedup):
        mdoc = _focus(mdoc, parts)
        seen += 1
        err = check(cfgcheck, mdoc)
        ref_paths = reference_paths(cfgref, mdoc)
        assert (err is None) == (not ref_paths), \
            f"{desc}: generated says {err or 'valid'}, jsonschema says {sorted(ref_paths) or 'valid'}"
        if err is None:
            continue
        invalid += 1
        where = _fmt(parts)
        assert err.path in ref_paths, f"{desc}: {err.path!r} not among {sorted(ref_paths)}"
        if kind == "replace":
            # the fault is the new value itself, or inside it
            assert (err.path == where or err.path.startswith(where + ".")
                    or err.path.startswith(where + "[") or where == ""), (desc, err.path)
        elif err.path != where:
            # a removed property is reported, or the partner that required it
            assert err.path.startswith(_fmt(parts[:-1])), (desc, err.path)
    return seen, invalid


def test_mutations_agree_runc_default(cfgcheck, cfgref, runc_default):
    seen, invalid = _agree(cfgcheck, cfgref, runc_default)
    assert invalid >= 400, (seen, invalid)


def test_mutations_agree_podman_like(cfgcheck, cfgref):
    seen, invalid = _agree(cfgcheck, cfgref, podman_sched(), dedup=True)
    assert invalid >= 500, (seen, invalid)


def test_scalar_faults_name_the_exact_field(cfgcheck, runc_default):
    """Wrong scalars are reported at exactly the field, never above or below it."""
    count = 0
    for parts, value in nodes(runc_default):
        if isinstance(value, (dict, list)) or not parts:
            continue
        for bad in ({"x": 1}, [1]):
            err = check(cfgcheck, replaced(runc_default, parts, bad))
            assert err is not None and err.path == _fmt(parts), (parts, err)
            count += 1
    assert count > 100


@pytest.mark.parametrize("mutate, path, message", [
    (lambda d: d["linux"]["namespaces"][2].update(type="pidd"), "linux.namespaces[2].type",
     "expected one of pid, network, mount, ipc, uts, user, cgroup, time, got 'pidd'"),
    (lambda d: d["process"].pop("cwd"), "process.cwd", "is required"),
    (lambda d: d["process"]["user"].update(uid=-1), "process.user.uid",
     "expected integer in 0..4294967294, got -1"),
    (lambda d: d["process"]["user"].update(gid=True), "process.user.gid",
     "expected integer in 0..4294967294, got true"),
    # (uid_t)-1, "leave unchanged" to setresuid/setresgid (CVE-2024-40635 class)
    (lambda d: d["process"]["user"].update(uid=4294967295), "process.user.uid",
     "expected integer in 0..4294967294, got 4294967295"),
    (lambda d: d["process"]["user"].update(gid=4294967295), "process.user.gid",
     "expected integer in 0..4294967294, got 4294967295"),
    (lambda d: d["process"]["user"].update(additionalGids=[0, 4294967295]),
     "process.user.additionalGids[1]", "expected integer in 0..4294967294, got 4294967295"),
    (lambda d: d["linux"].update(uidMappings=[{"containerID": 4294967295, "hostID": 0,
                                               "size": 1}]),
     "linux.uidMappings[0].containerID", "expected integer in 0..4294967294, got 4294967295"),
    (lambda d: d["linux"].update(gidMappings=[{"containerID": 0, "hostID": 4294967295,
                                               "size": 1}]),
     "linux.gidMappings[0].hostID", "expected integer in 0..4294967294, got 4294967295"),
    (lambda d: d["linux"].update(uidMappings=[{"containerID": 0, "hostID": 0, "size": 0}]),
     "linux.uidMappings[0].size", "expected integer in 1..4294967295, got 0"),
    (lambda d: d["mounts"][0].update(
        uidMappings=[{"containerID": 0, "hostID": 0, "size": 1}],
        gidMappings=[{"containerID": 0, "hostID": 4294967295, "size": 1}]),
     "mounts[0].gidMappings[0].hostID", "expected integer in 0..4294967294, got 4294967295"),
    (lambda d: d["linux"].update(devices=[{"type": "c", "path": "/dev/x", "major": 1,
                                           "minor": 3, "uid": 4294967295}]),
     "linux.devices[0].uid", "expected integer in 0..4294967294, got 4294967295"),
    (lambda d: d["process"]["rlimits"][0].update(soft=1024.0), "process.rlimits[0].soft",
     "expected integer in 0..18446744073709551615, got 1024.0"),
    (lambda d: d["process"]["rlimits"][0].update(type="NOFILE"), "process.rlimits[0].type",
     None),
    (lambda d: d["mounts"][3].pop("destination"), "mounts[3].destination", "is required"),
    (lambda d: d["mounts"][1]["options"].__setitem__(2, 755), "mounts[1].options[2]",
     "expected string, got 755"),
    (lambda d: d.update(ociVersion="2.0.0"), "ociVersion",
     "expected a string starting with '1.', got '2.0.0'"),
    (lambda d: d.pop("ociVersion"), "ociVersion", "is required"),
    (lambda d: d.update(hooks={"prestart": [{"args": []}]}), "hooks.prestart[0].path",
     "is required"),
    (lambda d: d.update(hooks={"poststop": [{"path": "/x", "timeout": 0}]}),
     "hooks.poststop[0].timeout", None),
    (lambda d: d.update(annotations={"": "x"}), 'annotations[""]', None),
    (lambda d: d.update(annotations={"com.example.n": 2}), 'annotations["com.example.n"]',
     "expected string, got 2"),
    (lambda d: d["linux"].update(sysctl={"net.ipv4.ip_forward": 1}),
     'linux.sysctl["net.ipv4.ip_forward"]', "expected string, got 1"),
    (lambda d: d["linux"].update(devices=[{"type": "c", "path": "/dev/x", "minor": 1}]),
     "linux.devices[0].major", "is required"),
    (lambda d: d["linux"]["resources"].update(rdma={"mlx": {}}), "linux.resources.rdma.mlx",
     "expected at least one of hcaHandles, hcaObjects"),
    (lambda d: d["mounts"][0].update(uidMappings=[]), "mounts[0].gidMappings",
     "is required when uidMappings is set"),
    (lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}),
     "linux.seccomp.syscalls[0].args[0].value", None),
    (lambda d: d["linux"].update(rootfsPropagation="rshard"), "linux.rootfsPropagation", None),
    (lambda d: d.update(process="sh"), "process", "expected object, got 'sh'"),
])
def test_messages(cfgcheck, runc_default, mutate, path, message):
    doc = copy.deepcopy(runc_default)
    mutate(doc)
    err = check(cfgcheck, doc)
    assert err is not None
    assert err.path == path
    if message is not None:
        assert err.message == message
    assert str(err) == f"{path}: {err.message}"


def test_not_an_object(cfgcheck):
    for doc in ([], "x", None, 1):
        err = check(cfgcheck, doc)
        assert err.path == "" and err.message.startswith("expected object")


# --------------------------------------------------------------------------
# (c) valid mutations are accepted by both

VALID_MUTATIONS = [
    lambda d: d.update(ociVersion="1.2.0"),
    lambda d: d.update(ociVersion="1.0.0-rc5"),
    lambda d: d.update(ociVersion="1.1.0+dev"),
    lambda d: d.update(ociVersion="1.0.2-dev"),
    lambda d: d.update(somethingNew={"nested": [1, 2, {"x": None}]}),
    lambda d: d.update(vm={"hypervisor": {"path": "/usr/bin/qemu"}}, windows={"x": 1}),
    lambda d: d.update(annotations={}),
    lambda d: d.update(annotations={"com.example.key": "", "a": "b", "ünïcode": "✓"}),
    lambda d: d.pop("root"),
    lambda d: d.pop("process"),
    lambda d: d.pop("linux"),
    lambda d: d.pop("mounts"),
    lambda d: d["process"].update(futureField=True, user={"uid": 0, "gid": 0, "extra": 1}),
    lambda d: d["process"].pop("args"),
    lambda d: d["process"]["user"].update(uid=4294967294, gid=4294967294,
                                          additionalGids=[0, 4294967294]),
    # the whole id space in one range, as the host's own uid_map
    lambda d: d["linux"].update(uidMappings=[{"containerID": 0, "hostID": 0,
                                              "size": 4294967295}]),
    lambda d: d["process"]["rlimits"][0].update(soft=2 ** 64 - 1, hard=2 ** 64 - 1),
    lambda d: d["process"]["capabilities"].update(effective=["CAP_FUTURE_THING"]),
    lambda d: d["process"].update(oomScoreAdj=-1000),
    lambda d: d["linux"].update(rootfsPropagation=""),
    lambda d: d["linux"].update(rootfsPropagation="unbindable"),
    lambda d: d["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user",
                                               "unknown": 1}),
    lambda d: d["linux"]["namespaces"].append({"type": "cgroup"}),
    lambda d: d["linux"].update(devices=[{"type": "p", "path": "/dev/fifo"}]),
    lambda d: d["linux"].update(devices=[{"type": "u", "path": "/dev/x", "major": 1,
                                          "minor": 3}]),
    lambda d: d["linux"]["resources"].update(pids={"limit": -1}, memory={"swap": -1},
                                             unified={}),
    lambda d: d["linux"]["resources"].update(rdma={"x": {"hcaHandles": 0}}),
    lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_KILL_PROCESS"}),
    lambda d: d["linux"].update(timeOffsets={}),
    lambda d: d.update(hooks={"prestart": [], "futureHook": [{"whatever": 1}]}),
    lambda d: d["mounts"].append({"destination": "tmp"}),
    lambda d: d["mounts"][0].update(options=[]),
]


@pytest.mark.parametrize("i", range(len(VALID_MUTATIONS)))
def test_valid_mutations(cfgcheck, cfgref, runc_default, i):
    doc = copy.deepcopy(runc_default)
    VALID_MUTATIONS[i](doc)
    assert list(cfgref.iter_errors(doc)) == []
    assert check(cfgcheck, doc) is None


def test_unknown_properties_everywhere(cfgcheck, cfgref):
    """An unknown key added to every object of a full config is ignored."""
    doc = podman_sched()
    for parts, value in list(nodes(doc)):
        if isinstance(value, dict) and parts[-1:] not in (("annotations",), ("sysctl",),
                                                          ("unified",), ("rdma",)):
            value["x-unknown-field"] = {"any": ["thing", 1, None]}
    # in maps the new key is a new entry, so it needs an entry's form
    for m in (doc["annotations"], doc["linux"]["sysctl"], doc["linux"]["resources"]["unified"]):
        m["x-unknown-field"] = "ok"
    doc["linux"]["resources"]["rdma"]["x-unknown-field"] = {"hcaObjects": 1, "x": []}
    assert list(cfgref.iter_errors(doc)) == []
    assert check(cfgcheck, doc) is None


# --------------------------------------------------------------------------
# the state schema

RUNC_STATE = {"ociVersion": "1.0.2-dev", "id": "c1", "pid": 4242, "status": "running",
              "bundle": "/run/bundle", "rootfs": "/run/bundle/rootfs",
              "created": "2024-01-01T00:00:00.000000000Z", "owner": ""}


@pytest.mark.parametrize("mutate, valid", [
    (lambda s: None, True),
    (lambda s: s.update(status="paused"), True),
    (lambda s: s.update(status="created", annotations={"a": "b"}), True),
    (lambda s: (s.update(status="stopped"), s.pop("pid")), True),
    (lambda s: s.update(status="stopped", pid=0), True),
    (lambda s: (s.update(status="creating"), s.pop("pid")), True),
    (lambda s: s.pop("pid"), False),
    (lambda s: (s.update(status="created"), s.pop("pid")), False),
    (lambda s: s.update(status="exited"), False),
    (lambda s: s.update(pid=-1), False),
    (lambda s: s.update(pid="4242"), False),
    (lambda s: s.update(pid=True), False),
    (lambda s: s.pop("id"), False),
    (lambda s: s.update(id=""), False),
    (lambda s: s.pop("bundle"), False),
    (lambda s: s.pop("ociVersion"), False),
    (lambda s: s.update(annotations={"k": 1}), False),
    (lambda s: s.update(annotations=[]), False),
])
def test_state(statecheck, stateref, mutate, valid):
    state = copy.deepcopy(RUNC_STATE)
    mutate(state)
    assert stateref.is_valid(state) is valid
    err = check(statecheck, state)
    assert (err is None) is valid
    if err is not None:
        assert err.path in reference_paths(stateref, state)


def test_state_messages(statecheck):
    s = dict(RUNC_STATE, status="created")
    del s["pid"]
    err = check(statecheck, s)
    assert (err.path, err.message) == ("pid", "is required")
    err = check(statecheck, dict(RUNC_STATE, status="bogus"))
    assert err.path == "status" and "creating, created, running, paused, stopped" in err.message


# --------------------------------------------------------------------------
# the compiler itself

def test_generated_module_imports_only_errors(gen_dir):
    for name in ("gen_configcheck.py", "gen_statecheck.py"):
        tree = ast.parse((gen_dir / name).read_text())
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert len(imports) == 1
        assert imports[0].module == "pyrunc.errors"
        assert [a.name for a in imports[0].names] == ["ConfigError"]
        # nothing imported anywhere else either (these schemas need no regex)
        nested = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert nested == imports


def test_import_cost_in_subprocess(gen_dir):
    code = ("import sys; before = set(sys.modules); import gen_configcheck; "
            "new = set(sys.modules) - before - {'gen_configcheck'}; "
            "print(sorted(new))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(gen_dir), ROOT]))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True, timeout=30).stdout
    assert set(eval(out)) <= {"pyrunc", "pyrunc.errors"}


def test_fast(cfgcheck):
    import time
    doc = podman_sched()
    t0 = time.perf_counter()
    for _ in range(200):
        cfgcheck.validate(doc)
    per_call = (time.perf_counter() - t0) / 200
    assert per_call < 0.002, per_call  # typically ~30 us


def test_cli_and_load_validator(tmp_path, runc_default):
    out = tmp_path / "check.py"
    assert schemagen.main([CONFIG_SCHEMA, str(out)]) == 0
    mod = _load_module(out, "cli_configcheck")
    assert mod.validate(runc_default) is None
    assert mod.SCHEMA == "spec/config-schema.json"
    assert schemagen.main([]) == 2
    assert schemagen.main([str(tmp_path / "missing.json"), str(out)]) == 1
    live = schemagen.load_validator(CONFIG_SCHEMA)
    assert live.validate(runc_default) is None
    assert schemagen.load_validator(CONFIG_SCHEMA) is live
    with pytest.raises(ConfigError):
        schemagen.load_validator(STATE_SCHEMA).validate({})


def test_generation_is_deterministic():
    assert schemagen.generate(CONFIG_SCHEMA) == schemagen.generate(CONFIG_SCHEMA)


def _compile_schema(tmp_path, schema, name):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(schema))
    out = tmp_path / f"{name}_check.py"
    schemagen.write(str(path), str(out))
    return _load_module(out, f"{name}_check"), _reference(str(path))


SYNTHETIC = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"const": "thing"},
        "size": {"type": ["integer", "null"], "exclusiveMinimum": 0, "maximum": 10},
        "ratio": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9]*$", "maxLength": 8},
        "tag": {"type": "string", "pattern": "^v\\d"},
        "flag": {"enum": [True, 1, None, "x"]},
        "list": {"type": "array", "minItems": 2, "maxItems": 3, "items": {"$ref": "#/$defs/Id"}},
        "either": {"oneOf": [{"type": "string"}, {"$ref": "#/$defs/Box"}]},
        "any": {"anyOf": [{"type": "integer", "minimum": 5}, {"type": "string", "minLength": 3}]},
        "both": {"allOf": [{"type": "integer"}, {"minimum": 3}]},
        "never": False,
        "tree": {"$ref": "#/$defs/Tree"},
        "cond": {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
    },
    "$defs": {
        "Id": {"type": "integer", "minimum": 0},
        "Box": {"type": "object", "required": ["w"], "properties": {"w": {"$ref": "#/$defs/Id"}}},
        "Tree": {"type": "object", "properties": {
            "kids": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}}},
    },
}

SYNTHETIC_DOCS = [
    {"kind": "thing"},
    {"kind": "other"},
    {},
    {"kind": "thing", "extra": 1},
    {"kind": "thing", "size": None}, {"kind": "thing", "size": 0}, {"kind": "thing", "size": 10},
    {"kind": "thing", "size": 11}, {"kind": "thing", "size": 5.0}, {"kind": "thing", "size": True},
    {"kind": "thing", "ratio": 0}, {"kind": "thing", "ratio": 0.5}, {"kind": "thing", "ratio": 1},
    {"kind": "thing", "ratio": 1.0}, {"kind": "thing", "ratio": -0.1}, {"kind": "thing", "ratio": False},
    {"kind": "thing", "name": "abc1"}, {"kind": "thing", "name": "1abc"},
    {"kind": "thing", "name": "abcdefghi"}, {"kind": "thing", "name": "ab-c"},
    {"kind": "thing", "tag": "v1.2"}, {"kind": "thing", "tag": "version"},
    {"kind": "thing", "flag": True}, {"kind": "thing", "flag": 1}, {"kind": "thing", "flag": None},
    {"kind": "thing", "flag": "x"}, {"kind": "thing", "flag": False}, {"kind": "thing", "flag": 2},
    {"kind": "thing", "flag": "y"}, {"kind": "thing", "flag": []},
    {"kind": "thing", "list": [1, 2]}, {"kind": "thing", "list": [1]},
    {"kind": "thing", "list": [1, 2, 3, 4]}, {"kind": "thing", "list": [1, -2]},
    {"kind": "thing", "either": "s"}, {"kind": "thing", "either": {"w": 1}},
    {"kind": "thing", "either": {"w": -1}}, {"kind": "thing", "either": {}},
    {"kind": "thing", "either": 3},
    {"kind": "thing", "any": 5}, {"kind": "thing", "any": 4}, {"kind": "thing", "any": "abc"},
    {"kind": "thing", "any": "ab"}, {"kind": "thing", "any": None},
    {"kind": "thing", "both": 3}, {"kind": "thing", "both": 2}, {"kind": "thing", "both": "3"},
    {"kind": "thing", "never": 1},
    {"kind": "thing", "tree": {"kids": [{"kids": []}, {"kids": [{}]}]}},
    {"kind": "thing", "tree": {"kids": [{"kids": [{"kids": 1}]}]}},
    {"kind": "thing", "cond": "ab"}, {"kind": "thing", "cond": "a"},
    {"kind": "thing", "cond": 1}, {"kind": "thing", "cond": 1.5},
]


def test_synthetic_keywords_agree(tmp_path):
    mod, ref = _compile_schema(tmp_path, SYNTHETIC, "synthetic")
    for doc in SYNTHETIC_DOCS:
        err = check(mod, doc)
        assert (err is None) == ref.is_valid(doc), (doc, err)
        if err is not None:
            paths = reference_paths(ref, doc)
            if err.path not in paths:  # a combinator picked a branch's deeper fault
                assert any(err.path.startswith(p) for p in paths), (doc, err.path, paths)
    src = (tmp_path / "synthetic_check.py").read_text()
    assert "import re" in src and "\nimport re" not in src  # lazy, inside _search only


def test_combinator_messages(tmp_path):
    mod, _ = _compile_schema(tmp_path, SYNTHETIC, "synthetic2")
    err = check(mod, {"kind": "thing", "either": {"w": -1}})
    assert err.path == "either.w"  # the only branch that got past its type check
    err = check(mod, {"kind": "thing", "any": None})
    assert err.path == "any" and err.message.startswith("does not match any allowed form")
    err = check(mod, {"kind": "thing", "either": 3})
    assert err.path == "either"
    err = check(mod, {"kind": "thing", "extra": 1})
    assert (err.path, err.message) == ("extra", "unknown property")
    err = check(mod, {"kind": "thing", "never": 1})
    assert (err.path, err.message) == ("never", "is not allowed")


@pytest.mark.parametrize("bad", [
    {"type": "string", "format": "uri"},
    {"type": "array", "uniqueItems": True},
    {"$ref": "other.json#/x"},
    {"$ref": "#/$defs/Missing"},
    {"type": "thing"},
    {"properties": {"a": {"multipleOf": 2}}},
])
def test_unsupported_keywords_refused(tmp_path, bad):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(schemagen.SchemaError):
        schemagen.generate(str(path))
