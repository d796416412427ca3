"""Error and warning output the way runc's clients read it.

Errors go to stderr (podman falls back to it, and its 126/127
classification runs on it) and, with --log, as one JSON line
{"level","msg","time"} appended to the log file (containerd keeps the msg
of the last error line; podman decodes the whole file as one object, so a
successful call writes nothing).
"""
import os
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


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _emit(level, msg, fields=None):
    t = _now()
    if _log_path:
        if _log_json:
            rec = {"level": level, "msg": msg, "time": t}
            if fields:  # an error's class/path/errno (errors.py), after runc's three
                rec.update(fields)
            line = jsonlite.dumps(rec)
        else:
            line = f'time="{t}" level={level} msg={jsonlite.dumps(msg)}'
        try:
            fd = os.open(_log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
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


def debug(msg):
    if _debug:
        _emit("debug", msg)


def is_debug():
    return _debug


# PYRUNC_TRACE=1: phase timestamps (ms since the interpreter started) on
# stderr, to find where start latency goes without strace's overhead.
_trace = os.environ.get("PYRUNC_TRACE") == "1"


def trace(label):
    if _trace:
        t = time.perf_counter() * 1000
        os.write(2, f"[trace {os.getpid()}] {t:10.2f} {label}\n".encode())
