"""Containers with a user namespace and their bind mounts: sources the
container's user cannot reach, sources inside earlier mounts of the same
container, idmapped sources, the flags the kernel locks, exec into them,
and joining a user namespace by path (runc HEAD's behaviour; 1.1.5 is
noted where it differs)."""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import Bundle, needs_root
from test_console import _userns
from test_parity_lifecycle import both, runc  # noqa: F401  (fixture)

pytestmark = needs_root

CAPS = ["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID",
        "CAP_SETGID"]


@pytest.fixture
def bundle(rootfs_template):
    yield from own_tmp_bundle(rootfs_template)


def own_tmp_bundle(rootfs_template):
    """conftest's Bundle, but in a directory of its own under /tmp: the
    container's mapped root must traverse the path to the rootfs, and a
    pytest session starting meanwhile (another run on this host) makes
    /tmp/pytest-of-root 0700 again. No mount may stay under it."""
    top = tempfile.mkdtemp(prefix="pyrunc-userns-", dir="/tmp")
    os.chmod(top, 0o711)
    try:
        b = Bundle(os.path.join(top, "bundle"), rootfs_template)
        b.write()
        yield b
    finally:
        with open("/proc/self/mountinfo") as f:
            left = [ln.split()[4] for ln in f if ln.split()[4].startswith(top + "/")]
        for m in sorted(left, reverse=True):
            subprocess.run(["umount", "-l", m])
        shutil.rmtree(top)
        assert not left, f"test leaked mounts: {left}"


def _hidden_source(tmp_path):
    """tmp_path/hidden (0700, host root's) /src/f: mapped root (host 100000)
    cannot even stat src."""
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    src = hidden / "src"
    src.mkdir()
    (src / "f").write_text("secret-ok\n")
    os.chmod(hidden, 0o700)
    return src


def _run(rt, bundle, script, rc=0):
    bundle.sh(script).write()
    p = rt("run", "-b", bundle.path, rt.new_id())
    assert p.returncode == rc, p.stderr
    return p


def _two_hidden_sources(bundle, tmp_path):
    """runc's userns.bats: two bind sources (no "type", as there) in 0700
    directories of host root: "we had bugs where 1 mount worked but not 2+"."""
    _userns(bundle)
    for i in (1, 2):
        hidden = tmp_path / f"source-inaccessible-{i}"
        (hidden / "dir").mkdir(parents=True)
        (hidden / "dir" / "foo.txt").write_text(f"secret-{i}\n")
        os.chmod(hidden, 0o700)
        bundle.config["mounts"].append({"source": str(hidden / "dir"),
                                        "destination": f"/tmp/mount-{i}", "options": ["bind"]})


def test_bind_source_the_container_user_cannot_reach(runtime, runc, bundle,  # noqa: F811
                                                     tmp_path):
    """The sources are opened on the host's side and handed to the init
    (runc 1.1.5 too: it passes the same fds, _LIBCONTAINER_MOUNT_FDS)."""
    _two_hidden_sources(bundle, tmp_path)
    src = _hidden_source(tmp_path)
    bundle.config["mounts"].append({"destination": "/data", "type": "bind",
                                    "source": str(src), "options": ["rbind", "ro"]})
    bundle.sh("cat /tmp/mount-1/foo.txt /tmp/mount-2/foo.txt /data/f; "
              "touch /data/x 2>/dev/null || echo ro").write()
    for name, rt in both(runtime, runc):
        p = rt("run", "-b", bundle.path, runtime.new_id())
        assert (name, p.returncode) == (name, 0), p.stderr
        assert p.stdout.split() == ["secret-1", "secret-2", "secret-ok", "ro"], name


def test_exec_into_a_container_with_an_unreachable_source(runtime, runc, bundle,  # noqa: F811
                                                          tmp_path):
    """runc's "userns with inaccessible mount + exec", side by side."""
    _two_hidden_sources(bundle, tmp_path)
    bundle.args("/bin/sleep", "60").write()
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        assert rt("run", "-d", "-b", bundle.path, cid).returncode == 0, name
        try:
            p = rt("exec", cid, "/bin/sh", "-c", "cat /tmp/mount-1/foo.txt /tmp/mount-2/foo.txt; "
                                                 "id -u")
            assert (name, p.returncode) == (name, 0), p.stderr
            assert p.stdout.split() == ["secret-1", "secret-2", "0"], name
        finally:
            assert rt("delete", "-f", cid).returncode == 0, name


