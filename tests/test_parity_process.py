"""The process a container runs, pyrunc and runc side by side.

Each test runs the same bundle with pyrunc and with the installed runc
(1.1.5, private --root under tmp_path) and compares what the process
sees. Where runc's current source (HEAD) behaves otherwise than 1.1.5,
HEAD's behaviour is the one pyrunc follows: those assertions are made for
pyrunc alone, and say so ("HEAD:").
"""
import json
import os
import subprocess

import pytest

from conftest import RUNC, needs_root


pytestmark = [needs_root,
              pytest.mark.skipif(not os.path.exists(RUNC), reason="runc not installed")]


def run_both(runtime, runc, bundle, **kw):
    """`run` of the bundle as it is, by each runtime: {name: result}."""
    bundle.write()
    out = {}
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        cid = rt.new_id()
        out[name] = rt("run", "-b", bundle.path, cid, stdin=subprocess.DEVNULL, **kw)
        rt("delete", "--force", cid)
    return out["pyrunc"], out["runc"]


class Started:
    """The bundle running (`sleep`) under both runtimes, for exec."""

    def __init__(self, runtime, runc, bundle):
        bundle.args("sleep", "600").write()
        self.rts = {"pyrunc": runtime, "runc": runc}
        self.ids = {}
        for name, rt in self.rts.items():
            cid = rt.new_id()
            p = rt("run", "-d", "-b", bundle.path, cid, stdin=subprocess.DEVNULL)
            assert p.returncode == 0, (name, p.stderr)
            self.ids[name] = cid

    def exec(self, *args, **kw):
        return {name: rt("exec", *args[:-1], self.ids[name], *args[-1], **kw)
                for name, rt in self.rts.items()}

    def stop(self):
        for name, rt in self.rts.items():
            rt("delete", "--force", self.ids[name])


@pytest.fixture
def started(runtime, runc, bundle):
    s = []
    yield lambda: s.append(Started(runtime, runc, bundle)) or s[-1]
    for x in s:
        x.stop()


def ok(p, name=""):
    assert p.returncode == 0, (name, p.stderr)
    return p.stdout


# -- HOME and the environment -----------------------------------------------
ENV_SCRIPT = 'echo "HOME=$HOME A=$A"'
# the shell's own environment as it was exec'd (busybox tr wants \\000)
RAW_ENV = "tr '\\000' '\\n' < /proc/$$/environ | grep -E '^(HOME|A|B)=' | tr '\\n' ' '"


@pytest.mark.parametrize("uid,env,home,raw", [
    (0, [], "/root", "HOME=/root"),
    (0, ["HOME="], "/root", "HOME=/root"),                      # empty: as if missing
    (0, ["HOME=/x"], "/x", "HOME=/x"),                           # explicit wins
    (0, ["HOME=/a", "A=1", "HOME=/b"], "/b", "A=1 HOME=/b"),     # the last one wins
    (0, ["HOME=/a", "HOME="], "/root", "HOME=/root"),            # ... even an empty one
    (0, ["A=1", "B=2", "A=3"], "/root", "B=2 A=3 HOME=/root"),   # kept where the last is
    (1000, [], "/home/user", "HOME=/home/user"),
    (4242, [], "/", "HOME=/"),                                   # no passwd entry
])
def test_home_and_duplicate_env(runtime, runc, bundle, uid, env, home, raw):
    bundle.config["process"]["user"] = {"uid": uid, "gid": uid}
    bundle.config["process"]["env"] = ["PATH=/bin"] + env
    bundle.sh(f"{ENV_SCRIPT}; {RAW_ENV}")
    mine, theirs = run_both(runtime, runc, bundle)
    want = f"HOME={home} A={'3' if 'A=3' in env else '1' if 'A=1' in env else ''}"
    mine_lines, theirs_lines = ok(mine).splitlines(), ok(theirs).splitlines()
    # what a shell sees: runc 1.1.5 and HEAD agree
    assert mine_lines[0] == theirs_lines[0] == want
    # the environment itself has each key once; HEAD keeps it where its
    # last occurrence stands (1.1.5: where the first one did)
    assert mine_lines[1].split() == raw.split()
    assert sorted(theirs_lines[1].split()) == sorted(raw.split())


