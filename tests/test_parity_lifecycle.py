"""Lifecycle and cgroups next to runc: the same command on the same bundle
through pyrunc and runc (1.1.5 here), the same observable result. Where
runc 1.2+ (HEAD) behaves differently from 1.1.5, HEAD's behaviour is the
one asserted, for pyrunc alone."""
import array
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import needs_root

pytestmark = needs_root
SLOW = 20 if os.environ.get("PYRUNC_V2VM") else 1  # (the v2 VM emulates: ~20x slower)
V2 = pytest.mark.cgroupv2


@pytest.fixture
def runc(tmp_path):
    """runc with a private --root; whatever it still holds is deleted."""
    exe = shutil.which("runc")
    if exe is None:
        pytest.skip("runc is not installed")
    root = str(tmp_path / "runc-state")
    r = Tool([exe, "--root", root], root)
    yield r
    if os.path.isdir(root):
        for cid in os.listdir(root):
            subprocess.run([exe, "--root", root, "delete", "-f", cid], capture_output=True)


class Tool:
    """A runtime command line; output through files (a container inherits
    them and would hold a pipe open)."""

    def __init__(self, argv, root):
        self.argv = argv
        self.root = root

    def __call__(self, *args, timeout=60 * SLOW):
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(self.argv + [str(a) for a in args], stdout=out, stderr=err,
                               text=True, timeout=timeout)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        return p

    def state(self, cid):
        p = self("state", cid)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


def ours(runtime):
    return Tool([runtime.bin, "--root", runtime.root], runtime.root)


def both(runtime, runc):
    return (("pyrunc", ours(runtime)), ("runc", runc))


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def status(rt, cid):
    p = rt("state", cid)
    return json.loads(p.stdout)["status"] if p.returncode == 0 else None


def host_pidns(bundle):
    bundle.config["linux"]["namespaces"] = [
        n for n in bundle.config["linux"]["namespaces"] if n["type"] != "pid"]


# -- --pidfd-socket (runc 1.2) ---------------------------------------------
class PidfdReceiver:
    """A listening unix socket; the first connection's message and fds."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.sock.settimeout(30 * SLOW)
        self.msg, self.fds, self.error = None, [], None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                fds = array.array("i")
                msg, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(4 * fds.itemsize))
                for level, kind, data in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                self.msg, self.fds = msg, list(fds)
        except OSError as e:
            self.error = e

    def result(self):
        self.thread.join(30 * SLOW)
        assert self.error is None, self.error
        return self.msg, self.fds

    def close(self):
        self.sock.close()
        for fd in self.fds:
            os.close(fd)


def pidfd_pid(fd):
    """The pid a pidfd refers to, from its fdinfo."""
    assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[pidfd]"
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise AssertionError("no Pid in fdinfo")


@pytest.fixture
def receiver(tmp_path):
    r = PidfdReceiver(str(tmp_path / "pidfd.sock"))
    yield r
    r.close()


@V2
def test_pidfd_socket_create_sends_the_inits_pidfd(runtime, bundle, receiver):
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, "--pidfd-socket", receiver.path, cid)
    assert p.returncode == 0, p.stderr
    msg, fds = receiver.result()
    assert msg == b"standard" and len(fds) == 1
    assert pidfd_pid(fds[0]) == runtime.state(cid)["pid"]
    # what containerd does with it: signal the init without a pid race
    signal.pidfd_send_signal(fds[0], signal.SIGKILL)
    assert wait_for(lambda: runtime.state(cid)["status"] == "stopped")
    assert runtime("delete", cid).returncode == 0


def test_pidfd_socket_run_detached(runtime, bundle, receiver):
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    p = runtime("run", "-d", "-b", bundle.path, "--pidfd-socket", receiver.path, cid)
    assert p.returncode == 0, p.stderr
    msg, fds = receiver.result()
    assert msg == b"standard"
    assert pidfd_pid(fds[0]) == runtime.state(cid)["pid"]
    assert runtime("delete", "-f", cid).returncode == 0


def test_pidfd_socket_run_in_the_foreground(runtime, bundle, receiver):
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    proc = subprocess.Popen([runtime.bin, "--root", runtime.root, "run", "-b", bundle.path,
                             "--pidfd-socket", receiver.path, cid],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        msg, fds = receiver.result()
        assert msg == b"standard"
        # (sent before the start, as runc does: wait until it runs)
        assert wait_for(lambda: status(ours(runtime), cid) == "running")
        signal.pidfd_send_signal(fds[0], signal.SIGKILL)
        assert proc.wait(30) == 128 + 9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert os.listdir(runtime.root) == []


def _gone(pid):
    """Dead (a zombie, or reaped: the file may go between two looks)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] in "ZX"
    except (FileNotFoundError, ProcessLookupError):  # ESRCH: reaped after the open
        return True


@V2
def test_pidfd_socket_exec_sends_the_processes_pidfd(runtime, bundle, receiver, tmp_path):
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        pidfile = tmp_path / "exec.pid"
        p = runtime("exec", "-d", "--pid-file", pidfile, "--pidfd-socket", receiver.path,
                    cid, "sleep", "500")
        assert p.returncode == 0, p.stderr
        msg, fds = receiver.result()
        assert msg == b"setns" and len(fds) == 1
        assert pidfd_pid(fds[0]) == int(pidfile.read_text())
        signal.pidfd_send_signal(fds[0], signal.SIGKILL)
        assert wait_for(lambda: _gone(int(pidfile.read_text())))
    finally:
        runtime("delete", "-f", cid)


def test_pidfd_socket_exec_in_the_foreground(runtime, bundle, receiver):
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        p = runtime("exec", "--pidfd-socket", receiver.path, cid, "sh", "-c", "exit 7")
        assert p.returncode == 7, p.stderr
        msg, fds = receiver.result()
        assert msg == b"setns" and len(fds) == 1
    finally:
        runtime("delete", "-f", cid)


