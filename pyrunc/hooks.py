"""OCI hooks: run one list of hooks with the state on stdin.

Failures read as runc's, "error running <kind> hook #<n>: ...", followed,
as the static helper (csrc/execinit.c) words those of startContainer, by
the hook's path and what happened ("exit status 3").

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
    try:
        pid = os.fork()
    except OSError as e:
        os.close(r)
        os.close(w)
        raise HookError(f"{where}: fork: {e.strerror}") from None
    if pid == 0:  # child
        try:
            os.dup2(r, 0)
            # every fd above stdio, however high (not just 3..1023)
            from . import syscalls as sc
            sc.close_range(3)
            if cwd is not None:
                os.chdir(cwd)
            os.execve(h.path, h.args, _env(h.env))
        except OSError as e:
            os.write(2, f"{where}: {h.path}: exec: {(e.strerror or '').lower()}\n".encode())
        os._exit(127)
    os.close(r)
    import time
    deadline = time.monotonic() + h.timeout if h.timeout else None
    try:
        _feed(w, data, pid, deadline)
    finally:
        os.close(w)
    status = _wait(pid, None if deadline is None else max(0.0, deadline - time.monotonic()))
    if status is None:
        raise HookError(f"{where}: {h.path}: hook ran past specified timeout of "
                        f"{float(h.timeout):.1f}s")
    if os.WIFSIGNALED(status):
        raise HookError(f"{where}: {h.path}: killed by signal {os.WTERMSIG(status)}")
    code = os.WEXITSTATUS(status)
    if code:
        raise HookError(f"{where}: {h.path}: exit status {code}")


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
