"""Command line: runc's commands, flags and exit codes.

A small parser instead of argparse (which costs several ms of imports):
urfave/cli conventions as runc uses them: global flags before the
command, `--flag value` or `--flag=value`, booleans without a value, and
flags of a command before its positional arguments (for `exec`, the
arguments after the id belong to the process).
"""
import os
import sys

from . import __version__, OCI_VERSION, log
from .errors import ContainerError, PyruncError

GLOBAL = {
    "--root": "root", "--log": "log", "--log-format": "log_format", "--debug": None,
    "--systemd-cgroup": None, "--rootless": "rootless", "--criu": "criu",
    "-v": None, "--version": None, "-h": None, "--help": None,
}
GLOBAL_BOOL = {"--debug", "--systemd-cgroup", "-v", "--version", "-h", "--help"}

# command -> {flag: (name, takes_value)}
F = {
    "create": {"--bundle": ("bundle", True), "-b": ("bundle", True),
               "--pid-file": ("pid_file", True), "--console-socket": ("console_socket", True),
               "--no-pivot": ("no_pivot", False), "--no-new-keyring": ("no_new_keyring", False),
               "--preserve-fds": ("preserve_fds", True), "--pidfd-socket": ("pidfd_socket", True)},
    "start": {},
    "state": {}, "pause": {}, "resume": {},
    "kill": {"--all": ("all", False), "-a": ("all", False)},
    "delete": {"--force": ("force", False), "-f": ("force", False)},
    "list": {"--format": ("format", True), "-f": ("format", True),
             "--quiet": ("quiet", False), "-q": ("quiet", False)},
    "spec": {"--bundle": ("bundle", True), "-b": ("bundle", True),
             "--rootless": ("rootless", False)},
    "features": {},
    "ps": {"--format": ("format", True), "-f": ("format", True)},
    "events": {"--stats": ("stats", False), "--interval": ("interval", True)},
    "update": {"--resources": ("resources", True), "-r": ("resources", True),
               **{"--" + n: (n.replace("-", "_"), True) for n in (
                   "memory", "memory-swap", "memory-reservation", "kernel-memory",
                   "kernel-memory-tcp", "cpu-share", "cpu-quota", "cpu-period", "cpu-burst",
                   "cpu-rt-period", "cpu-rt-runtime", "cpu-idle", "cpuset-cpus", "cpuset-mems",
                   "pids-limit", "blkio-weight", "l3-cache-schema", "mem-bw-schema")},
               "--cpu-shares": ("cpu_share", True)},
    "exec": {"--process": ("process", True), "-p": ("process", True),
             "--tty": ("tty", False), "-t": ("tty", False),
             "--console-socket": ("console_socket", True), "--cwd": ("cwd", True),
             "--env": ("env", "list"), "-e": ("env", "list"),
             "--user": ("user", True), "-u": ("user", True),
             "--additional-gids": ("additional_gids", "list"), "-g": ("additional_gids", "list"),
             "--cap": ("cap", "list"), "-c": ("cap", "list"),
             "--no-new-privs": ("no_new_privs", False), "--detach": ("detach", False),
             "-d": ("detach", False), "--pid-file": ("pid_file", True),
             "--preserve-fds": ("preserve_fds", True), "--ignore-paused": ("ignore_paused", False),
             "--process-label": ("process_label", True), "--apparmor": ("apparmor", True),
             "--cgroup": ("cgroup", "list")},
}
F["run"] = dict(F["create"], **{"--detach": ("detach", False), "-d": ("detach", False),
                                "--keep": ("keep", False), "--no-subreaper": ("no_subreaper", False)})

USAGE = """usage: pyrunc [global options] command [command options] [arguments...]

pyrunc is an OCI container runtime (runc-compatible command line).

commands:
  create    create a container          start     start a created container
  run       create and run a container  state     output the state of a container
  kill      send a signal to a container's init
  delete    delete a container           list      list containers
  spec      write a new config.json      features  show the enabled features
  ps        processes of a container

global options:
  --root value        root directory for container state (default: "/run/pyrunc")
  --log value         log file for errors (default: stderr only)
  --log-format value  text or json (default: "text")
  --debug             debug output
  --systemd-cgroup    use the systemd cgroup driver
  --version, -v       print the version
"""


class Usage(PyruncError):
    pass


