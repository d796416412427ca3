"""bench/ runs: every row of bench/all.sh, two rounds, the smallest sizes,
and leaves nothing behind. No timing is asserted (benchmarks are not
tests): only that each row printed its figures and the table its rows."""
import glob
import os
import shutil
import subprocess

from conftest import needs_root, pyrunc_bin

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = ("run /bin/true", "run /bin/true, podman seccomp", "run /bin/true, user namespace",
        "create + start + delete", "exec /bin/true", "## state",
        "## kill", "## pause", "## resume", "## ps --format json", "list, 3 containers",
        "state, 3 containers", "peak RSS of create", "waiting for start: RSS") + (
            ("podman run --rm /bin/true",) if shutil.which("podman") else ()) + (
            ("ctr run --rm /bin/true",) if shutil.which("containerd") and shutil.which("ctr")
            else ())


@needs_root
def test_all_rows_run_and_clean_up():
    before = set(glob.glob("/tmp/pyrunc-bench.*"))
    env = dict(os.environ, PYRUNC=pyrunc_bin(), N="2", SIZES="2,3")
    p = subprocess.run(["sh", os.path.join(TOP, "bench", "all.sh")], capture_output=True,
                       text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    for row in ROWS:
        assert row in p.stdout, row
    table = p.stdout[p.stdout.index("| command |"):]
    assert table.count("\n| ") >= len(ROWS), table
    assert "pyrunc <= 0.7x runc" in p.stdout  # the goals are stated
    assert set(glob.glob("/tmp/pyrunc-bench.*")) == before
    with open("/proc/self/mounts") as f:
        assert "pyrunc-bench." not in f.read()
