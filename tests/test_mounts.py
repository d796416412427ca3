"""Mounts as runc makes them, pyrunc and runc side by side.

tmpfs modes, bind destinations through dangling symlinks, a read-only
/dev, maskedPaths (runc's mask.bats), rootfsPropagation, the flags of bind mounts (runc's
mounts_sshfs.bats, with a tmpfs source the test mounts), --no-pivot.
Each test runs the same bundle with pyrunc and with the installed runc
(1.1.5) where 1.1.5 behaves as runc HEAD; where it does not, HEAD's
behaviour (read from its source and tests) is asserted for pyrunc alone
and the test says so ("HEAD:").
"""
import os
import re
import subprocess
import uuid

import pytest

from conftest import Bundle, needs_root
from test_parity_process import RUNC, ok, run_both

pytestmark = [needs_root]
have_runc = pytest.mark.skipif(not os.path.exists(RUNC), reason="runc not installed")


def both_out(runtime, runc, bundle):
    """The output of the bundle run by each runtime, checked equal."""
    p, r = run_both(runtime, runc, bundle)
    assert ok(p, "pyrunc") == ok(r, "runc")
    return p.stdout


# -- tmpfs mode -------------------------------------------------------------
def _tmpfs_bundle(bundle, names):
    root = bundle.rootfs
    for d, mode in (("exists", 0o750), ("given", 0o750), ("copy", 0o705), ("sticky", 0o1770)):
        os.makedirs(os.path.join(root, "m", d))
        os.chmod(os.path.join(root, "m", d), mode)
    with open(os.path.join(root, "m", "copy", "f"), "w") as f:
        f.write("image\n")
    opts = {"exists": [], "new": [], "given": ["mode=711"], "copy": ["tmpcopyup"],
            "sticky": ["size=1m"]}
    for d in names:
        bundle.config["mounts"].append({"destination": f"/m/{d}", "type": "tmpfs",
                                        "source": "tmpfs", "options": opts[d]})
    bundle.sh(f"for d in {' '.join(names)}; do stat -c %a /m/$d; done")


@have_runc
def test_tmpfs_over_a_directory_takes_its_mode(runtime, runc, bundle):
    _tmpfs_bundle(bundle, ["exists", "copy", "sticky"])
    bundle.config["process"]["args"][-1] += ("; cat /m/copy/f; "
                                             "grep -c ' /m/copy .* tmpfs ' /proc/self/mountinfo")
    out = both_out(runtime, runc, bundle)
    assert out.split() == ["750", "705", "1770", "image", "1"]


def test_tmpfs_mode_default_and_given(runtime, bundle):
    """HEAD: a tmpfs made for the mount has the kernel's 1777 and mode=
    wins over the directory's (runc 1.1.5 made the directory 0755 and
    chmod-ed the tmpfs to the directory's mode after mounting)."""
    _tmpfs_bundle(bundle, ["new", "given"])
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL)
    assert ok(p, "pyrunc").split() == ["1777", "711"]


