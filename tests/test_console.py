"""process.terminal: the --console-socket protocol, and `run` relaying."""
import array
import os
import socket
import subprocess
import threading

import pytest

from conftest import needs_root

pytestmark = needs_root


def test_console_socket_receives_master(runtime, bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 24, "width": 91}
    bundle.sh("tty; stty size; echo done").write()
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def accept():
        conn, _ = srv.accept()
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(64, socket.CMSG_LEN(fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data)
        got["msg"] = msg
        got["fd"] = fds[0]
        conn.close()
    t = threading.Thread(target=accept)
    t.start()
    cid = runtime.new_id()
    try:
        p = runtime("create", "-b", bundle.path, "--console-socket", path, cid)
        assert p.returncode == 0, p.stderr
        t.join(10)
        assert got["msg"] == b"/dev/ptmx"
        runtime("start", cid, check=True)
        out = b""
        while True:
            try:
                chunk = os.read(got["fd"], 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        lines = out.decode().split()
        assert lines[0].startswith("/dev/pts/")
        assert lines[1:] == ["24", "91", "done"]
    finally:
        srv.close()
        if "fd" in got:
            os.close(got["fd"])
        runtime("delete", "-f", cid)


def test_terminal_without_console_socket_on_create(runtime, bundle):
    bundle.config["process"]["terminal"] = True
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "console socket" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_run_relays_terminal(runtime, bundle):
    bundle.config["process"]["terminal"] = True
    bundle.sh("test -t 0 && test -t 1 && echo isatty; exit 7").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 7, p.stderr
    assert p.stdout.replace("\r", "").strip() == "isatty"


# -- /dev/console, the pty's owner, ONLCR: as runc -----------------------------
def on_pty(cmd, timeout=60, watch=None):
    """Run cmd with its stdin on a new pty of ours (runc relays only for a
    caller with a terminal) and stdout/stderr to files: (returncode, the
    bytes it wrote, its stderr). watch(slave_fd) is called while it runs."""
    import tempfile
    m, s = os.openpty()
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.Popen(cmd, stdin=s, stdout=out, stderr=err)
            try:
                if watch is not None:
                    watch(s, p)
                p.wait(timeout)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            out.seek(0)
            err.seek(0)
            return p.returncode, out.read(), err.read().decode(errors="replace")
    finally:
        os.close(m)
        os.close(s)


@pytest.fixture
def runc(tmp_path):
    """runc with a private state root, for side-by-side checks."""
    import shutil
    exe = shutil.which("runc")
    if exe is None:
        pytest.skip("runc is not installed")
    root = str(tmp_path / "runc-state")
    yield [exe, "--root", root]
    if os.path.isdir(root):
        for cid in os.listdir(root):
            subprocess.run([exe, "--root", root, "delete", "-f", cid], capture_output=True)


def _terminal_bundle(bundle, script, uid=0):
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["user"] = {"uid": uid, "gid": uid}
    bundle.sh(script).write()


def _userns(bundle):
    """A user namespace (container 0 = host 100000) with the rootfs owned by
    the mapped root, as test_linux does."""
    d = bundle.path
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    subprocess.run(["chown", "-R", "-h", "100000:100000", bundle.rootfs], check=True)
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] not in ("/sys", "/sys/fs/cgroup")]


CONSOLE_CHECK = ("stat -c '%F %t:%T' /dev/console; stat -c '%F %t:%T' $(tty); "
                 "grep -c ' /dev/console ' /proc/self/mountinfo; "
                 "grep ' /dev/console ' /proc/self/mountinfo | cut -d' ' -f4,9")


def test_dev_console_is_the_containers_pty(runtime, bundle):
    """runtime-spec: with process.terminal the pty is bound on /dev/console."""
    _terminal_bundle(bundle, CONSOLE_CHECK)
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == lines[1], lines  # /dev/console has the pty's rdev
    assert lines[0].startswith("character special file 88:")
    # one mount, of the pty of the container's own devpts instance
    assert lines[2] == "1"
    assert lines[3] == f"/{int(lines[1].split(':')[1], 16)} devpts"


