"""Attacks on the start path's speed-ups: pyrunc's own .pyc finder
(pyrunc/__init__), the late linux.resources (container._launch), the
exec child's preload.

The threat these tests stand for: a container image decides what lies at
any path inside its rootfs, including the absolute path where the host
keeps pyrunc's package and the stdlib. A Python process of pyrunc that
imports a module once its root (pivot_root, chroot, setns into the
container's mount namespace) is the container's would run the image's
code as the runtime, before the capabilities, the seccomp filter and
no_new_privs apply. So neither the init nor the exec child may import
anything once it is in the container's mount namespace: everything is
preloaded before the fork (init.preload).
"""
import json
import os
import py_compile
import subprocess
import sys
import time

import pytest

from conftest import needs_root, pyrunc_bin
from test_nomntns import _no_mntns
# a bundle in a /tmp dir of its own: a container's mapped root must reach its
# rootfs, whatever another pytest session does to /tmp/pytest-of-root
from test_userns import bundle  # noqa: F401  (fixture)

pytestmark = needs_root

# -- the import tracer: pyrunc under an audit hook -----------------------------

MARK = "PYRUNC-IMPORT-AFTER-ENTER"

# The same start as csrc/launcher.c's BOOT, after an audit hook that fails
# any import made by a process whose root or mount namespace is no longer
# the one pyrunc started in. The hook is inherited by every fork (init,
# exec child, their helpers); the exception it raises derives from
# BaseException, so no `except Exception` or `except ImportError` on the
# way hides it, and the marker line goes to fd 2 in case one did.
TRACER = """\
import sys, posix
def _where():
    try:
        r = posix.stat("/")
        n = posix.stat("/proc/self/ns/mnt")
        return (r.st_dev, r.st_ino, n.st_ino)
    except OSError:
        return None
_HOST = _where()
class ImportAfterEnter(BaseException):
    pass
_busy = []
def _hook(event, args):
    if event != "import" or _busy:
        return
    _busy.append(1)
    try:
        here = _where()
    finally:
        _busy.pop()
    if here != _HOST:
        try:
            posix.write(2, ("%s %s\\n" % (MARK, args[0])).encode())
        except OSError:
            pass
        raise ImportAfterEnter("import of %s inside the container" % args[0])
MARK = @MARK@
sys.addaudithook(_hook)
import gc
gc.disable()
sys.path.append(@SITE@)
from pyrunc.cli import main
r = main()
sys.stdout.flush()
sys.stderr.flush()
posix._exit(r or 0)
"""


def _tracer(site):
    return TRACER.replace("@MARK@", repr(MARK)).replace("@SITE@", repr(site))


def _site_packages():
    """The directory holding the pyrunc package that $PYRUNC runs."""
    py = os.path.join(os.path.dirname(os.path.realpath(pyrunc_bin())), "python3")
    if not os.path.exists(py):
        pytest.skip("pyrunc is not installed in a venv (no python3 beside it)")
    out = subprocess.run([py, "-I", "-c", "import pyrunc; print(pyrunc.__file__)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return py, os.path.dirname(os.path.dirname(out))


@pytest.fixture
def traced(runtime, tmp_path):
    """The runtime, run under the import tracer."""
    py, site = _site_packages()
    path = tmp_path / "pyrunc-traced"
    path.write_text(f"#!{py} -IS\n" + _tracer(site))
    path.chmod(0o755)
    runtime.bin = str(path)
    return runtime


def _clean(p):
    """No import after entering, whatever the command's outcome."""
    assert MARK not in p.stderr and MARK not in p.stdout, (p.stdout, p.stderr)
    assert "ImportAfterEnter" not in p.stderr, p.stderr


def _ok(p, rc=0):
    _clean(p)
    assert p.returncode == rc, (p.returncode, p.stdout, p.stderr)
    return p


def _userns(bundle):
    from test_console import _userns as make
    make(bundle)


SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]}


def _hidden(bundle):
    """A directory the container's mapped root cannot reach (0700, the host
    root's): its bind is opened by the runtime's helper, which joins the
    init's mount namespace (bindsources.serve)."""
    top = os.path.join(os.path.dirname(bundle.path), "hidden")
    os.makedirs(os.path.join(top, "src"))
    os.chmod(top, 0o700)
    with open(os.path.join(top, "src", "f"), "w") as f:
        f.write("secret\n")
    return os.path.join(top, "src")


