"""Attacks on a container without a mount namespace (its root is a chroot
in the host's mount namespace; pyrunc/hostmounts.py).

The classic chroot escape (tests/attack/chrootout.c): with CAP_SYS_CHROOT,
chroot into a subdirectory keeping the cwd outside it, walk ".." up to the
namespace's root -- the host's "/" -- and chroot there. runc (1.1.5 here;
HEAD's prepareRootfs also plain-chroots without NEWNS and grants the
capability) lets the container read the host's files; pyrunc refuses the
capability in such a container, at create and at exec."""
import json
import os
import subprocess
import uuid

import pytest

from conftest import needs_root
from test_nomntns import _mounts_under, _no_mntns
from test_parity_lifecycle import runc  # noqa: F401  (fixture)

pytestmark = needs_root

SETS = ("bounding", "effective", "permitted")


def _attacker(bundle, tmp_path):
    """The escape program in the rootfs, and a secret on the host outside
    it; returns the secret's path and text."""
    exe = os.path.join(bundle.rootfs, "chrootout")
    src = os.path.join(os.path.dirname(__file__), "attack", "chrootout.c")
    subprocess.run(["gcc", "-static", "-O2", "-o", exe, src], check=True)
    secret = tmp_path / "host-secret"
    text = f"host-secret-{uuid.uuid4().hex}"
    secret.write_text(text)
    return str(secret), text


def _with_chroot_cap(bundle, sets=SETS):
    caps = bundle.config["process"]["capabilities"]
    for k in sets:
        caps[k] = sorted(set(caps.get(k) or []) | {"CAP_SYS_CHROOT"})


WARN = "CAP_SYS_CHROOT dropped from"


def _escape_fails(p, text):
    """The escape program ran and chroot was refused: the host's file unread."""
    assert text not in p.stdout, p.stdout
    assert p.returncode == 3 and p.stdout == "chroot: Operation not permitted\n", \
        (p.returncode, p.stdout, p.stderr)


def test_chroot_escape_with_cap_sys_chroot_is_dropped_at_create(runtime, runc, bundle,  # noqa: F811
                                                                tmp_path):
    _no_mntns(bundle)
    secret, text = _attacker(bundle, tmp_path)
    _with_chroot_cap(bundle)
    bundle.args("/chrootout", secret).write()
    # runc: the container reads the host's file (the escape works)
    cid = runtime.new_id()
    p = runc("run", "-b", bundle.path, cid)
    for m in sorted(_mounts_under(bundle.rootfs), reverse=True):
        subprocess.run(["umount", "-l", m], check=True)  # (runc's, made by this test)
    assert p.returncode == 0 and p.stdout == text, (p.returncode, p.stdout, p.stderr)
    # pyrunc: the container runs without the capability, and says so
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    _escape_fails(p, text)
    assert f"process.capabilities: {WARN} bounding, effective, permitted" in p.stderr, p.stderr
    runtime("delete", "-f", cid)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert _mounts_under(bundle.rootfs) == []


@pytest.mark.parametrize("field", ["effective", "inheritable", "ambient"])
def test_cap_sys_chroot_in_any_set_is_dropped(runtime, bundle, tmp_path, field):
    _no_mntns(bundle)
    secret, text = _attacker(bundle, tmp_path)
    caps = bundle.config["process"]["capabilities"]
    # (the bounding set without it: a root process would regain it from
    # any other set that holds it, at exec, through inheritable)
    caps[field] = ["CAP_SYS_CHROOT"]
    if field == "ambient":
        caps["inheritable"] = ["CAP_SYS_CHROOT"]
        caps["permitted"] = caps["permitted"] + ["CAP_SYS_CHROOT"]
    bundle.args("/chrootout", secret).write()
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    _escape_fails(p, text)
    named = "permitted, inheritable, ambient" if field == "ambient" else field
    assert f"{WARN} " in p.stderr and named in p.stderr, p.stderr
    runtime("delete", "-f", cid)
    assert _mounts_under(bundle.rootfs) == []


def test_absent_capabilities_lose_cap_sys_chroot(runtime, bundle, tmp_path):
    _no_mntns(bundle)
    secret, text = _attacker(bundle, tmp_path)
    del bundle.config["process"]["capabilities"]
    bundle.args("/chrootout", secret).write()
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    _escape_fails(p, text)
    assert "process.capabilities: absent, the runtime's capabilities without CAP_SYS_CHROOT" \
        in p.stderr, p.stderr
    runtime("delete", "-f", cid)
    assert _mounts_under(bundle.rootfs) == []


def test_without_cap_sys_chroot_the_chroot_holds(runtime, bundle, tmp_path):
    """The container's root user, without the capability: chroot is
    refused, the host's file unreachable."""
    _no_mntns(bundle)
    secret, text = _attacker(bundle, tmp_path)
    bundle.args("/chrootout", secret).write()
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert p.stdout == "chroot: Operation not permitted\n"
    assert _mounts_under(bundle.rootfs) == []


@pytest.mark.parametrize("how", ["--cap", "--process"])
def test_exec_with_cap_sys_chroot_has_it_dropped(runtime, bundle, tmp_path, how):
    _no_mntns(bundle)
    secret, text = _attacker(bundle, tmp_path)
    bundle.args("/bin/sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        if how == "--cap":
            p = runtime("exec", "--cap", "CAP_SYS_CHROOT", cid, "/chrootout", secret)
        else:
            proc = dict(bundle.config["process"], args=["/chrootout", secret])
            proc["capabilities"] = dict(proc["capabilities"], bounding=["CAP_SYS_CHROOT"])
            path = tmp_path / "process.json"
            path.write_text(json.dumps(proc))
            p = runtime("exec", "--process", path, cid)
        _escape_fails(p, text)
        assert WARN in p.stderr, p.stderr
        # the container itself goes on, and a plain exec still works
        p = runtime("exec", cid, "/bin/sh", "-c", "cat /marker")
        assert p.returncode == 0 and p.stdout == "in-rootfs\n", p.stderr
    finally:
        runtime("delete", "-f", cid, check=True)
    assert _mounts_under(bundle.rootfs) == []


@pytest.mark.parametrize("ptrace", [True, False], ids=["cap_sys_ptrace", "no_ptrace"])
def test_exec_shows_no_host_root_to_a_watching_pid_1(runtime, bundle, tmp_path, ptrace):
    """No mount namespace: an exec'd process enters the init's root with
    chroot, after it joined the pid namespace. The container's pid 1
    (tests/attack/procwatch.c) watches every new process: none may show
    the host's "/" through /proc/N/root at any instant, nor (without
    CAP_SYS_PTRACE) be attached while it is still the runtime's."""
    from test_security import _assert_no_host_reach, _stop_watcher, _watched_container
    _no_mntns(bundle)
    cid, outdir, mark = _watched_container(
        runtime, bundle, tmp_path, caps=("CAP_SYS_PTRACE",) if ptrace else ())
    try:
        for _ in range(25):
            p = runtime("exec", cid, "/bin/sh", "-c", "sleep 0.01")
            assert p.returncode == 0, p.stderr
    finally:
        seen = _stop_watcher(runtime, cid, outdir, mark)
    assert len(seen) >= 20, seen  # (the watcher saw most: a short one may pass unseen)
    _assert_no_host_reach(seen, attach_allowed=ptrace)
    assert _mounts_under(bundle.rootfs) == []
