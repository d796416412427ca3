"""Command line: runc's commands, flags and exit codes.

A small parser instead of argparse (which costs several ms of imports):
urfave/cli conventions as runc uses them: global flags before the
command, `--flag value` or `--flag=value`, booleans without a value, and
flags of a command before its positional arguments (for `exec`, the
arguments after the id belong to the process).
"""
import posix
import sys

from . import errors

# -- the command table ------------------------------------------------------
# One table for the parser, the help pages (`--help`, `pyrunc help`), the
# man pages and the shell completion (pyrunc/clihelp.py): what is listed is
# what is parsed, so the documentation cannot drift from the flags.
# A flag: (names, key, kind, help); kind is False for a boolean, True for a
# flag with a value, "list" for a repeatable one. Help text is only read
# when help is asked for.

GLOBAL_FLAGS = (
    ("--debug", "debug", False, "log debug messages too"),
    ("--log", "log", True, "write the log to this file as well (default: stderr only)"),
    ("--log-format", "log_format", True, "'text' or 'json' (default: \"text\")"),
    ("--root", "root", True, "directory of the containers' state, best on a tmpfs "
                             "(default: \"/run/pyrunc\")"),
    ("--systemd-cgroup", "systemd_cgroup", False,
     "use the systemd cgroup driver: the container's cgroup is a transient "
     "systemd scope (cgroup v2 hosts; cgroupsPath \"slice:prefix:name\")"),
    ("--rootless", "rootless", True, "'false' or 'auto' (the default); 'true' is "
                                     "refused: pyrunc does not run rootless"),
    ("--help, -h", "help", False, "show this help"),
    ("--version, -v", "version", False, "print the version"),
)

_BUNDLE = ("--bundle, -b", "bundle", True, "the bundle directory (default: the current one)")
_CONSOLE = ("--console-socket", "console_socket", True,
            "an AF_UNIX socket to send the master end of the container's terminal to")
_PRESERVE = ("--preserve-fds", "preserve_fds", True,
             "pass N more file descriptors to the process (after stdio and "
             "$LISTEN_FDS) (default: 0)")
_CREATE_FLAGS = (
    _BUNDLE, _CONSOLE,
    ("--pid-file", "pid_file", True, "write the init's pid to this file"),
    ("--no-pivot", "no_pivot", False, "enter the rootfs without pivot_root(2) (for "
                                      "a rootfs on a ramdisk)"),
    ("--no-new-keyring", "no_new_keyring", False, "keep the caller's session keyring "
                                                  "instead of a new one"),
    _PRESERVE,
    ("--pidfd-socket", "pidfd_socket", True, "an AF_UNIX socket to send a pidfd of the "
                                             "container's process to"),
)
_ID = "<container-id>"

