"""process.terminal: the --console-socket protocol, and `run` relaying."""
import array
import os
import socket
import threading

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