def test_pidfd_socket_unreachable_fails_before_creating(runtime, bundle, tmp_path):
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    sock = str(tmp_path / "nobody-listens.sock")
    for cmd in ("create", "run"):
        args = [cmd, "-b", bundle.path, "--pidfd-socket", sock, cid]
        if cmd == "run":
            args.insert(1, "-d")
        p = runtime(*args)
        assert p.returncode == 1
        assert f"failed to dail {sock}: dial unix {sock}: connect: no such file or directory" \
            in p.stderr
        assert runtime("state", cid).returncode == 1
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        p = runtime("exec", "--pidfd-socket", sock, cid, "true")
        assert p.returncode == 255 and "failed to dail" in p.stderr
    finally:
        runtime("delete", "-f", cid)


# -- kill ------------------------------------------------------------------
@V2
def test_kill_of_a_stopped_container_is_not_running(runtime, bundle, runc):
    bundle.args("true").write()
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-d", "-b", bundle.path, cid)
        assert p.returncode == 0, (name, p.stderr)
        assert wait_for(lambda: status(rt, cid) == "stopped"), name
        for sig in ("TERM", "KILL"):
            p = rt("kill", cid, sig)
            assert p.returncode == 1 and "container not running" in p.stderr, (name, p)
        assert rt("delete", cid).returncode == 0, name


@V2
def test_kill_all_of_a_stopped_container_is_no_error(runtime, bundle):
    """runc 1.2 keeps --all only for this (1.1.5: "container not running")."""
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    assert wait_for(lambda: runtime.state(cid)["status"] == "stopped")
    assert runtime("kill", "--all", cid, "TERM").returncode == 0
    assert runtime("kill", "-a", cid, "KILL").returncode == 0
    assert runtime("delete", cid).returncode == 0


def _pids(rt, cid):
    p = rt("ps", "--format", "json", cid)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) or []


def _host_pidns_container(runtime, bundle):
    host_pidns(bundle)
    bundle.sh("sleep 600 & exec sleep 601").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    assert wait_for(lambda: len(_pids(runtime, cid)) == 2)
    return cid


@V2
def test_kill_in_the_host_pid_namespace_takes_every_process(runtime, bundle):
    """runc 1.2: SIGKILL of an init that is not pid 1 of its own namespace
    goes to the whole cgroup (the kernel would leave its children)."""
    cid = _host_pidns_container(runtime, bundle)
    try:
        assert runtime("kill", cid, "KILL").returncode == 0
        assert wait_for(lambda: _pids(runtime, cid) == [])
        assert runtime.state(cid)["status"] == "stopped"
    finally:
        runtime("delete", "-f", cid)


@V2
def test_kill_in_the_host_pid_namespace_once_the_init_is_gone(runtime, bundle):
    cid = _host_pidns_container(runtime, bundle)
    try:
        init = runtime.state(cid)["pid"]
        os.kill(init, signal.SIGKILL)
        assert wait_for(lambda: runtime.state(cid)["status"] == "stopped")
        left = _pids(runtime, cid)
        assert len(left) == 1 and left[0] != init
        # another signal is for the init alone: there is none
        p = runtime("kill", cid, "TERM")
        assert p.returncode == 1 and "container not running" in p.stderr
        assert _pids(runtime, cid) == left
        # SIGKILL reaches what the init left behind
        assert runtime("kill", cid, "KILL").returncode == 0
        assert wait_for(lambda: _pids(runtime, cid) == [])
        assert runtime("delete", cid).returncode == 0
    finally:
        runtime("delete", "-f", cid)


@V2
def test_kill_of_a_paused_container_with_sigkill_thaws_it(runtime, bundle):
    """runc 1.2 thaws after a SIGKILL of the init (frozen, it would not die)."""
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        assert runtime("pause", cid).returncode == 0
        assert runtime("kill", cid, "KILL").returncode == 0
        assert wait_for(lambda: runtime.state(cid)["status"] == "stopped")
        assert runtime("delete", cid).returncode == 0
    finally:
        runtime("delete", "-f", cid)


# -- list --------------------------------------------------------------------
def test_list_with_a_root_that_does_not_exist_fails(runtime, tmp_path):
    """runc 1.2: a --root given that does not exist is an error (1.1.5
    made it and listed nothing)."""
    root = str(tmp_path / "no-such-root")
    for args in (["list"], ["list", "-q"], ["list", "-f", "json"]):
        p = subprocess.run([runtime.bin, "--root", root] + args, capture_output=True, text=True)
        assert p.returncode == 1, (args, p)
        assert f"open {root}: no such file or directory" in p.stderr
        assert p.stdout == ""
        assert not os.path.exists(root)


def test_list_with_the_default_root_not_made_yet_lists_nothing(tmp_path, capsys):
    from pyrunc import cli, errors
    g, _ = cli.parse_global([])  # the default root, not given
    g["root"] = str(tmp_path / "not-yet")
    assert cli.cmd_list(g, {}, []) in (None, 0)
    assert capsys.readouterr().out.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED",
                                               "OWNER"]
    g, _ = cli.parse_global(["--root", str(tmp_path / "not-yet")])
    with pytest.raises(errors.ContainerError, match="no such file or directory"):
        cli.cmd_list(g, {}, [])


def test_list_usage_and_format_errors_as_runc(runtime, runc, tmp_path):
    for name, rt in both(runtime, runc):
        os.makedirs(rt.root, exist_ok=True)
        p = rt("list", "-f", "bad")
        assert p.returncode == 1 and "invalid format option" in p.stderr, (name, p)
        p = rt("list", "-q", "-f", "bad")  # -q is checked first
        assert p.returncode == 0 and p.stdout == "", (name, p)
        p = rt("list", "extra")
        assert p.returncode == 1 and 'requires exactly 0 argument(s)' in p.stderr, \
            (name, p)
        p = rt("list", "-f", "json")
        assert p.returncode == 0 and json.loads(p.stdout) in (None, []), (name, p)