# command -> (summary, arguments, description, flags)
COMMAND_TABLE = {
    "create": ("create a container", _ID,
               "Sets up the container from the bundle's config.json and leaves its "
               "process waiting for `start`.", _CREATE_FLAGS),
    "delete": ("delete a container and everything it holds", _ID, "",
               (("--force, -f", "force", False, "kill a running container first "
                                                "(SIGKILL)"),)),
    "events": ("stream a container's statistics and OOM events", _ID,
               "Writes one JSON object per line: statistics every --interval, and an "
               "\"oom\" event when the kernel kills a process of the container.",
               (("--interval", "interval", True, "time between statistics (default: 5s)"),
                ("--stats", "stats", False, "print the statistics once and exit"))),
    "exec": ("run a new process in a container",
             "<container-id> <command> [args...]  |  -p process.json <container-id>",
             "The process joins the container's namespaces, cgroup and security "
             "settings; its exit status is pyrunc's (255 if it could not start).",
             (("--process, -p", "process", True, "a process.json instead of the "
                                                 "command line"),
              ("--tty, -t", "tty", False, "give the process a terminal"),
              _CONSOLE,
              ("--cwd", "cwd", True, "working directory in the container"),
              ("--env, -e", "env", "list", "set an environment variable (NAME=value)"),
              ("--user, -u", "user", True, "uid[:gid] to run as"),
              ("--additional-gids, -g", "additional_gids", "list", "one more group id"),
              ("--cap, -c", "cap", "list", "one more capability (CAP_...)"),
              ("--no-new-privs", "no_new_privs", False, "set no_new_privs"),
              ("--detach, -d", "detach", False, "do not wait for the process"),
              ("--pid-file", "pid_file", True, "write the process's pid to this file"),
              _PRESERVE,
              ("--ignore-paused", "ignore_paused", False, "exec even if the container "
                                                          "is paused"),
              ("--cgroup", "cgroup", "list", "a sub-cgroup to run in ([controller:]path)"),
              ("--pidfd-socket", "pidfd_socket", True, "an AF_UNIX socket to send a pidfd "
                                                       "of the process to"),
              ("--process-label", "process_label", True, "refused: no SELinux support"),
              ("--apparmor", "apparmor", True, "refused: no AppArmor support"))),
    "features": ("show what this build and host support (JSON)", "", "", ()),
    "kill": ("send a signal to a container's init (default: SIGTERM)",
             "<container-id> [signal]", "",
             (("--all, -a", "all", False, "signal every process of the container"),)),
    "list": ("list the containers under --root", "", "",
             (("--format, -f", "format", True, "'table' or 'json' (default: \"table\")"),
              ("--quiet, -q", "quiet", False, "only the ids"))),
    "mounts": ("add or remove mounts of a running container",
               "add <container-id> <file>  |  remove <container-id> <file>|<destination>...",
               "add: mounts the entries of <file>, a JSON list of OCI mounts (config.json's "
               "\"mounts\"; bind and tmpfs), into the container's mount namespace, each "
               "destination resolved inside its root. remove: unmounts what `mounts add` "
               "mounted, named by destination or by the same file. Both are recorded in "
               "the state (\"addedMounts\").", ()),
    "pause": ("freeze every process of a container", _ID, "", ()),
    "ps": ("show the processes of a container", "<container-id> [ps options]",
           "Runs ps(1) with the given options for the container's processes.",
           (("--format, -f", "format", True, "'table' or 'json' (default: \"table\")"),)),
    "resume": ("thaw a paused container", _ID, "", ()),
    "run": ("create, start and wait for a container, then delete it", _ID,
            "Without --detach, pyrunc relays signals (and the terminal) to the "
            "container and exits with its status.",
            _CREATE_FLAGS + (
                ("--detach, -d", "detach", False, "return once the container started"),
                ("--keep", "keep", False, "do not delete the container when it exits"))),
    "spec": ("write a default config.json", "",
             "Writes a config.json for a busybox-like rootfs, to edit.",
             (_BUNDLE, ("--rootless", "rootless", False, "for a user namespace, without "
                                                          "root"))),
    "start": ("start the process of a created container", _ID, "", ()),
    "state": ("print a container's state (JSON)", _ID, "", ()),
    "update": ("change a running container's resource limits", _ID,
               "With --resources, a linux.resources object (JSON); else the flags. "
               "Only what is given changes.",
               (("--resources, -r", "resources", True, "a linux.resources JSON file, "
                                                       "or - for stdin"),) + tuple(
                   # runc spells it --cpu-share; Docker's docs --cpu-shares
                   ("--" + n + (", --cpu-shares" if n == "cpu-share" else ""),
                    n.replace("-", "_"), True, h) for n, h in (
                       ("blkio-weight", "block IO weight (10 to 1000)"),
                       ("cpu-period", "CPU CFS period (microseconds)"),
                       ("cpu-quota", "CPU CFS quota (microseconds)"),
                       ("cpu-burst", "CPU CFS burst (microseconds)"),
                       ("cpu-rt-period", "realtime period (microseconds)"),
                       ("cpu-rt-runtime", "realtime runtime (microseconds)"),
                       ("cpu-share", "CPU shares (relative weight)"),
                       ("cpu-idle", "1: SCHED_IDLE for the cgroup"),
                       ("cpuset-cpus", "CPUs to run on (0-3, 0,1)"),
                       ("cpuset-mems", "memory nodes (0-3, 0,1)"),
                       ("memory", "memory limit (bytes; k, m, g suffixes)"),
                       ("memory-reservation", "memory soft limit"),
                       ("memory-swap", "memory plus swap limit"),
                       ("kernel-memory", "ignored with a warning, as runc"),
                       ("kernel-memory-tcp", "ignored with a warning, as runc"),
                       ("pids-limit", "maximum number of processes"),
                       ("l3-cache-schema", "refused: no Intel RDT support"),
                       ("mem-bw-schema", "refused: no Intel RDT support")))),
    "help": ("show the commands, or one command's help", "[command]", "", ()),
}
ALIASES = {"h": "help"}