def _variant(bundle, kind):
    cfg = bundle.config
    if kind == "userns-sources":
        _userns(bundle)
        src = _hidden(bundle)
        m = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["mounts"] += [
            {"destination": "/hidden", "type": "bind", "source": src, "options": ["rbind"]},
            {"destination": "/idm", "type": "bind", "source": src, "options": ["bind"],
             "uidMappings": m, "gidMappings": m}]
    if kind == "seccomp":
        cfg["linux"]["seccomp"] = SECCOMP
    elif kind == "userns":
        _userns(bundle)
    elif kind == "no-mntns":
        _no_mntns(bundle)
    elif kind == "host-pidns":  # exec's child itself sends its pid, the helper never forks
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "pid"]
    elif kind == "tty":
        cfg["process"]["terminal"] = True
    elif kind == "hooks":
        cfg["hooks"] = {"createContainer": [{"path": "/bin/true"}],
                        "createRuntime": [{"path": "/bin/true"}]}
    elif kind == "user-rlimits-caps":
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]}
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]
        cfg["process"]["noNewPrivileges"] = True
        cfg["process"]["cwd"] = "/home/user"
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    elif kind == "resources":
        cfg["linux"]["resources"] = {"pids": {"limit": 50}, "memory": {"limit": 64 << 20},
                                     "devices": [{"allow": False, "access": "rwm"}]}


VARIANTS = ["plain", "seccomp", "userns", "userns-sources", "no-mntns", "host-pidns", "tty",
            "hooks", "user-rlimits-caps", "resources"]


@pytest.mark.parametrize("kind", VARIANTS)
def test_run_imports_nothing_inside_the_container(traced, bundle, kind):
    """create's init, from the fork to the exec of the helper, under every
    shape of the init's path (born in its namespaces by clone3; unshare
    after a user namespace; chroot without a mount namespace; a terminal;
    createContainer hooks; user, rlimits, sysctl; late resources)."""
    _variant(bundle, kind)
    check = "cat /hidden/f /idm/f; " if kind == "userns-sources" else ""
    bundle.sh(check + "echo in-container").write()
    p = _ok(traced("run", "-b", bundle.path, traced.new_id()))
    assert "in-container" in p.stdout
    if check:
        assert p.stdout.split()[:2] == ["secret", "secret"], p.stdout


@pytest.mark.parametrize("kind", ["plain", "seccomp", "userns", "userns-sources", "no-mntns",
                                  "host-pidns"])
def test_exec_imports_nothing_inside_the_container(traced, bundle, tmp_path, kind):
    """exec's child after setns (or its chroot), with each of the flags that
    change what it does there: --cwd, --user, --process, a tty, --debug,
    --cap, --env, a failing program and a failing cwd."""
    _variant(bundle, kind)
    bundle.args("sleep", "60").write()
    cid = traced.new_id()
    try:
        _ok(traced("run", "-d", "-b", bundle.path, cid))
        _ok(traced("exec", cid, "true"))
        _ok(traced("exec", "--cwd", "/tmp", cid, "sh", "-c", "test $PWD = /tmp"))
        _ok(traced("exec", "--user", "1000:1000", "--additional-gids", "7", cid,
                   "sh", "-c", "test $(id -u) = 1000"))
        _ok(traced("exec", "--env", "X=1", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", cid,
                   "true"))
        p = _ok(traced("exec", "-t", cid, "sh", "-c", "test -t 0 && echo tty"))
        assert "tty" in p.stdout
        _ok(traced("--debug", "exec", cid, "true"))
        proc = dict(bundle.config["process"], args=["sh", "-c", "exit 3"], terminal=False)
        pf = tmp_path / "process.json"
        pf.write_text(json.dumps(proc))
        _ok(traced("exec", "--process", str(pf), cid), rc=3)
        # the failures are reported from inside: their messages too are preloaded
        p = _ok(traced("exec", cid, "/no-such-program"), rc=255)
        p = traced("exec", "--cwd", "/no/such/dir", cid, "true")
        _clean(p)
        assert p.returncode != 0
    finally:
        traced("delete", "-f", cid)


def test_init_failing_inside_imports_nothing(traced, bundle):
    """An error raised by the init after pivot_root (a cwd that is a file)
    is formatted and sent without an import."""
    bundle.config["process"]["cwd"] = "/etc/passwd"
    bundle.write()
    p = traced("run", "-b", bundle.path, traced.new_id())
    _clean(p)
    assert p.returncode != 0