@pytest.mark.parametrize("env,words", [
    (["=x"], "invalid environment variable: name cannot be empty"),
    (["K=a\0b"], 'invalid environment variable "K": contains nul byte'),
])
def test_bad_env_refused_in_runc_words(runtime, runc, bundle, env, words):
    bundle.config["process"]["env"] = ["PATH=/bin"] + env
    mine, theirs = run_both(runtime, runc, bundle)
    assert mine.returncode == 1 and words in mine.stderr  # HEAD's words
    assert not os.path.isdir(runtime.root) or not os.listdir(runtime.root)


def test_no_path_searches_nothing(runtime, runc, bundle):
    """HEAD: without PATH a bare name is not found, not even in the cwd."""
    bundle.config["process"]["env"] = []
    bundle.args("true")
    os.symlink("/bin/busybox", os.path.join(bundle.rootfs, "true"))
    mine, theirs = run_both(runtime, runc, bundle)
    assert mine.returncode != 0
    assert 'exec: "true": executable file not found in $PATH' in mine.stderr


def test_home_empty_in_passwd(runtime, runc, bundle):
    """HEAD: a passwd entry with an empty home gives HOME= (empty)."""
    with open(os.path.join(bundle.rootfs, "etc", "passwd"), "a") as f:
        f.write("nohome:x:1001:1001:nohome::/bin/sh\n")
    bundle.config["process"]["user"] = {"uid": 1001, "gid": 1001}
    bundle.config["process"]["env"] = ["PATH=/bin"]
    bundle.sh(RAW_ENV)
    mine, theirs = run_both(runtime, runc, bundle)
    ok(theirs)
    assert ok(mine).split() == ["HOME="]


def test_home_for_exec_user(started):
    """exec --user gets the home of that uid, as with runc."""
    s = started()
    out = s.exec("--user", "1000:1000", ["sh", "-c", 'echo "$HOME"'])
    assert ok(out["pyrunc"]) == ok(out["runc"]) == "/home/user\n"
    out = s.exec("--user", "1000:1000", "--env", "HOME=", ["sh", "-c", 'echo "$HOME"'])
    assert ok(out["pyrunc"]) == ok(out["runc"]) == "/home/user\n"
    out = s.exec("--env", "HOME=/elsewhere", ["sh", "-c", 'echo "$HOME"'])
    assert ok(out["pyrunc"]) == ok(out["runc"]) == "/elsewhere\n"


# -- process.cwd only root can enter ------------------------------------------
def _secret_dir(bundle):
    d = os.path.join(bundle.rootfs, "secret")
    os.mkdir(d)
    os.chmod(d, 0o700)  # root's: the user cannot enter it


def test_cwd_root_can_enter_but_not_the_user(runtime, runc, bundle):
    _secret_dir(bundle)
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["cwd"] = "/secret"
    bundle.sh("pwd; id -u; ls . >/dev/null 2>&1 || echo cannot-list")
    mine, theirs = run_both(runtime, runc, bundle)
    assert ok(mine) == ok(theirs) == "/secret\n1000\ncannot-list\n"


def test_exec_user_cwd_root_can_enter(started, bundle):
    _secret_dir(bundle)
    s = started()
    out = s.exec("--user", "1000:1000", "--cwd", "/secret", ["sh", "-c", "pwd; id -u"])
    assert ok(out["pyrunc"]) == ok(out["runc"]) == "/secret\n1000\n"


def test_cwd_missing_is_made_and_a_file_refused(runtime, runc, bundle):
    with open(os.path.join(bundle.rootfs, "afile"), "w"):
        pass
    bundle.config["process"]["cwd"] = "/afile"
    mine, theirs = run_both(runtime, runc, bundle)
    assert mine.returncode == theirs.returncode == 1
    assert "not a directory" in theirs.stderr  # (runc: from its mkdir of the cwd)
    assert 'chdir to cwd ("/afile") set in config.json failed: not a directory' in mine.stderr


# -- CPU affinity -------------------------------------------------------------
def _cpus():
    return sorted(os.sched_getaffinity(0))


def _list(cpus):
    """A kernel cpu list as /proc/<pid>/status words it (contiguous here)."""
    cpus = sorted(cpus)
    return str(cpus[0]) if len(cpus) == 1 else f"{cpus[0]}-{cpus[-1]}"