# not implemented, refused by name (never parsed and ignored)
REFUSED_COMMANDS = {"checkpoint": "checkpoint is not supported by pyrunc (no CRIU)",
                    "restore": "restore is not supported by pyrunc (no CRIU)"}
REFUSED_FLAGS = {
    "--criu": "--criu: checkpoint/restore (CRIU) is not supported by pyrunc",
    "--no-subreaper": "--no-subreaper: not supported: pyrunc run waits for the "
                      "container's init as its subreaper",
}


def _parser_table(flags):
    """{"--name": (key, kind)} for every spelling of every flag."""
    out = {}
    for names, key, kind, _ in flags:
        for n in names.split(", "):
            out[n] = (key, kind)
    return out


GLOBAL = _parser_table(GLOBAL_FLAGS)


def flags_of(cmd):
    """The parser's table of one command: built for the command that runs
    only (all of them cost ~0.1M instructions of every start)."""
    row = COMMAND_TABLE.get(cmd)
    return _parser_table(row[3]) if row else {}


def __getattr__(name):
    # cli.Usage, as before: now errors.Usage, made on first use like the
    # other error classes; cli.F, built on demand
    if name == "Usage":
        return errors.Usage
    if name == "F":  # every command's parser table (clihelp's tests)
        return {cmd: flags_of(cmd) for cmd in COMMAND_TABLE}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_global(argv):
    g = {"root": "/run/pyrunc", "log": "", "log_format": "text", "debug": False,
         "systemd_cgroup": False, "rootless": "auto"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            break
        name, eq, val = a.partition("=")
        if name in REFUSED_FLAGS:
            raise errors.Usage(REFUSED_FLAGS[name])
        if name not in GLOBAL:
            raise errors.Usage(f"flag provided but not defined: {name}")
        key, takes = GLOBAL[name]
        if not takes:
            g[key] = eq == "" or val.lower() in ("1", "true")
            i += 1
            continue
        if not eq:
            i += 1
            if i >= len(argv):
                raise errors.Usage(f"flag needs an argument: {name}")
            val = argv[i]
        g[key] = val
        g.setdefault("set", set()).add(key)  # (runc's IsSet: `list` needs it)
        i += 1
    if g["rootless"] not in ("auto", "false"):
        raise errors.Usage(f"--rootless {g['rootless']}: pyrunc does not run rootless "
                           "containers (only 'false' or 'auto')")
    return g, argv[i:]


def parse_cmd(cmd, argv):
    spec = flags_of(cmd)
    opts, pos = {}, []
    i = 0
    flags_done = False
    while i < len(argv):
        a = argv[i]
        if flags_done or not a.startswith("-") or a == "-":
            pos.append(a)
            i += 1
            if cmd in ("exec", "ps", "kill"):  # after the id: ps(1)'s, the process's own
                flags_done = True
            continue
        if a == "--":
            flags_done = True
            i += 1
            continue
        name, eq, val = a.partition("=")
        f = spec.get(name)
        if f is None:
            if name in REFUSED_FLAGS:
                raise errors.Usage(REFUSED_FLAGS[name])
            if name in ("-h", "--help"):
                opts["help"] = True
                i += 1
                continue
            raise errors.Usage(f"flag provided but not defined: -{name.lstrip('-')}")
        key, takes = f
        if takes:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise errors.Usage(f"flag needs an argument: {name}")
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
        raise errors.Usage(f'"{cmd}" requires a minimum of {n} argument{"s" if n > 1 else ""}')
    return pos[0]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        g, rest = parse_global(argv)
    except errors.Usage as e:
        sys.stderr.write(f"{e}\n")
        return 1
    if (g["log"] or g["debug"] or g["log_format"] == "json" or b"PYRUNC_TRACE" in posix.environ
            or "pyrunc.log" in sys.modules):  # (main() called again in one process)
        # (else log.py's defaults are these settings: a command that logs
        # nothing never imports it; whoever does later gets the defaults)
        from . import log
        log.configure(g["log"], g["log_format"], g["debug"])
        log.trace("cli start")
    if g.get("version"):
        from . import clihelp
        sys.stdout.write(clihelp.version())
        return 0
    if not rest or g.get("help"):
        from . import clihelp
        sys.stdout.write(clihelp.page(None))
        return 0
    cmd, args = ALIASES.get(rest[0], rest[0]), rest[1:]
    handler = COMMANDS.get(cmd)
    if handler is None:
        _error(REFUSED_COMMANDS.get(cmd) or f"No help topic for '{cmd}'", {"class": "usage"})
        return 1
    from . import state
    try:
        g["root"] = state.check_root(g["root"])  # (never "/": runc HEAD's check)
    except errors.PyruncError as e:
        _error(str(e), e.fields())
        return e.exit_code
    if g["log_format"] not in ("text", "json", ""):  # (runc's configLogrus)
        _error(f"invalid log-format: {g['log_format']}", {"class": "usage"})
        return 1
    try:
        opts, pos = parse_cmd(cmd, args)
        if opts.get("help"):
            from . import clihelp
            sys.stdout.write(clihelp.page(cmd))
            return 0
        return handler(g, opts, pos) or 0
    except errors.PyruncError as e:
        prefix = f"pyrunc {cmd} failed: " if cmd in ("create", "run") else ""
        _error(prefix + str(e), e.fields())
        return e.exit_code
    except OSError as e:  # nothing more specific caught it: still one line, classed
        from . import log
        from .errors import oserror_fields
        if log.is_debug():
            import traceback
            traceback.print_exc()
        log.error(f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}",
                  oserror_fields(e))
        return 1
    except KeyboardInterrupt:
        return 130