def test_missing_source_in_a_user_namespace_names_the_field(runtime, bundle, tmp_path):
    _userns(bundle)
    hidden = _hidden_source(tmp_path).parent
    bundle.config["mounts"].append({"destination": "/data", "type": "bind",
                                    "source": str(hidden / "nope"), "options": ["bind"]})
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    i = len(bundle.config["mounts"]) - 1
    assert p.returncode == 1
    assert f"mounts[{i}].source" in p.stderr and "No such file or directory" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns"])
def test_source_inside_an_earlier_mount_in_config_order(runtime, runc, bundle,  # noqa: F811
                                                        tmp_path, userns):
    """A bind whose source is a path under the rootfs that only an earlier
    mount of the same container provides, opened at its turn in the
    container's mount namespace (HEAD: goCreateMountSources). runc 1.1.5
    agrees without a user namespace; with one it opens every source on the
    host before any mount is made, and fails (seen here)."""
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    (outer / "inner" / "f").write_text("inner\n")
    if userns:
        _userns(bundle)
    bundle.config["mounts"] += [
        {"destination": "/a", "type": "bind", "source": str(outer), "options": ["bind"]},
        {"destination": "/b", "type": "bind", "source": os.path.join(bundle.rootfs, "a/inner"),
         "options": ["bind"]},
    ]
    bundle.sh("cat /b/f").write()
    assert not os.path.exists(os.path.join(bundle.rootfs, "a/inner"))
    for name, rt in both(runtime, runc):
        cid = runtime.new_id()
        p = rt("run", "-b", bundle.path, cid)
        if name == "runc" and userns:
            assert p.returncode != 0
            assert "failed to open mount source" in p.stderr, p.stderr
            continue
        assert (name, p.returncode, p.stdout) == (name, 0, "inner\n"), p.stderr


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns"])
def test_idmapped_source_inside_an_earlier_mount(runtime, bundle, tmp_path, userns):
    """The idmapped source exists only once /a is mounted: it is cloned in
    the init's mount namespace at its turn, in config order."""
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    (outer / "inner" / "f").write_text("x")
    if userns:  # host root's file: 65534 through the plain bind, 0 idmapped
        _userns(bundle)
        m = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        want = ["0", "0", "65534", "65534"]
    else:  # host 1000's file shows as 0 idmapped
        os.chown(outer / "inner" / "f", 1000, 1000)
        m = [{"containerID": 1000, "hostID": 0, "size": 1}]
        want = ["0", "0", "1000", "1000"]
    bundle.config["mounts"] += [
        {"destination": "/a", "type": "bind", "source": str(outer), "options": ["bind"]},
        {"destination": "/b", "type": "bind", "source": os.path.join(bundle.rootfs, "a/inner"),
         "options": ["bind"], "uidMappings": m, "gidMappings": m},
    ]
    p = _run(runtime, bundle, "stat -c '%u %g' /b/f /a/inner/f")
    assert p.stdout.split() == want


@pytest.fixture
def locked_fs(tmp_path):
    """A host tmpfs mounted ro,nosuid,nodev,noexec with a file in it, in a
    0700 directory of host root (mapped root cannot reach it)."""
    hide = tmp_path / "lockhide"
    hide.mkdir(mode=0o700)
    d = hide / "fs"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)], check=True)
    try:
        (d / "f").write_text("x")
        subprocess.run(["mount", "-o", "remount,ro,nosuid,nodev,noexec", str(d)], check=True)
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=True)


def _flags_script(dest):
    # each remount that would clear a flag the source has, then the flags
    return (f"for o in rw suid dev exec; do mount -o remount,bind,$o {dest} {dest} "
            f"2>/dev/null && echo cleared-$o; done; "
            f"grep ' {dest} ' /proc/self/mountinfo | cut -d' ' -f6")


