"""CVE-2024-21626 through `exec`: the process's cwd given as
/proc/self/fd/N, where N is a directory fd of the host: one the caller
left open (not preserved: closed before the chdir), or one it passed on
purpose with --preserve-fds (the chdir then lands outside the container's
root: refused, as runc HEAD's "possible container breakout detected").
And any low fd: the CVE's original form was an fd of the runtime's own."""
import subprocess

import pytest

from conftest import needs_root
from test_exec import running  # noqa: F401  (fixture: a container running sleep)

pytestmark = needs_root

SECRET = "hostsecret-21626"


def _exec_with_host_fd(rt_argv, root, cid, host_dir, fd, *args):
    """rt exec with fd `fd` open on host_dir in the caller, cwd through it."""
    script = f'exec {fd}<"$0"; exec "$@"'
    return subprocess.run(["/bin/sh", "-c", script, str(host_dir), *rt_argv, "--root", root,
                           "exec", *args, "--cwd", f"/proc/self/fd/{fd}", cid, "ls", "-a"],
                          capture_output=True, text=True, timeout=60)


def test_exec_cwd_through_a_leaked_caller_fd(runtime, running, tmp_path):  # noqa: F811
    (tmp_path / SECRET).write_text("x")
    p = _exec_with_host_fd([runtime.bin], runtime.root, running, tmp_path, 7)
    assert p.returncode != 0
    assert SECRET not in p.stdout
    assert "(process.cwd)" in p.stderr, p.stderr


def test_exec_cwd_through_a_preserved_host_fd_is_refused(runtime, running, tmp_path):  # noqa: F811
    (tmp_path / SECRET).write_text("x")
    p = _exec_with_host_fd([runtime.bin], runtime.root, running, tmp_path, 3,
                           "--preserve-fds", "1")
    assert p.returncode != 0
    assert SECRET not in p.stdout
    # (refused by the chdir, or by the check after it that the cwd is
    # under the root: runc HEAD's "possible container breakout detected")
    assert "(process.cwd)" in p.stderr, p.stderr


def test_exec_cwd_through_any_low_fd_reaches_nothing(runtime, running):  # noqa: F811
    """The CVE's original form: an fd of the runtime's own (runc 1.1.5
    leaked the host's /sys/fs/cgroup to its init): no fd of pyrunc's is
    there to be reached, whatever N."""
    for fd in range(3, 12):
        p = runtime("exec", "--cwd", f"/proc/self/fd/{fd}", running, "ls")
        assert p.returncode != 0 and "(process.cwd)" in p.stderr, (fd, p.stdout, p.stderr)
