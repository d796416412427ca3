"""The parent <-> init <-> helper channel: a pair of pipes carrying short
lines. This module is the one place that defines the protocol.

Each message is one os.write of "<tag> <payload>\\n" (below PIPE_BUF, so
atomic). The init side is close-on-exec: when the init execs the final
helper, the parent reads EOF, which is how it knows the hand-over is done.

create (container.create/_drive_init <-> init.py):
  init -> parent  WANT_CGROUP             first, with the systemd driver only:
  parent -> init  GO_ON                   the unit was started with my pid in it
  init -> parent  WANT_ID_MAPS            new user namespace: write my maps
  parent -> init  GO_ON
  init -> parent  PID <host pid>          the container process (so far)
  init -> parent  WANT_SOURCE <mount index>  open this bind source on the
                                          host's side (bindsources.py); the
                                          answer comes on the socketpair
                                          bindsources.Link, one SEQPACKET:
    runtime -> init  SOURCE_FD + the fd in SCM_RIGHTS
                     SOURCE_ERROR + "<config field>\0<message>"
  init -> parent  WANT_RESOURCES          before its first mount, when the
  parent -> init  GO_ON                   parent sets linux.resources while
                                          the init starts (container._launch)
  init -> parent  WANT_HOOKS              mounts done: prestart/createRuntime
  parent -> init  GO_ON | ABORT
  init -> parent  READY                   the helper is next
  helper -> parent PID <host pid>         only when it forked the process into
                                          a joined pid namespace (execinit.c F)
  EOF                                     the helper exec'd (or the init died)
exec (execute.run/_drive <-> execute._exec_child):
  child -> parent  PID <host pid>         when the child itself is the process
  child -> parent  READY
  helper -> parent PID <host pid>         when the helper forked it (pid/time ns)
  helper -> parent "0" then EOF           the program was exec'd, or its execve
                                          failed (runc HEAD: the process then
                                          exits 255, its error on its stderr)
                   "0<errno>"             the seccomp filter could not be loaded
Either side may send ERROR <payload> instead, and then exits. The
payload is the error's class, errno and JSON path, then its message,
separated by US (\x1f): "<class>\x1f<errno|>\x1f<path|>\x1f<message>"
(error_payload/error_from); the static helper's own "error pyrunc-init:
<what>: errno N" is a bare message (class internal, errno N).
With --debug, the child (init or exec) may send LOG <json> at any point
before READY: a debug line, ["msg"] or ["msg", {logrus fields}]
(log.relay writes it where the runtime's own debug lines go).
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import log
from .errors import InitError, PyruncError

PID = "pid"
READY = "ready"
ERROR = "error"
WANT_ID_MAPS = "userns"
WANT_HOOKS = "hooks"
WANT_SOURCE = "source"
SOURCE_FD = b"F"
SOURCE_ERROR = b"E"
WANT_CGROUP = "cgroup"
WANT_RESOURCES = "resources"
GO_ON = "ok"
ABORT = "abort"
LOG = "log"


class Channel:
    __slots__ = ("rfd", "wfd", "buf")

    def __init__(self, rfd, wfd):
        self.rfd = rfd
        self.wfd = wfd
        self.buf = b""

    def send(self, tag, payload=""):
        if log._debug and tag != LOG:
            log.debug("writing sync %s", tag)  # (runc's words)
        msg = f"{tag} {payload}".replace("\n", " ") + "\n"
        os.write(self.wfd, msg.encode())

    def recv(self, deadline=None):
        """Next (tag, payload), or (None, None) at EOF. With a `deadline`
        (time.monotonic()), TimeoutError once it passes with no line."""
        while b"\n" not in self.buf:
            if deadline is not None:
                _wait_readable(self.rfd, deadline)
            chunk = os.read(self.rfd, 4096)
            if not chunk:
                return None, None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        tag, _, payload = line.decode(errors="replace").partition(" ")
        if log._debug and tag != LOG:
            log.debug("read sync %s", tag)
        return tag, payload

    def drain(self):
        """Everything left until EOF, raw: what the helper writes after
        READY is not all lines."""
        data, self.buf = self.buf, b""
        while True:
            chunk = os.read(self.rfd, 256)
            if not chunk:
                return data
            data += chunk

    def expect(self, tag):
        got, payload = self.recv()
        if got == tag:
            return payload
        if got == ERROR:
            raise error_from(payload)
        raise InitError(f"init: expected {tag!r}, got {got!r}")

    def close(self):
        """Idempotent: a second close must not hit an fd number reused since."""
        for fd in (self.rfd, self.wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.rfd = self.wfd = -1


_SEP = "\x1f"


def error_payload(message, error_class="internal", errno=None, path=None):
    """ERROR's payload for an error of the init or the exec'd child."""
    return _SEP.join((error_class, "" if errno is None else str(errno), path or "",
                      message))


def error_from(payload):
    """The InitError the parent raises for an ERROR payload."""
    parts = payload.split(_SEP, 3)
    if len(parts) == 4:
        cls, errno, path, msg = parts
        return InitError(msg, cls or None, int(errno) if errno.isdigit() else None, path)
    # the static helper's words: "pyrunc-init: <what>: errno N"
    head, _, num = payload.rpartition(": errno ")
    return InitError(payload, None, int(num) if head and num.isdigit() else None)


def _wait_readable(fd, deadline):
    import select
    import time
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not p.poll(max(1, int(left * 1000))):
            if time.monotonic() >= deadline:
                raise TimeoutError()
            continue
        return


def pair():
    """Two channels (parent's, child's) over two pipes."""
    pr, cw = os.pipe2(os.O_CLOEXEC)
    cr, pw = os.pipe2(os.O_CLOEXEC)
    return Channel(pr, pw), Channel(cr, cw)


def run_reporting(ch, fn, what, debug=False):
    """Run fn() in a forked child (init or exec); never returns. Any failure
    reaches the parent as one "error" line, so it never waits in vain."""
    try:
        fn()
    except PyruncError as e:
        _fail(ch, error_payload(str(e), e.error_class, e.errno, e.path))
    except OSError as e:
        if debug:
            import traceback
            traceback.print_exc()
        from .errors import oserror_class
        _fail(ch, error_payload(
            f"{e.strerror}{': ' + str(e.filename) if e.filename else ''}",
            oserror_class(e), e.errno))
    except BaseException as e:  # a bug: still report, never hang the parent
        _fail(ch, error_payload(f"internal error in {what}: {type(e).__name__}: {e}"))
    os._exit(1)


def _fail(ch, msg):
    try:
        ch.send(ERROR, msg)
    except OSError:
        pass
    os._exit(1)