def test_dev_console_with_console_socket(runtime, bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.sh("stat -c '%t:%T' /dev/console $(tty)").write()
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def accept():
        conn, _ = srv.accept()
        fds = array.array("i")
        _, anc, _, _ = conn.recvmsg(64, socket.CMSG_LEN(fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data)
        got["fd"] = fds[0]
        conn.close()
    t = threading.Thread(target=accept)
    t.start()
    cid = runtime.new_id()
    try:
        runtime("create", "-b", bundle.path, "--console-socket", path, cid, check=True)
        t.join(10)
        runtime("start", cid, check=True)
        out = b""
        while True:
            try:
                chunk = os.read(got["fd"], 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        # --console-socket: the receiver's pty, ONLCR left as it is
        a, b = out.decode().split()
        assert a == b and a.startswith("88:")
        assert b"\r\n" in out
    finally:
        srv.close()
        if "fd" in got:
            os.close(got["fd"])
        runtime("delete", "-f", cid)


def test_run_terminal_output_is_the_programs_bytes(runtime, bundle):
    """runc clears ONLCR on a terminal it relays: `run` gives what the
    program wrote, not "\\r\\n" for every "\\n"."""
    _terminal_bundle(bundle, r"printf 'a\nb\n'")
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == "a\nb\n"
    rc, out, err = on_pty([runtime.bin, "--root", runtime.root, "run", "-b", bundle.path,
                           runtime.new_id()])
    assert rc == 0, err
    assert out == b"a\nb\n"


def test_run_terminal_output_as_runc(runtime, bundle, runc):
    _terminal_bundle(bundle, r"stat -c '%F %u:%g %t:%T' /dev/console $(tty); printf 'a\nb\n'",
                     uid=1000)
    outs = []
    for cmd in ([runtime.bin, "--root", runtime.root], runc):
        rc, out, err = on_pty(cmd + ["run", "-b", bundle.path, runtime.new_id()])
        assert rc == 0, err
        outs.append(out)
    assert outs[0] == outs[1]
    assert outs[0] == b"character special file 1000:5 88:0\n" * 2 + b"a\nb\n"


def test_exec_terminal_output_is_the_programs_bytes(runtime, bundle):
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        for _ in range(5):  # cleared before the program runs: never racy
            p = runtime("exec", "-t", cid, "printf", r"a\nb\n")
            assert p.returncode == 0, p.stderr
            assert p.stdout == "a\nb\n"
        rc, out, err = on_pty([runtime.bin, "--root", runtime.root, "exec", "-t", cid,
                               "printf", r"a\nb\n"])
        assert rc == 0, err
        assert out == b"a\nb\n"
    finally:
        runtime("delete", "-f", cid)


def test_relay_keeps_output_processing_of_our_terminal(runtime, bundle):
    """Our terminal goes raw while relaying, but for OPOST (runc's SetRaw):
    with ONLCR off in the container, ours turns "\\n" into "\\r\\n"."""
    import termios
    import time
    _terminal_bundle(bundle, "sleep 2")
    seen = {}

    def watch(s, p):
        before = termios.tcgetattr(s)
        seen["before"] = before
        t = time.monotonic()
        while p.poll() is None and time.monotonic() - t < 10:
            now = termios.tcgetattr(s)
            if not now[3] & termios.ICANON:  # raw now
                seen["raw"] = now
                break
            time.sleep(0.02)
        p.wait(20)
        seen["after"] = termios.tcgetattr(s)
    rc, _, err = on_pty([runtime.bin, "--root", runtime.root, "run", "-b", bundle.path,
                         runtime.new_id()], watch=watch)
    assert rc == 0, err
    assert "raw" in seen
    assert seen["raw"][1] & termios.OPOST
    assert not seen["raw"][3] & termios.ECHO
    assert seen["after"] == seen["before"]  # restored


def test_pty_belongs_to_the_container_user(runtime, bundle):
    """The pty's owner is process.user.uid, its group the devpts gid= (5)."""
    _terminal_bundle(bundle, "stat -c %u:%g $(tty) /dev/console", uid=1000)
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1000:5", "1000:5"]


def subprocess_run(cmd):
    """cmd, checked; its output to a file: a detached container would hold
    a pipe open for its life."""
    import tempfile
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        assert p.returncode == 0, f"{cmd}: {err.read()}"


def test_exec_pty_belongs_to_the_exec_user(runtime, bundle, runc):
    bundle.config["process"]["terminal"] = False
    bundle.args("sleep", "60").write()
    script = "stat -c %u:%g $(tty)"
    outs = []
    for cmd in ([runtime.bin, "--root", runtime.root], runc):
        cid = runtime.new_id()
        subprocess_run(cmd + ["run", "-d", "-b", bundle.path, cid])
        try:
            for user, want in (("1000", b"1000:5\n"), ("1000:1000", b"1000:5\n"), ("0", b"0:5\n")):
                rc, out, err = on_pty(cmd + ["exec", "-t", "--user", user, cid, "sh", "-c", script])
                assert rc == 0, err
                if cmd == runc:
                    # runc 1.1.5 clears ONLCR on the master it relays only
                    # once the process runs: its output races (\r\n or \n)
                    out = out.replace(b"\r\n", b"\n")
                assert out == want, (cmd, user)
                outs.append(out)
        finally:
            subprocess_run(cmd + ["delete", "-f", cid])
    assert outs[:3] == outs[3:]


def test_pty_owner_is_mapped_in_a_user_namespace(runtime, bundle):
    """Container uid 1000 is host uid 101000; the devpts gid 5 is 100005."""
    _userns(bundle)
    _terminal_bundle(bundle, "stat -c %u:%g $(tty) /dev/console; sleep 60", uid=1000)
    cid = runtime.new_id()
    out = {}

    def watch(s, p):
        import time
        t = time.monotonic()
        while time.monotonic() - t < 20:
            try:
                pid = runtime.state(cid)["pid"]
                st = os.stat(f"/proc/{pid}/fd/0")
                out["host"] = f"{st.st_uid}:{st.st_gid}"
                break
            except (AssertionError, OSError, KeyError):
                time.sleep(0.05)
        runtime("kill", cid, "KILL")
    rc, inside, err = on_pty([runtime.bin, "--root", runtime.root, "run", "-b", bundle.path, cid],
                             watch=watch)
    assert inside.split() == [b"1000:5", b"1000:5"], err
    assert out["host"] == "101000:100005"
    # and an exec -t into it
    bundle.config["process"]["terminal"] = False
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        p = runtime("exec", "-t", "--user", "1000", cid, "sh", "-c", "stat -c %u:%g $(tty)")
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "1000:5"
    finally:
        runtime("delete", "-f", cid)
