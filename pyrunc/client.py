"""A Python client for any runc-compatible runtime (pyrunc, runc, crun,
youki), in the spirit of containerd's go-runc.

Each call runs the runtime's command line with `--log <private file>
--log-format json` and reads the error from that log: pyrunc's lines carry
a machine-readable "class" (docs/ERRORS.md), "path" and "errno", which
pick the exception; a runtime without them (runc, crun) is classified by
its message, the only thing it gives. Every call has a timeout.

Not imported by the command line (pyrunc/__init__.py exposes it lazily):
the CLI's start path never pays for subprocess, json or this module.
"""
from __future__ import annotations

import builtins
import json
import os
import shutil
import signal as _signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from types import EllipsisType
from typing import IO, Any, Callable, Iterator, Mapping, Sequence, TypeVar, Union

__all__ = [
    "Runtime", "State", "Stats", "Event", "ConsoleSocket", "PidfdSocket",
    "RuntimeFailed", "RuntimeTimeout", "ContainerNotFound", "ContainerExists",
    "InvalidConfig", "Unsupported", "NotRunning", "ExecFailed",
]

Stdio = Union[None, int, IO[Any]]
# a call's timeout in seconds; None: no limit; ... (the default): the Runtime's
Timeout = Union[float, None, EllipsisType]
DEFAULT_TIMEOUT = 60.0