def _error(msg, fields):
    from . import log
    log.error(msg, fields)


# -- commands -------------------------------------------------------------
def _create_opts(g, opts):
    from .container import Options
    pf = opts.get("preserve_fds")
    try:
        pf = int(pf) if pf is not None else 0
    except ValueError:
        raise errors.Usage(f"invalid value {pf!r} for flag --preserve-fds") from None
    return Options(root=g["root"], bundle=opts.get("bundle") or ".",
                   pid_file=opts.get("pid_file"), console_socket=opts.get("console_socket"),
                   no_pivot=opts.get("no_pivot"), no_new_keyring=opts.get("no_new_keyring"),
                   preserve_fds=pf, systemd_cgroup=g["systemd_cgroup"],
                   detach=opts.get("detach"), listen_fds=_listen_fds())


def _listen_fds():
    """Socket activation as runc passes it on: the fds systemd gave us
    (LISTEN_FDS, meant for this pid) go to the container first, before
    --preserve-fds, and its env says so (LISTEN_PID=1)."""
    n = posix.environ.get(b"LISTEN_FDS")
    if not n or posix.environ.get(b"LISTEN_PID") != b"%d" % posix.getpid():
        return 0
    try:
        return max(0, int(n))
    except ValueError:
        return 0


def _create(cid, o, opts):
    """container.create, with --pidfd-socket: connected before anything is
    made (an unreachable socket fails first), the pidfd sent after."""
    from . import container
    sock = _pidfd_connect(opts)
    try:
        st = container.create(cid, o)
    except BaseException:
        if sock is not None:
            posix.close(sock)
        raise
    if sock is not None:
        _pidfd_send(st, sock)
    return st


def cmd_create(g, opts, pos):
    cid = need_id("create", pos)
    o = _create_opts(g, opts)
    _create(cid, o, opts)


def _pidfd_connect(opts):
    """--pidfd-socket: connected before anything is made, as runc does."""
    if not opts.get("pidfd_socket"):
        return None
    from . import pidfdsock
    return pidfdsock.connect(opts["pidfd_socket"])


def _pidfd_send(st, sock):
    """The init's pidfd to the --pidfd-socket; the container is removed
    when it cannot be sent, as a failed create is."""
    from . import pidfdsock
    try:
        pidfdsock.send(sock, st.pid, pidfdsock.STANDARD, st.init_alive)
    except BaseException:
        _force_delete(st)
        raise