def test_tracer_catches_an_import_inside(traced, bundle):
    """The tracer itself: a traced process that enters a rootfs (chroot)
    and then imports is refused, so the tests above can fail. (Checked
    by hand too: an `import` added after pivot_root in init._setup or
    after setns in execute._exec_child fails every test of this file,
    and the trap tests find PWNED-<module> in the rootfs.)"""
    py, site = _site_packages()
    code = _tracer("").split("import gc\n")[0] + (
        f"posix.chroot({bundle.rootfs!r})\n"
        "try:\n"
        "    import json\n"
        "except ImportAfterEnter:\n"
        "    posix._exit(42)\n"
        "posix._exit(0)\n")
    p = subprocess.run([py, "-IS", "-c", code], capture_output=True, text=True)
    assert p.returncode == 42 and MARK in p.stderr, (p.returncode, p.stderr)


# -- the same, as an image would try it: booby-trapped modules -----------------

TRAP = ("import posix\n"
        "posix.close(posix.open('/PWNED-' + __name__, posix.O_WRONLY | posix.O_CREAT, 0o644))\n"
        "posix.write(2, b'" + MARK + " ' + __name__.encode() + b'\\n')\n")


def _trap_tree(rootfs, host_dir, depth):
    """Every module of host_dir (down to depth packages) also at the same
    absolute path inside rootfs, as a trap; pyrunc's with a .pyc that its
    finder takes as valid (source's mtime and size in the header)."""
    import importlib.util
    for d, dirs, files in os.walk(host_dir):
        rel = os.path.relpath(d, host_dir)
        if rel.count(os.sep) >= depth or "test" in rel or "__pycache__" in rel:
            dirs[:] = []
            continue
        inside = rootfs + d
        os.makedirs(inside, exist_ok=True)
        for f in files:
            if f.endswith(".py"):
                src = os.path.join(inside, f)
                with open(src, "w") as out:
                    out.write(TRAP)
                if "/pyrunc" in d:
                    py_compile.compile(src, cfile=importlib.util.cache_from_source(src),
                                       doraise=True)


@pytest.fixture
def trapped(bundle):
    """The bundle's rootfs holds a trap at the host's path of pyrunc's
    package and of each stdlib directory on the runtime's sys.path."""
    py, site = _site_packages()
    out = subprocess.run([py, "-IS", "-c", "import sys; print('\\n'.join(sys.path))"],
                         capture_output=True, text=True, check=True).stdout.split()
    for d in out:
        if os.path.isdir(d):
            _trap_tree(bundle.rootfs, d, 2)
    _trap_tree(bundle.rootfs, os.path.join(site, "pyrunc"), 3)
    assert os.path.exists(bundle.rootfs + os.path.join(site, "pyrunc", "init.py"))
    return bundle


def _not_sprung(bundle, *ps):
    for p in ps:
        _clean(p)
    pwned = [f for f in os.listdir(bundle.rootfs) if f.startswith("PWNED")]
    assert not pwned, pwned


@pytest.fixture
def console_sink(tmp_path):
    """A --console-socket that takes the pty master and holds it."""
    import socket
    import threading
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    held = []

    def accept():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        _, anc, _, _ = conn.recvmsg(64, socket.CMSG_LEN(4))
        held.extend(int.from_bytes(data[:4], sys.byteorder) for _, _, data in anc)
        conn.close()
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield path
    srv.close()
    for fd in held:
        os.close(fd)


@pytest.mark.parametrize("kind", ["plain", "userns", "no-mntns", "tty"])
def test_image_with_trapped_pyrunc_modules_never_runs_them(runtime, trapped, tmp_path,
                                                           console_sink, kind):
    """The real launcher (no tracer): create, start, exec with --cwd,
    --user, --process, a tty; the image's copies of pyrunc's modules (with
    .pyc valid for them) and of the stdlib are never imported."""
    bundle = trapped
    _variant(bundle, kind)
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    sock = ("--console-socket", console_sink) if kind == "tty" else ()
    ps = []
    try:
        ps.append(_ok(runtime("create", "-b", bundle.path, *sock, cid)))
        ps.append(_ok(runtime("start", cid)))
        ps.append(_ok(runtime("exec", "--cwd", "/tmp", "--user", "1000:1000", cid, "true")))
        ps.append(_ok(runtime("exec", "-t", cid, "true")))
        proc = dict(bundle.config["process"], args=["true"], terminal=False)
        (tmp_path / "p.json").write_text(json.dumps(proc))
        ps.append(_ok(runtime("exec", "--process", str(tmp_path / "p.json"), cid)))
        ps.append(_ok(runtime("exec", cid, "/no-such-program"), rc=255))
    finally:
        runtime("delete", "-f", cid)
    _not_sprung(bundle, *ps)


