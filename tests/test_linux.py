"""linux.*: namespaces (new and joined), user namespace maps, mounts and
their options, rootfs handling, masked/readonly paths, devices, sysctl."""
import os
import subprocess

import pytest

from conftest import needs_root

pytestmark = needs_root


def run_out(runtime, bundle, script, rc=0):
    bundle.sh(script).write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == rc, p.stderr
    return p.stdout


def ns_types(bundle):
    return [n["type"] for n in bundle.config["linux"]["namespaces"]]


def test_new_namespaces_differ_from_host(runtime, bundle):
    bundle.config["linux"]["namespaces"] += [{"type": "cgroup"}]
    out = run_out(runtime, bundle, "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done")
    inside = out.split()
    for n, v in zip(("pid", "net", "ipc", "uts", "mnt", "cgroup"), inside):
        assert v != os.readlink(f"/proc/self/ns/{n}"), n


def test_hostname_domainname(runtime, bundle):
    bundle.config["hostname"] = "box1"
    bundle.config["domainname"] = "example.org"
    out = run_out(runtime, bundle, "hostname; cat /proc/sys/kernel/domainname")
    assert out.split() == ["box1", "example.org"]


def test_loopback_up_only(runtime, bundle):
    for k in ("bounding", "effective", "permitted"):
        bundle.config["process"]["capabilities"][k].append("CAP_NET_RAW")
    out = run_out(runtime, bundle, "ls /sys/class/net; cat /sys/class/net/lo/operstate; "
                                   "ping -c1 -W1 127.0.0.1 >/dev/null && echo pingok")
    assert out.split() == ["lo", "unknown", "pingok"]


def test_join_namespace_by_path(runtime, bundle, tmp_path):
    # a first container's network and uts namespaces, joined by a second
    bundle.args("sleep", "30")
    bundle.config["hostname"] = "first"
    bundle.write()
    first = runtime.new_id()
    runtime("create", "-b", bundle.path, first, check=True)
    pid = runtime.state(first)["pid"]
    try:
        del bundle.config["hostname"]
        bundle.config["linux"]["namespaces"] = [
            {"type": "pid"}, {"type": "mount"}, {"type": "ipc"},
            {"type": "network", "path": f"/proc/{pid}/ns/net"},
            {"type": "uts", "path": f"/proc/{pid}/ns/uts"}]
        out = run_out(runtime, bundle, "readlink /proc/self/ns/net; hostname")
        net, host = out.split()
        assert net == os.readlink(f"/proc/{pid}/ns/net")
        assert host == "first"
    finally:
        runtime("delete", "-f", first, check=True)


def test_user_namespace_with_mappings(runtime, bundle, tmp_path):
    # rootfs owned by the mapped root, as a user would prepare it, on a path
    # it can reach (pytest's tmp dirs are 0700)
    d = bundle.path
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    subprocess.run(["chown", "-R", "-h", "100000:100000", bundle.rootfs], check=True)
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # sysfs and the cgroup mount need a network/cgroup ns owned by the userns
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    out = run_out(runtime, bundle, "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox; "
                                   "ls -la /dev/null")
    lines = out.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2] == "0"
    assert "/dev/null" in lines[3]


