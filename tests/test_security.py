"""The runtime as a security boundary: runc's CVEs as tests."""
import errno
import hashlib
import os
import sys

import pytest

from conftest import needs_root

pytestmark = needs_root


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_created_init_is_a_sealed_memfd_not_python(runtime, bundle):
    """CVE-2019-5736: /proc/<init>/exe must not be the host's interpreter."""
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        exe = os.readlink(f"/proc/{pid}/exe")
        assert exe.startswith("/memfd:pyrunc-init"), exe
        real_python = os.path.realpath(sys.executable)
        assert os.path.realpath(f"/proc/{pid}/exe") != real_python
        with pytest.raises(OSError) as e:
            os.open(f"/proc/{pid}/exe", os.O_WRONLY)
        assert e.value.errno in (errno.ETXTBSY, errno.EPERM, errno.EACCES)
        # nothing of the runtime is mapped into the waiting init
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        assert "python" not in maps and "pyrunc/" not in maps
        # non-dumpable while it waits: its fds are not reachable
        with open(f"/proc/{pid}/status") as f:
            assert "memfd:pyrunc-in" in f.read()
    finally:
        runtime("delete", "-f", cid, check=True)


def test_proc_self_exe_entrypoint_reaches_no_host_binary(runtime, bundle, tmp_path):
    """The attack: the container's program is /proc/self/exe (runc re-ran
    itself, then the container overwrote it through /proc/<pid>/exe)."""
    before = sha(os.path.realpath(sys.executable))
    bundle.args("/proc/self/exe").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    # it re-runs the sealed helper, which refuses its empty argv
    assert p.returncode != 0
    assert sha(os.path.realpath(sys.executable)) == before
    # and a script whose interpreter is /proc/self/exe
    with open(os.path.join(bundle.rootfs, "evil"), "w") as f:
        f.write("#!/proc/self/exe\n")
    os.chmod(os.path.join(bundle.rootfs, "evil"), 0o755)
    bundle.args("/evil").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode != 0
    assert sha(os.path.realpath(sys.executable)) == before


def test_container_cannot_write_through_proc_exe(runtime, bundle):
    bundle.sh("(echo x > /proc/self/exe) 2>/dev/null && echo WROTE; "
              "(echo x > /proc/1/exe) 2>/dev/null && echo WROTE1; readlink /proc/1/exe").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert "WROTE" not in p.stdout
    assert p.stdout.strip() == "/bin/busybox"


def test_cwd_is_resolved_inside_rootfs(runtime, bundle, tmp_path):
    """CVE-2024-21626: the cwd must not be a leaked host directory."""
    bundle.config["process"]["cwd"] = "/proc/self/fd/7"
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode != 0  # no fd 7 in the init: nothing of the host leaks
    # a symlinked cwd resolves inside the rootfs
    os.symlink("/", os.path.join(bundle.rootfs, "up"))
    bundle.config["process"]["cwd"] = "/up/../../../etc"
    bundle.sh("pwd; ls").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.split()[1:]) == ["group", "passwd"]


def test_only_stdio_fds_in_container(runtime, bundle):
    bundle.sh("ls -l /proc/self/fd/ | tail -n +2; ls /proc/1/fd").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0
    for line in p.stdout.splitlines():
        assert "pytest" not in line and "state" not in line and "exec.fifo" not in line


def test_mount_destination_symlink_to_proc_is_contained(runtime, bundle, tmp_path):
    # CVE-2019-19921 / CVE-2023-27561 class: a bundle symlink that would
    # redirect a mount onto the host's /proc
    os.symlink("/proc", os.path.join(bundle.rootfs, "evilproc"))
    bundle.config["mounts"].append({"destination": "/evilproc/sys", "type": "tmpfs",
                                    "source": "tmpfs", "options": ["size=1m"]})
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    # it resolves to the container's /proc/sys: refused, as runc does
    assert p.returncode != 0 and "mounts[7].destination" in p.stderr, p.stderr
    with open("/proc/self/mountinfo") as f:
        assert " /proc/sys " not in "".join(line for line in f if "tmpfs" in line)


