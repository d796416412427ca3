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
    assert p.returncode == 0, p.stderr
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


# -- /dev/console (CVE-2025-52565): the pty bind cannot be redirected ---------
def _console_setup(bundle, tmp_path, dev, kind):
    """A host file and a /dev/console planted by the rootfs/bundle that
    names it: dev is where (the rootfs' /dev under pyrunc's tmpfs, a
    bundle directory bound on /dev, or the rootfs' own /dev without a /dev
    mount), kind what (an up-climbing absolute symlink, a relative one, a
    hard link). Returns the host file's path."""
    host = tmp_path / "host-secret"
    host.write_text("precious\n")
    devdir = os.path.join(bundle.rootfs, "dev")
    if dev == "bind":
        devdir = os.path.join(bundle.path, "devdir")
        os.makedirs(os.path.join(devdir, "pts"))
        os.symlink("pts/ptmx", os.path.join(devdir, "ptmx"))  # as a real /dev has
        os.mknod(os.path.join(devdir, "null"), 0o20666, os.makedev(1, 3))
        for m in bundle.config["mounts"]:
            if m["destination"] == "/dev":
                m.update(type="bind", source=devdir, options=["rbind"])
    elif dev == "none":
        bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                                   if m["destination"] != "/dev"]
    link = os.path.join(devdir, "console")
    if kind == "abs":
        os.symlink("/../../../../../../../.." + str(host), link)
    elif kind == "rel":
        os.symlink(os.path.relpath(str(host), devdir), link)
    else:
        os.link(str(host), link)
    bundle.config["process"]["terminal"] = True
    bundle.sh("stat -c '%F %t:%T' /dev/console $(tty); cat /proc/self/mountinfo").write()
    return str(host)


def _host_mounts_on(path):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if line.split()[4] == path or "devdir" in line.split()[4]]


@pytest.mark.parametrize("kind", ["abs", "rel"])
def test_dev_console_symlink_under_our_dev_tmpfs_is_gone(runtime, bundle, tmp_path, kind):
    """The rootfs' /dev/console symlink is hidden by pyrunc's /dev tmpfs:
    /dev/console is the pty, the host file is untouched and mounted over
    nowhere."""
    host = _console_setup(bundle, tmp_path, "tmpfs", kind)
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == lines[1] and lines[0].startswith("character special file 88:")
    inside = [line.split()[4] for line in lines[2:]]
    assert inside.count("/dev/console") == 1
    assert not any("host-secret" in m for m in inside)
    with open(host) as f:
        assert f.read() == "precious\n"
    assert not _host_mounts_on(host)


@pytest.mark.parametrize("dev", ["bind", "none"])
@pytest.mark.parametrize("kind", ["abs", "rel"])
def test_dev_console_symlink_in_a_dev_not_ours_is_refused(runtime, bundle, tmp_path, dev, kind):
    """/dev bind-mounted from a bundle directory (or the rootfs' own /dev)
    with /dev/console a symlink: never followed -- the container is refused
    (runc 1.1.5 mounts the pty wherever the relative one points)."""
    host = _console_setup(bundle, tmp_path, dev, kind)
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert p.returncode != 0
    assert "/dev/console in the container is a symlink" in p.stderr
    with open(host) as f:
        assert f.read() == "precious\n"
    assert not _host_mounts_on(host)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    # the symlink itself is left as it was
    where = os.path.join(bundle.path, "devdir") if dev == "bind" else os.path.join(bundle.rootfs,
                                                                                  "dev")
    assert os.path.islink(os.path.join(where, "console"))


def test_dev_console_hard_link_in_a_bound_dev_is_only_mounted_over(runtime, bundle, tmp_path):
    """/dev/console already there as a file (here a hard link to a host
    file): mounted over in the container, never opened for writing (runc
    1.1.5 truncates it)."""
    host = _console_setup(bundle, tmp_path, "bind", "hard")
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == lines[1] and lines[0].startswith("character special file 88:")
    with open(host) as f:
        assert f.read() == "precious\n"
    assert not _host_mounts_on(host)


def test_dev_ptmx_magic_link_is_not_followed(runtime, bundle, tmp_path):
    """The pty comes from the container's own ptmx, looked up inside the
    root without magic links: /dev/ptmx as a /proc/<pid>/root/... link
    (the host's root for a pid outside the container) is refused, here
    with the init's own, which the kernel would let us follow."""
    devdir = os.path.join(bundle.path, "devdir")
    os.makedirs(os.path.join(devdir, "pts"))
    os.symlink("/proc/self/root/dev/pts/ptmx", os.path.join(devdir, "ptmx"))
    os.mknod(os.path.join(devdir, "null"), 0o20666, os.makedev(1, 3))
    for m in bundle.config["mounts"]:
        if m["destination"] == "/dev":
            m.update(type="bind", source=devdir, options=["rbind"])
    bundle.config["process"]["terminal"] = True
    bundle.sh("tty").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode != 0
    assert "Too many levels of symbolic links: dev/ptmx" in p.stderr
    assert not os.path.exists(os.path.join(devdir, "console"))
