"""linux.netDevices as runc HEAD (runc 1.1.5 does not know the field, so
these are pyrunc's alone): moved in by ifindex into the namespace named
by an fd, renamed, addresses kept, up; with the container's own user
namespace too; runc's name validation; and, as runtime-spec says, never
moved back at delete. Each test makes its own veth pair with unique
names (this host has no dummy driver) and deletes what is left of it."""
import os
import subprocess
import time
import uuid

import pytest

from conftest import needs_root
from test_console import _userns
from test_userns import bundle  # noqa: F401  (fixture: a path mapped root can walk)

pytestmark = needs_root
pytest.importorskip("pyroute2")


def _link_exists(name, netns=None):
    cmd = ["ip", "link", "show", name]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    return subprocess.run(cmd, capture_output=True).returncode == 0


@pytest.fixture
def veth():
    """(host end, peer) of a new veth pair; whatever is left is deleted."""
    tag = uuid.uuid4().hex[:8]
    a, b = f"pnd{tag}a", f"pnd{tag}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        yield a, b
    finally:
        # A pair whose other end was in a namespace just deleted vanishes
        # asynchronously (the kernel's netns cleanup): a del may then find
        # nothing. Only a device still there after retries is a leak.
        for dev in (a, b):
            for _ in range(20):
                if not _link_exists(dev):
                    break
                subprocess.run(["ip", "link", "del", dev], capture_output=True)
                time.sleep(0.1)
            assert not _link_exists(dev), f"leaked {dev}"


@pytest.fixture
def netns():
    """A named network namespace made by the test (ip netns)."""
    name = "pnd" + uuid.uuid4().hex[:10]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def _run(runtime, bundle, script):
    bundle.sh(script).write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns"])
@pytest.mark.parametrize("rename", [False, True], ids=["same-name", "renamed"])
def test_moved_into_the_container(runtime, bundle, veth, userns, rename):
    host, _ = veth
    subprocess.run(["ip", "addr", "add", "192.0.2.10/24", "dev", host], check=True)
    if userns:
        _userns(bundle)
    inside = "ctr_eth0" if rename else host
    bundle.config["linux"]["netDevices"] = {host: {"name": inside} if rename else {}}
    out = _run(runtime, bundle, f"ip -o addr show {inside}; ip -o link show {inside}; "
                                "cat /proc/self/uid_map")
    assert "192.0.2.10/24" in out and ",UP" in out, out
    assert ("100000" in out) == userns
    # a veth dies with the namespace it was moved into, its peer with it;
    # the kernel cleans a dead namespace up asynchronously (later still
    # when a user namespace owned it), so the peer may outlive `run` a bit
    for _ in range(50):
        if not _link_exists(veth[1]):
            break
        time.sleep(0.1)
    assert not _link_exists(host) and not _link_exists(veth[1])


def test_name_template_lets_the_kernel_choose(runtime, bundle, veth):
    bundle.config["linux"]["netDevices"] = {veth[0]: {"name": "ctr%d"}}
    out = _run(runtime, bundle, "ip -o link show ctr0")
    assert "ctr0" in out


def test_a_name_taken_in_the_container_is_an_error(runtime, bundle, veth):
    bundle.config["linux"]["netDevices"] = {veth[0]: {"name": "lo"}}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1
    assert f"linux.netDevices.{veth[0]}.name: 'lo' already exists in the container" in p.stderr
    assert _link_exists(veth[0])  # never moved
    assert not os.path.exists(os.path.join(runtime.root, cid))


@pytest.mark.parametrize("key,name", [
    ("a/b", None), ("a:b", None), ("a b", None), (".", None), ("..", None),
    ("x" * 17, None), ("eth0", "bad/name"), ("eth0", ".."), ("eth0", "y" * 17),
])
def test_invalid_names_as_runc_head(runtime, bundle, key, name):
    bundle.config["linux"]["netDevices"] = {key: {"name": name} if name else {}}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    field = f"linux.netDevices.{key}" + (".name" if name else "")
    assert p.returncode == 1
    assert f'{field}: invalid network device name "{name or key}"' in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_without_a_network_namespace_as_runc_head(runtime, bundle, veth):
    lx = bundle.config["linux"]
    lx["namespaces"] = [n for n in lx["namespaces"] if n["type"] != "network"]
    lx["netDevices"] = {veth[0]: {}}
    bundle.write()
    p = runtime("create", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 1
    assert ("linux.netDevices: unable to move network devices without a NET namespace"
            in p.stderr)


def test_never_moved_back_at_delete(runtime, bundle, veth, netns):
    """runtime-spec: the runtime MUST NOT move the interface out of the
    namespace before deletion (the namespace's owner decides; runc HEAD's
    netdev.bats likewise). Joined by path, the namespace outlives the
    container, and the device stays in it, renamed."""
    for n in bundle.config["linux"]["namespaces"]:
        if n["type"] == "network":
            n["path"] = f"/run/netns/{netns}"
    bundle.config["linux"]["netDevices"] = {veth[0]: {"name": "kept0"}}
    bundle.args("/bin/sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    runtime("delete", "-f", cid, check=True)
    assert _link_exists("kept0", netns) and not _link_exists(veth[0])
    assert _link_exists(veth[1])  # its peer, still on the host


def _index(name):
    out = subprocess.run(["ip", "-o", "link", "show", name], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split(":", 1)[0])


def test_template_in_a_joined_namespace_configures_the_moved_device(runtime, bundle, veth,
                                                                    netns):
    """A "%d" template into a namespace joined by path, where the host
    device's index is already another device's (its owner's, or one the
    container's side made there): the kernel gives the moved device a new
    index, and the old one names the other device. Only the moved device
    may get the addresses and be set up; the other stays as it was (before
    the fix it was found by the old index: addressed and set up)."""
    host, _ = veth
    subprocess.run(["ip", "addr", "add", "192.0.2.10/24", "dev", host], check=True)
    idx = _index(host)
    subprocess.run(["ip", "-n", netns, "link", "add", "index", str(idx), "name", "decoy0",
                    "type", "veth", "peer", "name", "decoy1"], check=True)
    for n in bundle.config["linux"]["namespaces"]:
        if n["type"] == "network":
            n["path"] = f"/run/netns/{netns}"
    bundle.config["linux"]["netDevices"] = {host: {"name": "ctr%d"}}
    bundle.args("/bin/sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        def show(dev):
            return subprocess.run(["ip", "-n", netns, "-o", "addr", "show", dev],
                                  capture_output=True, text=True).stdout + \
                subprocess.run(["ip", "-n", netns, "-o", "link", "show", dev],
                               capture_output=True, text=True).stdout
        decoy, moved = show("decoy0"), show("ctr0")
        assert "192.0.2.10" not in decoy and ",UP" not in decoy, decoy
        assert "192.0.2.10/24" in moved and ",UP" in moved, moved
    finally:
        runtime("delete", "-f", cid, check=True)