@pytest.mark.parametrize("kind", ["idmapped", "unreachable"])
def test_user_namespace_never_loses_the_sources_locked_flags(runtime, bundle, locked_fs,
                                                             tmp_path, kind):
    """A container root with CAP_SYS_ADMIN in its user namespace cannot
    remount its bind of a ro,nosuid,nodev,noexec source without them: the
    source is opened in the container's mount namespace, whose mounts the
    kernel locked, never cloned from the host's (unlocked) mount."""
    _userns(bundle)
    bundle.config["process"]["capabilities"] = {k: CAPS for k in
                                                ("bounding", "effective", "permitted")}
    if kind == "idmapped":
        m = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        entry = {"destination": "/l", "type": "bind", "source": str(locked_fs),
                 "options": ["bind"], "uidMappings": m, "gidMappings": m}
    else:
        entry = {"destination": "/l", "type": "bind", "source": str(locked_fs),
                 "options": ["bind"]}
    bundle.config["mounts"].append(entry)
    p = _run(runtime, bundle, "cat /l/f; echo; " + _flags_script("/l"))
    lines = p.stdout.split()
    assert lines[0] == "x"
    assert not [x for x in lines if x.startswith("cleared-")], p.stdout
    flags = set(lines[-1].split(","))
    assert {"ro", "nosuid", "nodev", "noexec"} <= flags, lines[-1]


def test_idmapped_mount_in_a_user_namespace(runtime, bundle, tmp_path):
    """The container's mapping on an idmapped bind of a host-root-owned
    directory: its files show as the container's root."""
    _userns(bundle)
    src = _hidden_source(tmp_path)
    m = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["mounts"].append({"destination": "/idm", "type": "bind", "source": str(src),
                                    "options": ["bind"], "uidMappings": m, "gidMappings": m})
    p = _run(runtime, bundle, "stat -c '%u %g' /idm/f; cat /idm/f; echo y > /idm/new && echo ok")
    assert p.stdout.split() == ["0", "0", "secret-ok", "ok"]
    st = os.stat(src / "new")
    assert (st.st_uid, st.st_gid) == (0, 0)


@pytest.fixture
def userns_owner(runtime, bundle):
    """A running container with its own user namespace (0 = host 100000);
    yields its init's pid. The bundle stays set up for user namespaces."""
    _userns(bundle)
    bundle.args("/bin/sleep", "60").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        yield runtime.state(cid)["pid"]
    finally:
        runtime("delete", "-f", cid, check=True)


def _joining(bundle, pid, maps=None):
    lx = bundle.config["linux"]
    for n in lx["namespaces"]:
        if n["type"] == "user":
            n["path"] = f"/proc/{pid}/ns/user"
    for k in ("uidMappings", "gidMappings"):
        lx.pop(k, None)
        if maps is not None:
            lx[k] = maps


def test_joined_user_namespace_brings_its_maps(runtime, bundle, userns_owner, tmp_path):
    """No maps in the config: the joined namespace's are the container's
    (here: an idmapped mount with the container's mapping uses them).
    runc 1.1.5 refuses ("User namespaces enabled, but no uid mappings
    found."); HEAD adopts them."""
    _joining(bundle, userns_owner)
    src = _hidden_source(tmp_path)
    bundle.config["mounts"].append({"destination": "/idm", "type": "bind", "source": str(src),
                                    "options": ["bind", "idmap"]})
    p = _run(runtime, bundle, "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u; "
                              "stat -c %u /idm/f")
    lines = p.stdout.splitlines()
    assert lines[0] == os.readlink(f"/proc/{userns_owner}/ns/user")
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2:] == ["0", "0"]


def test_joined_user_namespace_with_matching_maps_warns(runtime, bundle, userns_owner):
    _joining(bundle, userns_owner, [{"containerID": 0, "hostID": 100000, "size": 65536}])
    p = _run(runtime, bundle, "id -u")
    assert p.stdout == "0\n"
    assert "matching userns mapping specified -- you may only provide one" in p.stderr


