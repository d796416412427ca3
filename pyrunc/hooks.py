"""OCI hooks: run one list of hooks with the state on stdin.

Failures read as runc HEAD's (libcontainer/configs: Hooks.Run, Command.Run),
which the static helper (csrc/execinit.c) follows for startContainer too:
"error running <kind> hook #<n>: " then "exit status 3, stdout: <what the
hook wrote>, stderr: <...>" (or "signal: killed, stdout: ..."), "fork/exec
<path>: <errno>" when it cannot be started, "hook ran past specified
timeout of 1.0s". A hook's stdout and stderr are captured, never mixed
into the runtime's own output (a `run` caller's stdout is the container's).
They go to memfds rather than pipes: a hook that leaves a daemon holding
them open cannot hang the runtime.

No subprocess module (3 ms of imports on the start path): fork/exec with a
pipe for stdin, and a pidfd to wait with the hook's timeout.
"""
import os

from . import jsonlite
from .errors import PyruncError


class HookError(PyruncError):
    error_class = "hook.failed"


def run(kind, hooks, state, warn=None, cwd=None):
    """Run the hooks of one kind in order. Without `warn` the first failure
    raises; with it (poststart, poststop) each failure is passed to warn()
    and the remaining hooks still run, as the spec asks. `cwd`: where the
    hooks run (createContainer's: the rootfs, as runc, so that a hook may
    name the container's files relative to it)."""
    data = jsonlite.dumps(state).encode()
    for i, h in enumerate(hooks):
        try:
            _run_one(f"error running {kind} hook #{i}", h, data, cwd)
        except HookError as e:
            if warn is None:
                raise
            warn(str(e))


def _run_one(where, h, data, cwd=None):
    r, w = os.pipe2(os.O_CLOEXEC)
    er, ew = os.pipe2(os.O_CLOEXEC)  # the child's exec errno, if it fails
    out = os.memfd_create("pyrunc-hook-stdout", os.MFD_CLOEXEC)
    err = os.memfd_create("pyrunc-hook-stderr", os.MFD_CLOEXEC)
    try:
        try:
            pid = os.fork()
        except OSError as e:
            raise HookError(f"{where}: fork/exec {h.path}: {_lower(e.strerror)}") from None
        if pid == 0:  # child
            _child(h, r, ew, out, err, cwd)
        os.close(r)
        os.close(ew)
        r = ew = -1
        import time
        deadline = time.monotonic() + h.timeout if h.timeout else None
        try:
            _feed(w, data, pid, deadline)
        finally:
            os.close(w)
            w = -1
        status = _wait(pid, None if deadline is None else max(0.0, deadline - time.monotonic()))
        errno_ = os.read(er, 8)
        if errno_:
            raise HookError(f"{where}: fork/exec {h.path}: {_lower(os.strerror(int(errno_)))}")
        if status is None:
            raise HookError(f"{where}: hook ran past specified timeout of {float(h.timeout):.1f}s")
        if status:
            raise HookError(f"{where}: {_how(status)}, stdout: {_text(out)}, stderr: {_text(err)}")
    finally:
        for fd in (r, w, er, ew, out, err):
            if fd >= 0:
                os.close(fd)


def _child(h, r, ew, out, err, cwd):
    """In the forked child: stdin the state, stdout/stderr the memfds,
    nothing else open at the exec; an exec failure's errno to `ew`."""
    try:
        os.dup2(r, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        if ew != 3:
            os.dup2(ew, 3)  # (inheritable, but closed at the exec below)
            os.set_inheritable(3, False)
        # every fd above it, however high (not just 3..1023)
        from . import syscalls as sc
        sc.close_range(4)
        if cwd is not None:
            os.chdir(cwd)
        os.execve(h.path, h.args, _env(h.env))
    except OSError as e:
        os.write(3, str(e.errno or 0).encode())
    os._exit(127)


def _how(status):
    """How a hook ended, in Go's words (os.ProcessState.String)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        import signal
        name = signal.strsignal(sig) if sig < 32 else None  # glibc's, Go's lowercased
        how = f"signal: {_lower(name) if name else f'signal {sig}'}"
        return how + (" (core dumped)" if os.WCOREDUMP(status) else "")
    return f"exit status {os.WEXITSTATUS(status)}"


def _text(fd, limit=64 * 1024):
    """What the hook wrote there (the first `limit` bytes)."""
    return os.pread(fd, limit, 0).decode(errors="replace")


def _lower(s):
    s = s or ""
    return s[:1].lower() + s[1:]


def _feed(w, data, pid, deadline):
    """Write the state to the hook's stdin without outliving its timeout:
    a hook that neither reads nor exits must not hang the runtime."""
    import select
    import time
    os.set_blocking(w, False)
    p = select.poll()
    p.register(w, select.POLLOUT)
    while data:
        try:
            n = os.write(w, data)
            data = data[n:]
            continue
        except BlockingIOError:
            pass
        except OSError:
            return  # EPIPE: the hook need not read its stdin
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        p.poll(100 if left is None else min(100, int(left * 1000) + 1))


def _env(env):
    out = {}
    for e in env:
        k, _, v = e.partition("=")
        out[k] = v
    return out


def _wait(pid, timeout):
    if timeout is None:
        while True:
            try:
                return os.waitpid(pid, 0)[1]
            except InterruptedError:
                continue
    import select
    pfd = os.pidfd_open(pid)
    try:
        p = select.poll()
        p.register(pfd, select.POLLIN)
        if not p.poll(int(timeout * 1000)):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return None
        return os.waitpid(pid, 0)[1]
    finally:
        os.close(pfd)
