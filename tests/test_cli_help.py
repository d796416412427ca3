"""The command line's conventions: every command's help page (runc's
NAME/USAGE/OPTIONS layout, exit 0), `pyrunc help`, `--version`, and every
flag a page lists either works or is refused by name; flags pyrunc does not
implement are refused, never parsed and ignored."""
import os
import re
import subprocess

import pytest

from conftest import pyrunc_bin
from pyrunc import cli


def run(*args, root=None):
    cmd = [pyrunc_bin()] + (["--root", root] if root else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def options(page):
    """The flag spellings an OPTIONS: section lists."""
    section = page.split("OPTIONS:\n", 1)[1]
    names = []
    for line in section.splitlines():
        if not line.startswith("   --"):
            continue
        cell = re.split(r"\s{2,}", line.strip())[0]
        names += [n.split()[0] for n in cell.split(", ")]
    return names


def test_global_help_lists_every_command():
    for args in (["--help"], ["-h"], [], ["help"], ["h"]):
        p = run(*args)
        assert p.returncode == 0, (args, p.stderr)
        for head in ("NAME:", "USAGE:", "VERSION:", "COMMANDS:", "GLOBAL OPTIONS:"):
            assert f"\n{head}\n" in "\n" + p.stdout, (args, head)
        listed = re.findall(r"^   (\w+)", p.stdout.split("COMMANDS:\n")[1].split("\n\n")[0],
                            re.M)
        assert sorted(listed) == sorted(cli.COMMAND_TABLE), args
        for cmd in ("exec", "pause", "resume", "update", "events"):
            assert cmd in listed


@pytest.mark.parametrize("cmd", sorted(cli.COMMAND_TABLE))
def test_command_help_page(cmd):
    """`CMD --help`, `CMD -h` and `help CMD`: the same page, for CMD only,
    listing exactly the flags the parser knows for it."""
    pages = [run(cmd, "--help"), run(cmd, "-h"), run("help", cmd)]
    for p in pages:
        assert p.returncode == 0, p.stderr
        assert p.stdout == pages[0].stdout
    page = pages[0].stdout
    assert page.startswith(f"NAME:\n   pyrunc {cmd} - ")
    assert f"\nUSAGE:\n   pyrunc {cmd}" in page
    assert "\nOPTIONS:\n" in page
    assert "COMMANDS:" not in page
    assert sorted(options(page)) == sorted(list(cli.F[cmd]) + ["--help", "-h"])


def test_every_listed_flag_is_parsed():
    """No page lists a flag the parser rejects as undefined."""
    for cmd in cli.COMMAND_TABLE:
        for flag in options(run(cmd, "--help").stdout):
            if flag in ("--help", "-h"):
                continue
            key, kind = cli.F[cmd][flag]
            argv = [flag] + (["1"] if kind else [])
            opts, _ = cli.parse_cmd(cmd, argv)
            assert key in opts, (cmd, flag)
    for flag in options(run("--help").stdout.replace("GLOBAL OPTIONS:", "OPTIONS:")):
        key, kind = cli.GLOBAL[flag]
        argv = [flag] + (["auto" if flag == "--rootless" else "x"] if kind else [])
        g, _ = cli.parse_global(argv + ["list"])
        assert key in g, flag


def test_help_unknown_command():
    p = run("help", "nosuch")
    assert p.returncode == 1
    assert "No help topic for 'nosuch'" in p.stderr


def test_version_shape():
    p = run("--version")
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert re.fullmatch(r"pyrunc version \d+\.\d+\.\d+\S*", lines[0]), lines
    assert [ln.split(":")[0] for ln in lines[1:]] == ["commit", "spec", "python",
                                                      "libseccomp"]
    assert re.fullmatch(r"commit: \S+", lines[1])
    # the runtime-spec release pyrunc implements; runc HEAD prints its
    # vendored specs-go Version the same way ("spec: 1.3.0"; 1.1.5: 1.0.2-dev)
    assert lines[2] == "spec: 1.3.0"
    assert re.fullmatch(r"python: 3\.\d+\.\d+", lines[3])
    assert re.fullmatch(r"libseccomp: \d+\.\d+\.\d+", lines[4])
    assert run("-v").stdout == p.stdout


@pytest.mark.parametrize("args,message", [
    (["--rootless", "true", "list"], "--rootless true"),
    (["--rootless=true", "list"], "--rootless true"),
    (["--criu", "/usr/sbin/criu", "list"], "--criu"),
    (["checkpoint", "c1"], "checkpoint is not supported"),
    (["restore", "c1"], "restore is not supported"),
    (["run", "--no-subreaper", "c1"], "--no-subreaper"),
])
def test_unimplemented_refused(tmp_path, args, message):
    p = run(*args, root=str(tmp_path / "state"))
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert "not supported" in p.stderr or "does not" in p.stderr, p.stderr


def test_rootless_false_and_auto_accepted(tmp_path):
    for v in ("false", "auto"):
        p = run("--rootless", v, "list", root=str(tmp_path))  # (an existing --root)
        assert p.returncode == 0, p.stderr


def test_man_pages_and_completion_installed():
    """Generated at build time from the same table, shipped in the package."""
    import importlib.util
    import os
    spec = importlib.util.find_spec("pyrunc")
    pkg = os.path.dirname(spec.origin)
    man = os.path.join(pkg, "man")
    if not os.path.isdir(man):
        pytest.skip("pyrunc imported from a checkout, not an installed build")
    want = {"pyrunc.8"} | {f"pyrunc-{c}.8" for c in cli.COMMAND_TABLE}
    assert set(os.listdir(man)) == want
    with open(os.path.join(man, "pyrunc-exec.8")) as f:
        text = f.read()
    assert text.startswith(".TH PYRUNC-EXEC 8")
    assert "\\-\\-cgroup value" in text
    comp = os.path.join(pkg, "completion", "pyrunc.bash")
    assert subprocess.run(["bash", "-n", comp]).returncode == 0
    # complete "pyrunc ex" and "pyrunc exec --pid-f"
    script = (f"source {comp}; COMP_WORDS=(pyrunc ex); COMP_CWORD=1; _pyrunc; "
              "echo ${COMPREPLY[@]}; COMP_WORDS=(pyrunc --root /x exec --pid-f); COMP_CWORD=4; "
              "_pyrunc; echo ${COMPREPLY[@]}")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout
    assert out.splitlines() == ["exec", "--pid-file"]


def _refused_flags():
    for cmd, row in sorted(cli.COMMAND_TABLE.items()):
        for names, key, kind, text in row[3]:
            if text.startswith("refused"):
                yield cmd, names.split(", ")[0], kind


@pytest.mark.parametrize("cmd,flag,kind", list(_refused_flags()))
def test_flags_listed_as_refused_are_refused(tmp_path, cmd, flag, kind):
    """A page that says "refused" is right: the command fails naming the
    flag, before it looks for the container."""
    args = [cmd, flag] + (["x"] if kind else []) + ["c1"] + (["true"] if cmd == "exec" else [])
    p = run(*args, root=str(tmp_path / "state"))
    assert p.returncode != 0
    assert flag in p.stderr and "supported" in p.stderr, p.stderr


def test_systemd_cgroup_without_systemd_is_refused(runtime, bundle):
    """On a host not booted with systemd (this one: no /run/systemd/system)
    runc's words, and nothing left; tests/test_systemd.py has the driver
    itself, with systemd as PID 1 in a VM."""
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("this host runs systemd")
    cid = runtime.new_id()
    p = runtime("--systemd-cgroup", "create", "-b", bundle.path, cid)
    assert p.returncode == 1, p.stderr
    assert "systemd not running on this host, cannot use systemd cgroups manager" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
