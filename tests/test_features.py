"""`pyrunc features` against what actually works: every mode, flag and
extension it lists is used in a real container and works; what it says is
missing is refused."""
import json
import os
import subprocess

import pytest

from conftest import needs_root, pyrunc_bin

pytestmark = needs_root


@pytest.fixture(scope="module")
def features():
    p = subprocess.run([pyrunc_bin(), "features"], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def run(runtime, bundle, script="true"):
    bundle.sh(script).write()
    return runtime("run", "-b", bundle.path, runtime.new_id())


def test_version_annotation(features):
    v = subprocess.run([pyrunc_bin(), "--version"], capture_output=True, text=True,
                       check=True).stdout.splitlines()
    a = features["annotations"]
    assert v[0] == "pyrunc version " + a["org.opencontainers.runc.version"]
    assert v[1] == "commit: " + a["org.opencontainers.runc.commit"]
    assert v[4] == "libseccomp: " + a["io.github.seccomp.libseccomp.version"]
    assert features["ociVersionMax"] == v[2].split(": ")[1]


def test_memory_policy_modes_and_flags_work(features, runtime, bundle):
    mp = features["linux"]["memoryPolicy"]
    assert mp["modes"] and mp["flags"]
    for mode in mp["modes"]:
        pol = {"mode": mode}
        if mode not in ("MPOL_DEFAULT", "MPOL_LOCAL"):
            pol["nodes"] = "0"
        bundle.config["linux"]["memoryPolicy"] = pol
        p = run(runtime, bundle)
        assert p.returncode == 0, (mode, p.stderr)
    for flag in mp["flags"]:
        bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0",
                                                  "flags": [flag]}
        p = run(runtime, bundle)
        assert p.returncode == 0, (flag, p.stderr)


def test_seccomp_supported_flags_work(features, runtime, bundle):
    sc = features["linux"]["seccomp"]
    assert sc["enabled"] and set(sc["supportedFlags"]) <= set(sc["knownFlags"])
    for flag in sc["supportedFlags"]:
        if flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
            continue  # only with a NOTIFY listener: test_seccomp_notify's business
        bundle.config["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "flags": [flag],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
        p = run(runtime, bundle, "mkdir /tmp/x 2>/dev/null && exit 1; exit 0")
        assert p.returncode == 0, (flag, p.stderr)


def test_idmap_extension(features, runtime, bundle, tmp_path):
    enabled = features["linux"]["mountExtensions"]["idmap"]["enabled"]
    src = tmp_path / "idsrc"
    src.mkdir()
    m = [{"containerID": 0, "hostID": 1000, "size": 1}]
    bundle.config["mounts"].append({"destination": "/idm", "type": "bind", "source": str(src),
                                    "options": ["bind"], "uidMappings": m, "gidMappings": m})
    p = run(runtime, bundle, "stat -c %u /idm")
    assert (p.returncode == 0) == enabled, p.stderr


def test_net_devices(features, runtime, bundle):
    """Listed iff pyroute2 (the netdevices extra) is there; then it works."""
    try:
        import pyroute2  # noqa: F401
        have = True
    except ImportError:
        have = False
    assert features["linux"]["netDevices"] == {"enabled": have}
    if not have:
        bundle.config["linux"]["netDevices"] = {"lo": {}}
        p = run(runtime, bundle)
        assert p.returncode == 1 and "pyrunc[netdevices]" in p.stderr
        return
    host, peer = "vpyft0", "vpyft1"
    subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", peer], check=True)
    try:
        bundle.config["linux"]["netDevices"] = {host: {"name": "eth7"}}
        p = run(runtime, bundle, "ip -o link show eth7")
        assert p.returncode == 0 and "eth7" in p.stdout, p.stderr
    finally:
        for dev in (host, peer):
            subprocess.run(["ip", "link", "del", dev], capture_output=True)


def test_net_devices_without_the_extra(monkeypatch):
    """Without pyroute2: not listed, and one line naming the field and the
    extra (tested in-process: the installed venv has the extra)."""
    import sys
    from pyrunc import features, netdevices
    from pyrunc.errors import NotSupported
    monkeypatch.setitem(sys.modules, "pyroute2", None)
    assert features._net_devices() is False
    with pytest.raises(NotSupported) as e:
        netdevices.move(os.getpid(), {"eth0": {}})
    assert str(e.value) == ("linux.netDevices: needs pyroute2: pip install "
                            "'pyrunc[netdevices]'")


def test_namespaces_exist(features):
    from pyrunc.namespaces import PROC_NAMES
    for t in features["linux"]["namespaces"]:
        assert os.path.exists(f"/proc/self/ns/{PROC_NAMES[t]}")
