"""SCMP_ACT_NOTIFY: the agent at listenerPath gets the notify fd with the
container process state, and answers the container's syscalls."""
import array
import json
import os
import socket
import struct
import threading

from conftest import needs_root

pytestmark = needs_root

NOTIF_RECV = 0xC0502100  # SECCOMP_IOCTL_NOTIF_RECV: struct seccomp_notif (80 bytes)
NOTIF_SEND = 0xC0182101  # SECCOMP_IOCTL_NOTIF_SEND: struct seccomp_notif_resp (24 bytes)
EROFS = 30


class Agent(threading.Thread):
    """Answers every notified syscall with EROFS; records what it got."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.states = []
        self.answered = 0

    def run(self):
        import fcntl
        import select
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            fds = array.array("i")
            msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_LEN(fds.itemsize))
            conn.close()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data)
            self.states.append(json.loads(msg))
            nfd = fds[0]
            threading.Thread(target=self.serve, args=(nfd, fcntl, select), daemon=True).start()

    def serve(self, nfd, fcntl, select):
        p = select.poll()
        p.register(nfd, select.POLLIN)
        while True:
            ev = p.poll(10000)
            if not ev or ev[0][1] & (select.POLLHUP | select.POLLERR):
                break
            buf = bytearray(80)
            try:
                fcntl.ioctl(nfd, NOTIF_RECV, buf)
            except OSError:
                break
            nid = struct.unpack_from("Q", buf, 0)[0]
            resp = bytearray(struct.pack("QqiI", nid, 0, -EROFS, 0))
            try:
                fcntl.ioctl(nfd, NOTIF_SEND, resp)
                self.answered += 1
            except OSError:
                pass
        os.close(nfd)

    def stop(self):
        self.srv.close()


def test_notify_agent_answers(runtime, bundle, tmp_path):
    path = str(tmp_path / "agent.sock")
    agent = Agent(path)
    agent.start()
    try:
        bundle.args("sleep", "30")
        bundle.config["annotations"] = {"who": "test"}
        bundle.config["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path,
            "listenerMetadata": "meta1",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}
        bundle.write()
        cid = runtime.new_id()
        runtime("run", "-d", "-b", bundle.path, cid, check=True)
        pid = runtime.state(cid)["pid"]
        st = agent.states[0]
        assert st["fds"] == ["seccompFd"] and st["metadata"] == "meta1"
        assert st["pid"] == pid and st["state"]["id"] == cid
        assert st["state"]["annotations"] == {"who": "test"}
        # an exec'd process gets the filter too, and the agent hears of it
        p = runtime("exec", cid, "sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?")
        assert "Read-only file system" in p.stdout and "rc=1" in p.stdout, p.stderr
        assert len(agent.states) == 2 and agent.answered >= 1
        runtime("delete", "-f", cid, check=True)
    finally:
        agent.stop()


def test_notify_without_listener_is_refused(runtime, bundle):
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "linux.seccomp.listenerPath" in p.stderr


def test_unreachable_listener_fails_cleanly(runtime, bundle, tmp_path):
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(tmp_path / "none.sock"),
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1 and "linux.seccomp.listenerPath" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