@pytest.mark.parametrize("case", ["inherit", "explicit", "default"])
def test_tmpfs_mode_as_runc_head(runtime, bundle, case):
    """runc HEAD's mounts.bats "tmpfs mount mode= inherit / explicit mode= /
    mode=1777 default" (its issue 4971), to the letter: the mode seen, the
    mode= in /proc/self/mounts, and the image's directories untouched
    (made 0755 when missing)."""
    dest = "/non-existent/foo/bar/baz" if case == "default" else "/tmpfs"
    if case != "default":
        os.mkdir(os.path.join(bundle.rootfs, "tmpfs"))
        os.chmod(os.path.join(bundle.rootfs, "tmpfs"), 0o710)
    opts = ["rw", "nodev", "nosuid"] + (["mode=1500"] if case == "explicit" else [])
    bundle.config["mounts"].append({"type": "tmpfs", "source": "tmpfs", "destination": dest,
                                    "options": opts})
    bundle.sh(f"stat -c %a {dest}; awk -v d={dest} '$2 == d {{ print $4 }}' /proc/self/mounts")
    bundle.write()
    old = os.umask(0o077)  # (the runtime's umask must not matter)
    try:
        p = runtime("run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL)
    finally:
        os.umask(old)
    mode, opts_seen = ok(p, "pyrunc").split()
    modes = [o for o in opts_seen.split(",") if o.startswith("mode=")]
    want = {"inherit": ("710", ["mode=710"]), "explicit": ("1500", ["mode=1500"]),
            "default": ("1777", [])}[case]
    assert (mode, modes) == want, opts_seen
    made = ["tmpfs"] if case != "default" else [
        "non-existent", "non-existent/foo", "non-existent/foo/bar", "non-existent/foo/bar/baz"]
    for d in made:
        st = os.stat(os.path.join(bundle.rootfs, d)).st_mode & 0o7777
        assert st == (0o710 if case != "default" else 0o755), (d, oct(st))


def test_mkdirall_under_a_setgid_directory_as_runc_head(runtime, bundle):
    """runc HEAD's mounts.bats "setgid / + mkdirall" (its issue 4401): the
    directories made for a mount inherit the setgid bit as mkdir(2) gives."""
    os.mkdir(os.path.join(bundle.rootfs, "setgid"))
    os.chmod(os.path.join(bundle.rootfs, "setgid"), 0o7755)
    bundle.config["mounts"].append({"type": "tmpfs", "source": "tmpfs",
                                    "destination": "/setgid/a/b/c",
                                    "options": ["ro", "nodev", "nosuid"]})
    bundle.args("true").write()
    ok(runtime("run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL), "pyrunc")
    got = [oct(os.stat(os.path.join(bundle.rootfs, d)).st_mode & 0o7777)
           for d in ("setgid", "setgid/a", "setgid/a/b", "setgid/a/b/c")]
    assert got == ["0o7755", "0o2755", "0o2755", "0o2755"]


# -- destinations through dangling symlinks ---------------------------------
@have_runc
def test_bind_through_dangling_symlinks_stays_in_rootfs(runtime, runc, bundle, tmp_path):
    """A symlink in the image pointing to a host path that does not exist
    (yet): what the mount needs is made inside the rootfs, where the link
    resolves when the rootfs is /, never on the host."""
    host = f"/tmp/pyrunc-evil-{uuid.uuid4().hex}"  # nothing may ever appear here
    src = tmp_path / "src"
    src.mkdir()
    (src / "data").write_text("bound\n")
    os.symlink(f"{host}/comp", os.path.join(bundle.rootfs, "comp"))      # a component
    os.symlink(f"{host}/dir", os.path.join(bundle.rootfs, "trail"))      # trailing, a dir bind
    os.symlink(f"{host}/file", os.path.join(bundle.rootfs, "ftrail"))    # trailing, a file bind
    os.symlink("../../rel/x", os.path.join(bundle.rootfs, "rel1"))       # relative, climbs
    bundle.config["mounts"] += [
        {"destination": "/comp/sub/mnt", "type": "bind", "source": str(src), "options": ["bind"]},
        {"destination": "/trail", "type": "bind", "source": str(src), "options": ["bind"]},
        {"destination": "/ftrail", "type": "bind", "source": str(src / "data"),
         "options": ["bind"]},
        {"destination": "/rel1/y", "type": "bind", "source": str(src), "options": ["bind"]},
    ]
    bundle.sh(f"cat /comp/sub/mnt/data {host}/comp/sub/mnt/data /trail/data {host}/dir/data "
              f"/ftrail {host}/file /rel/x/y/data")
    try:
        out = both_out(runtime, runc, bundle)
        assert out.split() == ["bound"] * 7
        assert not os.path.lexists(host)
        inside = os.path.join(bundle.rootfs, host.lstrip("/"))
        assert sorted(os.listdir(inside)) == ["comp", "dir", "file"]
    finally:
        assert not os.path.lexists(host), f"{host} made on the host"


@have_runc
@pytest.mark.parametrize("case", ["component", "trailing-file", "trailing-dir"])
def test_mount_target_through_dangling_symlinks_as_runc_head(runtime, runc, bundle, case):
    """runc HEAD's mounts.bats test_mount_target cases, sources relative
    to the bundle as there: the bind is at the path the links resolve to
    in the rootfs, of the source's inode, with a mount entry there."""
    etc = os.path.join(bundle.rootfs, "etc")
    if case == "component":
        os.symlink("/tmp/foo/bar", os.path.join(bundle.rootfs, "jump"))
        os.symlink("/jump/baz/hosts", os.path.join(etc, "hosts"))
        real = "/tmp/foo/bar/baz/hosts"
    else:
        os.symlink("/tmp/hosts", os.path.join(etc, "hosts"))
        real = "/tmp/hosts"
    src = "." if case == "trailing-dir" else "./config.json"
    st = os.stat(os.path.join(bundle.path, src))
    bundle.config["mounts"].append({"source": src, "destination": "/etc/hosts",
                                    "options": ["bind"]})
    bundle.sh(f"stat -c '%n %d:%i' -- {real}; awk -v p={real} '$2 == p {{ print $2 }}' "
              "/proc/self/mounts")
    out = both_out(runtime, runc, bundle)
    assert out.splitlines() == [f"{real} {st.st_dev}:{st.st_ino}", real]
    assert os.path.lexists(bundle.rootfs + real)  # made in the rootfs (not the host's /tmp)


@have_runc
def test_relative_destination_warns_as_runc(runtime, runc, bundle):
    """A destination without its leading / is taken from /, with runc's
    deprecation warning (HEAD's specconv; 1.1.5 the same words)."""
    bundle.config["mounts"].append({"destination": "tmp/rel", "type": "tmpfs",
                                    "source": "tmpfs", "options": ["size=1m"]})
    bundle.sh("awk '$2 == \"/tmp/rel\" { print $3 }' /proc/self/mounts")
    p, r = run_both(runtime, runc, bundle)
    assert ok(p, "pyrunc") == ok(r, "runc") == "tmpfs\n"
    warning = ("mount destination tmp/rel is not absolute. Support for non-absolute mount "
               "destinations will be removed in a future release.")
    assert warning in r.stderr and warning in p.stderr, p.stderr


def test_dangling_symlink_loop_is_refused(runtime, bundle):
    os.symlink("/loop2", os.path.join(bundle.rootfs, "loop1"))
    os.symlink("/loop1", os.path.join(bundle.rootfs, "loop2"))
    bundle.config["mounts"].append({"destination": "/loop1/x", "type": "tmpfs",
                                    "source": "tmpfs", "options": []})
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode != 0
    assert "mounts[" in p.stderr and "symbolic links" in p.stderr, p.stderr


# -- read-only /dev ---------------------------------------------------------
@have_runc
def test_dev_read_only_mounts_under_it_still_made(runtime, runc, bundle):
    for m in bundle.config["mounts"]:
        if m["destination"] == "/dev":
            m["options"].append("ro")
    bundle.config["mounts"] += [
        {"destination": "/m/t", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
        {"destination": "/m/t/inner", "type": "tmpfs", "source": "tmpfs", "options": []}]
    bundle.sh("touch /dev/x 2>/dev/null || echo devro; touch /m/t/x 2>/dev/null || echo tro; "
              "touch /m/t/inner/x && echo innerrw; "
              "for d in /dev/pts /dev/shm /dev/mqueue; do "
              "awk -v d=$d '$5 == d {print $5}' /proc/self/mountinfo; done; "
              "echo hi > /dev/null && test -c /dev/zero && readlink /dev/ptmx; "
              "awk '$5 == \"/dev\" || $5 == \"/m/t\" {print $5, substr($6, 1, 2)}' "
              "/proc/self/mountinfo")
    out = both_out(runtime, runc, bundle)
    assert out.split("\n")[:-1] == ["devro", "tro", "innerrw", "/dev/pts", "/dev/shm",
                                    "/dev/mqueue", "pts/ptmx", "/dev ro", "/m/t ro"]


# -- maskedPaths ------------------------------------------------------------
def _masked_bundle(bundle):
    """runc HEAD's mask.bats: three directories and a file masked, each
    listed twice."""
    for d in ("testdir", "testdir2", "testdir3"):
        os.mkdir(os.path.join(bundle.rootfs, d))
    with open(os.path.join(bundle.rootfs, "testfile"), "w") as f:
        f.write("Forbidden information!\n")
    extra = ["/testdir", "/testfile", "/testdir2", "/testdir3"]
    bundle.config["linux"]["maskedPaths"] += extra + extra
    bundle.config["root"]["readonly"] = True  # as runc's spec (and its bats)


@have_runc
def test_masked_paths_duplicates_mask_once(runtime, runc, bundle):
    """HEAD: every masked path, listed more than once, is mounted on once
    (runc 1.1.5 mounted once per listing: seen here). Files read empty,
    directories are empty, nothing can be written or unmounted (both)."""
    _masked_bundle(bundle)
    bundle.sh("for p in /testdir /testdir2 /testdir3 /testfile; do "
              "awk -v p=$p '$5 == p' /proc/self/mountinfo | wc -l; done; "
              "cat /testfile | wc -c; ls -A /testdir | wc -l; "
              "touch /testdir2/foo 2>&1 | grep -c 'Read-only file system'; "
              "rm -f /testfile 2>&1 | grep -c 'Read-only file system'; "
              "umount /testdir 2>&1 | grep -c 'Operation not permitted'")
    p, r = run_both(runtime, runc, bundle)
    behaviour = ["0", "0", "1", "1", "1"]
    assert ok(p, "pyrunc").split() == ["1"] * 4 + behaviour
    assert ok(r, "runc").split() == ["2"] * 4 + behaviour


def test_masked_directories_share_one_tmpfs(runtime, runc, bundle):
    """HEAD (mask.bats "directories share tmpfs"): every masked directory
    is a bind of one read-only tmpfs, one device for all of them. runc
    1.1.5 mounts a tmpfs per directory (one device each: seen here)."""
    _masked_bundle(bundle)
    bundle.sh("stat -c %d /testdir /testdir2 /testdir3 /proc/acpi /sys/firmware | sort -u | "
              "wc -l; ls -A /testdir | wc -l; "
              "grep ' /testdir ' /proc/self/mountinfo | head -1 | sed 's/.* - //'")
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL)
    # HEAD's maskDir: tmpfs "tmpfs", MS_RDONLY, nr_blocks=1,nr_inodes=1
    assert ok(p, "pyrunc").split() == ["1", "0", "tmpfs", "tmpfs", "ro,size=4k,nr_inodes=1"]
    if os.path.exists(RUNC):
        cid = runc.new_id()
        r = runc("run", "-b", bundle.path, cid, stdin=subprocess.DEVNULL)
        runc("delete", "--force", cid)
        assert ok(r, "runc").split() == ["5", "0", "tmpfs", "tmpfs", "ro"]


# -- rootfsPropagation ------------------------------------------------------
def _root_propagation():
    """What `findmnt -no PROPAGATION /` prints (busybox has no findmnt:
    the same, from the optional fields of / in mountinfo)."""
    return ("awk '$5 == \"/\" { s = \"\"; m = \"\"; u = \"\"; "
            "for (i = 7; $i != \"-\"; i++) { if ($i ~ /^shared:/) s = 1; "
            "if ($i ~ /^master:/) m = 1; if ($i == \"unbindable\") u = 1 } "
            "p = s ? \"shared\" : (u ? \"unbindable\" : \"private\"); if (m) p = p \",slave\"; "
            "r = p } END { print r }' /proc/self/mountinfo")


@pytest.fixture(params=["private", "shared"])
def parent(request, bundle):
    """The host mount holding the rootfs: as the host has it, or a shared
    one (a bind of the bundle onto itself, made shared), as on systemd
    hosts: "slave" only shows there."""
    if request.param == "shared":
        subprocess.run(["mount", "--bind", bundle.path, bundle.path], check=True)
        subprocess.run(["mount", "--make-shared", bundle.path], check=True)
    yield request.param
    if request.param == "shared":
        subprocess.run(["umount", bundle.path], check=True)


@have_runc
@pytest.mark.parametrize("prop,want", [
    ("", "private"), ("private", "private"), ("rprivate", "private"),
    ("slave", "private,slave"), ("rslave", "private,slave"),
    ("shared", "shared"), ("rshared", "shared"),
    ("unbindable", "unbindable"), ("runbindable", "unbindable")])
def test_rootfs_propagation_as_runc(runtime, runc, bundle, parent, prop, want):
    if prop:
        bundle.config["linux"]["rootfsPropagation"] = prop
    bundle.sh(_root_propagation())
    if parent == "private" and want == "private,slave":
        want = "private"  # a slave of a private mount has no master
    if prop == "runbindable":
        # every mount of the copied namespace is unbindable then: a bind of
        # the host's cgroup directories fails (EINVAL), in runc HEAD too
        bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                                   if m["destination"] != "/sys/fs/cgroup"]
    if want in ("shared", "unbindable") or parent == "shared" and prop in ("", "slave"):
        # HEAD: shared/unbindable applied to the new / after pivot_root (since
        # 1.4: mounts_propagation.bats), the rootfs' parent mount always made
        # private (slave for "slave"); 1.1.5 left / private, made the parent
        # private only when it was shared, and failed on "unbindable"
        bundle.write()
        out = ok(runtime("run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL),
                 "pyrunc")
    else:
        out = both_out(runtime, runc, bundle)
    assert out.strip() == want


@have_runc
@pytest.mark.parametrize("prop,want,runc115", [
    ("rslave", "private,slave", "private,slave"), ("slave", "private,slave", "private"),
    ("rshared", "shared", "private"), ("shared", "shared", "private"),
    ("rprivate", "private", "private")])
def test_rootfs_propagation_as_findmnt_shows_it(runtime, runc, bundle, parent, prop, want,
                                                runc115):
    """The host's own findmnt(8) on the running container's / (--task:
    its mountinfo), under a shared parent mount as on systemd hosts (runc
    HEAD's mounts_propagation*.bats) and under a private one (a slave
    then has no master). runc 1.1.5's differing answers are checked too:
    HEAD's are `want`."""
    if parent == "private" and want == "private,slave":
        want = runc115 = "private"
    bundle.config["linux"]["rootfsPropagation"] = prop
    bundle.args("sleep", "600").write()
    for rt, expect in ((runtime, want), (runc, runc115)):
        cid = rt.new_id()
        p = rt("run", "-d", "-b", bundle.path, cid, stdin=subprocess.DEVNULL)
        try:
            assert p.returncode == 0, (rt.bin, p.stderr)
            pid = str(rt.state(cid)["pid"])
            f = subprocess.run(["findmnt", "--task", pid, "-no", "PROPAGATION", "/"],
                               capture_output=True, text=True, check=True)
            assert f.stdout.strip() == expect, (rt.bin, f.stdout)
        finally:
            rt("delete", "--force", cid)


@have_runc
def test_rootfs_propagation_unknown(runtime, runc, bundle):
    bundle.config["linux"]["rootfsPropagation"] = "rshard"
    p, r = run_both(runtime, runc, bundle)
    assert p.returncode != 0 and r.returncode != 0
    assert "rootfsPropagation=rshard is not supported" in r.stderr
    assert "linux.rootfsPropagation" in p.stderr and "rshard" in p.stderr
    assert not os.path.isdir(runtime.root) or not [
        c for c in os.listdir(runtime.root) if not c.startswith(".")]


# -- --no-pivot -------------------------------------------------------------
@have_runc
@pytest.mark.parametrize("prop", ["private", "rprivate"])
def test_no_pivot_private_refused_as_runc(runtime, runc, bundle, prop):
    bundle.config["linux"]["rootfsPropagation"] = prop
    p, r = _run_no_pivot(runtime, runc, bundle)
    msg = "rootfsPropagation of [r]private is not safe without pivot_root"
    assert r.returncode != 0 and msg in r.stderr, r.stderr
    assert p.returncode != 0 and msg in p.stderr, p.stderr
    assert "linux.rootfsPropagation" in p.stderr
    assert not os.path.isdir(runtime.root) or not [
        c for c in os.listdir(runtime.root) if not c.startswith(".")]


@have_runc
@pytest.mark.parametrize("prop", ["rslave", ""])
def test_no_pivot_other_propagation(runtime, runc, bundle, prop):
    if prop:
        bundle.config["linux"]["rootfsPropagation"] = prop
    bundle.sh(_root_propagation())
    p, r = _run_no_pivot(runtime, runc, bundle)
    assert ok(p, "pyrunc") == ok(r, "runc")


def _run_no_pivot(runtime, runc, bundle):
    bundle.write()
    out = []
    for rt in (runtime, runc):
        cid = rt.new_id()
        out.append(rt("run", "--no-pivot", "-b", bundle.path, cid, stdin=subprocess.DEVNULL))
        rt("delete", "--force", cid)
    return out


# -- flags of bind mounts (runc's mounts_sshfs.bats) ------------------------
class FlaggedSource:
    """A tmpfs under the test's tmp dir with the per-mount flags a case
    asks for (reset before each: mount(8) keeps what it is not told to
    clear on a remount)."""

    RESET = "rw,suid,dev,exec,symfollow,diratime,atime,strictatime"

    def __init__(self, tmp_path):
        self.dir = os.path.join(tmp_path, "flagged")
        os.mkdir(self.dir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "rw,suid,dev,exec,diratime,strictatime",
                        "tmpfs", self.dir], check=True)
        os.chmod(self.dir, 0o755)

    def set(self, flags):
        subprocess.run(["mount", "--bind", "-o", "remount," + self.RESET, self.dir],
                       check=True)
        subprocess.run(["mount", "--bind", "-o", "remount," + flags, self.dir], check=True)

    def close(self):
        subprocess.run(["umount", self.dir], check=True)


@pytest.fixture
def flagged(tmp_path):
    s = FlaggedSource(tmp_path)
    yield s
    s.close()


@pytest.fixture
def userns_bundle(rootfs_template):
    """A bundle for a container with its own user namespace (root is host
    uid 100000), with a tmpfs source beside it, in a directory of its own
    under /tmp: the mapped root must search every directory above them,
    and pytest resets /tmp/pytest-of-root to 0700 whenever another session
    starts."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="pyrunc-mounts-", dir="/tmp")
    os.chmod(d, 0o711)
    b = Bundle(os.path.join(d, "bundle"), rootfs_template)
    os.chmod(b.path, 0o711)
    subprocess.run(["chown", "-R", "-h", "100000:100000", b.rootfs], check=True)
    lx = b.config["linux"]
    lx["namespaces"].append({"type": "user"})
    lx["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    lx["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b.config["mounts"] = [m for m in b.config["mounts"]
                          if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    src = None
    try:
        src = FlaggedSource(d)
        yield b, src
    finally:
        if src is not None:
            src.close()
        shutil.rmtree(d)


STRICT = "-noatime -relatime -nodiratime"
# (source flags, bind options, expected: "+f" present, "-f" absent, or "fail"),
# as runc HEAD's tests/integration/mounts_sshfs.bats, without a user namespace ...
ROOT_CASES = [
    ("ro,noexec,nosymfollow,nodiratime", "bind", "+ro -rw +noexec +nodiratime +nosymfollow"),
    ("ro,noexec,nosymfollow,nodiratime", "bind,dev", "-ro +rw -noexec -nosymfollow +nodiratime"),
    ("ro", "bind,nosuid,nodev,rprivate", "-ro +rw +nosuid +nodev"),
    ("ro", "bind,rw,nosuid,nodev,rprivate", "-ro +rw +nosuid +nodev"),
    ("nosuid,nodev,noexec,noatime", "bind,dev,suid,exec,atime",
     "-ro +rw -nosuid -nodev -noexec +noatime"),
    ("rw,nodev,nosuid,nodev,noexec,noatime", "bind,ro", "+ro -nosuid -nodev -noexec"),
    ("rw,nodev,nosymfollow", "bind,ro,symfollow", "+ro -rw -nodev -nosymfollow"),
    ("nodev,nosuid,noatime", "bind,ro,exec", "+ro -noexec -nosuid -nodev +noatime"),
    ("noatime", "bind", "+noatime -relatime"),
    ("noatime", "bind,norelatime", "+noatime -relatime"),
    ("noatime", "bind,atime", "+noatime -relatime"),
    ("noatime", "bind,relatime", "-noatime +relatime"),
    ("noatime", "bind,nodiratime", "-noatime +nodiratime +relatime"),
    ("nodiratime", "bind,strictatime", STRICT),
    ("noatime", "bind,nodiratime,strictatime", "-noatime +nodiratime -relatime"),
    ("noatime", "bind,nodiratime,norelatime", "-noatime +nodiratime +relatime"),
]
# ... and with one (the source's flags are then locked)
USERNS_CASES = [
    ("ro,noexec,nosymfollow,nodiratime", "bind", "+ro -rw +noexec +nodiratime +nosymfollow"),
    ("ro,noexec,nosymfollow,nodiratime", "bind,dev", "+ro -rw +noexec +nodiratime -nosymfollow"),
    ("ro", "bind,nosuid,nodev,rprivate", "+ro +nosuid +nodev"),
    ("ro", "bind,rw,nosuid,nodev,rprivate", "fail"),
    ("nodev,nosuid,nosuid,noatime", "bind,dev,suid,exec,atime", "fail"),
    ("rw,nodev,nosuid,nodev,noexec,noatime", "bind,ro", "+ro +nosuid +nodev +noexec"),
    ("rw,nodev,nosymfollow", "bind,ro,symfollow", "+ro +nodev -nosymfollow"),
    ("rw,nodev,nosymfollow", "bind,rw", "+rw +nodev -nosymfollow"),
    ("nodev,nosuid,noatime", "bind,ro,exec", "+ro -noexec +nosuid +nodev +noatime"),
    ("strictatime", "bind", STRICT),
    ("relatime", "bind", "+relatime"),
    ("nodiratime", "bind", "+nodiratime"),
    ("noatime,nodiratime", "bind", "+noatime +nodiratime"),
    ("noatime,nodiratime", "bind,norelatime", "+noatime +nodiratime"),
    ("nodiratime", "bind,strictatime", "fail"),
    ("relatime", "bind,strictatime", "fail"),
    ("noatime", "bind,strictatime", "fail"),
    ("nodiratime", "bind,noatime", "fail"),
    ("relatime", "bind,noatime", "fail"),
    ("relatime", "bind,nodiratime", "fail"),
    ("strictatime", "bind,relatime", "fail"),
    ("strictatime", "bind,noatime", "fail"),
    ("strictatime", "bind,nodiratime", "fail"),
    ("noatime", "bind,relatime", "fail"),
    # runc's FIXMEs: these should fail, but pass in runc (the kernel keeps
    # the atime setting when no atime flag is given), and so here
    ("strictatime", "bind,nostrictatime", STRICT),
    ("nodiratime", "bind,diratime", "+nodiratime"),
    ("nodiratime", "bind,norelatime", "+nodiratime"),
    ("relatime", "bind,norelatime", "+relatime"),
    ("noatime", "bind,atime", "+noatime"),
    ("noatime,nodiratime", "bind,atime", "+noatime +nodiratime"),
]


CLEARING = {"dev", "suid", "exec", "atime", "diratime", "norelatime", "nostrictatime", "rw",
            "symfollow"}


def _check_flags(p, expect, case):
    if expect == "fail":
        # what runc's mounts_sshfs.bats matches: "error mounting"*"operation not permitted"
        assert p.returncode != 0, (case, p.stdout)
        assert re.search("error mounting .*operation not permitted", p.stderr), (case, p.stderr)
        assert "mounts[" in p.stderr, (case, p.stderr)
        return
    assert p.returncode == 0, (case, p.stderr)
    have = p.stdout.strip().split(",")
    for e in expect.split():
        assert (e[1:] in have) == (e[0] == "+"), (case, e, have)


def _run_cases(runtime, bundle, flagged, cases, **mount):
    os.makedirs(os.path.join(bundle.rootfs, "mnt"), exist_ok=True)
    bundle.sh("awk '$2 == \"/mnt\" { print $4 }' /proc/self/mounts")
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind",
                                    "source": flagged.dir, "options": [], **mount})
    for host, opts, expect in cases:
        flagged.set(host)
        bundle.config["mounts"][-1]["options"] = opts.split(",")
        bundle.write()
        cid = runtime.new_id()
        p = runtime("run", "-b", bundle.path, cid, stdin=subprocess.DEVNULL)
        runtime("delete", "--force", cid)
        _check_flags(p, expect, (host, opts))
        yield host, opts, p


@have_runc
def test_bind_flags_without_userns(runtime, runc, bundle, flagged):
    """Without a user namespace nothing is locked: the flags asked for,
    exactly (HEAD; runc 1.1.5 agrees where a flag is set, not where only
    clearing flags are given: it then keeps the source's flags)."""
    for host, opts, p in _run_cases(runtime, bundle, flagged, ROOT_CASES):
        if not set(opts.split(",")) - {"bind"} - CLEARING:
            continue  # HEAD: only clearing flags still remount; 1.1.5 did not
        cid = runc.new_id()
        r = runc("run", "-b", bundle.path, cid, stdin=subprocess.DEVNULL)
        runc("delete", "--force", cid)
        assert ok(r, "runc") == p.stdout, (host, opts)


def test_bind_flags_with_userns(runtime, userns_bundle):
    """HEAD: runc 1.1.5 carried only "ro" over and fails most of these."""
    for _ in _run_cases(runtime, *userns_bundle, USERNS_CASES):
        pass


def test_tmpcopyup_with_shared_propagation_stays_in_the_container(runtime, bundle):
    """The copied-up tmpfs is made detached and attached on its mount
    point (no staging directory under the host's /tmp, which an rshared /
    would make a peer of the host's): contents, mode, flags and options
    as the config says."""
    os.makedirs(os.path.join(bundle.rootfs, "data", "sub"))
    with open(os.path.join(bundle.rootfs, "data", "sub", "f"), "w") as f:
        f.write("image\n")
    os.chmod(os.path.join(bundle.rootfs, "data"), 0o710)
    bundle.config["linux"]["rootfsPropagation"] = "rshared"
    bundle.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["tmpcopyup", "size=64k", "nosuid", "noexec",
                                                "ro"]})
    before = set(os.listdir("/tmp"))
    bundle.sh("cat /data/sub/f; stat -c %a /data; "
              "awk '$2 == \"/data\" { print $4 }' /proc/self/mounts; df -k /data | tail -1")
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL)
    lines = ok(p, "pyrunc").splitlines()
    assert lines[:2] == ["image", "710"]
    assert lines[2].split(",")[:3] == ["ro", "nosuid", "noexec"], lines[2]
    assert lines[3].split()[1] == "64"
    assert not {n for n in set(os.listdir("/tmp")) - before if "copyup" in n}