def test_joined_user_namespace_with_other_maps_is_runcs_error(runtime, bundle, userns_owner):
    """runc HEAD's error (runc 1.1.5 ignores the config's maps and runs)."""
    _joining(bundle, userns_owner, [{"containerID": 0, "hostID": 200000, "size": 65536}])
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    assert p.returncode == 1
    assert ("linux.uidMappings: user namespaces enabled, but both namespace path and "
            "non-matching mapping specified -- you may only provide one") in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_join_order_as_nsenter(runtime, runc, bundle, userns_owner):  # noqa: F811
    """A joined user namespace and a namespace it does not own (the host's
    network): runc's nsenter joins the others first, with the host's
    privileges, then the user namespace. User first gets EPERM: runc
    1.1.5 does that and fails (seen here), HEAD's order is asserted for
    pyrunc."""
    _joining(bundle, userns_owner, [{"containerID": 0, "hostID": 100000, "size": 65536}])
    for n in bundle.config["linux"]["namespaces"]:
        if n["type"] == "network":
            n["path"] = f"/proc/{os.getpid()}/ns/net"
    bundle.sh("readlink /proc/self/ns/net; readlink /proc/self/ns/user").write()
    p = runc("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode != 0
    assert "failed to setns into net namespace: Operation not permitted" in p.stderr
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [os.readlink("/proc/self/ns/net"),
                                os.readlink(f"/proc/{userns_owner}/ns/user")]


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns"])
def test_source_inside_the_rootfs_is_resolved_inside_it(runtime, bundle, tmp_path, userns):
    """A bind source under the rootfs is looked up in the container's tree:
    an image's symlink on the way (here to a host directory's absolute
    path) resolves inside the rootfs, never to the host's directory.
    Deliberately stricter than runc, which follows it to the host."""
    host = tmp_path / "hostdir"
    (host / "inner").mkdir(parents=True)
    (host / "inner" / "f").write_text("HOST\n")
    decoy = os.path.join(bundle.rootfs, str(host).lstrip("/"), "inner")
    os.makedirs(decoy)
    with open(os.path.join(decoy, "f"), "w") as f:
        f.write("decoy\n")
    os.symlink(str(host), os.path.join(bundle.rootfs, "a"))
    if userns:
        _userns(bundle)
    bundle.config["mounts"].append({"destination": "/b", "type": "bind",
                                    "source": os.path.join(bundle.rootfs, "a/inner"),
                                    "options": ["bind"]})
    p = _run(runtime, bundle, "cat /b/f")
    assert p.stdout == "decoy\n"


def test_source_through_a_magic_link_is_refused(runtime, bundle):
    """The child that opens sources as the host's root, in a mount
    namespace that may be a running container's (joined by path), follows
    no magic link (/proc/<pid>/root, /proc/self/fd/N): a symlink planted
    there could otherwise hand it a host directory."""
    m = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["mounts"].append({"destination": "/idm", "type": "bind",
                                    "source": "/proc/self/root", "options": ["bind"],
                                    "uidMappings": m, "gidMappings": m})
    bundle.write()
    cid = runtime.new_id()
    p = runtime("create", "-b", bundle.path, cid)
    i = len(bundle.config["mounts"]) - 1
    assert p.returncode == 1
    assert f"mounts[{i}].source: /proc/self/root: Too many levels of symbolic links" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


@pytest.mark.parametrize("opt,sub_uid", [("idmap", "65534"), ("ridmap", "0")])
def test_rbind_idmapped_with_submounts(runtime, bundle, tmp_path, opt, sub_uid):
    """rbind brings the source's submounts along; `ridmap` idmaps them too,
    `idmap` only the top (a host root file below then shows unmapped)."""
    src = _hidden_source(tmp_path)
    sub = src / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(sub)], check=True)
    try:
        (sub / "g").write_text("g")
        _userns(bundle)
        m = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        bundle.config["mounts"].append({"destination": "/idm", "type": "bind",
                                        "source": str(src), "options": ["rbind", opt],
                                        "uidMappings": m, "gidMappings": m})
        p = _run(runtime, bundle, "stat -c %u /idm/f /idm/sub/g")
        assert p.stdout.split() == ["0", sub_uid]
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)