def test_list_json_annotations_and_unreadable_entries_as_runc(runtime, runc, bundle):
    """runc's list: --format json carries the config's annotations (omitted
    when there are none); an entry directory without a readable state is
    left out with "load container ID: ..." on stderr, exit 0."""
    bundle.config["annotations"] = {"org.example.a": "1", "b": ""}
    bundle.write()
    for name, rt in both(runtime, runc):
        os.makedirs(rt.root, exist_ok=True)
        cid = runtime.new_id()
        p = rt("create", "-b", bundle.path, cid)
        assert p.returncode == 0, (name, p.stderr)
        try:
            os.mkdir(os.path.join(rt.root, "zz-empty"))
            p = rt("list", "-f", "json")
            assert p.returncode == 0, (name, p)
            items = json.loads(p.stdout)
            assert [i["id"] for i in items] == [cid], (name, items)
            assert items[0]["annotations"] == {"org.example.a": "1", "b": ""}, (name, items)
            assert p.stderr.splitlines() == ["load container zz-empty: container does not exist"], \
                (name, p.stderr)
            p = rt("list")
            assert p.returncode == 0 and len(p.stdout.splitlines()) == 2, (name, p)
            assert "load container zz-empty: container does not exist" in p.stderr, (name, p)
        finally:
            os.rmdir(os.path.join(rt.root, "zz-empty"))
            rt("delete", "-f", cid)
    bundle.config.pop("annotations")
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    try:
        items = json.loads(runtime("list", "-f", "json", check=True).stdout)
        assert "annotations" not in items[0], items
    finally:
        runtime("delete", "-f", cid)


# -- ps ----------------------------------------------------------------------
@V2
def test_ps_with_ps_options_as_runc(runtime, bundle, runc):
    bundle.sh("sleep 600 & exec sleep 601").write()
    out = {}
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-d", "-b", bundle.path, cid)
        assert p.returncode == 0, (name, p.stderr)
        try:
            assert wait_for(lambda: len(_pids(rt, cid) or []) == 2), name
            pids = sorted(_pids(rt, cid))
            res = {}
            for args in ([], ["-e", "-x"], ["-o", "pid,comm"], ["-o", "comm"], ["--bad"]):
                p = rt("ps", cid, *args)
                lines = p.stdout.splitlines()
                res[" ".join(args)] = (p.returncode, lines[:1], len(lines) - 1)
                if p.returncode == 0 and args != ["-o", "comm"]:
                    col = lines[0].split().index("PID")
                    assert sorted(int(l.split()[col]) for l in lines[1:]) == pids, (name, args)
            out[name] = res
            assert rt("kill", cid, "KILL").returncode == 0
            assert wait_for(lambda: status(rt, cid) == "stopped"), name
            # stopped: the header alone, exit 0 (json: null)
            p = rt("ps", cid)
            assert p.returncode == 0 and len(p.stdout.splitlines()) == 1, (name, p)
            assert p.stdout.split() == out[name][""][1][0].split()
            p = rt("ps", "-f", "json", cid)
            assert (p.returncode, p.stdout.strip()) == (0, "null"), (name, p)
            p = rt("ps", "-f", "bad", cid)
            assert p.returncode == 1 and "invalid format option" in p.stderr, (name, p)
        finally:
            rt("delete", "-f", cid)
    assert out["pyrunc"] == out["runc"]


# -- seccomp -----------------------------------------------------------------
@pytest.fixture(scope="module")
def rawsys(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("rawsys") / "rawsys")
    src = os.path.join(os.path.dirname(__file__), "parity", "rawsys.c")
    subprocess.run(["gcc", "-static", "-O2", "-o", out, src], check=True)
    return out


# what a static glibc program needs to start, print and exit, and what runc's
# init does once it has loaded the filter (the highest: rseq, 334 on x86_64)
STARTUP = ["execve", "brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq",
           "prlimit64", "mprotect", "mmap", "munmap", "uname", "readlink", "readlinkat",
           "getrandom", "newfstatat", "fstat", "statx", "ioctl", "write", "exit_group",
           "exit", "getpid", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
           "close", "futex", "sched_yield", "nanosleep", "clock_nanosleep", "gettid", "tgkill",
           "sigaltstack", "madvise", "fcntl", "epoll_pwait", "epoll_ctl", "epoll_create1",
           "read", "openat", "getppid", "pipe2", "dup3", "clock_gettime", "fstatfs", "statfs",
           "getdents64", "lseek"]


def _seccomp_bundle(bundle, rawsys, profile, *nrs):
    shutil.copy(rawsys, os.path.join(bundle.rootfs, "bin", "rawsys"))
    bundle.config["linux"]["seccomp"] = profile
    bundle.args("/bin/rawsys", *[str(n) for n in nrs]).write()


@V2
def test_seccomp_enosys_stub_as_runc(runtime, bundle, runc, rawsys):
    """Above the profile's highest syscall (clone3 435, faccessat2 439 here):
    ENOSYS, so a libc falls back; below it, the default action (EACCES)."""
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 13,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": STARTUP, "action": "SCMP_ACT_ALLOW"}]}
    # getuid (below: denied), clone3 and faccessat2 (above: ENOSYS), x32's getuid
    # (below x32's highest: denied) and a number above x32's highest (its execve is 520)
    _seccomp_bundle(bundle, rawsys, prof, 102, 435, 439, 0x40000066, 0x40000258)
    out = {}
    for name, rt in both(runtime, runc):
        p = rt("run", "-b", bundle.path, runtime.new_id())
        assert p.returncode == 0, (name, p.stderr)
        out[name] = p.stdout
    assert out["pyrunc"] == out["runc"]
    res = dict(line.split("=") for line in out["pyrunc"].split())
    assert res["102"] == "-13" and res["435"] == "-38" and res["439"] == "-38", res
    assert res[str(0x40000066)] == "-13" and res[str(0x40000258)] == "-38", res


def test_seccomp_no_stub_when_the_default_allows(runtime, bundle, runc, rawsys):
    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getuid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    _seccomp_bundle(bundle, rawsys, prof, 102, 439)
    out = {}
    for name, rt in both(runtime, runc):
        p = rt("run", "-b", bundle.path, runtime.new_id())
        assert p.returncode == 0, (name, p.stderr)
        out[name] = p.stdout
    assert out["pyrunc"] == out["runc"]
    assert out["pyrunc"].split()[0] == "102=-13"
    assert out["pyrunc"].split()[1] != "439=-38"  # faccessat2 with NULL: EFAULT