def test_tmpcopyup_bad_option_names_the_mount(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["tmpcopyup", "size=lots"]})
    bundle.write()
    p = runtime("run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL)
    assert p.returncode != 0 and "mounts[" in p.stderr and "/data" in p.stderr, p.stderr


@have_runc
@pytest.mark.parametrize("prop", ["rshared", "shared"])
@pytest.mark.parametrize("pivot", [[], ["--no-pivot"]])
def test_shared_propagation_changes_nothing_outside(runtime, runc, bundle, prop, pivot):
    """On a host whose / is rshared (systemd's), a shared rootfsPropagation
    makes the container's copy of the host's mounts their peers: nothing
    the runtime mounts or unmounts there (--no-pivot hides the host's proc
    and sys mounts) may reach the host. Played in a mount namespace of the
    test's own, made private and then rshared, standing for the host."""
    bundle.config["linux"]["rootfsPropagation"] = prop
    bundle.sh("true").write()
    for rt in (runtime, runc):
        cid = rt.new_id()
        script = ("mount --make-rshared / && cat /proc/self/mountinfo > before && "
                  f"{rt.bin} --root {rt.root} run {' '.join(pivot)} -b {bundle.path} {cid} "
                  "</dev/null; echo rc=$?; "
                  f"{rt.bin} --root {rt.root} delete -f {cid} 2>/dev/null; "
                  "cat /proc/self/mountinfo > after; cmp -s before after && echo same")
        p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                           cwd=os.path.dirname(bundle.path), timeout=60)
        assert p.stdout.split() == ["rc=0", "same"], (rt.bin, p.stdout, p.stderr)