def _bind_ns_file(ns_file, path, *prefix):
    open(path, "w").close()
    subprocess.run([*prefix, "mount", "--bind", ns_file, path], check=True)


def test_join_external_namespaces_wrong_userns_owner(runtime, runc, bundle):  # noqa: F811
    """runc HEAD's userns.bats "userns join external namespaces [wrong
    userns owner]": a user namespace kept by a bind mount of its nsfs file
    after its container is gone (no maps in the config: they are read from
    the namespace), and a network namespace it does not own (the host's,
    bound to a file). HEAD joins the network namespace first, with the
    host's privileges, then the user namespace, and runs; runc 1.1.5
    fails (no uid mappings in the config: seen here)."""
    _userns(bundle)
    bundle.args("/bin/sleep", "60").write()
    owner = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, owner, check=True)
    top = os.path.dirname(bundle.path)
    userns_path, netns_path = os.path.join(top, "userns"), os.path.join(top, "netns")
    try:
        _bind_ns_file(f"/proc/{runtime.state(owner)['pid']}/ns/user", userns_path)
        runtime("delete", "-f", owner, check=True)
        _bind_ns_file("/proc/self/ns/net", netns_path, "unshare", "-i", "--")
        lx = bundle.config["linux"]
        for n in lx["namespaces"]:
            n["path"] = {"user": userns_path, "network": netns_path}.get(n["type"], n.get("path"))
            if n["path"] is None:
                del n["path"]
        del lx["uidMappings"], lx["gidMappings"]
        bundle.sh("readlink /proc/self/ns/user; readlink /proc/self/ns/net; cat /proc/self/uid_map")
        bundle.write()
        r = runc("run", "-b", bundle.path, runtime.new_id())
        assert r.returncode != 0 and "no uid mappings found" in r.stderr, r.stderr
        p = _run(runtime, bundle, bundle.config["process"]["args"][-1])
        lines = p.stdout.splitlines()
        assert lines[:2] == [f"user:[{os.stat(userns_path).st_ino}]",
                             f"net:[{os.stat(netns_path).st_ino}]"]
        assert lines[2].split() == ["0", "100000", "65536"]
    finally:
        for path in (userns_path, netns_path):
            subprocess.run(["umount", path], capture_output=True)


@pytest.mark.parametrize("variant", ["plain", "userns", "idmap", "userns,idmap"])
def test_mount_order_as_runc_head(runtime, runc, bundle, variant):  # noqa: F811
    """runc HEAD's mounts.bats "mount order, container bind-mount source"
    (and its idmap and userns variants): a tree of binds through symlinked
    sources, then binds whose sources are parts of that tree in the
    container, destinations given as host paths under the rootfs (taken
    as paths in the container), all in config order. runc 1.1.5 agrees
    without a user namespace or idmap (seen here)."""
    top = os.path.dirname(bundle.path)
    rootfs = bundle.rootfs
    if "userns" in variant:
        _userns(bundle)
    src = os.path.join(top, "bind-src")
    for sub in ("a/x", "b/y", "c/z"):
        os.makedirs(os.path.join(src, sub))
        with open(os.path.join(src, sub, "file"), "w") as f:
            f.write(sub + "\n")
        os.symlink(sub.split("/")[0], os.path.join(src, "sym-" + sub.split("/")[0]))
    os.chmod(src, 0o770)  # the container's root cannot reach it: the fd path
    os.makedirs(os.path.join(rootfs, "mnt"))
    os.makedirs(os.path.join(rootfs, "final"))
    if "userns" in variant:
        for d in ("mnt", "final"):
            os.chown(os.path.join(rootfs, d), 100000, 100000)
    ctr = "rbind,idmap" if "idmap" in variant else "rbind"
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536}]

    def bind(s, d, opts="bind"):
        m = {"source": s, "destination": d, "type": "bind",
             "options": opts.split(",")[:1] + ["rprivate"]}
        if "idmap" in opts:
            m.update(uidMappings=maps, gidMappings=maps)
        bundle.config["mounts"].append(m)

    bind(f"{src}/a", "/mnt")
    bind(f"{src}/sym-b", "/mnt/x")
    bind(f"{src}/c", "/mnt/x/y")
    bind(f"{src}/sym-a", "/mnt/x/y/z")
    bind(f"{rootfs}/mnt/x", f"{rootfs}/mnt/x/y/z/x", ctr)
    bind(f"{rootfs}/mnt/x/y", f"{rootfs}/mnt/x/y/z", ctr)
    bind(f"{rootfs}/mnt", f"{rootfs}/final", ctr)
    bundle.args("cat", "/final/x/y/z/z/x/y/z/x/file").write()
    tools = both(runtime, runc) if variant == "plain" else both(runtime, runc)[:1]
    for name, rt in tools:
        p = rt("run", "-b", bundle.path, runtime.new_id())
        assert (name, p.returncode, p.stdout) == (name, 0, "a/x\n"), p.stderr