def cmd_start(g, opts, pos):
    from . import lifecycle, state  # (not container.py: create's)
    cid = need_id("start", pos)
    st, lock = state.load_locked(g["root"], cid)
    try:
        lifecycle.start(st)
    finally:
        lock.release()


def cmd_run(g, opts, pos):
    from . import container, log, state
    from . import syscalls as sc
    cid = need_id("run", pos)
    o = _create_opts(g, opts)
    if not o.detach:
        # Always, even with --no-subreaper: with a pid namespace the init is
        # our grandchild and only a subreaper can wait for its exit status.
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    # a terminal (if the config asks for one) relayed by us, as runc does
    o.relay = not o.detach and not o.console_socket
    st = _create(cid, o, opts)  # (on failure the process exits: console_ours goes)
    master = None
    try:
        if o.console_ours is not None:
            from . import console
            try:
                master = console.recv_master(o.console_ours)
            finally:
                posix.close(o.console_ours)
        container.start(st)
    except BaseException:
        if master is not None:
            posix.close(master)
        _force_delete(st)
        raise
    if o.detach:
        return 0
    from . import launch
    wstatus = launch.wait_forwarding(st.pid, master, raw=True)
    log.trace("run: init exited")
    if wstatus is None:
        status = 255
    else:
        status = 128 + posix.WTERMSIG(wstatus) if posix.WIFSIGNALED(wstatus) else \
            posix.WEXITSTATUS(wstatus)
    if opts.get("keep"):
        if wstatus is not None:  # we reaped it: `state` can say how it ended
            from . import exitinfo
            try:
                exitinfo.record_waited(g["root"], cid, wstatus)
            except errors.PyruncError as e:  # (deleted meanwhile): the status is still ours
                log.debug(f"run: exit status not recorded: {e}")
    else:
        try:
            container.destroy(state.load(g["root"], cid))
        except errors.PyruncError as e:  # (a poststop hook) runc's run warns: its status stands
            log.warn(str(e))
    log.trace("run: destroyed")
    return status


def _force_delete(st):
    from . import lifecycle, log
    try:
        lifecycle.delete(st, force=True)
    except errors.PyruncError as e:  # (a poststop hook's failure: a warning, as runc's run)
        log.warn(str(e))


def cmd_state(g, opts, pos):
    from . import jsonlite, state
    cid = need_id("state", pos)
    st = state.load(g["root"], cid)
    out = st.oci()
    if out["status"] == "stopped":  # how it ended, as far as can be known
        from . import exitinfo
        exitinfo.observe(st)
        out.update(exitinfo.fields(st))
    if st.d.get("added_mounts") and out["status"] != "stopped":
        from . import livemounts
        out["addedMounts"] = livemounts.shown(st)
    sys.stdout.write(jsonlite.dumps(out, "  ") + "\n")


def cmd_mounts(g, opts, pos):
    """crun's shape: `mounts add ID FILE`, `mounts remove ID FILE|DEST...`."""
    from . import livemounts
    if not pos or pos[0] not in ("add", "remove"):
        raise errors.Usage('"mounts" requires "add" or "remove"')
    if len(pos) < 3 or (pos[0] == "add" and len(pos) > 3):
        raise errors.Usage(f'"mounts {pos[0]}" requires ' + (
            "exactly 2 arguments" if pos[0] == "add" else "a minimum of 2 arguments"))
    if pos[0] == "add":
        livemounts.add(g["root"], pos[1], pos[2])
    else:
        livemounts.remove(g["root"], pos[1], pos[2:])


def cmd_pause(g, opts, pos):
    _locked_op(g, "pause", pos)


def cmd_resume(g, opts, pos):
    _locked_op(g, "resume", pos)


def _locked_op(g, name, pos):
    from . import control, state
    st, lock = state.load_locked(g["root"], need_id(name, pos))
    try:
        getattr(control, name)(st)
    finally:
        lock.release()