# -- pyrunc/__init__'s finder: never a module importlib would not load ---------

# Imports `probe` from a copy of the package at `where`, then prints what
# it got; with "importlib" as argv[1], pyrunc's finder is taken off
# sys.meta_path first (the package itself is loaded either way).
PROBE = """\
import sys
sys.path.insert(0, sys.argv[2])
import pyrunc
if sys.argv[1] == "importlib":
    sys.meta_path[:] = [f for f in sys.meta_path if type(f) is not type or
                        f.__module__ != "pyrunc"]
try:
    m = __import__("pyrunc." + sys.argv[3], fromlist=["x"])
    code = [v.__code__ for v in vars(m).values() if hasattr(v, "__code__")]
    print(m.__file__, getattr(m, "X", None), m.__spec__.cached,
          code and code[0].co_filename)
except BaseException as e:
    print("error", type(e).__name__)
"""


@pytest.fixture
def pkg_copy(tmp_path):
    """A copy of the installed package (its .pyc kept valid: mtimes kept)."""
    import shutil
    py, site = _site_packages()
    dst = tmp_path / "copy"
    shutil.copytree(os.path.join(site, "pyrunc"), dst / "pyrunc", symlinks=True)
    return py, str(dst), dst / "pyrunc"


def _both(py, where, mod, *flags):
    """(what pyrunc's finder loads, what importlib alone loads)."""
    out = []
    for how in ("finder", "importlib"):
        # (-I without -S: the venv's site-packages, for the shim's _cffi_backend)
        p = subprocess.run([py, *flags, "-I", "-c", PROBE, how, where, mod],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        out.append(p.stdout.strip())
    return out


def _module(pkg, name, text, pyc_text=None):
    """pkg/name.py holding text; its .pyc compiled from pyc_text (same size,
    the source's mtime in its header) when given."""
    import importlib.util
    src = pkg / (name + ".py")
    src.write_text(pyc_text or text)
    py_compile.compile(str(src), cfile=importlib.util.cache_from_source(str(src)), doraise=True)
    if pyc_text is not None:
        st = os.stat(src)
        assert len(pyc_text) == len(text)
        src.write_text(text)
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    return src


def test_finder_loads_what_importlib_loads(pkg_copy):
    py, where, pkg = pkg_copy
    _module(pkg, "zz_plain", "X = 1\ndef f(): pass\n")
    a, b = _both(py, where, "zz_plain")
    assert a == b and " 1 " in a


def test_finder_sets_co_filename_as_importlib(pkg_copy):
    """A package moved after its .pyc were written (a relocated venv, an
    image layer copied elsewhere): importlib gives the code the path it was
    loaded from (tracebacks, inspect); so must the finder."""
    py, where, pkg = pkg_copy
    a, b = _both(py, where, "fspath")
    assert a == b
    a, b = _both(py, where, "hooks")
    assert a == b


def test_finder_under_python_O(pkg_copy):
    """-O: importlib reads the .opt-1.pyc (asserts stripped), never the
    plain one."""
    py, where, pkg = pkg_copy
    _module(pkg, "zz_opt", "assert False, 'kept'\nX = 1\n")
    a, b = _both(py, where, "zz_opt", "-O")
    assert a == b and "error" not in a


def test_finder_under_python_B(pkg_copy):
    """-B (and PYTHONDONTWRITEBYTECODE, which -I ignores anyway): importlib
    still reads a valid .pyc, only writes none; so does the finder."""
    py, where, pkg = pkg_copy
    _module(pkg, "zz_b", "X = 1\n", pyc_text="X = 2\n")  # (a valid header: its code runs)
    a, b = _both(py, where, "zz_b", "-B")
    assert a == b and " 2 " in a


def test_finder_with_a_pycache_prefix(tmp_path, pkg_copy):
    """-X pycache_prefix: importlib never reads the __pycache__ beside the
    source, so a .pyc there whose header matches the source (same size,
    same mtime) but whose code is other is never run."""
    py, where, pkg = pkg_copy
    _module(pkg, "zz_prefix", "X = 1\n", pyc_text="X = 2\n")
    a, b = _both(py, where, "zz_prefix", "-X", f"pycache_prefix={tmp_path / 'pcp'}")
    assert a == b and " 1 " in a


def test_finder_leaves_an_extension_module_first(pkg_copy):
    """importlib tries extension modules before sources: a stray _shim.py
    (with a valid .pyc) beside _shim.abi3.so is never the shim."""
    py, where, pkg = pkg_copy
    _module(pkg, "_shim", "X = 'the stray source'\n")
    a, b = _both(py, where, "_shim")
    assert a == b and ".so" in a.split()[0]


def test_finder_knows_the_packages_extensions_and_no_name_is_twice():
    """The finder names the package's extension modules rather than look for
    them (pyrunc/__init__._EXTENSIONS): they must be the built ones. And no
    module of the package is both a package directory and a .py (importlib
    would take the package; the finder the .py)."""
    from importlib.machinery import EXTENSION_SUFFIXES
    py, site = _site_packages()
    got = subprocess.run([py, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {site!r}); "
                          "import pyrunc; print(' '.join(sorted(pyrunc._EXTENSIONS)))"],
                         capture_output=True, text=True, check=True).stdout.split()
    built = set()
    for d, dirs, files in os.walk(os.path.join(site, "pyrunc")):
        for f in files:
            for x in EXTENSION_SUFFIXES:
                if f.endswith(x):
                    built.add(f[:-len(x)])
                    break
        twice = [x for x in dirs if x + ".py" in files]
        assert not twice, (d, twice)
    assert sorted(built) == got