def parse_global(argv):
    g = {"root": "/run/pyrunc", "log": "", "log_format": "text", "debug": False,
         "systemd_cgroup": False, "rootless": "auto"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            break
        name, eq, val = a.partition("=")
        if name not in GLOBAL:
            raise Usage(f"flag provided but not defined: {name}")
        if name in GLOBAL_BOOL:
            if name in ("-v", "--version"):
                g["version"] = True
            elif name in ("-h", "--help"):
                g["help"] = True
            else:
                g[name[2:].replace("-", "_")] = eq == "" or val.lower() in ("1", "true")
            i += 1
            continue
        if not eq:
            i += 1
            if i >= len(argv):
                raise Usage(f"flag needs an argument: {name}")
            val = argv[i]
        g[GLOBAL[name]] = val
        i += 1
    return g, argv[i:]


def parse_cmd(cmd, argv):
    spec = F.get(cmd, {})
    opts, pos = {}, []
    i = 0
    flags_done = False
    while i < len(argv):
        a = argv[i]
        if flags_done or not a.startswith("-") or a == "-":
            pos.append(a)
            i += 1
            if cmd == "exec":  # after the id: the process's own arguments
                flags_done = True
            continue
        if a == "--":
            flags_done = True
            i += 1
            continue
        name, eq, val = a.partition("=")
        f = spec.get(name)
        if f is None:
            if name in ("-h", "--help"):
                opts["help"] = True
                i += 1
                continue
            raise Usage(f"flag provided but not defined: -{name.lstrip('-')}")
        key, takes = f
        if takes:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise Usage(f"flag needs an argument: {name}")
                val = argv[i]
            if takes == "list":
                opts.setdefault(key, []).append(val)
            else:
                opts[key] = val
        else:
            opts[key] = eq == "" or val.lower() in ("1", "true")
        i += 1
    return opts, pos


def need_id(cmd, pos, n=1):
    if len(pos) < n:
        raise Usage(f'"{cmd}" requires a minimum of {n} argument{"s" if n > 1 else ""}')
    return pos[0]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        g, rest = parse_global(argv)
    except Usage as e:
        sys.stderr.write(f"{e}\n")
        return 1
    log.configure(g["log"], g["log_format"], g["debug"])
    log.trace("cli start")
    if g.get("version"):
        sys.stdout.write(f"pyrunc version {__version__}\nspec: {OCI_VERSION}\n")
        return 0
    if not rest or g.get("help"):
        sys.stdout.write(USAGE)
        return 0
    cmd, args = rest[0], rest[1:]
    handler = COMMANDS.get(cmd)
    if handler is None:
        log.error(f"No help topic for '{cmd}'")
        return 1
    try:
        opts, pos = parse_cmd(cmd, args)
        if opts.get("help"):
            sys.stdout.write(USAGE)
            return 0
        return handler(g, opts, pos) or 0
    except PyruncError as e:
        prefix = f"pyrunc {cmd} failed: " if cmd in ("create", "run") else ""
        log.error(prefix + str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return 130


# -- commands -------------------------------------------------------------
def _create_opts(g, opts):
    from .container import Options
    pf = opts.get("preserve_fds")
    try:
        pf = int(pf) if pf is not None else 0
    except ValueError:
        raise Usage(f"invalid value {pf!r} for flag --preserve-fds") from None
    return Options(root=g["root"], bundle=opts.get("bundle") or ".",
                   pid_file=opts.get("pid_file"), console_socket=opts.get("console_socket"),
                   no_pivot=opts.get("no_pivot"), no_new_keyring=opts.get("no_new_keyring"),
                   preserve_fds=pf, systemd_cgroup=g["systemd_cgroup"],
                   detach=opts.get("detach"), listen_fds=_listen_fds())


def _listen_fds():
    """Socket activation as runc passes it on: the fds systemd gave us
    (LISTEN_FDS, meant for this pid) go to the container first, before
    --preserve-fds, and its env says so (LISTEN_PID=1)."""
    n = os.environ.get("LISTEN_FDS")
    if not n or os.environ.get("LISTEN_PID") != str(os.getpid()):
        return 0
    try:
        return max(0, int(n))
    except ValueError:
        return 0


def cmd_create(g, opts, pos):
    from . import container
    cid = need_id("create", pos)
    o = _create_opts(g, opts)
    container.create(cid, o)


def cmd_start(g, opts, pos):
    from . import container, state
    cid = need_id("start", pos)
    st, lock = state.load_locked(g["root"], cid)
    try:
        container.start(st)
    finally:
        lock.release()


def cmd_run(g, opts, pos):
    from . import container, state
    from . import syscalls as sc
    cid = need_id("run", pos)
    o = _create_opts(g, opts)
    if not o.detach:
        # Always, even with --no-subreaper: with a pid namespace the init is
        # our grandchild and only a subreaper can wait for its exit status.
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    # a terminal (if the config asks for one) relayed by us, as runc does
    o.relay = not o.detach and not o.console_socket
    st = container.create(cid, o)
    master = None
    try:
        if o.console_ours is not None:
            from . import console
            try:
                master = console.recv_master(o.console_ours)
            finally:
                os.close(o.console_ours)
        container.start(st)
    except BaseException:
        if master is not None:
            os.close(master)
        _force_delete(st)
        raise
    if o.detach:
        return 0
    status = _wait_forwarding(st.pid, master)
    log.trace("run: init exited")
    if not opts.get("keep"):
        container.destroy(state.load(g["root"], cid))
    log.trace("run: destroyed")
    return status


def _force_delete(st):
    from . import container
    try:
        container.delete(st, force=True)
    except PyruncError:
        pass


def _wait_forwarding(pid, master=None):
    """Wait for the container's init, forwarding the signals we get (and
    relaying its terminal when we hold the master)."""
    import _signal

    def forward(sig, frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    for s in (1, 2, 3, 10, 12, 15):
        _signal.signal(s, forward)
    reaped = []
    if master is not None:
        from . import console

        def exited():
            try:
                wpid, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not reparented to us yet
                return False
            if wpid == pid:
                reaped.append(status)
                return True
            return False
        try:
            console.relay(master, exited)
        finally:
            os.close(master)
    while not reaped:
        try:
            wpid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
        if wpid == pid:
            reaped.append(status)
    status = reaped[0]
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def cmd_state(g, opts, pos):
    from . import jsonlite, state
    cid = need_id("state", pos)
    st = state.load(g["root"], cid)
    sys.stdout.write(jsonlite.dumps(st.oci(), "  ") + "\n")


def cmd_pause(g, opts, pos):
    _locked_op(g, "pause", pos)


def cmd_resume(g, opts, pos):
    _locked_op(g, "resume", pos)


def _locked_op(g, name, pos):
    from . import container, state
    st, lock = state.load_locked(g["root"], need_id(name, pos))
    try:
        getattr(container, name)(st)
    finally:
        lock.release()


def cmd_events(g, opts, pos):
    """`events --stats`: one stats object. Otherwise a stream while the
    container lives: stats every --interval (5s), and an {"type":"oom"}
    event as soon as the kernel OOM-kills in the container."""
    import time
    from . import cgroups, jsonlite, state
    from .cgroups import stats
    cid = need_id("events", pos)
    st = state.load(g["root"], cid)
    if st.status() in ("stopped", "creating"):
        raise ContainerError("container not running")
    mgr = cgroups.from_state(st.d.get("cgroups", {}))
    secs = _duration(opts.get("interval", "5s"), "--interval")

    def emit(ev):
        sys.stdout.write(jsonlite.dumps(ev) + "\n")
        sys.stdout.flush()
    if opts.get("stats"):
        emit({"type": "stats", "id": cid, "data": stats.collect(mgr)})
        return 0
    from .cgroups import oom
    watcher = oom.Watcher(mgr)
    try:
        while True:
            emit({"type": "stats", "id": cid, "data": stats.collect(mgr)})
            deadline = time.monotonic() + secs
            while (left := deadline - time.monotonic()) > 0:
                for _ in range(watcher.wait(min(left, 0.5))):
                    emit({"type": "oom", "id": cid})
                if st.status() == "stopped":
                    # an OOM kill of the init stops the container: report
                    # the kill that may have come just before
                    for _ in range(watcher.wait(0.05)):
                        emit({"type": "oom", "id": cid})
                    return 0
    finally:
        watcher.close()


def _duration(text, flag):
    """Go-style durations as runc takes them: 500ms, 5s, 1m."""
    for suffix, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            text, scale = text[:-len(suffix)], mult
            break
    else:
        scale = 1.0
    try:
        v = float(text) * scale
    except ValueError:
        v = -1
    if v <= 0:
        raise Usage(f"invalid value {text!r} for flag {flag}")
    return v


def cmd_update(g, opts, pos):
    """`update`: linux.resources from --resources (a file, or - for stdin)
    or from runc's flags, applied to the running container's cgroups.
    Only what is named changes (device rules stay as created)."""
    from . import cgroups, jsonlite, state
    from .errors import ConfigError
    cid = need_id("update", pos)
    if opts.get("resources"):
        src = opts["resources"]
        data = sys.stdin.buffer.read() if src == "-" else open(src, "rb").read()
        res = jsonlite.loads(data, "resources")
        if not isinstance(res, dict):
            raise ConfigError("", "resources: expected a JSON object")
        # the config schema's own checks, errors named as in config.json
        from . import config
        config.validate({"ociVersion": "1.0.0", "linux": {"resources": res}})
    else:
        res = _update_flags(opts)
    st, lock = state.load_locked(g["root"], cid)
    try:
        if st.status() in ("stopped", "creating"):
            raise ContainerError("container not running")
        cgroups.from_state(st.d.get("cgroups", {})).apply(res, update=True)
    finally:
        lock.release()


# update flag -> (section, field, parser)
_UPDATE_FLAGS = (
    ("memory", "memory", "limit", "bytes"), ("memory-swap", "memory", "swap", "bytes"),
    ("memory-reservation", "memory", "reservation", "bytes"),
    ("kernel-memory", "memory", "kernel", "bytes"),
    ("kernel-memory-tcp", "memory", "kernelTCP", "bytes"),
    ("cpu-share", "cpu", "shares", "uint"), ("cpu-quota", "cpu", "quota", "int"),
    ("cpu-period", "cpu", "period", "uint"), ("cpu-burst", "cpu", "burst", "uint"),
    ("cpu-rt-period", "cpu", "realtimePeriod", "uint"),
    ("cpu-rt-runtime", "cpu", "realtimeRuntime", "int"), ("cpu-idle", "cpu", "idle", "int"),
    ("cpuset-cpus", "cpu", "cpus", "str"), ("cpuset-mems", "cpu", "mems", "str"),
    ("pids-limit", "pids", "limit", "int"), ("blkio-weight", "blockIO", "weight", "uint"),
)


def _update_flags(opts):
    res = {}
    for flag, section, field, kind in _UPDATE_FLAGS:
        val = opts.get(flag.replace("-", "_"))
        if val is None or (val == "" and kind != "int"):
            continue
        try:
            v = _bytes(val) if kind == "bytes" else val if kind == "str" else int(val, 10)
            if kind == "uint" and v < 0:
                raise ValueError
        except ValueError:
            raise Usage(f"invalid value for {flag}: {val!r}") from None
        if flag == "blkio-weight" and v == 0:
            continue  # runc: 0 means "not given"
        res.setdefault(section, {})[field] = v
    mem = res.get("memory", {})
    if "kernel" in mem or "kernelTCP" in mem:
        from . import log
        log.warn("Kernel memory settings are ignored and will be removed")
        mem.pop("kernel", None)
        mem.pop("kernelTCP", None)
    if mem.get("limit") == -1 and "swap" not in mem:
        mem["swap"] = 0  # (runc: unlimited memory alone means unlimited swap too)
    for flag in ("l3-cache-schema", "mem-bw-schema"):
        if opts.get(flag.replace("-", "_")):
            from .errors import NotSupported
            raise NotSupported("linux.intelRdt", f"--{flag}: Intel RDT is not supported "
                                                 "by pyrunc")
    return res


def _bytes(text):
    """Sizes as runc's flags take them: -1, or a number with an optional
    binary unit (k, m, g, t, p; "kb", "KiB" and " m" too)."""
    if text == "-1":
        return -1
    t = text.strip().lower()
    for suffix in ("ib", "b"):
        if t.endswith(suffix) and len(t) > len(suffix):
            t = t[:-len(suffix)]
            break
    mult = 1
    if t and t[-1] in "kmgtp":
        mult = 1024 ** ("kmgtp".index(t[-1]) + 1)
        t = t[:-1].rstrip()
    v = float(t)
    if v < 0:
        raise ValueError(text)
    return int(v * mult)


def cmd_kill(g, opts, pos):
    from . import container, state
    cid = need_id("kill", pos)
    sig = container.parse_signal(pos[1]) if len(pos) > 1 else 15
    st, lock = state.load_locked(g["root"], cid)
    try:
        container.kill(st, sig, bool(opts.get("all")))
    finally:
        lock.release()


def cmd_delete(g, opts, pos):
    from . import container, state
    from .errors import NotExist
    cid = need_id("delete", pos)
    force = bool(opts.get("force"))
    try:
        st, lock = state.load_locked(g["root"], cid)
    except NotExist:
        if force:  # what a create or delete killed half-way left, if anything
            for what in state.remove_partial(g["root"], cid):
                log.debug(f"delete: removed {what}")
            return 0
        raise
    except PyruncError:
        if not force:
            raise
        for what in state.remove_partial(g["root"], cid):
            log.debug(f"delete: removed {what}")
        return 0
    try:
        container.delete(st, force)
    finally:
        lock.release()


def cmd_list(g, opts, pos):
    from . import state
    fmt = opts.get("format", "table")
    if fmt not in ("table", "json"):
        raise ContainerError(f"invalid format option: {fmt}")
    items = []
    for cid in state.list_ids(g["root"]):
        try:
            items.append(state.load(g["root"], cid).oci())
        except PyruncError:
            continue
    if opts.get("quiet"):
        sys.stdout.write("".join(i["id"] + "\n" for i in items))
        return 0
    if fmt == "json":
        from . import jsonlite
        for i in items:
            i.pop("annotations", None)
        sys.stdout.write(jsonlite.dumps(items) + "\n")
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for i in items:
        rows.append((i["id"], str(i["pid"]), i["status"], i["bundle"], i["created"], i["owner"]))
    widths = [max(len(r[c]) for r in rows) for c in range(6)]
    for r in rows:
        sys.stdout.write("   ".join(v.ljust(widths[c]) for c, v in enumerate(r)).rstrip() + "\n")


def cmd_spec(g, opts, pos):
    from . import specgen
    specgen.write(opts.get("bundle") or ".", bool(opts.get("rootless")))


def cmd_features(g, opts, pos):
    from . import features, jsonlite
    sys.stdout.write(jsonlite.dumps(features.get(), "    ") + "\n")


def cmd_ps(g, opts, pos):
    from . import cgroups, jsonlite, state
    cid = need_id("ps", pos)
    st = state.load(g["root"], cid)
    pids = cgroups.from_state(st.d.get("cgroups", {})).pids()
    fmt = opts.get("format", "table")
    if fmt == "json":
        sys.stdout.write(jsonlite.dumps(pids) + "\n")
        return 0
    os.execvp("ps", ["ps", "-f", "-p", ",".join(map(str, pids)) or "0"] + pos[1:])


def cmd_exec(g, opts, pos):
    """Exit status: the process's (128+signal if killed) without --detach;
    255 when it could not be started, as runc."""
    from . import execute
    from .errors import NotSupported
    cid = need_id("exec", pos)
    for flag in ("process_label", "apparmor"):
        if opts.get(flag):
            raise NotSupported(f"--{flag.replace('_', '-')}", "no LSM is supported by this "
                               "version of pyrunc")
    pf = opts.get("preserve_fds")
    try:
        pf = int(pf) if pf is not None else 0
    except ValueError:
        raise Usage(f"invalid value {pf!r} for flag --preserve-fds") from None
    o = execute.ExecOptions(
        process_file=opts.get("process"), args=pos[1:], tty=opts.get("tty"),
        console_socket=opts.get("console_socket"), cwd=opts.get("cwd"), env=opts.get("env"),
        user=opts.get("user"), additional_gids=opts.get("additional_gids"), caps=opts.get("cap"),
        no_new_privs=opts.get("no_new_privs"), detach=opts.get("detach"),
        pid_file=opts.get("pid_file"), preserve_fds=pf, ignore_paused=opts.get("ignore_paused"),
        cgroup=opts.get("cgroup"))
    try:
        return execute.run(g["root"], cid, o)
    except PyruncError as e:
        if isinstance(e, Usage):
            raise
        log.error(f"exec failed: {e}")
        return 255
    except OSError as e:
        log.error(f"exec failed: {e.strerror}{': ' + str(e.filename) if e.filename else ''}")
        return 255


COMMANDS = {
    "create": cmd_create, "start": cmd_start, "run": cmd_run, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec,
    "features": cmd_features, "ps": cmd_ps, "exec": cmd_exec,
    "pause": cmd_pause, "resume": cmd_resume, "update": cmd_update, "events": cmd_events,
}
