"""Error and warning output the way runc's clients read it.

Errors go to stderr (podman falls back to it, and its 126/127
classification runs on it) and, with --log, as one JSON line
{"level","msg","time"} appended to the log file (containerd keeps the msg
of the last error line; podman decodes the whole file as one object, so a
successful call writes nothing).

--debug lines go where runc's go: into --log when given, else to stderr,
as logrus writes them (`time="..." level=debug msg="..."`, or one JSON
object with --log-format json). Without --debug, debug() returns before
formatting anything. In the container's init and exec child, debug lines
travel to the runtime over their channel (sync.LOG), never onto the
container's stderr: the runtime writes them (relay).
"""
import posix
import sys
import time

from . import jsonlite

_log_path = None
_log_json = False
_debug = False


def configure(path, fmt, debug):
    global _log_path, _log_json, _debug
    _log_path = path or None
    _log_json = fmt == "json"
    _debug = debug


# Line breaks other than "\n" that JSON leaves raw: a reader splitting on
# every Unicode line break (Python's str.splitlines) would cut a record
# inside a string of the container's or the config's. Go's encoding/json
# (logrus) escapes the first two; NEL too here.
_BREAKS = {0x2028: "\\u2028", 0x2029: "\\u2029", 0x85: "\\u0085"}


def _quote(s):
    """A string as logrus writes a quoted value: one line, whatever it holds."""
    return jsonlite.dumps(s).translate(_BREAKS)


def _value(v):
    """A field's value as logrus's text formatter writes it: bare when
    it needs no quoting, else quoted (a value of the container's with a
    space, a quote or a line break forges no field or line)."""
    s = str(v)
    if s and all(c.isascii() and (c.isalnum() or c in "-._/@^+") for c in s):
        return s
    return _quote(s)


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _emit(level, msg, fields=None):
    t = _now()
    if _log_path:
        if _log_json:
            rec = {"level": level, "msg": msg, "time": t}
            if fields:  # an error's class/path/errno (errors.py), after runc's three
                rec.update(fields)
            line = jsonlite.dumps(rec).translate(_BREAKS)
        else:
            line = f'time="{t}" level={level} msg={_quote(msg)}'
        try:
            fd = posix.open(_log_path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o644)
            try:
                posix.write(fd, (line + "\n").encode(errors="backslashreplace"))
            finally:
                posix.close(fd)
        except OSError:
            pass
    try:
        sys.stderr.write(f"{level}: {msg}\n" if level != "error" else f"{msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def error(msg, fields=None):
    """`fields`: the error's machine-readable fields (PyruncError.fields()),
    written only in JSON log lines."""
    _emit("error", msg, fields)


def warn(msg):
    _emit("warning", msg)


_chan = None  # in the init or exec child: the channel debug lines go over


def debug(msg, *args, **fields):
    """A debug line, formatted (msg % args) only with --debug; `fields` are
    logrus fields (runc's "process exited" pid=... status=...)."""
    if not _debug:
        return
    if args:
        msg = msg % args
    if _chan is not None:
        from . import sync
        try:
            _chan.send(sync.LOG, jsonlite.dumps([msg, fields] if fields else [msg]))
        except OSError:
            pass
        return
    _debug_line(msg, fields)


def to_channel(chan):
    """In a forked child: debug lines go to the runtime over `chan`."""
    global _chan
    _chan = chan


def relay(payload):
    """A debug line the init or exec child sent (sync.LOG): written here."""
    try:
        got = jsonlite.loads(payload, "log line")
        msg, fields = str(got[0]), (got[1] if len(got) > 1 else None)
    except Exception:  # noqa: BLE001 - a line is never worth failing for
        msg, fields = payload, None
    _debug_line(msg, fields if isinstance(fields, dict) else None)


def _debug_line(msg, fields=None):
    t = _now()
    if _log_json:
        d = {"level": "debug", "msg": msg, "time": t}
        if fields:
            d.update(fields)
        line = jsonlite.dumps(d).translate(_BREAKS)
    else:
        line = f'time="{t}" level=debug msg={_quote(msg)}'
        if fields:
            line += "".join(f" {_value(k)}={_value(v)}" for k, v in fields.items())
    data = (line + "\n").encode(errors="backslashreplace")
    try:
        if _log_path:
            fd = posix.open(_log_path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o644)
            try:
                posix.write(fd, data)
            finally:
                posix.close(fd)
        else:
            posix.write(2, data)
    except OSError:
        pass


def is_debug():
    return _debug


# PYRUNC_TRACE=1: phase timestamps (ms since the interpreter started) on
# stderr, to find where start latency goes without strace's overhead.
# (posix.environ: bytes; os, and its str environ, are not imported here)
_trace = posix.environ.get(b"PYRUNC_TRACE") == b"1"


def trace(label):
    """A step of create/start/run/exec: timed with PYRUNC_TRACE=1, and a
    debug line with --debug."""
    if _trace:
        t = time.perf_counter() * 1000
        posix.write(2, f"[trace {posix.getpid()}] {t:10.2f} {label}\n".encode())
    if _debug:
        debug(label)