def test_finder_and_importlib_load_every_module_alike(pkg_copy):
    """Every module of the installed package, from a moved copy: the same
    file, the same .pyc, the same co_filename through either."""
    py, where, pkg = pkg_copy
    for d, dirs, files in os.walk(pkg):
        dirs[:] = [x for x in dirs if os.path.exists(os.path.join(d, x, "__init__.py"))]
        rel = os.path.relpath(d, pkg).replace(os.sep, ".")
        prefix = "" if rel == "." else rel + "."
        for f in files:
            if f.endswith(".py") and f != "__init__.py" and f != "__main__.py":
                a, b = _both(py, where, prefix + f[:-3])
                assert a == b, f


def test_finder_refuses_a_stale_or_hash_based_pyc(pkg_copy):
    """A .pyc from another source (its header's mtime or size differs) or a
    hash-based one: importlib's rules decide, i.e. the source runs."""
    import importlib.util
    py, where, pkg = pkg_copy
    src = _module(pkg, "zz_stale", "X = 1\n", pyc_text="X = 2\n")
    os.utime(src, (1, 1))  # another mtime: stale
    a, b = _both(py, where, "zz_stale")
    assert a == b and " 1 " in a
    src = pkg / "zz_hash.py"
    src.write_text("X = 1\n")
    py_compile.compile(str(src), cfile=importlib.util.cache_from_source(str(src)),
                       invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    a, b = _both(py, where, "zz_hash")
    assert a == b and " 1 " in a
    # unchecked: importlib runs it without looking at the source; the
    # finder leaves it to importlib
    src = _module(pkg, "zz_unchecked", "X = 1\n")
    py_compile.compile(str(src), cfile=importlib.util.cache_from_source(str(src)),
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    src.write_text("X = 3\n")
    a, b = _both(py, where, "zz_unchecked")
    assert a == b and " 1 " in a


def test_finder_through_a_symlinked_source(tmp_path, pkg_copy):
    """A source that is a symlink: both stat through it (same mtime and size),
    both load the same."""
    py, where, pkg = pkg_copy
    real = tmp_path / "real.py"
    real.write_text("X = 1\n")
    (pkg / "zz_link.py").symlink_to(real)
    a, b = _both(py, where, "zz_link")
    assert a == b and " 1 " in a


def test_sealed_imports_never_look_at_a_path(tmp_path):
    """launch.seal_imports (called before pivot_root, before exec's setns, in
    the bind-source helper before its setns): once the root is the
    container's, a module not imported yet fails -- a pyrunc submodule
    (found through the package's absolute __path__, which sys.path.clear()
    alone left reachable) as a stdlib one -- while built-in modules stay."""
    py, site = _site_packages()
    code = ("import sys\n"
            f"sys.path.append({site!r})\n"
            "import pyrunc.launch\n"
            "pyrunc.launch.seal_imports()\n"
            "import errno, _struct\n"  # built-in: no file
            "for name in ('pyrunc.idmap', 'json'):\n"
            "    try:\n"
            "        __import__(name)\n"
            "        print('imported', name)\n"
            "    except ModuleNotFoundError:\n"
            "        print('refused', name)\n")
    p = subprocess.run([py, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert p.stdout.split("\n")[:2] == ["refused pyrunc.idmap", "refused json"], p


# -- linux.resources set after the fork (container._launch) --------------------

def _trace_order(p):
    """The order of the parent's two steps, from PYRUNC_TRACE's lines."""
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("[trace")]
    fork = [i for i, ln in enumerate(lines) if "create: forking the init" in ln]
    res = [i for i, ln in enumerate(lines) if "create: cgroup resources set" in ln]
    assert len(fork) == 1 and len(res) == 1, p.stderr
    return "before the fork" if res[0] < fork[0] else "after the fork"


@pytest.mark.parametrize("kind,when", [("plain", "after the fork"),
                                       ("createContainer", "before the fork"),
                                       ("no-mntns", "before the fork")])
def test_resources_set_before_the_fork_where_something_could_run_first(runtime, bundle,
                                                                       kind, when):
    """container._apply_before_fork: late (while the init mounts) only when
    nothing can run before the init asks for them (WANT_RESOURCES); before
    the fork for createContainer hooks (the init runs them unprompted) and
    without a mount namespace (the init mounts in the host's). (The systemd
    driver's way, also before: test_systemd, in the VM.)"""
    bundle.config["linux"]["resources"] = {"pids": {"limit": 20}}
    if kind == "createContainer":
        bundle.config["hooks"] = {"createContainer": [{"path": "/bin/true"}]}
    elif kind == "no-mntns":
        _no_mntns(bundle)
    bundle.write()
    p = _ok(runtime("run", "-b", bundle.path, runtime.new_id(),
                    env=dict(os.environ, PYRUNC_TRACE="1")))
    assert _trace_order(p) == when


HOOK_SEES = """#!/bin/sh
# what the cgroup of this hook (the container's) holds when it runs
C=/sys/fs/cgroup
while IFS=: read -r n ctrls path; do
  case ",$ctrls," in
    *,pids,*) [ -d $C/$ctrls ] && echo "pids $(cat $C/$ctrls$path/pids.max)";;
    *,devices,*) [ -d $C/$ctrls ] && sed 's/^/dev /' $C/$ctrls$path/devices.list;;
    ,,) [ -f $C/cgroup.controllers ] && echo "pids $(cat $C$path/pids.max)";;
  esac
done < /proc/self/cgroup > "$1"
exit 0
"""


def test_create_container_hook_runs_under_the_limits_as_runc(runtime, runc, bundle, tmp_path):
    """A createContainer hook (forked by the init, in the container's
    cgroup) already runs under linux.resources and the device rules, as
    with runc 1.1.5 (procHooks sets them before its init runs the hooks)."""
    hook = tmp_path / "hook.sh"
    hook.write_text(HOOK_SEES)
    hook.chmod(0o755)
    lx = bundle.config["linux"]
    lx["namespaces"] = [n for n in lx["namespaces"] if n["type"] != "cgroup"]
    lx["resources"] = {"pids": {"limit": 57},
                       "devices": [{"allow": False, "access": "rwm"},
                                   {"allow": True, "type": "c", "major": 4, "minor": 1,
                                    "access": "r"}]}
    seen = {}
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        out = tmp_path / f"seen-{name}"
        bundle.config["hooks"] = {"createContainer": [
            {"path": str(hook), "args": ["hook.sh", str(out)]}]}
        bundle.write()
        p = rt("run", "-b", bundle.path, rt.new_id())
        assert p.returncode == 0, (name, p.stderr)
        seen[name] = sorted(out.read_text().splitlines())
    assert "pids 57" in seen["pyrunc"], seen
    if any(x.startswith("dev ") for x in seen["pyrunc"]):  # (v1: the devices controller)
        assert "dev a *:* rwm" not in seen["pyrunc"] and "dev c 4:1 r" in seen["pyrunc"], seen
    assert seen["pyrunc"] == seen["runc"]


def test_late_resources_failing_as_before(runtime, runc, bundle):
    """A value the kernel refuses, written after the fork (a CPU this host
    does not have): the same error as when it was written before it
    (main: 'linux.resources.cpu.cpus: writing ...'), exit status 1 as runc,
    the init killed, and nothing left (conftest checks state, cgroups,
    mounts; no process of the container runs)."""
    cpus = str((os.cpu_count() or 1) + 7)
    bundle.config["linux"]["resources"] = {"cpu": {"cpus": cpus}}
    bundle.args("sh", "-c", "touch /ran; sleep 60").write()
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        cid = rt.new_id()
        p = rt("run", "-d", "-b", bundle.path, cid)
        assert p.returncode == 1, (name, p.stderr)
        assert "cpuset.cpus" in p.stderr, (name, p.stderr)
        assert not os.path.exists(os.path.join(bundle.rootfs, "ran")), name
        assert rt("state", cid).returncode != 0, name
    assert p.stderr  # runc's too
    p = runtime("run", "-d", "-b", bundle.path, runtime.new_id(),
                env=dict(os.environ, PYRUNC_TRACE="1"))
    assert p.returncode == 1 and _trace_order_failed(p) == "after the fork", p.stderr
    assert f"pyrunc run failed: linux.resources.cpu.cpus: writing '{cpus}' to " in p.stderr


def _trace_order_failed(p):
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("[trace")]
    assert any("create: forking the init" in ln for ln in lines), p.stderr
    assert not any("create: cgroup resources set" in ln for ln in lines), p.stderr
    return "after the fork"


def _child_of(pid):
    """A child of pid (the init, once forked), or None."""
    for n in os.listdir("/proc"):
        if n.isdigit():
            try:
                with open(f"/proc/{n}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        return int(n)
            except (OSError, IndexError, ValueError):
                pass
    return None


@pytest.mark.parametrize("kind", ["plain", "userns"])
def test_runtime_killed_between_the_fork_and_go_on(runtime, bundle, tmp_path, kind):
    """SIGKILL of pyrunc (not of its group) right after it forked the init,
    while the init makes its mounts (a few hundred of them, so that it is
    still at it), before it asked for the late resources: the init never
    goes on without them (its container process never runs), and
    `delete --force` removes everything (test_faults' checks: state,
    cgroups in every hierarchy, mounts, processes)."""
    from test_faults import Sweep
    if kind == "userns":
        _userns(bundle)
    sweep = Sweep(runtime, bundle, tmp_path)
    bundle.config["mounts"] += [{"destination": f"/m/{i}", "type": "tmpfs", "source": "tmpfs"}
                                for i in range(300)]
    bundle.config["linux"]["resources"] = {"pids": {"limit": 30},
                                           "memory": {"limit": 256 << 20}}
    killed_early = 0
    # 0-6 ms after the fork: the parent still writing the resources, or
    # done and waiting for WANT_RESOURCES; the init starting, or mounting
    for delay in (0, 0.001, 0.003, 0.006):
        cid = sweep.new_id()
        sweep.set_args("sh", "-c", "touch /ran; sleep 1000", cgroup_id=cid)
        with open(sweep.out, "w") as out:
            p = subprocess.Popen(sweep.cmd("create", "-b", bundle.path, cid), stdout=out,
                                 stderr=subprocess.STDOUT, env=sweep.env,
                                 start_new_session=True)
        init = None
        while init is None and p.poll() is None:
            init = _child_of(p.pid)
        time.sleep(delay)
        p.kill()
        p.wait(timeout=30)
        if init is not None:
            killed_early += 1
        else:
            print(open(sweep.out).read())
        time.sleep(0.3)  # the orphaned init: on its own, as far as it gets
        assert not os.path.exists(os.path.join(bundle.rootfs, "ran"))
        sweep.force_delete_and_check(cid, "pyrunc killed after the fork")
    assert killed_early == 4  # (the init was seen alive: killed after the fork)


@pytest.fixture
def loop_device(tmp_path):
    """A loop device of an 8 MB ext2 image: (path, minor)."""
    import shutil
    if not shutil.which("mkfs.ext2") or not shutil.which("losetup"):
        pytest.skip("mkfs.ext2 or losetup missing")
    img = tmp_path / "ext2.img"
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.ext2", "-q", "-F", str(img)], check=True)
    p = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"no loop device: {p.stderr}")
    dev = p.stdout.strip()
    try:
        yield dev, os.minor(os.stat(dev).st_rdev)
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


def test_block_device_mount_under_late_device_rules(runtime, runc, bundle, loop_device):
    """A config mounting a block device that its device rules allow, the
    allow written last of many (the parent writes the v1 rules one by one,
    deny-all first, while the init starts): the init waits for all of them
    before its first mount, so the mount never falls between the deny-all
    and the allow (with the wait before the device nodes only, it failed
    with EPERM here every time). runc 1.1.5 and main mount it too."""
    dev, minor = loop_device
    bundle.config["mounts"].append({"destination": "/mnt", "type": "ext2", "source": dev,
                                    "options": ["ro"]})
    rules = [{"allow": False, "access": "rwm"}]
    rules += [{"allow": True, "type": "c", "major": 200, "minor": i, "access": "r"}
              for i in range(800)]
    rules.append({"allow": True, "type": "b", "major": 7, "minor": minor, "access": "rwm"})
    bundle.config["linux"]["resources"] = {"devices": rules}
    bundle.sh("grep -c ' /mnt ext2 ' /proc/self/mounts").write()
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        for _ in range(3 if name == "pyrunc" else 1):
            p = rt("run", "-b", bundle.path, rt.new_id())
            assert (name, p.returncode, p.stdout.strip()) == (name, 0, "1"), p.stderr


def test_seccomp_notify_imports_nothing_inside_the_container(traced, bundle, tmp_path):
    """SCMP_ACT_NOTIFY: the init (create) and the exec child load the filter
    inside the container and send the notify fd with the state to the
    agent (seccomp.Listener.send: sockets, struct, JSON) -- all of it
    imported before."""
    from test_seccomp_notify import Agent
    path = str(tmp_path / "agent.sock")
    agent = Agent(path)
    agent.start()
    cid = traced.new_id()
    try:
        bundle.args("sleep", "60")
        bundle.config["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}
        bundle.write()
        _ok(traced("run", "-d", "-b", bundle.path, cid))
        p = _ok(traced("exec", cid, "sh", "-c", "mkdir /x 2>&1; true"))
        assert "Read-only" in p.stdout, p.stdout  # the agent answered EROFS
        assert len(agent.states) == 2
    finally:
        traced("delete", "-f", cid)
        agent.stop()


@pytest.mark.parametrize("kind", ["plain", "userns"])
def test_mounts_add_remove_import_nothing_inside_the_container(traced, bundle, tmp_path, kind):
    """`pyrunc mounts add|remove` (livemounts.py): its helper joins the
    running container's mount namespace, whose root is the container's
    rootfs, as the host's root in every other namespace: an import there
    would run the image's module with the host's privileges. Bind and
    tmpfs, a destination to create, refused ones (under /proc, through a
    symlink of the image), the user namespace's locked flags, removal."""
    _variant(bundle, kind)
    os.symlink("/proc/sys/kernel", os.path.join(bundle.rootfs, "sneaky"))
    bundle.args("sleep", "60").write()
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("host\n")
    os.chmod(tmp_path, 0o755)
    cid = traced.new_id()

    def mfile(entries, name):
        p = tmp_path / name
        p.write_text(json.dumps(entries))
        return str(p)
    try:
        _ok(traced("run", "-d", "-b", bundle.path, cid))
        add = mfile([{"destination": "/data/new/dir", "type": "bind", "source": str(src),
                      "options": ["rbind", "ro"]},
                     {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                      "options": ["size=1m"]}], "add.json")
        _ok(traced("mounts", "add", cid, add))
        p = _ok(traced("exec", cid, "cat", "/data/new/dir/f"))
        assert p.stdout == "host\n"
        for dest in ("/proc/sys/kernel/domainname", "/sneaky/domainname"):
            p = traced("mounts", "add", cid, mfile([{"destination": dest, "type": "bind",
                                                       "source": str(src / "f"),
                                                       "options": ["bind"]}], "bad.json"))
            _clean(p)
            assert p.returncode == 1 and "inside /proc" in p.stderr, p.stderr
        _ok(traced("mounts", "remove", cid, "/scratch"))
        _ok(traced("mounts", "remove", cid, mfile(json.loads(open(add).read())[:1], "rm.json")))
        p = traced("mounts", "remove", cid, "/nothing")
        _clean(p)
    finally:
        traced("delete", "-f", cid)