def test_mount_options_and_order(runtime, bundle, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data\n")
    bundle.config["mounts"] += [
        {"destination": "/mnt/ro", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
        {"destination": "/mnt/rw", "type": "bind", "source": str(src), "options": ["bind"]},
        {"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=1m", "mode=700", "noexec"]},
        {"destination": "/mnt/t/inner", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
    ]
    out = run_out(runtime, bundle, "cat /mnt/ro/f; touch /mnt/ro/x 2>/dev/null || echo rofail; "
                                   "touch /mnt/rw/y && echo rwok; stat -c %a /mnt/t; "
                                   "grep -E ' /mnt/(t|t/inner|ro) ' /proc/self/mountinfo | "
                                   "awk '{print $5, $6}'")
    lines = out.splitlines()
    assert lines[:4] == ["data", "rofail", "rwok", "700"]
    opts = dict(line.split() for line in lines[4:])
    assert opts["/mnt/ro"].startswith("ro") and "noexec" in opts["/mnt/t"]
    assert "/mnt/t/inner" in opts  # nested after its parent, in config order
    assert (src / "y").exists() and not (src / "x").exists()


def test_symlink_in_rootfs_cannot_escape(runtime, bundle, tmp_path):
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    # an absolute symlink and a ../ one, both aiming at the host
    os.symlink(str(host_dir), os.path.join(bundle.rootfs, "evil"))
    os.symlink("../../../../../../../" + str(host_dir), os.path.join(bundle.rootfs, "evil2"))
    bundle.config["mounts"] += [
        {"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/evil2/sub2", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
    ]
    run_out(runtime, bundle, "true")
    assert os.listdir(host_dir) == []  # nothing created or mounted on the host


def test_readonly_root_masked_and_readonly_paths(runtime, bundle):
    bundle.config["root"]["readonly"] = True
    out = run_out(runtime, bundle,
                  "touch /x 2>/dev/null || echo rootro; "
                  "cat /proc/kcore | wc -c; ls /sys/firmware | wc -l; "
                  "(echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null || echo sysro; "
                  "touch /dev/shm/ok && echo shmrw")
    assert out.split() == ["rootro", "0", "0", "sysro", "shmrw"]


def test_rootfs_propagation(runtime, bundle):
    bundle.config["linux"]["rootfsPropagation"] = "unbindable"
    out = run_out(runtime, bundle, "awk '$5 == \"/\" {print}' /proc/self/mountinfo")
    assert "unbindable" in out
    bundle.config["linux"]["rootfsPropagation"] = "shared"
    out = run_out(runtime, bundle, "awk '$5 == \"/\" {print}' /proc/self/mountinfo")
    assert "shared:" in out


def test_default_and_config_devices(runtime, bundle):
    bundle.config["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1,
                                          "minor": 3, "fileMode": 0o666, "uid": 7, "gid": 8}]
    bundle.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    out = run_out(runtime, bundle,
                  "for d in null zero full random urandom tty ptmx fd stdin mynull; do "
                  "test -e /dev/$d && echo $d; done; stat -c '%a %u %g %t %T' /dev/mynull; "
                  "echo x > /dev/mynull && echo writes; readlink /dev/ptmx; readlink /dev/fd")
    lines = out.splitlines()
    assert lines[:10] == ["null", "zero", "full", "random", "urandom", "tty", "ptmx", "fd",
                          "stdin", "mynull"]
    assert lines[10] == "666 7 8 1 3"
    assert lines[11:] == ["writes", "pts/ptmx", "/proc/self/fd"]


def test_device_cgroup_denies(runtime, bundle):
    # deny-all (the default spec) still leaves /dev/null usable, denies others
    bundle.config["linux"]["devices"] = [{"path": "/dev/sda0", "type": "b", "major": 8, "minor": 0}]
    out = run_out(runtime, bundle, "head -c1 /dev/sda0 2>&1 | grep -q 'not permitted' && echo denied; "
                                   "echo > /dev/null && echo nullok")
    assert out.split() == ["denied", "nullok"]


def test_sysctl(runtime, bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"}
    out = run_out(runtime, bundle, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax")
    assert out.split() == ["1", "12345678"]


@pytest.mark.cgroupv2
def test_cgroup_mount_shows_own_cgroup(runtime, bundle):
    bundle.config["linux"]["resources"]["pids"] = {"limit": 77}
    # v1: one directory per controller; v2: the container's cgroup itself
    out = run_out(runtime, bundle, "d=/sys/fs/cgroup/pids; [ -d $d ] || d=/sys/fs/cgroup; "
                                   "cat $d/pids.max; touch $d/x 2>/dev/null || echo ro")
    assert out.split() == ["77", "ro"]


def test_no_pivot(runtime, bundle):
    bundle.sh("cat /proc/self/mountinfo | wc -l").write()
    p = runtime("run", "--no-pivot", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert int(p.stdout) > 0


@pytest.mark.parametrize("kind", ["time"])
def test_time_namespace_offsets(runtime, bundle, kind):
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365}}
    out = run_out(runtime, bundle, "cut -d. -f1 /proc/uptime")
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    assert int(out) >= host + 86400 * 365 - 5


def test_tmpfs_tmpcopyup(runtime, bundle):
    os.makedirs(os.path.join(bundle.rootfs, "data", "sub"))
    with open(os.path.join(bundle.rootfs, "data", "sub", "f"), "w") as f:
        f.write("from image\n")
    os.symlink("sub/f", os.path.join(bundle.rootfs, "data", "link"))
    os.chmod(os.path.join(bundle.rootfs, "data", "sub"), 0o750)
    bundle.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["tmpcopyup", "size=1m"]})
    out = run_out(runtime, bundle, "cat /data/link; stat -c %a /data/sub; "
                                   "grep ' /data ' /proc/self/mountinfo | grep -c tmpfs; "
                                   "echo x > /data/new && echo writable")
    assert out.split() == ["from", "image", "750", "1", "writable"]
    assert not os.path.exists(os.path.join(bundle.rootfs, "data", "new"))
    assert not [n for n in os.listdir("/tmp") if n.startswith(".pyrunc-copyup-")]


def test_net_devices_moved_renamed_with_addresses(runtime, bundle):
    host, peer = "vpyrt0", "vpyrt1"
    subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", peer], check=True)
    try:
        # a documentation-range address: configured, never used for traffic
        subprocess.run(["ip", "addr", "add", "192.0.2.10/24", "dev", host], check=True)
        bundle.config["linux"]["netDevices"] = {host: {"name": "eth9"}}
        out = run_out(runtime, bundle, "ip -o addr show eth9; ip -o link show eth9")
        assert "192.0.2.10/24" in out and ",UP" in out
        assert subprocess.run(["ip", "link", "show", host], capture_output=True).returncode != 0
    finally:
        # the container's namespace took one end with it; remove what is left
        for dev in (host, peer):
            subprocess.run(["ip", "link", "del", dev], capture_output=True)


def test_net_devices_errors(runtime, bundle):
    bundle.config["linux"]["netDevices"] = {"nosuchdev0": {}}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "linux.netDevices.nosuchdev0" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                            if n["type"] != "network"]
    bundle.write()
    p = runtime("create", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 1 and "linux.netDevices" in p.stderr


def test_idmapped_bind_mount(runtime, bundle, tmp_path):
    src = tmp_path / "idsrc"
    src.mkdir()
    (src / "f").write_text("x")
    os.chown(src / "f", 1000, 1000)
    os.chown(src, 1000, 1000)  # (the kernel refuses writes into unmapped-owner dirs)
    # written into the mount's user namespace as is (as runc does): the
    # source's id containerID shows as hostID through the mount
    m = [{"containerID": 1000, "hostID": 0, "size": 1}]
    bundle.config["mounts"].append({"destination": "/idm", "type": "bind", "source": str(src),
                                    "options": ["bind"], "uidMappings": m, "gidMappings": m})
    out = run_out(runtime, bundle, "stat -c '%u %g' /idm/f; touch /idm/new && echo made")
    assert out.split() == ["0", "0", "made"]
    st = os.stat(src / "new")  # root in the container wrote as host 1000
    assert (st.st_uid, st.st_gid) == (1000, 1000)


def test_masked_directories_share_one_read_only_tmpfs(runtime, bundle):
    """As runc: every masked directory is the same read-only, empty tmpfs
    (one device), masked files are /dev/null, duplicates mask once, and
    read-only paths refuse writes."""
    bundle.config["linux"]["maskedPaths"] += ["/sys/firmware", "/proc/keys"]
    bundle.sh("stat -c %d /proc/acpi /sys/firmware /proc/scsi 2>/dev/null | sort -u | wc -l;"
              "ls -A /sys/firmware | wc -l; [ -c /proc/keys ] && echo chr;"
              "touch /sys/firmware/x 2>/dev/null || echo ro;"
              "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro2").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "0", "chr", "ro", "ro2"], p.stdout