@pytest.mark.parametrize("links,path,want", [
    ({"a": "/x/y"}, "/a/b", "/x/y/b"),                 # absolute, dangling
    ({"a": "../../../x"}, "a/b", "/x/b"),              # relative, climbs no higher than /
    ({"d/a": "../e/f"}, "/d/a/g", "/e/f/g"),           # relative to its directory
    ({"a": "b", "b": "/c"}, "/a/z", "/c/z"),           # a chain
    ({"a": "/x"}, "/a/../q", "/q"),                    # ".." after a link: from its target
    ({}, "/no/./such//path/", "/no/such/path"),
    ({"a": "/"}, "/a", "/"),
])
def test_resolve_lexically(tmp_path, links, path, want):
    from pyrunc import paths
    root = tmp_path / "root"
    root.mkdir()
    for name, target in links.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / name)
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        assert paths.resolve_lexically(fd, path) == want
    finally:
        os.close(fd)


@have_runc
@pytest.mark.parametrize("dest", ["/", "/toroot", "/toroot/."])
def test_mount_on_top_of_rootfs_refused(runtime, runc, bundle, tmp_path, dest):
    """HEAD: "mountpoint ... is on the top of rootfs" (runc 1.1.5 fails
    too, later and in other words)."""
    os.symlink("/", os.path.join(bundle.rootfs, "toroot"))
    (tmp_path / "src").mkdir()
    bundle.config["mounts"].append({"destination": dest, "type": "bind",
                                    "source": str(tmp_path / "src"), "options": ["bind"]})
    p, r = run_both(runtime, runc, bundle)
    assert r.returncode != 0
    assert p.returncode != 0 and "is on the top of rootfs" in p.stderr, p.stderr
    assert f"mounts[{len(bundle.config['mounts']) - 1}].destination" in p.stderr