@pytest.mark.skipif(not os.path.isfile("/sys/fs/cgroup/pids/tasks"), reason="needs cgroup v1")
def test_bind_before_a_v1_cgroupfs_mount(runtime, runc, bundle):  # noqa: F811
    """runc's userns.bats "userns with bind mount before a cgroupfs mount"
    (v1, no cgroup namespace: /sys/fs/cgroup is a set of binds), side by
    side: the container's own v1 cgroups are there."""
    mounts = bundle.config["mounts"]
    _userns(bundle)
    acc = os.path.join(os.path.dirname(bundle.path), "source-accessible", "dir")
    os.makedirs(acc)
    bundle.config["mounts"] = []
    for m in mounts:
        if m["destination"] == "/sys/fs/cgroup":
            bundle.config["mounts"].append({"source": acc, "destination": "/tmp/mount-1",
                                            "options": ["bind"]})
        bundle.config["mounts"].append(m)
    lx = bundle.config["linux"]
    lx["namespaces"] = [n for n in lx["namespaces"] if n["type"] != "cgroup"]
    bundle.sh("cat /sys/fs/cgroup/pids/tasks /sys/fs/cgroup/memory/tasks; "
              "awk '$5 ~ \"^/sys/fs/cgroup/(pids|memory)$\" { print $5 }' /proc/self/mountinfo"
              ).write()
    for name, rt in both(runtime, runc):
        p = rt("run", "-b", bundle.path, runtime.new_id())
        assert (name, p.returncode) == (name, 0), p.stderr
        lines = p.stdout.split()
        assert sorted(lines[-2:]) == ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"], name
        assert len(lines) >= 4, (name, p.stdout)  # the shell and cat, in each


def _idmap_entry(src, dest, uids, gids, opts=("bind",)):
    def maps(spec):
        return [{"containerID": c, "hostID": h, "size": n} for c, h, n in spec]
    return {"source": src, "destination": dest, "options": list(opts),
            "uidMappings": maps(uids), "gidMappings": maps(gids)}


# runc HEAD's idmap.bats: (mounts, {path: (uid, gid) with a user namespace,
# (uid, gid) without})
IDMAP_CASES = {
    "different-mappings": (
        [("source-multi1/", "/tmp/mount-multi1", [(100, 100000, 100)], [(200, 100000, 100)]),
         ("source-multi1/", "/tmp/mount-multi1-alt", [(100, 101000, 100)], [(200, 102000, 100)]),
         ("source-multi1-symlink/", "/tmp/mount-multi1-alt-sym", [(100, 102000, 100)],
          [(200, 103000, 100)])],
        {"/tmp/mount-multi1/foo.txt": ("0=11", "100000=100011"),
         "/tmp/mount-multi1/baz.txt": ("2=33", "100002=100033"),
         "/tmp/mount-multi1-alt/bar.txt": ("1001=2022", "101001=102022"),
         "/tmp/mount-multi1-alt-sym/foo.txt": ("2000=3011", "102000=103011"),
         "/tmp/mount-multi1-alt-sym/baz.txt": ("2002=3033", "102002=103033")}),
    "complicated": (
        [("source-multi1/", "/tmp/mount-multi1",
          [(100, 101000, 1), (101, 102000, 1), (102, 103000, 1)],
          [(210, 101100, 10), (220, 102200, 10), (230, 103300, 10)])],
        {"/tmp/mount-multi1/foo.txt": ("1000=1101", "101000=101101"),
         "/tmp/mount-multi1/bar.txt": ("2000=2202", "102000=102202"),
         "/tmp/mount-multi1/baz.txt": ("3000=3303", "103000=103303")}),
}