def cmd_events(g, opts, pos):
    """`events --stats`: one stats object. Otherwise a stream while the
    container lives: stats every --interval (5s), and an {"type":"oom"}
    event as soon as the kernel OOM-kills in the container."""
    import gc
    gc.enable()  # (off for the short commands: bin/pyrunc) a stream may run for days
    import time
    from . import cgroups, jsonlite, state
    from .cgroups import stats
    cid = need_id("events", pos)
    st = state.load(g["root"], cid)
    if st.status() in ("stopped", "creating"):
        raise errors.WrongState("container not running")
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
        raise errors.Usage(f"invalid value {text!r} for flag {flag}")
    return v


def cmd_update(g, opts, pos):
    """`update`: linux.resources from --resources (a file, or - for stdin)
    or from runc's flags, applied to the running container's cgroups.
    Only what is named changes (device rules stay as created)."""
    from . import cgroups, jsonlite, state
    from .errors import ConfigError
    cid = need_id("update", pos)
    if len(pos) > 1:
        raise errors.Usage('"update" requires exactly 1 argument(s)')
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
            raise errors.WrongState("container not running")
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
            raise errors.Usage(f"invalid value for {flag}: {val!r}") from None
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
    from . import control, state
    cid = need_id("kill", pos)
    if len(pos) > 2:
        raise errors.Usage('"kill" requires a maximum of 2 argument(s)')
    sig = control.parse_signal(pos[1]) if len(pos) > 1 else 15
    st, lock = state.load_locked(g["root"], cid)
    try:
        control.kill(st, sig, bool(opts.get("all")))
    finally:
        lock.release()


def cmd_delete(g, opts, pos):
    from . import lifecycle, state  # (not container.py: create's)
    cid = need_id("delete", pos)
    force = bool(opts.get("force"))
    try:
        st, lock = state.load_locked(g["root"], cid)
    except errors.PyruncError:  # (not there, or not loadable)
        if not force:
            raise
        # what a create or delete killed half-way left, if anything
        from . import log
        for what in state.remove_partial(g["root"], cid):
            log.debug("delete: removed %s", what)
        return 0
    try:
        lifecycle.delete(st, force)
    finally:
        lock.release()


def cmd_list(g, opts, pos):
    """runc 1.2+: a --root given that does not exist is an error; the
    default one not made yet lists nothing. -q wins over --format."""
    from . import state
    if pos:
        raise errors.Usage('"list" requires exactly 0 argument(s)')
    fmt = opts.get("format", "table")
    if fmt not in ("table", "json") and not opts.get("quiet"):
        raise errors.InvalidArgument("invalid format option")
    if "root" in g.get("set", ()) and not _is_dir(g["root"]):
        try:
            posix.listdir(g["root"])
        except OSError as e:
            raise errors.ContainerError(f"open {g['root']}: {(e.strerror or str(e)).lower()}") \
                from None
    states = state.list_listed(g["root"], lambda line: sys.stderr.write(line + "\n"))
    if opts.get("quiet"):
        sys.stdout.write("".join(st.id + "\n" for st in states))
        return 0
    items = list(_with_owners(states))
    if fmt == "json":
        from . import jsonlite
        sys.stdout.write(jsonlite.dumps(items) + "\n")
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for i in items:
        rows.append((i["id"], str(i["pid"]), i["status"], i["bundle"], i["created"], i["owner"]))
    # runc's tabwriter (minwidth 12, padding 3): every column but the last
    # padded to the larger of its widest + 3 and 12. One format string and
    # one write: ~5% of a `list` of 1,000 otherwise.
    line = "".join(f"{{:<{max(max(map(len, col)) + 3, 12)}}}"
                   for col in list(zip(*rows))[:-1]) + "{}"
    sys.stdout.write("".join(line.format(*r) + "\n" for r in rows))