@pytest.mark.parametrize("flags", [["SECCOMP_FILTER_FLAG_TSYNC"], ["SECCOMP_FILTER_FLAG_LOG"],
                                   ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                                   ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                    "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]])
def test_seccomp_flags(runtime, bundle, flags):
    """runc 1.2 passes LOG and SPEC_ALLOW on, TSYNC as nothing (1.1.5 here
    refuses every flag: "seccomp flags are not yet supported by runc")."""
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "flags": flags,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 1}]}
    bundle.sh("mkdir /tmp/x 2>/dev/null; echo rc=$?").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert (p.returncode, p.stdout) == (0, "rc=1\n"), p.stderr


def _notify_profile(path, flags=()):
    return {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "flags": list(flags),
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}


@pytest.mark.parametrize("flags", [["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                                   ["SECCOMP_FILTER_FLAG_TSYNC"]])
def test_seccomp_notify_with_flags(runtime, bundle, tmp_path, flags):
    """runc 1.2 knows WAIT_KILLABLE_RECV (1.1.5 does not); TSYNC is passed
    as nothing (with NEW_LISTENER the kernel would refuse it)."""
    from test_seccomp_notify import Agent
    path = str(tmp_path / "agent.sock")
    agent = Agent(path)
    agent.start()
    try:
        bundle.config["linux"]["seccomp"] = _notify_profile(path, flags)
        bundle.sh("mkdir /tmp/x 2>&1; echo rc=$?").write()
        p = runtime("run", "-b", bundle.path, runtime.new_id())
        assert p.returncode == 0, p.stderr
        assert "Read-only file system" in p.stdout and "rc=1" in p.stdout
        assert agent.answered >= 1
    finally:
        agent.stop()


def test_seccomp_notify_without_an_agent_as_runc(runtime, bundle, runc, tmp_path):
    path = str(tmp_path / "nobody.sock")
    bundle.config["linux"]["seccomp"] = _notify_profile(path)
    bundle.args("true").write()
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-b", bundle.path, cid)
        assert p.returncode == 1, (name, p)
        assert ("failed to connect with seccomp agent specified in the seccomp profile: "
                f"dial unix {path}: connect: no such file or directory") in p.stderr, (name, p)
        assert rt("state", cid).returncode == 1, name


@pytest.mark.parametrize("bad,msg", [
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "SCMP_ACT_NOTIFY cannot be used as default action"),
    ({"syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]},
     "SCMP_ACT_NOTIFY cannot be used for the write syscall")])
def test_seccomp_notify_refused_as_runc(runtime, bundle, runc, tmp_path, bad, msg):
    prof = _notify_profile(str(tmp_path / "nobody.sock"))
    prof.update(bad)
    bundle.config["linux"]["seccomp"] = prof
    bundle.args("true").write()
    for name, rt in both(runtime, runc):
        p = rt("run", "-b", bundle.path, runtime.new_id())
        assert p.returncode == 1 and msg in p.stderr, (name, p)


# -- hooks -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_hook_named_as_runc(runtime, bundle, runc, kind):
    bundle.config["hooks"] = {kind: [{"path": "/bin/true"},
                                     {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}
    bundle.args("true").write()
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-b", bundle.path, cid)
        assert p.returncode == 1, (name, p)
        # (runc 1.1.5: "error running hook #1: error running hook: exit status 3")
        want = f"error running {kind} hook #1: " if name == "pyrunc" else "hook #1: "
        assert want in p.stderr and "exit status 3" in p.stderr, (name, p.stderr)
        assert rt("state", cid).returncode == 1, name


_HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
               "poststop")


def test_hook_state_as_runc(runtime, bundle, runc, tmp_path):
    """What each kind of hook reads on stdin, as runc gives it: the pid is
    the host's view for hooks run in the runtime namespace and the
    container's own (1, a new pid namespace) for createContainer and
    startContainer, run in the container namespace (runtime-spec state.md;
    runc: getpid() there, HEAD and 1.1.5 alike); poststop has none.
    ociVersion is the runtime's spec version, not the config's (runc:
    specs.Version; 1.1.5 says 1.0.2-dev, HEAD and pyrunc 1.3.0); poststart
    sees "running" in HEAD (the exec fifo is gone by then), "created" in
    1.1.5."""
    from pyrunc import OCI_VERSION
    bundle.config["ociVersion"] = "1.0.0"
    bundle.config["annotations"] = {"org.example": "x"}
    out = {}
    for name, rt in both(runtime, runc):
        d = tmp_path / name
        d.mkdir()
        hooks = {k: [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {d}/{k}"]}]
                 for k in _HOOK_KINDS if k != "startContainer"}
        # run in the container: its path and file are the container's
        hooks["startContainer"] = [{"path": "/bin/sh",
                                    "args": ["sh", "-c", f"cat > /hook-{name}"]}]
        bundle.config["hooks"] = hooks
        bundle.args("sleep", "30").write()
        cid = runtime.new_id()
        p = rt("run", "-d", "-b", bundle.path, cid)
        assert p.returncode == 0, (name, p.stderr)
        pid = rt.state(cid)["pid"]
        assert wait_for(lambda: (d / "poststart").exists()), name
        p = rt("delete", "-f", cid)
        assert p.returncode == 0, (name, p.stderr)
        got = {k: json.loads((d / k).read_text()) for k in _HOOK_KINDS if k != "startContainer"}
        with open(os.path.join(bundle.rootfs, f"hook-{name}")) as f:
            got["startContainer"] = json.load(f)
        want_pid = {"createContainer": 1, "startContainer": 1, "poststop": None}
        for k, st in got.items():
            assert st.pop("pid", None) == want_pid.get(k, pid), (name, k, st)
            assert st.pop("id") == cid and st["bundle"] == bundle.path, (name, k, st)
            assert st["annotations"] == {"org.example": "x"}, (name, k, st)
        out[name] = got
    for k in _HOOK_KINDS:
        mine, theirs = out["pyrunc"][k], out["runc"][k]
        assert mine.pop("ociVersion") == OCI_VERSION and theirs.pop("ociVersion") != "1.0.0"
        if k == "poststart":  # (HEAD: running)
            assert (mine.pop("status"), theirs.pop("status")) == ("running", "created")
        assert (k, sorted(mine.items())) == (k, sorted(theirs.items()))


# what failed, after "error running <kind> hook #1: ", in runc HEAD's words
# (libcontainer/configs Command.Run: Go's os/exec errors, the captured
# stdout and stderr appended); runc 1.1.5 words the head "error running
# hook #1: error running hook: " and has no <kind>
_HOOK_FAILURES = {
    "exit": ({"path": "/bin/sh", "args": ["sh", "-c", "echo out; echo err >&2; exit 3"]},
             "exit status 3, stdout: out\n, stderr: err\n"),
    "signal": ({"path": "/bin/sh", "args": ["sh", "-c", "echo out; kill -9 $$"]},
               "signal: killed, stdout: out\n, stderr: "),
    "missing": ({"path": "/no/such/hook"},
                "fork/exec /no/such/hook: no such file or directory"),
    "timeout": ({"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1},
                "hook ran past specified timeout of 1.0s"),
}


@pytest.mark.parametrize("kind", ["createRuntime", "startContainer"])
@pytest.mark.parametrize("case", sorted(_HOOK_FAILURES))
def test_failing_hook_words_as_runc(runtime, bundle, runc, kind, case):
    """A failing hook's error: the same words as runc's after the hook's
    name, its stdout and stderr captured into the message (never onto the
    runtime's own stdout, which `run` shares with the container). A
    startContainer hook runs in the container after `start`: its failure is
    the process's, on its stderr, exit 255 (runc HEAD's init; 1.1.5: 1)."""
    hook, words = _HOOK_FAILURES[case]
    bundle.config["hooks"] = {kind: [{"path": "/bin/true"}, hook]}
    bundle.args("true").write()
    got = {}
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-b", bundle.path, cid)
        assert p.stdout == "", (name, p.stdout)
        rt("delete", "-f", cid)
        assert rt("state", cid).returncode == 1, name
        # runc's own log line escapes the newlines (logrus); its init's does not
        err = p.stderr.replace("\n", "\n").encode().decode("unicode_escape") \
            if 'msg="' in p.stderr else p.stderr
        head = f"error running {kind} hook #1: " if name == "pyrunc" else \
            "error running hook #1: "
        assert head in err, (name, p.stderr)
        got[name] = (p.returncode, err.split(head, 1)[1])
    want = words.replace("\\n", "\n")
    rc, tail = got["pyrunc"]
    assert rc == (255 if kind == "startContainer" else 1), got
    def norm(t):  # (the line's end; runc's closing quote)
        return t.rstrip("\n").removesuffix('"').rstrip("\n")
    assert norm(tail) == norm(want), got
    assert norm(got["runc"][1].removeprefix("error running hook: ")) == norm(want), got


def test_start_container_hook_runs_with_seccomp_in_force(runtime, bundle, runc):
    """runc loads the filter before writing the exec fifo and runs
    startContainer hooks after it (standard_init_linux.go), so a hook is
    under the container's seccomp profile: here one denying mkdir (EPERM)
    while the process itself never calls it."""
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 1}]}
    bundle.config["hooks"] = {"startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/by-hook 2>/dev/null; echo $? > /tmp/rc"]}]}
    bundle.config["process"]["noNewPrivileges"] = True
    bundle.args("cat", "/tmp/rc").write()
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-b", bundle.path, cid)
        rt("delete", "-f", cid)
        assert p.returncode == 0 and p.stdout == "1\n", (name, p.stdout, p.stderr)
        assert not os.path.exists(os.path.join(bundle.rootfs, "tmp", "by-hook")), name
    # without no_new_privs (the filter loaded early, as root): the same
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.write()
    p = ours(runtime)("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0 and p.stdout == "1\n", p.stderr


def test_start_container_hook_without_env_gets_the_processs(runtime, bundle, runc):
    """runc (standard_init_linux.go, SetDefaultEnv): a startContainer hook
    with no env of its own runs with the process's env, HOME included (from
    /etc/passwd, runc's prepareEnv); one with an env gets just that."""
    bundle.config["process"]["env"] = ["PATH=/bin", "FOO=bar", "FOO=baz"]
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["hooks"] = {"startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "env > /tmp/env-default"]},
        {"path": "/bin/sh", "args": ["sh", "-c", "env > /tmp/env-own"], "env": ["ONLY=this"]}]}
    bundle.args("sh", "-c", "cat /tmp/env-default; echo --; cat /tmp/env-own").write()
    got = {}
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-b", bundle.path, cid)
        rt("delete", "-f", cid)
        assert p.returncode == 0, (name, p.stderr)
        # (PWD and SHLVL are the shell's own)
        got[name] = sorted(ln for ln in p.stdout.splitlines()
                           if not ln.startswith(("PWD=", "SHLVL=")))
    assert got["pyrunc"] == got["runc"]
    assert "HOME=/home/user" in got["pyrunc"] and "FOO=baz" in got["pyrunc"]
    assert "ONLY=this" in got["pyrunc"] and "FOO=bar" not in got["pyrunc"]