@pytest.mark.parametrize("userns", [False, True], ids=["no-userns", "userns"])
@pytest.mark.parametrize("case", sorted(IDMAP_CASES))
def test_idmap_mappings_as_runc_head(runtime, bundle, case, userns):
    """runc HEAD's idmap.bats "same idmap mount (different mappings)" and
    "idmap mount (complicated mapping)", with and without a user namespace
    (sources relative to the bundle, one through a symlink; without a user
    namespace the host ids show, runc's [no userns] cases with the same
    maps). runc 1.1.5 has no idmapped mounts."""
    src = os.path.join(bundle.path, "source-multi1")
    os.mkdir(src)
    for name, uid, gid in (("foo", 100, 211), ("bar", 101, 222), ("baz", 102, 233)):
        open(os.path.join(src, f"{name}.txt"), "w").close()
        os.chown(os.path.join(src, f"{name}.txt"), uid, gid)
    os.symlink("source-multi1", os.path.join(bundle.path, "source-multi1-symlink"))
    if userns:
        _userns(bundle)
    mounts, want = IDMAP_CASES[case]
    bundle.config["mounts"] += [_idmap_entry(*m) for m in mounts]
    p = _run(runtime, bundle, "stat -c '=%n:%u=%g=' " + " ".join(sorted(want)))
    assert p.stdout.split() == [f"={path}:{want[path][0 if userns else 1]}="
                                for path in sorted(want)]


@pytest.mark.parametrize("userns", [False, True], ids=["no-userns", "userns"])
def test_idmap_write_as_runc_head(runtime, bundle, userns):
    """idmap.bats "write to an idmap mount": the container's root writes
    as itself through the mount's mapping with a user namespace; without
    one, root is unmapped there and the write fails with ERANGE."""
    src = os.path.join(bundle.path, "source-1")
    os.mkdir(src)
    if userns:
        _userns(bundle)
    bundle.config["mounts"].append(_idmap_entry("source-1/", "/tmp/mount-1", [(0, 100000, 65536)],
                                                [(0, 100000, 65536)]))
    bundle.sh("touch /tmp/mount-1/bar && stat -c =%u=%g= /tmp/mount-1/bar").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    if userns:
        assert (p.returncode, p.stdout) == (0, "=0=0=\n"), p.stderr
        # (on disk: the mount maps the container's root, host 100000, to 0)
        assert os.stat(os.path.join(src, "bar")).st_uid == 0
    else:
        assert p.returncode != 0
        assert "Value too large for defined data type" in p.stdout + p.stderr


def test_idmap_source_fds_closed(runtime, bundle):
    """idmap.bats "Check mount source fds are cleaned up": twenty idmapped
    mounts and the process's RLIMIT_NOFILE 20: no source fd is left open
    (a leak would exhaust it, or show in /proc/self/fd)."""
    _userns(bundle)
    for n in ("1", "2"):
        os.mkdir(os.path.join(bundle.path, f"source-{n}"))
        open(os.path.join(bundle.path, f"source-{n}", "foo.txt"), "w").close()
    m = [(0, 100000, 65536)]
    for i in range(1, 11):
        for n in ("1", "2"):
            bundle.config["mounts"].append(_idmap_entry(f"source-{n}/", f"/tmp/mount-{n}{i}", m, m))
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}]
    p = _run(runtime, bundle, "stat -c =%u=%g= /tmp/mount-11/foo.txt; ls /proc/self/fd | wc -l")
    assert p.stdout.split()[0] == "=0=0="
    assert int(p.stdout.split()[1]) <= 4, p.stdout  # 0, 1, 2 and ls's own directory fd