def _with_owners(states):
    """The OCI state of each entry, with runc's "owner": the user owning
    its directory (lstat), by name, else "#uid". An entry gone meanwhile
    is left out, as runc does."""
    import pwd
    names = {}
    for st in states:
        try:
            uid = posix.lstat(st.dir).st_uid
        except OSError:
            continue
        if uid not in names:
            try:
                names[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                names[uid] = f"#{uid}"
        item = st.oci()
        item["owner"] = names[uid]
        yield item


def _is_dir(path):
    try:
        return posix.stat(path).st_mode & 0o170000 == 0o040000  # (S_ISDIR)
    except (OSError, ValueError):
        return False


def cmd_spec(g, opts, pos):
    from . import specgen
    if pos:
        raise errors.Usage('"spec" requires exactly 0 argument(s)')
    specgen.write(opts.get("bundle") or ".", bool(opts.get("rootless")))


def cmd_features(g, opts, pos):
    from . import features, jsonlite
    if pos:
        raise errors.Usage('"features" requires exactly 0 argument(s)')
    sys.stdout.write(jsonlite.dumps(features.get(), "    ") + "\n")


def cmd_ps(g, opts, pos):
    """runc's ps: ps(1) over every process of the host (its options, or
    -ef), the header and the lines whose PID is in the container's cgroup.
    A stopped container has none: the header alone, exit 0."""
    from . import jsonlite, state
    from .cgroups import live  # (no manager: see live.py)
    cid = need_id("ps", pos)
    st = state.load(g["root"], cid)
    pids = live.pids(st.d.get("cgroups", {}).get("dirs", {}))
    fmt = opts.get("format", "table")
    if fmt == "json":  # (none: null, as runc's Go encoder writes an empty list)
        sys.stdout.write(jsonlite.dumps(pids or None) + "\n")
        return 0
    if fmt != "table":
        raise errors.InvalidArgument("invalid format option")
    import subprocess
    p = subprocess.run(["ps"] + (pos[1:] or ["-ef"]), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        why = f"signal: {-p.returncode}" if p.returncode < 0 else f"exit status {p.returncode}"
        raise errors.ContainerError(f"{why}: {out}")
    lines = out.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise errors.ContainerError("couldn't find PID field in ps output")
    col = titles.index("PID")
    keep = set(pids)
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            pid = int(fields[col])
        except (ValueError, IndexError):
            bad = fields[col] if col < len(fields) else ""
            raise errors.ContainerError(f'unable to parse pid: strconv.Atoi: parsing "{bad}": '
                                        "invalid syntax") from None
        if pid in keep:
            sys.stdout.write(line + "\n")
    return 0


def cmd_exec(g, opts, pos):
    """Exit status: the process's (128+signal if killed) without --detach;
    255 when it could not be started, as runc."""
    from . import execute, log
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
        raise errors.Usage(f"invalid value {pf!r} for flag --preserve-fds") from None
    o = execute.ExecOptions(
        process_file=opts.get("process"), args=pos[1:], tty=opts.get("tty"),
        console_socket=opts.get("console_socket"), cwd=opts.get("cwd"), env=opts.get("env"),
        user=opts.get("user"), additional_gids=opts.get("additional_gids"), caps=opts.get("cap"),
        no_new_privs=opts.get("no_new_privs"), detach=opts.get("detach"),
        pid_file=opts.get("pid_file"), preserve_fds=pf, ignore_paused=opts.get("ignore_paused"),
        cgroup=opts.get("cgroup"), pidfd_socket=opts.get("pidfd_socket"))
    try:
        return execute.run(g["root"], cid, o)
    except errors.PyruncError as e:
        if isinstance(e, errors.Usage):
            raise
        log.error(f"exec failed: {e}", e.fields())
        return 255
    except OSError as e:
        from .errors import oserror_fields
        log.error(f"exec failed: {e.strerror}{': ' + str(e.filename) if e.filename else ''}",
                  oserror_fields(e))
        return 255


def cmd_help(g, opts, pos):
    """`pyrunc help [COMMAND]`: the same pages as --help."""
    from . import clihelp
    cmd = ALIASES.get(pos[0], pos[0]) if pos else None
    if cmd is not None and cmd not in COMMAND_TABLE:
        raise errors.Usage(REFUSED_COMMANDS.get(cmd) or f"No help topic for '{cmd}'")
    sys.stdout.write(clihelp.page(cmd))


COMMANDS = {
    "help": cmd_help,
    "create": cmd_create, "start": cmd_start, "run": cmd_run, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec,
    "features": cmd_features, "ps": cmd_ps, "exec": cmd_exec,
    "pause": cmd_pause, "resume": cmd_resume, "update": cmd_update, "events": cmd_events,
    "mounts": cmd_mounts,
}
