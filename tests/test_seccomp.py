"""linux.seccomp: filters built with libseccomp, loaded last."""
import pytest

from conftest import needs_root

pytestmark = needs_root


def profile(*rules, default="SCMP_ACT_ALLOW"):
    return {"defaultAction": default,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": list(rules)}


@pytest.mark.parametrize("nnp", [True, False])
def test_rule_errno_and_arguments(runtime, bundle, nnp):
    bundle.config["process"]["noNewPrivileges"] = nnp
    bundle.config["linux"]["seccomp"] = profile(
        {"names": ["mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        # only chmod to 0700 is refused: an argument condition
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
        {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}]})
    bundle.sh("mkdir /tmp/d 2>&1; /bin/pwd 2>&1; touch /tmp/f; chmod 755 /tmp/f && echo ok755; "
              "chmod 700 /tmp/f 2>/dev/null || echo denied700").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    lines = p.stdout.splitlines()
    assert lines, p.stderr
    assert "Operation not permitted" in lines[0]
    assert "Function not implemented" in lines[1]
    assert lines[2:] == ["ok755", "denied700"]


def test_default_errno_and_allow_list(runtime, bundle):
    # a deny-by-default profile that allows what busybox sh and echo need
    allowed = ["execve", "brk", "arch_prctl", "set_tid_address", "exit_group", "write",
               "getuid", "getpid", "getppid", "rt_sigaction", "rt_sigprocmask", "readlink",
               "uname", "geteuid", "prlimit64", "set_robust_list", "rseq", "mprotect",
               "ioctl", "getcwd", "fcntl", "dup2", "close", "stat", "newfstatat", "mmap",
               "munmap", "read", "exit", "getgid", "getegid", "faccessat2", "access", "openat",
               "clone", "clone3", "fork", "vfork", "wait4", "setpgid", "getpgrp", "getpgid",
               "kill", "pipe2", "dup", "dup3", "lseek", "sigaltstack", "gettid", "tgkill",
               "rt_sigreturn"]
    p = profile({"names": allowed, "action": "SCMP_ACT_ALLOW"}, default="SCMP_ACT_ERRNO")
    p["defaultErrnoRet"] = 13
    bundle.config["linux"]["seccomp"] = p
    bundle.sh("echo hi; mkdir /tmp/z 2>/dev/null || echo mkdirdenied").write()
    r = runtime("run", "-b", bundle.path, runtime.new_id())
    assert r.stdout.split() == ["hi", "mkdirdenied"], r.stderr


def test_bad_action_names_field(runtime, bundle):
    bundle.config["linux"]["seccomp"] = profile({"names": ["mkdir"], "action": "SCMP_ACT_NOPE"})
    bundle.write()
    r = runtime("create", "-b", bundle.path, runtime.new_id())
    assert r.returncode == 1 and "linux.seccomp.syscalls[0].action" in r.stderr


def test_notify_with_an_unreachable_listener_is_refused(runtime, bundle):
    bundle.config["linux"]["seccomp"] = profile({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"})
    bundle.config["linux"]["seccomp"]["listenerPath"] = "/tmp/nowhere.sock"
    bundle.write()
    r = runtime("create", "-b", bundle.path, runtime.new_id())
    assert r.returncode == 1 and "linux.seccomp" in r.stderr


@pytest.mark.parametrize("errno", [1, 38])
@pytest.mark.parametrize("pid_ns", [True, False])
def test_filter_loaded_before_the_helper_may_forbid_its_procfs_checks(runtime, bundle, errno,
                                                                      pid_ns):
    """Without no_new_privs or CAP_SYS_ADMIN the filter is loaded before the
    helper runs (runc's order): a profile that forbids fstatfs, openat2
    and getpid (EPERM, or ENOSYS as runc's stub answers newer syscalls)
    must not keep the container from starting; the helper falls back to
    the plain /proc/self/fd path, as runc opens it. Exec too (its helper
    forks into the pid namespace under the filter)."""
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.config["linux"]["seccomp"] = profile(
        {"names": ["fstatfs", "openat2", "getpid"], "action": "SCMP_ACT_ERRNO",
         "errnoRet": errno})
    if not pid_ns:
        bundle.config["linux"]["namespaces"] = [
            n for n in bundle.config["linux"]["namespaces"] if n["type"] != "pid"]
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime("create", "-b", bundle.path, cid, check=True)
    try:
        runtime("start", cid, check=True)
        assert runtime.state(cid)["status"] == "running"
        p = runtime("exec", cid, "sh", "-c", "echo in; exit 4")
        assert (p.returncode, p.stdout) == (4, "in\n"), p.stderr
    finally:
        runtime("delete", "-f", cid)


def test_joined_pid_namespace_and_a_filter_forbidding_fork_fails_create(runtime, bundle,
                                                                       rootfs_template,
                                                                       tmp_path):
    """Into a joined pid namespace the sealed helper forks the process, under
    a filter loaded before it (no no_new_privs, no CAP_SYS_ADMIN): a profile
    refusing fork must make `create` fail with the helper's word, never
    report a container whose process was never started."""
    from conftest import Bundle
    bundle.args("sleep", "60").write()
    first = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, first, check=True)
    try:
        pid = runtime.state(first)["pid"]
        b2 = Bundle(str(tmp_path / "b2"), rootfs_template)
        b2.config["process"]["noNewPrivileges"] = False
        b2.config["linux"]["seccomp"] = profile(
            {"names": ["clone", "fork", "clone3"], "action": "SCMP_ACT_ERRNO"})
        b2.config["linux"]["namespaces"] = [
            n if n["type"] != "pid" else {"type": "pid", "path": f"/proc/{pid}/ns/pid"}
            for n in b2.config["linux"]["namespaces"]]
        b2.args("true").write()
        cid = runtime.new_id()
        p = runtime("create", "-b", b2.path, cid)
        assert p.returncode != 0 and "fork" in p.stderr, p.stderr
        assert runtime("state", cid).returncode != 0  # nothing left
    finally:
        runtime("delete", "-f", first)
