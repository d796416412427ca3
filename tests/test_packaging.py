"""What `python -m build` made (scripts/setup.sh builds dist/ and installs
the wheel; $WHEEL names it) and how the installed `pyrunc` starts: with
-I -S, whatever installed it."""
import glob
import json
import os
import subprocess
import tarfile
import time
import zipfile

import pytest

from conftest import needs_root, pyrunc_bin

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def built(pattern):
    found = sorted(glob.glob(os.path.join(TOP, "dist", pattern)))
    if not found:
        pytest.skip("no dist/: run scripts/test.sh (it builds the sdist and the wheel)")
    return found[-1]


def test_sdist_has_what_the_wheel_is_built_from():
    with tarfile.open(built("pyrunc-*.tar.gz")) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for need in ("pyproject.toml", "setup.py", "MANIFEST.in", "LICENSE", "COMMIT",
                 "bin/pyrunc", "csrc/build_shim.py", "csrc/build_seccomp.py",
                 "csrc/execinit.c", "csrc/launcher.c", "csrc/shim.h", "spec/config-schema.json",
                 "spec/state-schema.json", "tests/conftest.py"):
        assert need in names, need


def test_wheel_contents_and_metadata():
    with zipfile.ZipFile(built("pyrunc-*.whl")) as z:
        names = set(z.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = z.read(meta).decode()
        script = next(n for n in names if n.endswith(".data/scripts/pyrunc"))
        launcher = z.read(script)
    for need in ("pyrunc/_execinit", "pyrunc/_configcheck.py", "pyrunc/_statecheck.py",
                 "pyrunc/_buildinfo.py", "pyrunc/man/pyrunc.8", "pyrunc/man/pyrunc-run.8",
                 "pyrunc/completion/pyrunc.bash", "pyrunc/py.typed"):
        assert need in names, need
    assert any(n.startswith("pyrunc/_shim") and n.endswith(".so") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # the C launcher (csrc/launcher.c): no installer rewrites a binary (pip
    # drops the flags after "#!python"); static, so it needs no loader
    assert launcher[:4] == b"\x7fELF"
    assert b"ld-linux" not in launcher and b"-I" in launcher and b"-S" in launcher
    lines = metadata.splitlines()
    assert "License-Expression: Apache-2.0" in lines
    requires = [ln.split(": ", 1)[1] for ln in lines if ln.startswith("Requires-Dist: ")]
    # what every node gets: only cffi; the rest behind extras
    assert [r for r in requires if "extra ==" not in r] == ["cffi>=1.15"]
    assert any(r.startswith("pyroute2") and 'extra == "netdevices"' in r for r in requires)
    assert any(r.startswith("jsonschema") and 'extra == "test"' in r for r in requires)
    # the systemd cgroup driver's D-Bus library: its own extra, and the tests'
    assert any(r.startswith("jeepney") and 'extra == "systemd"' in r for r in requires)
    assert any(r.startswith("jeepney") and 'extra == "test"' in r for r in requires)


def test_installed_script_is_the_c_launcher():
    with open(os.path.realpath(pyrunc_bin()), "rb") as f:
        assert f.read(4) == b"\x7fELF"


def test_caller_environment_is_not_imported(tmp_path):
    """PYTHONPATH's sitecustomize and a `pyrunc` package in the caller's
    directory or PYTHONPATH are never imported (-I), site.py is not run
    (-S); through a symlink too (pipx links the script from ~/.local/bin)."""
    evil = tmp_path / "evil"
    (evil / "pyrunc").mkdir(parents=True)
    marker = tmp_path / "imported"
    code = f"open({str(marker)!r}, 'w').close()\n"
    (evil / "sitecustomize.py").write_text(code)
    (evil / "usercustomize.py").write_text(code)
    (evil / "pyrunc" / "__init__.py").write_text(code + "raise SystemExit(99)\n")
    link = tmp_path / "bin" / "pyrunc"
    link.parent.mkdir()
    os.symlink(os.path.realpath(pyrunc_bin()), link)
    env = dict(os.environ, PYTHONPATH=str(evil), PYTHONSTARTUP=str(evil / "sitecustomize.py"),
               PYTHONINSPECT="1")
    for exe in (pyrunc_bin(), str(link)):
        p = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env,
                           cwd=str(evil), timeout=30)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("pyrunc version ")
        assert not marker.exists(), exe


@needs_root
def test_running_pyrunc_has_isolated_flags(runtime, bundle):
    """The process that runs a container is `python3 -I -S .../pyrunc`."""
    bundle.sh("sleep 30").write()
    cid = runtime.new_id()
    proc = subprocess.Popen([pyrunc_bin(), "--root", runtime.root, "run", "-b", bundle.path,
                             cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            p = runtime("state", cid)
            if p.returncode == 0 and json.loads(p.stdout)["status"] == "running":
                break
            time.sleep(0.05)
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert argv[1:3] == [b"-I", b"-S"], argv
        assert os.path.basename(argv[0]).startswith(b"python3"), argv
    finally:
        runtime("kill", cid, "KILL")
        proc.wait(timeout=30)