# -- exceptions -------------------------------------------------------------
class RuntimeFailed(Exception):
    """The runtime exited with an error.

    `message` is its error (the log's msg), `error_class`/`path`/`errno` the
    machine-readable fields when the runtime gives them (pyrunc does,
    docs/ERRORS.md), `log` every line it logged for this call (dicts),
    `exit_code` its status, `stderr` what it wrote there, `command` argv."""

    def __init__(self, message: str, *, command: Sequence[str] = (), exit_code: int | None = None,
                 log: Sequence[Mapping[str, Any]] = (), stderr: str = "",
                 error_class: str | None = None, path: str | None = None,
                 errno: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.command = list(command)
        self.exit_code = exit_code
        self.log = list(log)
        self.stderr = stderr
        self.error_class = error_class
        self.path = path
        self.errno = errno


class RuntimeTimeout(RuntimeFailed):
    """The call did not finish within its timeout; the runtime was killed
    (a killed create may leave a partial container: delete(force=True))."""


class ContainerNotFound(RuntimeFailed):
    """No container with this id (class container.not-found)."""


class ContainerExists(RuntimeFailed):
    """The id is in use (class container.exists)."""


class InvalidConfig(RuntimeFailed):
    """config.json (or a process) is invalid; `path` is the JSON path of the
    field when the runtime names it (class config.invalid)."""


class Unsupported(InvalidConfig):
    """A valid setting the runtime or host cannot honour (config.unsupported)."""


class NotRunning(RuntimeFailed):
    """The container's state does not allow the call: not running, already
    stopped, not paused... (class container.wrong-state)."""


class ExecFailed(RuntimeFailed):
    """The container's program could not be started; `errno` says why
    (class process.exec-failed)."""


_BY_CLASS: dict[str, type[RuntimeFailed]] = {
    "container.not-found": ContainerNotFound, "container.exists": ContainerExists,
    "config.invalid": InvalidConfig, "config.unsupported": Unsupported,
    "container.wrong-state": NotRunning, "process.exec-failed": ExecFailed,
}

# Runtimes without error classes (runc, crun, youki): their messages, the
# only thing they give. Checked in order: (words all present, any of these).
_BY_MESSAGE: tuple[tuple[tuple[str, ...], tuple[str, ...], type[RuntimeFailed]], ...] = (
    (("container",), ("does not exist",), ContainerNotFound),
    (("container",), ("already exists",), ContainerExists),
    ((), ("not running", "is not stopped", "not paused", "has stopped", "already running",
          "already stopped", "already paused", "not in created state", "stopped container",
          "paused container", "cannot start a"), NotRunning),
    (("exec",), ("executable file not found", "no such file or directory",
                 "permission denied", "exec format error"), ExecFailed),
)


def _exception_for(msg: str, cls: str | None) -> type[RuntimeFailed]:
    if cls is not None:
        return _BY_CLASS.get(cls, RuntimeFailed)
    low = msg.lower()
    if "config.json" in low and "not found" in low:
        return InvalidConfig
    for every, some, exc in _BY_MESSAGE:
        if all(w in low for w in every) and any(w in low for w in some):
            return exc
    return RuntimeFailed


# -- results ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class State:
    """A container's state: the OCI fields, runc's (rootfs, created,
    owner), and whatever else the runtime adds (pyrunc's extras) in
    `extras`, untouched."""

    id: str
    status: str
    pid: int
    bundle: str
    oci_version: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    rootfs: str = ""
    created: str = ""
    owner: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("ociVersion", "id", "status", "pid", "bundle", "annotations", "rootfs",
              "created", "owner")

    # pyrunc's findings about a stopped container (docs/ARCHITECTURE.md,
    # "How a container ended"): None where the runtime does not say
    @property
    def exit_status(self) -> int | None:
        """The init's exit status (128+N for signal N)."""
        return self.extras.get("exitStatus")

    @property
    def oom_killed(self) -> bool | None:
        """Whether the kernel's OOM killer killed the init."""
        return self.extras.get("oomKilled")

    @property
    def oom_kills(self) -> int | None:
        """OOM kills in the container's memory cgroup (any process)."""
        return self.extras.get("oomKills")

    @property
    def finished(self) -> str | None:
        """When it stopped (RFC 3339), exact or an upper bound: see exit_source."""
        return self.extras.get("finished")

    @property
    def exit_source(self) -> str | None:
        """How it is known: "waited", "zombie", "kmsg" or "observed"."""
        return self.extras.get("exitSource")

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "State":
        return cls(id=d.get("id", ""), status=d.get("status", ""), pid=int(d.get("pid") or 0),
                   bundle=d.get("bundle", ""), oci_version=d.get("ociVersion", ""),
                   annotations=dict(d.get("annotations") or {}), rootfs=d.get("rootfs", ""),
                   created=d.get("created", ""), owner=d.get("owner", ""),
                   extras={k: v for k, v in d.items() if k not in cls._KNOWN})


@dataclass(frozen=True, slots=True)
class Stats:
    """A container's resource usage (runc's `events --stats` data): the
    common figures as attributes, the whole object in `raw`. A figure the
    host does not account is 0."""

    cpu_total_ns: int
    cpu_user_ns: int
    cpu_kernel_ns: int
    memory_usage: int
    memory_limit: int
    memory_max_usage: int
    pids_current: int
    pids_limit: int
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Stats":
        cpu = (d.get("cpu") or {}).get("usage") or {}
        mem = (d.get("memory") or {}).get("usage") or {}
        pids = d.get("pids") or {}
        return cls(cpu_total_ns=cpu.get("total", 0), cpu_user_ns=cpu.get("user", 0),
                   cpu_kernel_ns=cpu.get("kernel", 0), memory_usage=mem.get("usage", 0),
                   memory_limit=mem.get("limit", 0), memory_max_usage=mem.get("max", 0),
                   pids_current=pids.get("current", 0), pids_limit=pids.get("limit", 0),
                   raw=dict(d))


@dataclass(frozen=True, slots=True)
class Event:
    """One line of `events`: type "stats" (with `stats`) or "oom"..."""

    type: str
    id: str
    stats: Stats | None
    raw: dict[str, Any]


# -- fd-passing sockets -------------------------------------------------------
_S = TypeVar("_S", bound="_FdSocket")

class _FdSocket:
    """A listening AF_UNIX socket in a private directory, receiving one fd.

    Use as a context manager (or close()): the socket and its directory go."""

    __slots__ = ("path", "_dir", "_sock")

    def __init__(self, path: str | None = None) -> None:
        self._dir = None
        if path is None:
            self._dir = tempfile.mkdtemp(prefix="pyrunc-sock-")
            path = os.path.join(self._dir, "sock")
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._sock.bind(path)
        self._sock.listen(1)

    def _receive(self, timeout: float | None) -> tuple[int, bytes]:
        self._sock.settimeout(timeout)
        try:
            conn, _ = self._sock.accept()
        except socket.timeout:
            raise TimeoutError(f"nothing connected to {self.path} in {timeout}s") from None
        with conn:
            conn.settimeout(timeout)
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
        if not fds:
            raise RuntimeFailed(f"no file descriptor received on {self.path}")
        for extra in fds[1:]:
            os.close(extra)
        return fds[0], msg

    def close(self) -> None:
        self._sock.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        else:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ConsoleSocket(_FdSocket):
    """For --console-socket: receive_master() returns the master fd of the
    container's terminal (the caller owns and closes it)."""

    __slots__ = ()

    def receive_master(self, timeout: float | None = DEFAULT_TIMEOUT) -> int:
        return self._receive(timeout)[0]


class PidfdSocket(_FdSocket):
    """For --pidfd-socket (runc 1.2+): receive_pidfd() returns a pidfd of
    the container's process, to wait on or signal without a pid-reuse race."""

    __slots__ = ()

    def receive_pidfd(self, timeout: float | None = DEFAULT_TIMEOUT) -> int:
        return self._receive(timeout)[0]


# -- the runtime --------------------------------------------------------------
class Runtime:
    """A runc-compatible runtime binary.

    `root` is its --root (None: the runtime's default), `log` a file to
    which each call's log lines are also appended, `timeout` the default
    for every call (seconds; None waits forever), `debug` adds --debug."""

    __slots__ = ("binary", "root", "log", "systemd_cgroup", "timeout", "debug")

    def __init__(self, binary: str = "pyrunc", root: str | None = None, log: str | None = None,
                 systemd_cgroup: bool = False, *, timeout: float | None = DEFAULT_TIMEOUT,
                 debug: bool = False) -> None:
        self.binary = binary
        self.root = root
        self.log = log
        self.systemd_cgroup = systemd_cgroup
        self.timeout = timeout
        self.debug = debug

    def __repr__(self) -> str:
        return f"Runtime(binary={self.binary!r}, root={self.root!r})"

    # -- lifecycle --
    def create(self, id: str, bundle: str, *, pid_file: str | None = None,
               console_socket: str | ConsoleSocket | None = None,
               pidfd_socket: str | PidfdSocket | None = None, no_pivot: bool = False,
               no_new_keyring: bool = False, extra_files: Sequence[int | IO[Any]] = (),
               stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None,
               timeout: Timeout = ...) -> int:
        """Create the container; returns its init's pid. The container's
        stdio is stdin/stdout/stderr (default /dev/null); `extra_files`
        become its fds 3, 4... (--preserve-fds)."""
        return self._create("create", id, bundle, (), locals(), timeout)

    def start(self, id: str, *, timeout: Timeout = ...) -> None:
        self._call(["start", "--", id], timeout)

    def run(self, id: str, bundle: str, *, detach: bool = False, keep: bool = False,
            pid_file: str | None = None, console_socket: str | ConsoleSocket | None = None,
            pidfd_socket: str | PidfdSocket | None = None, no_pivot: bool = False,
            no_new_keyring: bool = False, extra_files: Sequence[int | IO[Any]] = (),
            stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None,
            timeout: Timeout = ...) -> int:
        """create + start (+ wait + delete without `detach`). Returns the
        container's exit status, or with `detach` its init's pid. Without
        `detach` there is no timeout unless one is given."""
        flags = (["--detach"] if detach else []) + (["--keep"] if keep else [])
        if timeout is ... and not detach:
            timeout = None  # waiting for the process is what was asked
        return self._create("run", id, bundle, flags, locals(), timeout, waits=not detach)

    def exec(self, id: str, process: Mapping[str, Any] | Sequence[str], *,
             detach: bool = False, tty: bool = False,
             console_socket: str | ConsoleSocket | None = None,
             pidfd_socket: str | PidfdSocket | None = None, pid_file: str | None = None,
             extra_files: Sequence[int | IO[Any]] = (), stdin: Stdio = None,
             stdout: Stdio = None, stderr: Stdio = None, timeout: Timeout = ...) -> int:
        """Run a process in the container: `process` is an OCI process
        object (dict) or just its args. Returns its exit status, or with
        `detach` its pid. Without `detach` there is no timeout unless one
        is given."""
        if timeout is ... and not detach:
            timeout = None  # waiting for the process is what was asked
        with tempfile.TemporaryDirectory(prefix="pyrunc-exec-") as tmp:
            if isinstance(process, Mapping):
                proc_path = os.path.join(tmp, "process.json")
                with open(proc_path, "w") as f:
                    json.dump(dict(process), f)
                args = ["exec", "--process", proc_path]
            else:
                args, proc_path = ["exec"], None
            if detach:
                args.append("--detach")
                pid_file = pid_file or os.path.join(tmp, "pid")
            if tty:
                args.append("--tty")
            args += _socket_flags(console_socket, pidfd_socket)
            if pid_file:
                args += ["--pid-file", os.path.abspath(pid_file)]
            if extra_files:
                args += ["--preserve-fds", str(len(extra_files))]
            args += ["--", id]  # (an id starting with "-" is no flag)
            if proc_path is None:
                args += list(process)
            status = self._call(args, timeout, stdio=(stdin, stdout, stderr),
                                extra_files=extra_files, waits=not detach)
            return _read_pid(pid_file) if pid_file and detach else status

    def delete(self, id: str, *, force: bool = False,
               timeout: Timeout = ...) -> None:
        self._call(["delete"] + (["--force"] if force else []) + ["--", id], timeout)

    def kill(self, id: str, sig: int | str = _signal.SIGTERM, *, all: bool = False,
             timeout: Timeout = ...) -> None:
        s = str(int(sig)) if not isinstance(sig, str) else sig
        self._call(["kill"] + (["--all"] if all else []) + ["--", id, s], timeout)

    def pause(self, id: str, *, timeout: Timeout = ...) -> None:
        self._call(["pause", "--", id], timeout)

    def resume(self, id: str, *, timeout: Timeout = ...) -> None:
        self._call(["resume", "--", id], timeout)

    def update(self, id: str, resources: Mapping[str, Any], *,
               timeout: Timeout = ...) -> None:
        """Change a running container's limits: `resources` is an OCI
        linux.resources object; only what it names changes."""
        self._call(["update", "--resources", "-", "--", id], timeout,
                   input=json.dumps(dict(resources)).encode())

    def mounts_add(self, id: str, mounts: Sequence[Mapping[str, Any]], *,
                   timeout: Timeout = ...) -> None:
        """Mount config.json-style entries (bind, tmpfs) into a running
        container: `mounts add` (pyrunc, crun); all or none."""
        with tempfile.TemporaryDirectory(prefix="pyrunc-mounts-") as tmp:
            path = os.path.join(tmp, "mounts.json")
            with open(path, "w") as f:
                json.dump([dict(m) for m in mounts], f)
            self._call(["mounts", "add", "--", id, path], timeout)

    def mounts_remove(self, id: str, destinations: Sequence[str], *,
                      timeout: Timeout = ...) -> None:
        """Unmount what mounts_add() mounted, by destination."""
        self._call(["mounts", "remove", "--", id] + list(destinations), timeout)

    # -- queries --
    def state(self, id: str, *, timeout: Timeout = ...) -> State:
        return State.from_json(json.loads(self._output(["state", "--", id], timeout)))

    def list(self, *, timeout: Timeout = ...) -> builtins.list[State]:
        out = json.loads(self._output(["list", "--format", "json"], timeout) or "null")
        return [State.from_json(d) for d in out or ()]

    def ps(self, id: str, *, timeout: Timeout = ...) -> builtins.list[int]:
        """The pids (host's view) of the container's processes."""
        return list(json.loads(self._output(["ps", "--format", "json", "--", id], timeout)) or ())

    def stats(self, id: str, *, timeout: Timeout = ...) -> Stats:
        ev = json.loads(self._output(["events", "--stats", "--", id], timeout))
        return Stats.from_json(ev.get("data") or {})

    def features(self, *, timeout: Timeout = ...) -> dict[str, Any]:
        f: dict[str, Any] = json.loads(self._output(["features"], timeout))
        return f

    def version(self, *, timeout: Timeout = ...) -> str:
        return self._output(["--version"], timeout, global_flags=False)

    def events(self, id: str, interval: float = 5.0, *,
               timeout: float | None = None) -> Iterator[Event]:
        """Stream the container's events (stats every `interval` seconds,
        "oom" when the kernel OOM-kills in it) until it stops. `timeout`
        bounds the wait for each event. Closing the iterator (or leaving a
        `with contextlib.closing(...)`) stops the runtime's process."""
        argv = self._argv(None, ["events", "--interval", f"{int(interval * 1000)}ms", "--", id])
        with tempfile.TemporaryDirectory(prefix="pyrunc-events-") as tmp:
            log = os.path.join(tmp, "log.json")
            argv[1:1] = ["--log", log, "--log-format", "json"]
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                yield from _read_events(p, timeout, argv)
                err = p.stderr.read().decode(errors="replace") if p.stderr else ""
                code = p.wait()
                self._check(argv, code, log, err)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                for f in (p.stdout, p.stderr):
                    if f:
                        f.close()

    # -- plumbing --
    def _create(self, cmd: str, id: str, bundle: str, flags: Sequence[str],
                o: Mapping[str, Any], timeout: Timeout, waits: bool = False) -> int:
        with tempfile.TemporaryDirectory(prefix="pyrunc-create-") as tmp:
            pid_file = o["pid_file"] or os.path.join(tmp, "pid")
            args = [cmd, "--bundle", os.path.abspath(bundle), "--pid-file",
                    os.path.abspath(pid_file)] + list(flags)
            args += _socket_flags(o["console_socket"], o["pidfd_socket"])
            if o["no_pivot"]:
                args.append("--no-pivot")
            if o["no_new_keyring"]:
                args.append("--no-new-keyring")
            if o["extra_files"]:
                args += ["--preserve-fds", str(len(o["extra_files"]))]
            status = self._call(args + ["--", id], timeout, stdio=(o["stdin"], o["stdout"],
                                                             o["stderr"]),
                                extra_files=o["extra_files"], waits=waits)
            return status if waits else _read_pid(pid_file)

    def _argv(self, log: str | None, args: Sequence[str],
              global_flags: bool = True) -> builtins.list[str]:
        argv = [self.binary]
        if global_flags:
            if self.root is not None:
                argv += ["--root", self.root]
            if self.debug:
                argv.append("--debug")
            if log is not None:
                argv += ["--log", log, "--log-format", "json"]
            if self.systemd_cgroup:
                argv.append("--systemd-cgroup")
        return argv + list(args)

    def _output(self, args: Sequence[str], timeout: Timeout, global_flags: bool = True) -> str:
        out: builtins.list[str] = []
        self._call(args, timeout, capture=out, global_flags=global_flags)
        return out[0]

    def _call(self, args: Sequence[str], timeout: Timeout, *,
              stdio: tuple[Stdio, Stdio, Stdio] | None = None,
              extra_files: Sequence[int | IO[Any]] = (), waits: bool = False,
              input: bytes | None = None, capture: builtins.list[str] | None = None,
              global_flags: bool = True) -> int:
        """Run one command. Errors come from the private JSON log. Its
        stdout is read (from a file) only when `capture` asks. `stdio`:
        a command whose process inherits it (create, run, exec): what the
        caller did not give is /dev/null, never a pipe or file of ours that
        the container would keep open; otherwise stderr is kept too."""
        if timeout is ...:
            timeout = self.timeout
        with tempfile.TemporaryDirectory(prefix="pyrunc-call-") as tmp:
            log = os.path.join(tmp, "log.json")
            argv = self._argv(log, args, global_flags)
            container_io = stdio is not None
            stdin, stdout, stderr = stdio or (None, None, None)
            if container_io and stderr is None:
                stderr = subprocess.DEVNULL
            with tempfile.TemporaryFile(dir=tmp) as err, \
                    tempfile.TemporaryFile(dir=tmp) as out:
                fds = [f if isinstance(f, int) else f.fileno() for f in extra_files]
                try:
                    p = subprocess.run(
                        argv, input=input,
                        stdin=subprocess.DEVNULL if stdin is None and input is None else stdin,
                        stdout=out if capture is not None else
                        (subprocess.DEVNULL if stdout is None else stdout),
                        stderr=err if stderr is None else stderr,
                        timeout=timeout, close_fds=not fds,
                        preexec_fn=_dup_extra(fds) if fds else None)
                except subprocess.TimeoutExpired:
                    raise RuntimeTimeout(f"{args[0]}: timed out after {timeout}s",
                                         command=argv, log=self._log_lines(log)) from None
                err.seek(0)
                errtext = err.read().decode(errors="replace")
                if capture is not None:
                    out.seek(0)
                    capture.append(out.read().decode(errors="replace"))
            if waits and p.returncode != 0 and not _has_error(log):
                # run/exec: the process's own exit status, not a failure
                self._keep_log(log)
                return p.returncode
            self._check(argv, p.returncode, log, errtext)
            return p.returncode

    def _check(self, argv: builtins.list[str], code: int, log: str, stderr: str) -> None:
        lines = self._log_lines(log)
        self._keep_log(log)
        if code == 0:
            return
        errs = [x for x in lines if x.get("level") in ("error", "fatal")]
        e = errs[-1] if errs else {}
        tail = stderr.strip().splitlines()
        msg = e.get("msg") or (tail[-1] if tail else f"{argv[0]} exited with status {code}")
        cls = e.get("class")
        raise _exception_for(msg, cls)(msg, command=argv, exit_code=code, log=lines,
                                        stderr=stderr, error_class=cls, path=e.get("path"),
                                        errno=e.get("errno"))

    @staticmethod
    def _log_lines(log: str) -> builtins.list[dict[str, Any]]:
        try:
            with open(log, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        out: builtins.list[dict[str, Any]] = []
        # one record per "\n" (what the runtimes write), never every
        # Unicode line break: a record is never cut inside a string
        for line in text.split("\n"):
            if not line:
                continue
            try:
                d = json.loads(line)
            except ValueError:
                d = {"level": "info", "msg": line}  # a runtime's stray text line
            if isinstance(d, dict):
                out.append(d)
        return out

    def _keep_log(self, log: str) -> None:
        """Append the call's log lines to the user's log, if any."""
        if not self.log:
            return
        try:
            with open(log, "rb") as src:
                data = src.read()
        except FileNotFoundError:
            return
        if data:
            with open(self.log, "ab") as dst:
                dst.write(data)


def _has_error(log: str) -> bool:
    return any(x.get("level") in ("error", "fatal") for x in Runtime._log_lines(log))


def _socket_flags(console: str | _FdSocket | None, pidfd: str | _FdSocket | None) -> list[str]:
    out = []
    if console is not None:
        out += ["--console-socket", console.path if isinstance(console, _FdSocket) else console]
    if pidfd is not None:
        out += ["--pidfd-socket", pidfd.path if isinstance(pidfd, _FdSocket) else pidfd]
    return out


def _dup_extra(fds: Sequence[int]) -> Callable[[], None]:
    """In the child: the caller's extra fds as 3, 4, ... (--preserve-fds).
    (subprocess would close them after preexec_fn with close_fds: the call
    runs without it, every other fd Python made being close-on-exec.)"""
    def fn() -> None:
        # first out of the way (a source may be a target of another)
        high = [os.dup(fd) for fd in fds]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i, inheritable=True)
            os.close(fd)
    return fn


def _read_pid(path: str) -> int:
    with open(path) as f:
        return int(f.read().strip())


def _read_events(p: subprocess.Popen[bytes], timeout: float | None,
                 argv: list[str]) -> Iterator[Event]:
    import select
    assert p.stdout is not None
    buf = b""
    while True:
        if timeout is not None and b"\n" not in buf:
            r, _, _ = select.select([p.stdout], [], [], timeout)
            if not r:
                raise RuntimeTimeout(f"events: nothing within {timeout}s", command=argv)
        if b"\n" not in buf:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                return
            buf += chunk
            continue
        line, _, buf = buf.partition(b"\n")
        if not line.strip():
            continue
        d = json.loads(line)
        data = d.get("data")
        yield Event(type=d.get("type", ""), id=d.get("id", ""),
                    stats=Stats.from_json(data) if d.get("type") == "stats" and data else None,
                    raw=d)