def test_hooks_bind_shared_libraries_as_runc(runtime, bundle, runc, tmp_path):
    """runc's hooks_so case: a createRuntime hook binds a file into the
    container's mount namespace through nsenter on the pid it is given, a
    createContainer hook binds one relative to its cwd (the rootfs)."""
    libs = {}
    for which in ("cr", "cc"):
        lib = tmp_path / f"libhooks-{which}.so.1.0.0"
        subprocess.run(["gcc", "-shared", "-Wl,-soname,libhooks-" + which + ".so.1", "-o",
                        str(lib), "-x", "c", "/dev/null"], check=True)
        libs[which] = str(lib)
    libdir = os.path.join(bundle.rootfs, "lib")
    os.makedirs(libdir, exist_ok=True)
    cr_target = os.path.join(libdir, "libhooks-cr.so.1.0.0")
    cr = (f"pid=$(jq -r .pid); touch {cr_target} && "
          f"nsenter -m -t $pid mount --bind {libs['cr']} {cr_target}")
    cc = f"touch ./lib/libhooks-cc.so.1.0.0 && mount --bind {libs['cc']} ./lib/libhooks-cc.so.1.0.0"
    bundle.config["hooks"] = {
        "createRuntime": [{"path": "/bin/sh", "args": ["/bin/sh", "-c", cr]}],
        "createContainer": [{"path": "/bin/sh", "args": ["/bin/sh", "-c", cc]}]}
    bundle.sh("for f in /lib/libhooks-*; do echo $f $(wc -c < $f); done").write()
    out = {}
    try:
        for name, rt in both(runtime, runc):
            p = rt("run", "-b", bundle.path, runtime.new_id())
            assert p.returncode == 0, (name, p.stderr)
            out[name] = p.stdout
    finally:
        for f in os.listdir(libdir):
            if f.startswith("libhooks-"):
                os.unlink(os.path.join(libdir, f))
    assert out["pyrunc"] == out["runc"]
    sizes = {which: os.path.getsize(libs[which]) for which in libs}
    assert out["pyrunc"].split() == ["/lib/libhooks-cc.so.1.0.0", str(sizes["cc"]),
                                     "/lib/libhooks-cr.so.1.0.0", str(sizes["cr"])]