def test_inherited_host_dir_fd_cannot_be_cwd(runtime, bundle, tmp_path):
    """CVE-2024-21626 through the caller: a directory fd left open."""
    import subprocess
    (tmp_path / "hostsecret").write_text("x")
    bundle.config["process"]["cwd"] = "/proc/self/fd/20"
    bundle.sh("ls").write()
    p = subprocess.run(["/bin/sh", "-c", f'exec 20<{tmp_path}; exec "$@"', "sh", runtime.bin,
                        "--root", runtime.root, "run", "-b", bundle.path, runtime.new_id()],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "hostsecret" not in p.stdout


def test_start_container_hook_runs_as_the_container_user(runtime, bundle):
    bundle.args("sleep", "30")
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["hooks"] = {"startContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", "id -u > /tmp/hook; grep CapEff /proc/self/status >> /tmp/hook; "
                             "readlink /proc/1/exe >> /tmp/hook 2>&1 || echo noexe >> /tmp/hook"]}]}
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    try:
        runtime("start", cid, check=True)
        with open(os.path.join(bundle.rootfs, "tmp", "hook")) as f:
            uid, capeff, exe = f.read().split("\n")[:3]
        assert uid == "1000"
        assert int(capeff.split()[1], 16) == 0
        assert "python" not in exe
    finally:
        runtime("delete", "-f", cid)


def test_kill_created_container_waiting_in_python(runtime, bundle):
    # with startContainer hooks the Python init itself waits for start
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/true"}]}
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    assert runtime("kill", cid, "TERM").returncode == 0
    import time
    for _ in range(100):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    assert runtime.state(cid)["status"] == "stopped"
    runtime("delete", cid, check=True)


# -- procfs is never trusted by its path (CVE-2019-16884, CVE-2019-19921,
#    CVE-2025-52881 classes) -------------------------------------------------