def _pinned(cpu):
    return lambda: os.sched_setaffinity(0, {cpu})


AFF = "grep Cpus_allowed_list /proc/self/status | cut -f2"
needs_2_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or
                                  _cpus() != list(range(_cpus()[-1] + 1)),
                                  reason="needs CPUs 0-N, N >= 1")


@needs_2_cpus
def test_run_not_pinned_as_the_caller(runtime, runc, bundle):
    """HEAD: the container's process starts on the container's cpuset (all
    CPUs here) even when the caller was pinned (1.1.5 inherited it)."""
    bundle.sh(AFF)
    mine, theirs = run_both(runtime, runc, bundle, preexec_fn=_pinned(0))
    ok(theirs)
    assert ok(mine).strip() == _list(_cpus())
    # unpinned, both agree
    mine, theirs = run_both(runtime, runc, bundle)
    assert ok(mine) == ok(theirs) == _list(_cpus()) + "\n"


@needs_2_cpus
def test_exec_not_pinned_as_the_caller(started):
    """HEAD: an exec'd process is reset as well (1.1.5 inherited it)."""
    s = started()
    out = s.exec(["sh", "-c", AFF], preexec_fn=_pinned(0))
    ok(out["runc"])
    assert ok(out["pyrunc"]).strip() == _list(_cpus())


@needs_2_cpus
def test_exec_cpu_affinity_is_not_for_the_init(runtime, runc, bundle):
    """HEAD (runtime-spec): execCPUAffinity does not apply to the init;
    runc 1.1.5 does not know the field at all: both give every CPU."""
    bundle.config["process"]["execCPUAffinity"] = {"initial": "1", "final": "1"}
    bundle.sh(AFF)
    mine, theirs = run_both(runtime, runc, bundle, preexec_fn=_pinned(0))
    ok(theirs)
    assert ok(mine).strip() == _list(_cpus())


@needs_2_cpus
@pytest.mark.parametrize("aff,want", [
    ({"final": "1"}, [1]),
    ({"initial": "0", "final": "1"}, [1]),
    ({"initial": "1", "final": "0"}, [0]),
    ({}, None),  # nothing set: every CPU, whatever the caller's
])
def test_exec_process_file_cpu_affinity(started, tmp_path, aff, want):
    """HEAD: `exec --process` honours execCPUAffinity: final after the
    process joined the cgroups (runc 1.1.5 ignores the field)."""
    s = started()
    proc = {"args": ["sh", "-c", AFF], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0}}
    if aff:
        proc["execCPUAffinity"] = aff
    path = tmp_path / "process.json"
    path.write_text(json.dumps(proc))
    out = s.exec("--process", str(path), [], preexec_fn=_pinned(0))
    ok(out["runc"])
    assert ok(out["pyrunc"]).strip() == _list(want or _cpus())


@needs_2_cpus
def test_exec_initial_affinity_before_the_cgroup(started, tmp_path):
    """initial only: set before the process joins the container's cgroups,
    which then decide (runc: no final, no change after the join). A CPU
    the machine lacks fails the exec, not the caller."""
    s = started()
    proc = {"args": ["true"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
            "execCPUAffinity": {"initial": str(os.cpu_count() + 7)}}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(proc))
    out = s.exec("--process", str(path), [])
    assert out["pyrunc"].returncode != 0
    assert "error setting initial CPU affinity: invalid argument" in out["pyrunc"].stderr
    assert "execCPUAffinity.initial" in out["pyrunc"].stderr
    proc["execCPUAffinity"] = {"initial": "1"}
    proc["args"] = ["sh", "-c", AFF]
    path.write_text(json.dumps(proc))
    out = s.exec("--process", str(path), [])
    assert ok(out["pyrunc"]).strip() in (_list(_cpus()), "1")


# -- capabilities -------------------------------------------------------------
CAPS = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"


def _caps(bundle, **sets):
    bundle.config["process"]["capabilities"] = {
        k: sets.get(k, []) for k in ("bounding", "effective", "inheritable", "permitted",
                                     "ambient")}
    bundle.sh(CAPS)


@pytest.mark.parametrize("where", ["bounding", "effective", "permitted", "inheritable",
                                   "ambient"])