# -- update ------------------------------------------------------------------
def _cg_file(pid, ctl, name):
    """A control file of pid's cgroup for a v1 controller (or unified)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctl in ctrls.split(",") and os.path.isdir(f"/sys/fs/cgroup/{ctrls}"):
                with open(f"/sys/fs/cgroup/{ctrls}{path}/{name}") as g:
                    return g.read().strip()
    pytest.skip(f"no v1 {ctl} controller on this host")


V1_FILES = (("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"),
            ("memory", "memory.soft_limit_in_bytes"), ("cpu", "cpu.shares"),
            ("cpu", "cpu.cfs_period_us"), ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.idle"),
            ("cpu", "cpu.rt_period_us"), ("cpu", "cpu.rt_runtime_us"),
            ("cpuset", "cpuset.cpus"), ("pids", "pids.max"))


def _v1_values(pid):
    out = {}
    for ctl, name in V1_FILES:
        try:
            out[name] = _cg_file(pid, ctl, name)
        except OSError:
            out[name] = None
    return out


@pytest.fixture
def two_running(runtime, bundle, runc):
    """The same bundle running under pyrunc and under runc."""
    if not os.path.isdir("/sys/fs/cgroup/cpu") or not os.path.isdir("/sys/fs/cgroup/memory"):
        pytest.skip("needs the v1 cpu and memory controllers")
    bundle.args("sleep", "600").write()
    made = []
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-d", "-b", bundle.path, cid)
        assert p.returncode == 0, (name, p.stderr)
        made.append((name, rt, cid, rt.state(cid)["pid"]))
    yield made
    for _, rt, cid, _ in made:
        rt("delete", "-f", cid)


def _update_both(two_running, *args, input=None):
    """Run one update on both; (returncode, values) per runtime."""
    out = {}
    for name, rt, cid, pid in two_running:
        if input is not None:
            path = os.path.join(os.path.dirname(rt.root), f"res-{name}.json")
            with open(path, "w") as f:
                f.write(input)
            p = rt("update", "-r", path, cid)
        else:
            p = rt("update", *args, cid)
        out[name] = (p.returncode, _v1_values(pid), p.stderr)
    return out


def _same(out):
    assert out["pyrunc"][:2] == out["runc"][:2], (out["pyrunc"], out["runc"])
    return out["pyrunc"][1]


def test_update_flags_as_runc(two_running):
    v = _same(_update_both(two_running, "--memory", "64m", "--memory-swap", "128m",
                           "--memory-reservation", "32m", "--cpu-share", "512",
                           "--cpu-period", "50000", "--cpu-quota", "25000",
                           "--cpuset-cpus", "0", "--pids-limit", "30"))
    assert v["memory.limit_in_bytes"] == str(64 << 20) and v["cpu.cfs_quota_us"] == "25000"
    assert v["pids.max"] == "30" and v["cpuset.cpus"] == "0"
    # one of the CFS pair alone keeps the other
    v = _same(_update_both(two_running, "--cpu-period", "40000"))
    assert (v["cpu.cfs_period_us"], v["cpu.cfs_quota_us"]) == ("40000", "25000")
    v = _same(_update_both(two_running, "--cpu-quota", "-1"))
    assert (v["cpu.cfs_period_us"], v["cpu.cfs_quota_us"]) == ("40000", "-1")
    # unlimited memory: swap goes unlimited with it
    v = _same(_update_both(two_running, "--memory", "-1"))
    assert v["memory.limit_in_bytes"] == v["memory.memsw.limit_in_bytes"]
    v = _same(_update_both(two_running, "--pids-limit", "-1"))
    assert v["pids.max"] == "max"
    # runc 1.2's --cpu-idle (1.1.5 does not know it)
    out = _update_both(two_running, "--cpu-idle", "1")
    assert out["pyrunc"][0] == 0 and out["pyrunc"][1]["cpu.idle"] == "1", out["pyrunc"]


def test_update_rt_period_and_runtime_in_the_order_the_kernel_needs(two_running):
    # (both containers' budgets come from the parent's 95%)
    v = _same(_update_both(two_running, "--cpu-rt-period", "10000", "--cpu-rt-runtime", "1000"))
    assert (v["cpu.rt_period_us"], v["cpu.rt_runtime_us"]) == ("10000", "1000")
    # a period shorter than the runtime in force: written after the runtime
    # by runc HEAD (1.1.5 writes the period first and fails with EINVAL)
    out = _update_both(two_running, "--cpu-rt-period", "800", "--cpu-rt-runtime", "80")
    v = out["pyrunc"][1]
    assert out["pyrunc"][0] == 0, out["pyrunc"][2]
    assert (v["cpu.rt_period_us"], v["cpu.rt_runtime_us"]) == ("800", "80")


def test_update_resources_file_as_runc(two_running):
    res = {"memory": {"limit": 50 << 20, "reservation": 0, "swap": 0},
           "cpu": {"shares": 0, "quota": 30000, "period": 60000, "cpus": "", "mems": ""},
           "blockIO": {"weight": 0}}
    v = _same(_update_both(two_running, input=json.dumps(res)))
    assert v["memory.limit_in_bytes"] == str(50 << 20)
    assert (v["cpu.cfs_period_us"], v["cpu.cfs_quota_us"]) == ("60000", "30000")
    assert v["cpu.shares"] == "1024"  # 0: not set


def test_update_cpuset_through_resources_as_runc(two_running):
    """--resources with linux.resources.cpu's cpus and mems (runc's
    resources.CPU path, not the flags)."""
    out = _update_both(two_running, "-r", "-",
                       input=json.dumps({"cpu": {"cpus": "0", "mems": "0"}}))
    _same(out)
    assert out["pyrunc"][0] == 0 and out["pyrunc"][1]["cpuset.cpus"] == "0"


def test_update_cpu_period_in_a_pod_cgroup_with_a_limit(runtime, bundle, runc):
    """runc's update.bats case: the container's cgroup under a pod cgroup
    whose quota is 50% of a CPU. Lowering the period first would make the
    child's ratio exceed the pod's (EINVAL): the quota must go first, and
    raising it the period first; both runtimes end with the values asked."""
    cpu = "/sys/fs/cgroup/cpu"
    if not os.path.isdir(cpu) or not os.path.exists(f"{cpu}/cpu.cfs_quota_us"):
        pytest.skip("needs the v1 cpu controller")
    import uuid
    podname = "pod" + uuid.uuid4().hex[:12]  # (both runtimes make it in every hierarchy)
    pod = f"{cpu}/{podname}"
    os.mkdir(pod)
    try:
        with open(f"{pod}/cpu.cfs_quota_us", "w") as f:
            f.write("50000")
        bundle.config["linux"]["resources"] = {"cpu": {"period": 100000, "quota": 20000}}
        bundle.args("sleep", "600")
        got = {}
        for name, rt in both(runtime, runc):
            cid = runtime.new_id()
            bundle.config["linux"]["cgroupsPath"] = f"/{podname}/{cid}"
            bundle.write()
            p = rt("run", "-d", "-b", bundle.path, cid)
            assert p.returncode == 0, (name, p.stderr)
            try:
                pid = rt.state(cid)["pid"]
                res = []
                for period, quota in ((10000, 4000), (100000, 40000)):
                    p = rt("update", "--cpu-period", period, "--cpu-quota", quota, cid)
                    res.append((p.returncode, _cg_file(pid, "cpu", "cpu.cfs_period_us"),
                                _cg_file(pid, "cpu", "cpu.cfs_quota_us")))
                got[name] = res
            finally:
                rt("delete", "-f", cid)
        assert got["pyrunc"] == [(0, "10000", "4000"), (0, "100000", "40000")], got
        assert got["runc"] == got["pyrunc"], got
    finally:
        for d in [os.path.join("/sys/fs/cgroup", h, podname) for h in os.listdir("/sys/fs/cgroup")]:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except (FileNotFoundError, NotADirectoryError):
                    break
                except OSError:
                    time.sleep(0.1)
        assert not any(os.path.exists(os.path.join("/sys/fs/cgroup", h, podname))
                       for h in os.listdir("/sys/fs/cgroup"))


@pytest.mark.parametrize("key,value", [("memory.high", "50000000"), ("pids.max", "10")])
def test_v1_and_unified_on_a_hybrid_host_fail_as_runc(runtime, bundle, runc, key, value):
    """v1 resources with linux.resources.unified naming a controller that
    is a v1 one here: both runtimes refuse the container (runc HEAD and
    1.1.5: "invalid configuration: cannot use unified on cgroup v1"; pyrunc
    names the key) and leave nothing. (A key of a controller only the
    unified tree has, hugetlb here, pyrunc applies where runc refuses any
    unified key on v1: README, "differ on purpose".)"""
    ctl = key.partition(".")[0]
    if not os.path.isdir("/sys/fs/cgroup/unified") or not os.path.isdir(f"/sys/fs/cgroup/{ctl}"):
        pytest.skip(f"needs a hybrid host with the v1 {ctl} controller")
    bundle.config["linux"]["resources"] = {"memory": {"limit": 100 * 2**20},
                                           "unified": {key: value}}
    bundle.args("true").write()
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-b", bundle.path, cid)
        assert p.returncode == 1, (name, p)
        want = "cannot use unified on cgroup v1" if name == "runc" else \
            f"linux.resources.unified['{key}']"
        assert want in p.stderr, (name, p.stderr)
        assert rt("state", cid).returncode == 1, name


def test_update_pids_limit_zero_is_one(runtime, bundle):
    """runc HEAD writes a pids limit of 0 as 1 (1.1.5 ignores it)."""
    if not os.path.isdir("/sys/fs/cgroup/pids"):
        pytest.skip("needs the v1 pids controller")
    bundle.args("sleep", "600").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        assert runtime("update", "--pids-limit", "0", cid).returncode == 0
        assert _cg_file(pid, "pids", "pids.max") == "1"
        assert runtime("update", "--pids-limit", "-1", cid).returncode == 0
        assert _cg_file(pid, "pids", "pids.max") == "max"
        p = runtime("update", "-r", "-", cid, input='{"pids": {"limit": 0}}')
        assert p.returncode == 0, p.stderr
        assert _cg_file(pid, "pids", "pids.max") == "1"
    finally:
        runtime("delete", "-f", cid)


def test_v2_cpu_period_alone_keeps_the_quota(tmp_path):
    """runc's update keeps the quota of its stored config when only the
    period changes (and the period when only the quota does)."""
    from pyrunc.cgroups import resources_v2
    f = tmp_path / "cpu.max"

    def after(start, c):
        f.write_text(start)
        written = []
        orig = resources_v2.w
        resources_v2.w = lambda d, name, v, field: written.append((name, str(v)))
        try:
            resources_v2.cpu(str(tmp_path), c)
        finally:
            resources_v2.w = orig
        return written
    assert after("50000 100000\n", {"period": 200000}) == [("cpu.max", "50000 200000")]
    assert after("50000 200000\n", {"quota": 70000}) == [("cpu.max", "70000 200000")]
    assert after("70000 200000\n", {"quota": -1}) == [("cpu.max", "max 200000")]


# -- spec and features -------------------------------------------------------
def _schema_validator():
    jsonschema = pytest.importorskip("jsonschema")
    with open(os.path.join(os.path.dirname(__file__), "..", "spec", "config-schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _cgroup2_unified():
    with open("/proc/self/mountinfo") as f:
        types = [l.split()[l.split().index("-") + 1] for l in f if l.split()[4] == "/sys/fs/cgroup"]
    return bool(types) and types[-1] == "cgroup2"


@pytest.mark.parametrize("rootless", [False, True])
def test_spec_validates_and_is_runcs(runtime, runc, tmp_path, rootless):
    """Both validate against the runtime-spec schema; pyrunc's is runc
    HEAD's: 1.1.5's but for the spec version, no ambient set, and with
    --rootless the cgroup mount kept."""
    val = _schema_validator()
    docs = {}
    for name, rt in both(runtime, runc):
        d = tmp_path / name
        d.mkdir()
        args = ["spec", "-b", str(d)] + (["--rootless"] if rootless else [])
        p = rt(*args)
        assert p.returncode == 0, (name, p.stderr)
        with open(d / "config.json") as f:
            docs[name] = json.load(f)
        assert list(val.iter_errors(docs[name])) == [], name
        # a second time: the file is there
        p = rt(*args)
        assert p.returncode == 1 and "File config.json exists. Remove it first" in p.stderr
        p = rt("spec", "-b", str(d), "extra")
        assert p.returncode == 1 and "requires exactly 0 argument(s)" in p.stderr, (name, p)
    want = docs["runc"]
    want["ociVersion"] = docs["pyrunc"]["ociVersion"]
    want["hostname"] = "pyrunc"
    want["process"]["capabilities"].pop("ambient", None)
    if rootless:
        pos = [m["destination"] for m in want["mounts"]].index("/sys") + 1
        if "/sys/fs/cgroup" not in [m["destination"] for m in want["mounts"]]:
            want["mounts"].insert(pos, {"destination": "/sys/fs/cgroup", "type": "cgroup",
                                        "source": "cgroup",
                                        "options": ["nosuid", "noexec", "nodev", "relatime",
                                                    "ro"]})
    if _cgroup2_unified() and {"type": "cgroup"} not in want["linux"]["namespaces"]:
        want["linux"]["namespaces"].insert(-1 if rootless else 5, {"type": "cgroup"})
    assert docs["pyrunc"] == want
    from pyrunc import OCI_VERSION
    assert docs["pyrunc"]["ociVersion"] == OCI_VERSION


def test_features_shape(runtime):
    p = subprocess.run([runtime.bin, "features"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    from pyrunc import OCI_VERSION
    assert (f["ociVersionMin"], f["ociVersionMax"]) == ("1.0.0", OCI_VERSION)
    linux = f["linux"]
    assert linux["netDevices"] == {"enabled": True}
    assert "MPOL_BIND" in linux["memoryPolicy"]["modes"]
    assert "MPOL_F_STATIC_NODES" in linux["memoryPolicy"]["flags"]
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in linux["seccomp"]["knownFlags"]
    assert f["annotations"]["io.github.seccomp.libseccomp.version"].count(".") == 2
    # (none of the annotations runc lists as potentially unsafe means anything here)
    assert "potentiallyUnsafeConfigAnnotations" not in f
    p = subprocess.run([runtime.bin, "features", "x"], capture_output=True, text=True)
    assert p.returncode == 1


def test_argument_counts_as_runc(runtime, runc):
    for name, rt in both(runtime, runc):
        os.makedirs(rt.root, exist_ok=True)
        p = rt("kill", "a", "KILL", "extra")
        assert p.returncode == 1 and "requires a maximum of 2 argument(s)" in p.stderr, (name, p)
        p = rt("update", "a", "extra")
        assert p.returncode == 1 and "requires exactly 1 argument(s)" in p.stderr, (name, p)


@pytest.mark.parametrize("rules", [
    [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 9,
                                          "access": "r"}],
    [{"allow": True, "access": "rwm"}],  # privileged: every device
    [{"allow": False, "access": "rwm"}, {"allow": True, "access": "rwm"},
     {"allow": False, "type": "b", "major": 8, "access": "rwm"}],
], ids=["deny-then-one", "allow-all", "allow-all-but-sd"])
def test_v1_device_rules_as_runc(runtime, bundle, runc, rules):
    if not os.path.isdir("/sys/fs/cgroup/devices"):
        pytest.skip("needs the v1 devices controller")
    bundle.config["linux"]["resources"] = {"devices": rules}
    bundle.args("sleep", "600").write()
    lists = {}
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-d", "-b", bundle.path, cid)
        assert p.returncode == 0, (name, p.stderr)
        try:
            pid = rt.state(cid)["pid"]
            lists[name] = sorted(_cg_file(pid, "devices", "devices.list").splitlines())
            # an update rewrites the rules (runc: the minimal transition from
            # what the kernel has, no EINVAL on `a` rules): the same list after
            p = rt("update", "--pids-limit", "50", cid)
            assert p.returncode == 0, (name, p.stderr)
            after = sorted(_cg_file(pid, "devices", "devices.list").splitlines())
            assert after == lists[name], (name, after)
        finally:
            rt("delete", "-f", cid)
    assert lists["pyrunc"] == lists["runc"]
