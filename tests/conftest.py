"""Fixtures for tests that start real containers.

The suite runs the installed `pyrunc` command (or $PYRUNC) as root, each
test with its own state root, and checks afterwards that nothing leaked:
no container left in the root, no mount below the test's tmp dir, no
cgroup named after the test's containers.
"""
import json
import os
import shutil
import subprocess
import uuid

import pytest

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
RUNC = shutil.which("runc") or "/usr/sbin/runc"  # the reference, side by side


def pyrunc_bin():
    return os.environ.get("PYRUNC") or shutil.which("pyrunc") or "pyrunc"


def is_root():
    return os.geteuid() == 0


needs_root = pytest.mark.skipif(not is_root(), reason="needs root")


def make_rootfs(path):
    """A busybox-static rootfs (what the README's main job uses too)."""
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/user"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    for name in out.split():
        if name != "busybox":
            link = os.path.join(path, "bin", name)
            if not os.path.lexists(link):
                os.symlink("busybox", link)
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\nuser:x:1000:\nnobody:x:65534:\n")
    os.chmod(os.path.join(path, "tmp"), 0o1777)


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory):
    p = tmp_path_factory.mktemp("rootfs-template") / "rootfs"
    make_rootfs(str(p))
    return str(p)


class Runtime:
    """Calls the runtime with a private --root; remembers ids to clean up."""

    def __init__(self, root):
        self.root = root
        self.bin = pyrunc_bin()
        self.ids = set()

    def __call__(self, *args, check=False, env=None, input=None, timeout=60, **kw):
        """Run the runtime; stdout/stderr go to files, not pipes: a created
        container inherits them and would hold a pipe open for its life."""
        import tempfile
        cmd = [self.bin, "--root", self.root] + [str(a) for a in args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(cmd, stdout=out, stderr=err, text=True, env=env, input=input,
                               timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        if check and p.returncode != 0:
            raise AssertionError(f"{cmd} failed ({p.returncode}): {p.stderr}")
        return p

    def state(self, cid):
        p = self("state", cid, check=True)
        return json.loads(p.stdout)

    def new_id(self):
        cid = "t" + uuid.uuid4().hex[:12]
        self.ids.add(cid)
        return cid


class Bundle:
    def __init__(self, path, rootfs_template):
        self.path = path
        self.rootfs = os.path.join(path, "rootfs")
        shutil.copytree(rootfs_template, self.rootfs, symlinks=True)
        p = subprocess.run([pyrunc_bin(), "spec", "--bundle", path], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        with open(os.path.join(path, "config.json")) as f:
            self.config = json.load(f)
        self.config["process"]["terminal"] = False
        self.config["root"]["readonly"] = False
        self.config["process"]["args"] = ["/bin/true"]

    def write(self):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f)

    def args(self, *a):
        self.config["process"]["args"] = list(a)
        return self

    def sh(self, script):
        return self.args("/bin/sh", "-c", script)


@pytest.fixture
def runtime(tmp_path):
    root = str(tmp_path / "state")
    rt = Runtime(root)
    yield rt
    _cleanup(rt, str(tmp_path))


@pytest.fixture
def runc(tmp_path):
    """runc as a Runtime (the same calls as `runtime`), with a private
    --root; what its tests leave (containers, cgroups) is removed, and a
    leftover state entry fails the test. Skips where runc is missing."""
    if not os.path.exists(RUNC):
        pytest.skip("runc is not installed")
    rt = Runtime(str(tmp_path / "runc-state"))
    rt.bin = RUNC
    yield rt
    for cid in rt.ids:
        rt("delete", "--force", cid)
        for base in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", base, cid))
            except OSError:
                pass
    leaked = os.listdir(rt.root) if os.path.isdir(rt.root) else []
    assert not leaked, f"runc state leaked: {leaked}"


@pytest.fixture
def bundle(tmp_path, rootfs_template):
    b = Bundle(str(tmp_path / "bundle"), rootfs_template)
    b.write()
    return b


def _cleanup(rt, tmp):
    leaked = []
    if os.path.isdir(rt.root):
        for cid in os.listdir(rt.root):
            if cid.startswith("."):
                continue  # caches (.seccomp-cache), not containers
            leaked.append(f"state {cid}")
            rt("delete", "--force", cid)
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if tmp in line.split()[4]]
    for m in sorted(mounts, reverse=True):
        leaked.append(f"mount {m}")
        subprocess.run(["umount", "-l", m])
    for cid in rt.ids:
        for base, dirs, _ in os.walk("/sys/fs/cgroup"):
            if cid in dirs:
                leaked.append(f"cgroup {base}/{cid}")
                try:
                    os.rmdir(os.path.join(base, cid))
                except OSError:
                    pass
            if base.count("/") > 6:
                dirs[:] = []
    assert not leaked, f"test leaked: {leaked}"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cgroupv2: also run inside the pure cgroup v2 VM (tests/v2vm/run.sh)")
    config.addinivalue_line(
        "markers", "systemd: the systemd cgroup driver, run with systemd as PID 1 "
                   "(tests/v2vm/run.sh --systemd)")
    config.addinivalue_line(
        "markers", "faults: fault injection (tests/test_faults.py); -m faults runs it alone, "
                   "PYRUNC_FAULTS_FULL=1 for the full sweep")