def test_tmpcopyup_and_ro_dev_in_a_user_namespace(runtime, userns_bundle):
    """The detached tmpfs of tmpcopyup and the deferred read-only /dev
    with the container's own user namespace (its root is host uid 100000)."""
    bundle, _ = userns_bundle
    os.makedirs(os.path.join(bundle.rootfs, "data"))
    with open(os.path.join(bundle.rootfs, "data", "f"), "w") as f:
        f.write("image\n")
    subprocess.run(["chown", "-R", "100000:100000", os.path.join(bundle.rootfs, "data")],
                   check=True)
    for m in bundle.config["mounts"]:
        if m["destination"] == "/dev":
            m["options"].append("ro")
    bundle.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["tmpcopyup", "ro"]})
    bundle.sh("cat /data/f; stat -c %u /data/f; touch /data/x 2>/dev/null || echo dataro; "
              "touch /dev/x 2>/dev/null || echo devro; test -d /dev/pts/ && echo pts").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id(), stdin=subprocess.DEVNULL)
    assert ok(p, "pyrunc").split() == ["image", "0", "dataro", "devro", "pts"]


@pytest.mark.parametrize("opts,expect", [
    ("bind,ro", "+ro +nodev +noexec"),     # locked flags carried over
    ("bind,dev", "fail"),                  # clearing a locked one: runc's error
    ("bind,exec,ro", "fail"),
])
def test_bind_flags_of_a_source_the_container_cannot_reach(runtime, userns_bundle, opts,
                                                           expect):
    """The same rules for a source the runtime opens for the init (its
    mapped root cannot search the directory above it): attached from the
    runtime's fd, then flagged."""
    bundle, flagged = userns_bundle
    hidden = os.path.join(os.path.dirname(bundle.path), "hidden")
    os.mkdir(hidden, 0o700)
    src = FlaggedSource(hidden)
    try:
        assert list(_run_cases(runtime, bundle, src, [("nodev,noexec", opts, expect)]))
    finally:
        src.close()


def test_bind_flags_of_an_idmapped_mount(runtime, bundle, flagged):
    """An idmapped bind (attached from the detached mount the runtime
    made): the same rules, clearing flags included."""
    m = [{"containerID": 0, "hostID": 1000, "size": 1}]
    cases = [("nodev,noexec", "bind", "+nodev +noexec"),
             ("nodev,noexec", "bind,dev", "-nodev -noexec"),
             ("nodev,noexec", "bind,ro", "+ro -nodev -noexec")]
    assert len(list(_run_cases(runtime, bundle, flagged, cases, uidMappings=m,
                               gidMappings=m))) == 3