def _host_file(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(data)
    return str(p)


def _bind(src, dest):
    return {"destination": dest, "type": "bind", "source": src, "options": ["bind"]}


def _refused(runtime, bundle, field, *words):
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert p.returncode != 0, p.stdout
    assert field in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    return p


def test_sysctl_through_host_file_bound_over_proc_is_refused(runtime, bundle, tmp_path):
    """A host file bind-mounted onto /proc/sys/kernel/domainname plus the
    sysctl kernel.domainname: the runtime wrote the sysctl into the host
    file. The mount is refused (nothing but procfs and lxcfs's files under
    /proc), and the host file is untouched."""
    host = _host_file(tmp_path, "victim", "HOST DATA\n")
    bundle.config["mounts"].append(_bind(host, "/proc/sys/kernel/domainname"))
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused(runtime, bundle, f"mounts[{n}].destination", "inside /proc")
    assert open(host).read() == "HOST DATA\n"


@pytest.mark.parametrize("dest", [
    "/proc/sys/kernel/foo", "//proc/sys/kernel/domainname", "/proc/../proc/sys/kernel/domainname",
    "proc/./sys/kernel/hostname", "/proc/self/fd", "/proc/1/attr/current"])
def test_bind_under_proc_is_refused(runtime, bundle, tmp_path, dest):
    host = _host_file(tmp_path, "victim", "HOST DATA\n")
    bundle.config["mounts"].append(_bind(host, dest))
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused(runtime, bundle, f"mounts[{n}].destination", "cannot be mounted")
    assert open(host).read() == "HOST DATA\n"


def test_mount_over_proc_through_a_symlink_is_refused(runtime, bundle, tmp_path):
    """The destination as it resolves in the rootfs counts too: /k is a
    link to /proc/sys/kernel in the image, /k/domainname is /proc's."""
    host = _host_file(tmp_path, "victim", "HOST DATA\n")
    os.symlink("/proc/sys/kernel", os.path.join(bundle.rootfs, "k"))
    bundle.config["mounts"].append(_bind(host, "/k/domainname"))
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused(runtime, bundle, f"mounts[{n}].destination", "inside /proc")
    assert open(host).read() == "HOST DATA\n"


def test_non_proc_over_proc_itself_is_refused(runtime, bundle, tmp_path):
    # a tmpfs, or a bind of a plain directory, as the container's /proc
    bundle.config["mounts"].append({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"})
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused(runtime, bundle, f"mounts[{n}].destination", "not of type proc")
    d = tmp_path / "fakeproc"
    d.mkdir()
    bundle.config["mounts"][n] = _bind(str(d), "/proc")
    bundle.write()
    _refused(runtime, bundle, f"mounts[{n}].destination", "not procfs")
    # a directory of procfs is not a procfs root either
    bundle.config["mounts"][n] = _bind("/proc/sys", "/proc")
    bundle.write()
    _refused(runtime, bundle, f"mounts[{n}].destination", "not the root of a procfs")


def test_bind_of_procfs_root_onto_proc_is_allowed(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/proc", "type": "bind", "source": "/proc",
                                    "options": ["rbind"]})
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                            if n["type"] != "pid"]
    bundle.sh("test -r /proc/self/status && echo ok").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["ok"]


def test_cap_last_cap_mounted_in_the_container_is_refused(runtime, bundle, tmp_path):
    """A file saying 31 on /proc/sys/kernel/cap_last_cap: the runtime
    dropped only capabilities 0-31 and the process kept CAP_MAC_ADMIN,
    CAP_SYSLOG, CAP_BPF... (32-40). Refused by the /proc mount rule."""
    fake = _host_file(tmp_path, "cap_last_cap", "31\n")
    bundle.config["mounts"].append(_bind(fake, "/proc/sys/kernel/cap_last_cap"))
    bundle.write()
    n = len(bundle.config["mounts"]) - 1
    _refused(runtime, bundle, f"mounts[{n}].destination", "inside /proc")


def _cap_mask(names):
    from pyrunc.capabilities import BY_NAME
    m = 0
    for n in names:
        m |= 1 << BY_NAME[n]
    return m


def test_cap_last_cap_is_the_hosts(runtime, bundle, tmp_path):
    """Even with a lying cap_last_cap in the container's /proc (here put
    there by a createContainer hook, which runs in the container's mount
    namespace before pivot_root, past the config's mount rules), the
    process's sets are exactly what the config grants: the runtime read
    cap_last_cap from the host's procfs before entering."""
    fake = _host_file(tmp_path, "cap_last_cap", "31\n")
    mount = "/bin/mount" if os.path.exists("/bin/mount") else "/usr/bin/mount"
    target = os.path.join(bundle.rootfs, "proc/sys/kernel/cap_last_cap")
    bundle.config["hooks"] = {"createContainer": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"{mount} --bind {fake} {target}"]}]}
    caps = bundle.config["process"]["capabilities"]
    bundle.config["process"]["noNewPrivileges"] = False  # root's exec would gain the bounding set
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        runtime("start", cid, check=True)
        import time
        for _ in range(100):  # until the helper has exec'd sleep
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "sleep":
                    break
            time.sleep(0.02)
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
        # the hook's file was there, in the container's /proc
        assert runtime("exec", cid, "cat", "/proc/sys/kernel/cap_last_cap").stdout.strip() == "31"
        assert int(status["CapBnd"], 16) == _cap_mask(caps["bounding"]), status["CapBnd"]
        assert int(status["CapEff"], 16) == _cap_mask(caps["effective"]), status["CapEff"]
        assert int(status["CapPrm"], 16) == _cap_mask(caps["permitted"]), status["CapPrm"]
    finally:
        runtime("delete", "-f", cid)


