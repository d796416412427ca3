"""What the short commands do to an existing container: kill, pause,
resume (and the signal names). Apart from container.py so that they never
import its create machinery (~1M instructions of every `kill`, `pause`,
`resume`: the module's code and classes)."""
import posix

from . import errors

SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}


def parse_signal(s):
    if s.isdigit():
        n = int(s)
        if 0 < n <= 64:
            return n
        raise errors.InvalidArgument(f"invalid signal: {s}")
    name = s.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name.startswith("RTMIN") or name.startswith("RTMAX"):
        base, off = (34, 1) if name.startswith("RTMIN") else (64, -1)
        rest = name[5:]
        try:
            n = base + (int(rest) if rest else 0)
        except ValueError:
            raise errors.InvalidArgument(f"unknown signal {s!r}") from None
        if 34 <= n <= 64:
            return n
    if name in SIGNALS:
        return SIGNALS[name]
    raise errors.InvalidArgument(f"unknown signal {s!r}")


def kill(st, sig, all_procs=False):
    """runc's rules (1.2+): SIGKILL of a container whose init shares a pid
    namespace kills every process of its cgroup (the kernel takes them
    with the init only when it is pid 1 of its own namespace), even once
    the init is gone; any other signal goes to the init alone, and a
    stopped container is "container not running" -- except with --all,
    which runc keeps only to make that no error. (--all still signals the
    whole cgroup here, as runc before 1.2 did: clients rely on it.)"""
    status = st.status()
    if status == "creating":
        raise errors.WrongState("container not running")
    cg_wide = sig == 9 and not _pidns_private(st)
    if status == "stopped" and not (cg_wide and _cgroup_exists(_cgroup(st))):
        if all_procs:
            return
        raise errors.WrongState(("unable to kill all processes: " if cg_wide else "")
                                + "container not running")
    if all_procs or cg_wide:
        try:
            _cgroup(st).kill_all(sig)  # frozen while signalled: no fork escapes
        except OSError as e:
            raise errors.ContainerError(f"unable to kill all processes: {e.strerror or e}",
                                        error_class="resource.cgroup", errno=e.errno) from None
        return
    if not signal_init(st, sig):
        if all_procs:
            return
        raise errors.WrongState("container not running")
    if sig == 9 and status == "paused":
        # a frozen init dies only once thawed (runc thaws for SIGKILL only)
        try:
            _cgroup(st).freeze(False)
        except (OSError, errors.PyruncError) as e:
            from . import log
            log.warn(f"thawing the killed container: {getattr(e, 'strerror', None) or e}")


def _pidns_private(st):
    """Whether the init is pid 1 of a pid namespace of its own. Once it is
    gone, what config.json asked for decides (a new pid namespace: yes)."""
    if st.pid > 0 and st.init_alive():
        from .state import read_file
        try:
            status = read_file(f"/proc/{st.pid}/status")
        except OSError:
            status = b""
        for line in status.split(b"\n"):
            if line.startswith(b"NSpid:"):
                ids = line.split()[1:]
                return len(ids) > 1 and ids[-1] == b"1"
    return "pid" in st.d.get("namespaces", ())


def _cgroup(st):
    from . import cgroups
    return cgroups.from_state(st.d.get("cgroups", {}))


def _dirs(st):
    """state.json's cgroup directories: hierarchy name -> host dir."""
    return st.d.get("cgroups", {}).get("dirs", {})


def _cgroup_exists(cg):
    from . import fspath
    return any(fspath.isdir(d) for d, _ in cg.dirs.values())


def signal_init(st, sig):
    """Signal the container's init through a pidfd opened while its pid
    still names the init (start time as recorded): a pid reused by another
    process since is never hit. False when the init is gone."""
    import _signal
    try:
        fd = posix.pidfd_open(st.pid)
    except OSError:
        return False
    try:
        if not st.init_alive():  # the pid is someone else's now
            return False
        try:
            _signal.pidfd_send_signal(fd, sig)
        except ProcessLookupError:
            return False
        return True
    finally:
        posix.close(fd)


def pause(st):
    status = st.status()
    if status != "running":
        raise errors.WrongState("container not running" if status in ("stopped", "created")
                                else f"cannot pause a {status} container")
    from .cgroups import live  # (no manager: see live.py)
    try:
        live.freeze(_dirs(st), True)
    except OSError as e:
        raise errors.ContainerError(f"pause: {e.strerror}", error_class="resource.cgroup",
                                    errno=e.errno) from None


def resume(st):
    if st.status() != "paused":
        raise errors.WrongState("container not paused")
    from .cgroups import live
    try:
        live.freeze(_dirs(st), False)
    except OSError as e:
        raise errors.ContainerError(f"resume: {e.strerror}", error_class="resource.cgroup",
                                    errno=e.errno) from None