def test_unknown_capability_is_a_warning(runtime, runc, bundle, where):
    """runtime-spec >= 1.0.2: an unknown capability MUST be logged as a
    warning and SHOULD NOT fail; both ignore it."""
    sets = {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")}
    sets[where] = sets.get(where, []) + ["CAP_NO_SUCH_THING"]
    _caps(bundle, **sets)
    mine, theirs = run_both(runtime, runc, bundle)
    assert ok(mine) == ok(theirs)
    for p in (mine, theirs):
        assert "warning" in p.stderr and "CAP_NO_SUCH_THING" in p.stderr
    assert "ignoring unknown or unavailable capabilities: [CAP_NO_SUCH_THING]" in mine.stderr


def test_capability_unknown_to_the_kernel_is_left_out(monkeypatch):
    """A name pyrunc knows but this kernel does not (past cap_last_cap) is
    ignored with the unknown ones (runc: "unknown or unavailable")."""
    from pyrunc import capabilities, config
    monkeypatch.setattr(capabilities, "last_cap", lambda: 38)
    caps = config.Capabilities({"bounding": ["CAP_KILL", "CAP_BPF"],
                                "permitted": ["CAP_CHECKPOINT_RESTORE", "CAP_X"]})
    sets = capabilities.Sets(caps)
    assert sets.bounding == 1 << 5 and sets.permitted == 0
    assert sets.unknown == ["CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_X"]


def test_permitted_outside_bounding_is_dropped(runtime, runc, bundle):
    _caps(bundle, bounding=["CAP_KILL"], effective=["CAP_KILL", "CAP_NET_RAW"],
          permitted=["CAP_KILL", "CAP_NET_RAW"])
    mine, theirs = run_both(runtime, runc, bundle)
    assert ok(mine) == ok(theirs)
    assert "CapPrm:\t0000000000000020" in mine.stdout  # CAP_KILL alone


def test_ambient_not_inheritable_warns(runtime, runc, bundle):
    """HEAD warns of each ambient cap it cannot raise (1.1.5 was silent);
    the sets are the same."""
    _caps(bundle, bounding=["CAP_KILL", "CAP_CHOWN"], effective=["CAP_KILL", "CAP_CHOWN"],
          permitted=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_CHOWN"],
          ambient=["CAP_KILL", "CAP_CHOWN"])
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    mine, theirs = run_both(runtime, runc, bundle)
    assert ok(mine) == ok(theirs)
    assert "CapAmb:\t0000000000000001" in mine.stdout  # CAP_CHOWN raised
    assert "can't raise ambient capability CAP_KILL: operation not permitted" in mine.stderr
    assert "CAP_CHOWN" not in mine.stderr


# -- linux.personality for exec ----------------------------------------------
def test_personality_applies_to_exec(started, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    s = started()
    out = s.exec(["uname", "-m"])
    ok(out["runc"])  # 1.1.5: the exec'd process kept the host's
    assert ok(out["pyrunc"]).strip() in ("i686", "i386", "armv8l")  # HEAD


def test_personality_of_run(runtime, runc, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    bundle.args("uname", "-m")
    mine, theirs = run_both(runtime, runc, bundle)
    ok(theirs)  # 1.1.5 ignores linux.personality
    assert ok(mine).strip() in ("i686", "i386", "armv8l")  # HEAD


def test_personality_flags_are_a_warning(runtime, runc, bundle):
    """HEAD: flags are ignored with a warning (1.1.5 ignored them)."""
    bundle.config["linux"]["personality"] = {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}
    bundle.args("true")
    mine, theirs = run_both(runtime, runc, bundle)
    ok(theirs)
    ok(mine)
    assert "ignoring unsupported personality flags" in mine.stderr


# -- linux.memoryPolicy -------------------------------------------------------
# the policy of the first mapping ("prefer (many):0" has a space)
NUMA = "head -1 /proc/self/numa_maps | sed 's/^[^ ]* //; s/ file=.*//'"


def _numa_node0():
    return os.path.exists("/sys/devices/system/node/node0")


needs_numa = pytest.mark.skipif(not _numa_node0(), reason="no NUMA node 0")


@needs_numa
@pytest.mark.parametrize("mpol,want", [
    ({"mode": "MPOL_DEFAULT"}, "default"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_PREFERRED"}, "local"),  # no nodes: the local node
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_BIND", "nodes": " 0 ,"}, "bind:0"),  # runc's list syntax
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}, "prefer (many):0"),
    ({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}, "weighted interleave:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]},
     "bind=relative:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}, None),
])
def test_memory_policy_modes_and_flags(runtime, runc, bundle, mpol, want):
    """HEAD applies linux.memoryPolicy (1.1.5 ignores it, and runs)."""
    bundle.config["linux"]["memoryPolicy"] = mpol
    bundle.sh(NUMA)
    mine, theirs = run_both(runtime, runc, bundle)
    ok(theirs)
    if want is None:  # the kernel decides if this flag goes with this mode
        if mine.returncode:
            assert "set_mempolicy: invalid argument" in mine.stderr
        return
    assert ok(mine).strip().replace("=balancing", "") == want


@needs_numa
def test_memory_policy_applies_to_exec(started, bundle):
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_INTERLEAVE", "nodes": "0"}
    s = started()
    out = s.exec(["sh", "-c", NUMA])
    ok(out["runc"])
    assert ok(out["pyrunc"]).strip() == "interleave:0"  # HEAD's setns init sets it


@pytest.mark.parametrize("mpol,msg", [
    ({"mode": ""}, 'invalid memory policy mode ""'),
    ({}, 'invalid memory policy mode ""'),
    ({"mode": "MPOL_NOPE"}, 'invalid memory policy mode "MPOL_NOPE"'),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"]},
     'invalid memory policy flag "MPOL_F_NOPE"'),
    ({"mode": "MPOL_BIND", "nodes": "x"}, 'invalid memory policy nodes "x"'),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, 'invalid memory policy nodes "3-1": invalid range'),
    ({"mode": "MPOL_BIND", "nodes": "70000"},
     'invalid memory policy nodes "70000": values larger than 65536 are not supported'),
    ({"mode": "MPOL_BIND", "nodes": ","}, 'invalid memory policy nodes ","'),
    ({"mode": "MPOL_BIND"}, "memory policy mode requires at least one node but got 0"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "memory policy mode requires 0 nodes but got 1"),
    ({"mode": "MPOL_DEFAULT", "nodes": "0-1"}, "memory policy mode requires 0 nodes but got 2"),
    ({"mode": "MPOL_BIND", "nodes": "1000"}, "set_mempolicy: invalid argument"),
])
def test_memory_policy_errors_in_runc_words(runtime, runc, bundle, mpol, msg):
    bundle.config["linux"]["memoryPolicy"] = mpol
    mine, theirs = run_both(runtime, runc, bundle)
    ok(theirs)  # 1.1.5 ignores linux.memoryPolicy
    assert mine.returncode == 1, mine.stderr
    assert msg in mine.stderr  # HEAD's words
    assert not os.path.isdir(runtime.root) or not os.listdir(runtime.root)


# -- null means not set -------------------------------------------------------
NULLS = {
    ("linux", "timeOffsets"), ("linux", "personality"), ("linux", "memoryPolicy"),
    ("linux", "seccomp"), ("linux", "resources"), ("linux", "sysctl"),
    ("linux", "uidMappings"), ("linux", "gidMappings"), ("linux", "devices"),
    ("linux", "maskedPaths"), ("linux", "readonlyPaths"), ("linux", "intelRdt"),
    ("process", "rlimits"), ("process", "consoleSize"), ("process", "scheduler"),
    ("process", "ioPriority"), ("process", "execCPUAffinity"), ("process", "env"),
    (None, "hooks"), (None, "annotations"), (None, "hostname"),
}


def test_null_means_not_set(runtime, runc, bundle):
    """Go engines write null for empty maps and slices: both runtimes take
    every optional object or array given as null as not set."""
    for parent, key in NULLS:
        (bundle.config[parent] if parent else bundle.config)[key] = None
    bundle.config["process"]["capabilities"]["ambient"] = None
    bundle.config["process"]["user"]["additionalGids"] = None
    bundle.config["mounts"][0]["options"] = None
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                            if n["type"] != "uts"]
    bundle.sh("echo ok; grep CapBnd /proc/self/status")
    mine, theirs = run_both(runtime, runc, bundle)
    assert ok(mine) == ok(theirs)
    assert mine.stdout.startswith("ok\n")