@pytest.mark.parametrize("kind,dest", [("proc", "/proc"), ("sysfs", "/sys")])
def test_proc_or_sys_on_a_symlink_is_refused(runtime, bundle, kind, dest):
    """A rootfs whose /proc is a symlink: procfs went wherever the link
    points and the container ran without procfs at /proc (so no mask
    covered anything there). runc's words."""
    link = os.path.join(bundle.rootfs, dest.lstrip("/"))
    os.rmdir(link)
    os.makedirs(os.path.join(bundle.rootfs, "tmp/elsewhere"))
    os.symlink("/tmp/elsewhere", link)
    bundle.write()
    n = next(i for i, m in enumerate(bundle.config["mounts"]) if m["destination"] == dest)
    _refused(runtime, bundle, f"mounts[{n}].destination",
             f"filesystem '{kind}' must be mounted on ordinary directory")


def test_lxcfs_style_binds_under_proc_still_work(runtime, bundle, tmp_path):
    meminfo = _host_file(tmp_path, "meminfo", "MemTotal:       42 kB\n")
    uptime = _host_file(tmp_path, "uptime", "12.00 34.00\n")
    bundle.config["mounts"] += [_bind(meminfo, "/proc/meminfo"), _bind(uptime, "//proc/uptime")]
    bundle.sh("cat /proc/meminfo /proc/uptime").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == "MemTotal:       42 kB\n12.00 34.00\n"


def test_sysctl_is_written_only_into_the_kernels_file(runtime, bundle, tmp_path):
    """Past the config's mount rules (here a createContainer hook, which
    runs in the container's mount namespace before pivot_root, binds a
    host file over the sysctl's file): the sysctl goes through the
    container's verified procfs without crossing a mount, so it is
    refused, naming it, and the host file stays as it was."""
    host = _host_file(tmp_path, "victim", "HOST DATA\n")
    mount = "/bin/mount" if os.path.exists("/bin/mount") else "/usr/bin/mount"
    target = os.path.join(bundle.rootfs, "proc/sys/kernel/domainname")
    bundle.config["hooks"] = {"createContainer": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"{mount} --bind {host} {target}"]}]}
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.write()
    _refused(runtime, bundle, "linux.sysctl.kernel.domainname", "covered by a mount")
    assert open(host).read() == "HOST DATA\n"


def test_masked_or_readonly_path_through_a_symlink_is_an_error(runtime, bundle):
    """Masking /data/secret where /data links to /etc would mask (or fail
    to mask) something else than named: an error, not a silent skip."""
    os.symlink("/etc", os.path.join(bundle.rootfs, "data"))
    bundle.config["linux"]["maskedPaths"].append("/data/passwd")
    bundle.sh("cat /etc/passwd").write()
    n = len(bundle.config["linux"]["maskedPaths"]) - 1
    _refused(runtime, bundle, f"linux.maskedPaths[{n}]", "symlink")
    bundle.config["linux"]["maskedPaths"].pop()
    bundle.config["linux"]["readonlyPaths"].append("/data")
    bundle.write()
    n = len(bundle.config["linux"]["readonlyPaths"]) - 1
    _refused(runtime, bundle, f"linux.readonlyPaths[{n}]", "symlink")


def test_masked_proc_path_not_on_procfs_is_an_error(runtime, bundle):
    """No procfs at /proc (the config mounts none) and the image has a
    /proc/kcore: masking it would protect nothing of the kernel's."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] != "proc"]
    with open(os.path.join(bundle.rootfs, "proc", "kcore"), "w") as f:
        f.write("image file\n")
    bundle.write()
    n = bundle.config["linux"]["maskedPaths"].index("/proc/kcore")
    _refused(runtime, bundle, f"linux.maskedPaths[{n}]", "not on procfs")


def test_missing_masked_paths_are_skipped(runtime, bundle):
    bundle.config["linux"]["maskedPaths"] += ["/proc/nonexistent", "/sys/nonexistent", "/nope"]
    bundle.config["linux"]["readonlyPaths"] += ["/proc/nonexistent2", "/nope2"]
    bundle.sh("cat /proc/kcore | wc -c").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0"]
