"""process.*: user, groups, umask, env, cwd, capabilities, rlimits, nnp,
oomScoreAdj, signal state and inherited fds, seen from inside a container."""
import os

from conftest import needs_root

pytestmark = needs_root


def run_out(runtime, bundle, script, *extra):
    bundle.sh(script).write()
    p = runtime("run", *extra, "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    return p.stdout


def status_field(text, name):
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(name)


def test_user_groups_umask(runtime, bundle):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000, "umask": 0o077,
                                        "additionalGids": [5, 65534]}
    out = run_out(runtime, bundle, "id -u; id -g; id -G; umask; echo $HOME")
    uid, gid, groups, umask, home = out.split("\n")[:5]
    assert (uid, gid) == ("1000", "1000")
    assert set(groups.split()) == {"1000", "5", "65534"}
    assert umask == "0077"
    assert home == "/home/user"  # HOME from the container's /etc/passwd


def test_env_and_cwd(runtime, bundle):
    bundle.config["process"]["env"] = ["PATH=/bin", "FOO=bar baz", "HOME=/x"]
    bundle.config["process"]["cwd"] = "/work/dir"  # created inside the rootfs
    out = run_out(runtime, bundle, 'echo "$FOO|$HOME|$(pwd)"')
    assert out.strip() == "bar baz|/x|/work/dir"
    assert os.path.isdir(os.path.join(bundle.rootfs, "work", "dir"))


def test_capabilities(runtime, bundle):
    caps = ["CAP_CHOWN", "CAP_KILL"]
    bundle.config["process"]["capabilities"] = {
        "bounding": caps + ["CAP_NET_RAW"], "effective": caps, "permitted": caps,
        "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
    out = run_out(runtime, bundle, "cat /proc/self/status")
    # as seen by the shell after its own exec: ambient caps carry over
    assert int(status_field(out, "CapBnd"), 16) == (1 << 0) | (1 << 5) | (1 << 13)
    assert int(status_field(out, "CapAmb"), 16) == 1 << 5
    assert int(status_field(out, "CapInh"), 16) == 1 << 5
    assert int(status_field(out, "CapEff"), 16) == (1 << 0) | (1 << 5)


def test_non_root_user_keeps_only_ambient(runtime, bundle):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["capabilities"] = {
        "bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]}
    out = run_out(runtime, bundle, "cat /proc/self/status")
    assert int(status_field(out, "CapEff"), 16) == 1 << 10
    assert status_field(out, "Uid").split()[0] == "1000"


def test_rlimits_and_nnp(runtime, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                                           {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    bundle.config["process"]["noNewPrivileges"] = True
    out = run_out(runtime, bundle, "ulimit -n; ulimit -Hn; ulimit -c; grep NoNewPrivs /proc/self/status")
    n, hn, c, nnp = out.split("\n")[:4]
    assert (n, hn, c) == ("100", "200", "0")
    assert nnp.split()[1] == "1"
    bundle.config["process"]["noNewPrivileges"] = False
    out = run_out(runtime, bundle, "grep NoNewPrivs /proc/self/status")
    assert out.split()[1] == "0"


def test_oom_score_adj(runtime, bundle):
    bundle.config["process"]["oomScoreAdj"] = 500
    assert run_out(runtime, bundle, "cat /proc/self/oom_score_adj").strip() == "500"


def test_signals_default_and_unblocked(runtime, bundle):
    # Python ignores SIGPIPE/SIGXFSZ; that must not reach the container
    out = run_out(runtime, bundle, "grep -E 'Sig(Blk|Ign)' /proc/self/status")
    blk = int(status_field(out, "SigBlk"), 16)
    ign = int(status_field(out, "SigIgn"), 16)
    assert blk == 0
    assert not ign & (1 << (13 - 1)) and not ign & (1 << (25 - 1))


def test_no_runtime_fd_leaks(runtime, bundle):
    # the containerd shim leaves its socket as fd 3: it must not get in
    r, w = os.pipe()
    os.set_inheritable(w, True)
    try:
        bundle.sh("ls /proc/self/fd").write()
        p = runtime("run", "-b", bundle.path, runtime.new_id(), pass_fds=(w,))
    finally:
        os.close(r)
        os.close(w)
    assert p.returncode == 0, p.stderr
    assert sorted(int(x) for x in p.stdout.split()) == [0, 1, 2, 3]  # 3: ls's own dir fd


def test_preserve_fds(runtime, bundle, tmp_path):
    import subprocess
    f = tmp_path / "data"
    f.write_text("preserved\n")
    bundle.sh("cat <&3; ls /proc/self/fd/4 2>/dev/null || echo no4").write()
    cid = runtime.new_id()
    # fd 3 is passed on purpose; fd 4 is open in the caller but not passed
    p = subprocess.run(["/bin/sh", "-c", f'exec 3<{f} 4<{f}; exec "$@"', "sh",
                        runtime.bin, "--root", runtime.root, "run", "--preserve-fds", "1",
                        "-b", bundle.path, cid], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "preserved\nno4\n"


def test_container_stdio_is_callers(runtime, bundle):
    bundle.sh("read x; echo got:$x; echo err >&2").write()
    p = runtime("run", "-b", bundle.path, runtime.new_id(), input="hello\n")
    assert p.stdout == "got:hello\n" and p.stderr == "err\n"


def test_socket_activation_fds(runtime, bundle, tmp_path):
    import subprocess
    f = tmp_path / "data"
    f.write_text("listen\n")
    bundle.sh('echo "$LISTEN_FDS $LISTEN_PID"; cat <&3').write()
    cid = runtime.new_id()
    # as systemd would start us: fd 3 open, LISTEN_FDS=1, LISTEN_PID=our pid
    p = subprocess.run(["/bin/sh", "-c", f'exec 3<{f}; LISTEN_FDS=1 LISTEN_PID=$$ exec "$@"',
                        "sh", runtime.bin, "--root", runtime.root, "run", "-b", bundle.path, cid],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "1 1\nlisten\n"