def test_null_in_exec_process_file(started, tmp_path):
    s = started()
    proc = {"args": ["/bin/sh", "-c", 'echo "$HOME"'], "cwd": "/", "env": None,
            "user": {"uid": 0, "gid": 0, "additionalGids": None}, "rlimits": None,
            "capabilities": None, "consoleSize": None, "execCPUAffinity": None}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(proc))
    out = s.exec("--process", str(path), [])
    assert ok(out["pyrunc"]) == ok(out["runc"]) == "/root\n"


# -- time namespaces (runc 1.1.5 has none: HEAD's behaviour, pyrunc alone) ------
TIME = "readlink /proc/self/ns/time; grep monotonic /proc/self/timens_offsets"


def _time_ns(bundle, **ns):
    bundle.config["linux"]["namespaces"].append(dict(type="time", **ns))


def test_time_namespace_offsets_null_or_absent(runtime, runc, bundle):
    _time_ns(bundle)
    for offsets in (None, "absent", {}):
        if offsets == "absent":
            bundle.config["linux"].pop("timeOffsets", None)
        else:
            bundle.config["linux"]["timeOffsets"] = offsets
        bundle.sh(TIME)
        mine, theirs = run_both(runtime, runc, bundle)
        assert theirs.returncode != 0  # 1.1.5: no time namespaces
        lines = ok(mine).splitlines()
        assert lines[0] != os.readlink("/proc/self/ns/time")
        assert lines[1].split() == ["monotonic", "0", "0"]


def test_time_namespace_joined_from_another_container(runtime, runc, bundle, tmp_path):
    _time_ns(bundle)
    bundle.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 1000}}
    bundle.args("sleep", "600").write()
    first = runtime.new_id()
    p = runtime("run", "-d", "-b", bundle.path, first, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    try:
        pid = runtime.state(first)["pid"]
        ns = os.readlink(f"/proc/{pid}/ns/time")
        bundle.config["linux"]["namespaces"][-1]["path"] = f"/proc/{pid}/ns/time"
        del bundle.config["linux"]["timeOffsets"]
        bundle.sh(TIME)
        mine, theirs = run_both(runtime, runc, bundle)
        assert theirs.returncode != 0  # 1.1.5: no time namespaces
        assert ok(mine).split() == [ns, "monotonic", "1000", "0"]
        # and an exec in the first one: its namespace and offsets
        p = runtime("exec", first, "sh", "-c", TIME)
        assert ok(p).split() == [ns, "monotonic", "1000", "0"]
        # HEAD: a path and offsets together are refused
        bundle.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 5}}
        bundle.write()
        p = runtime("run", "-b", bundle.path, runtime.new_id())
        assert p.returncode == 1
        assert "both namespace path and time offsets specified" in p.stderr
    finally:
        runtime("delete", "--force", first)


def test_time_offsets_without_time_namespace(runtime, runc, bundle):
    bundle.config["linux"]["timeOffsets"] = {}
    mine, theirs = run_both(runtime, runc, bundle)
    ok(theirs)  # 1.1.5 ignores the field
    assert mine.returncode == 1
    assert "time namespace offsets specified, but time namespace isn't enabled" in mine.stderr


# -- an execve failure in runc's words ----------------------------------------
def test_execve_failure_first_line(runtime, runc, bundle):
    """A program that exists but cannot be exec'd (a script whose
    interpreter is missing): `exec /run.sh: no such file or directory`."""
    script = os.path.join(bundle.rootfs, "run.sh")
    with open(script, "w") as f:
        f.write("#!/no/such/shell\n")
    os.chmod(script, 0o755)
    bundle.args("/run.sh")
    mine, theirs = run_both(runtime, runc, bundle)
    # runc HEAD's init exits 255 there, 1.1.5's 1 (test_parity_cli.py)
    assert mine.returncode == 255 and theirs.returncode != 0
    assert "exec /run.sh: no such file or directory" in theirs.stderr
    assert mine.stderr.splitlines()[0].endswith("exec /run.sh: no such file or directory")
