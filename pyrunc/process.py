"""The container process's own attributes, applied last in the init:
rlimits, user and groups, capabilities, no_new_privs, umask, cwd, and the
lookup of the program to run."""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import capabilities, fspath
from . import syscalls as sc
from .config import MAX_ID, valid_id
from .errors import ConfigError, InitError, NotSupported

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
INFINITY = (1 << 64) - 1


def check_rlimits(proc, where="process"):
    seen = set()
    for i, r in enumerate(proc.rlimits):
        if r.type not in RLIMITS:
            raise ConfigError(f"{where}.rlimits[{i}].type", f"unknown rlimit {r.type!r}")
        if r.type in seen:
            raise ConfigError(f"{where}.rlimits[{i}].type", f"duplicate rlimit {r.type}")
        seen.add(r.type)
        if r.soft > r.hard:
            raise ConfigError(f"{where}.rlimits[{i}]", "soft limit is above the hard limit")


def set_rlimits(proc, where="process"):
    if not proc.rlimits:
        return
    import resource
    for i, r in enumerate(proc.rlimits):
        soft = resource.RLIM_INFINITY if r.soft >= INFINITY else r.soft
        hard = resource.RLIM_INFINITY if r.hard >= INFINITY else r.hard
        try:
            resource.setrlimit(RLIMITS[r.type], (soft, hard))
        except (OSError, ValueError) as e:
            # Python words EPERM as a ValueError; clients match runc's words
            msg = e.strerror if isinstance(e, OSError) else "operation not permitted"
            raise InitError(f"error setting rlimit type {RLIMITS[r.type]}: {msg.lower()} "
                            f"({where}.rlimits[{i}] {r.type})") from None


def set_user(proc, caps, where="process"):
    """Groups, gid, uid; capabilities kept across the uid change."""
    u = proc.user
    # The last line (config.py and the schema refuse these first): -1, that
    # is 4294967295, tells setresuid/setresgid "leave it unchanged", and the
    # process would keep the init's uid/gid 0 (CVE-2024-40635 class).
    for field, v in ((f"{where}.user.uid", u.uid), (f"{where}.user.gid", u.gid),
                     *((f"{where}.user.additionalGids[{i}]", g)
                       for i, g in enumerate(u.additional_gids))):
        if not valid_id(v):
            raise InitError(f"refusing to set id {v!r}: not a valid uid/gid "
                            f"(0..{MAX_ID}) ({field})")
    if caps is not None:
        capabilities.drop_bounding(caps.bounding)
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    try:
        os.setgroups(u.additional_gids)
    except OSError as e:
        # EPERM in a user namespace with setgroups denied: only fail if asked
        if u.additional_gids or e.errno != 1:
            raise InitError(f"setgroups {u.additional_gids}: {e.strerror} "
                            f"({where}.user.additionalGids)") from None
    try:
        os.setresgid(u.gid, u.gid, u.gid)
    except OSError as e:
        raise InitError(f"setgid {u.gid}: {e.strerror} ({where}.user.gid)") from None
    try:
        os.setresuid(u.uid, u.uid, u.uid)
    except OSError as e:
        raise InitError(f"setuid {u.uid}: {e.strerror} ({where}.user.uid)") from None
    if caps is not None:
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
        capabilities.apply(caps)
    if u.umask is not None:
        os.umask(u.umask)
    else:
        os.umask(0o022)


def env_list(proc):
    """process.env as the program gets it, by runc's rules: for a key given
    more than once the last value wins (kept where that last one stands);
    HOME comes from the container's /etc/passwd when missing or empty."""
    seen = set()
    out = []
    home = False
    for e in reversed(proc.env):
        key, _, val = e.partition("=")
        if key in seen:
            continue
        seen.add(key)
        if key == "HOME":
            if not val:
                continue  # replaced below, as if missing
            home = True
        out.append(e)
    out.reverse()
    if not home:
        out.append("HOME=" + home_of(proc.user.uid))
    return out


def home_of(uid):
    """The uid's home in the container's /etc/passwd (even an empty one,
    as runc); "/" without an entry."""
    try:
        with open("/etc/passwd", "rb") as f:
            for line in f:
                parts = line.decode(errors="replace").rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5]
    except OSError:
        pass
    return "/"


def lookup(args0, env):
    """Resolve the program like Go's exec.LookPath in runc, with its wording
    (podman's 126/127 classification and containerd match these phrases)."""
    if "/" in args0:
        try:
            st = os.stat(args0)
        except OSError as e:
            raise InitError(f'exec: "{args0}": stat {args0}: {e.strerror.lower()}',
                            "process.exec-failed", e.errno) from None
        if not _executable(st):
            raise InitError(f'exec: "{args0}": permission denied', "process.exec-failed", 13)
        return args0
    path = ""
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    # no PATH, or an empty one: nothing is searched (Go's LookPath in runc),
    # not even the cwd
    for d in path.split(":") if path else ():
        cand = fspath.join(d or ".", args0)
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if _executable(st):
            return cand
    raise InitError(f'exec: "{args0}": executable file not found in $PATH',
                    "process.exec-failed", 2)


def _executable(st):
    # S_ISREG by its mask (the `stat` module is 0.6M instructions to import,
    # and the exec child may import nothing once in the container)
    return st.st_mode & 0o170000 == 0o100000 and st.st_mode & 0o111


def chdir_early(cwd):
    """The first try at process.cwd, still as root (as runc): a directory
    root can enter but the container's user cannot works. True when done;
    False when only the user may enter it (EACCES/EPERM: chdir() again after
    set_user, for a volume chowned to the user that root-squashing denies)."""
    try:
        os.chdir(cwd)
    except PermissionError:
        return False
    except OSError as e:
        _chdir_failed(cwd, e)
    return True


def chdir(cwd, done=False):
    if not done:
        try:
            os.chdir(cwd)
        except OSError as e:
            _chdir_failed(cwd, e)
    # A cwd reached through an fd of the host (CVE-2024-21626) lies outside
    # the root: getcwd then fails with ENOENT or says "(unreachable)". (The
    # init has closed every inherited fd already; this is the second line.)
    try:
        where = os.getcwd()
    except OSError as e:
        if e.errno != 2:  # a seccomp profile may refuse getcwd itself
            return
        where = ""
    if not where.startswith("/"):
        raise InitError(f"cwd {cwd!r} is outside the container's root (process.cwd)")


def _chdir_failed(cwd, e):
    raise InitError(f"chdir to cwd ({_q(cwd)}) set in config.json failed: "
                    f"{(e.strerror or str(e)).lower()} (process.cwd)") from None


# -- scheduling, I/O priority, CPU affinity, personality, NUMA policy -------
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 1, "SCHED_FLAG_RECLAIM": 2,
               "SCHED_FLAG_DL_OVERRUN": 4, "SCHED_FLAG_KEEP_POLICY": 8,
               "SCHED_FLAG_KEEP_PARAMS": 16, "SCHED_FLAG_UTIL_CLAMP_MIN": 32,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 64}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
              "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_STATIC_NODES": 1 << 15, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_NUMA_BALANCING": 1 << 13}


def _lookup(table, value, where):
    v = table.get(value)
    if v is None:
        raise ConfigError(where, f"expected one of {', '.join(table)}, got {value!r}")
    return v


def parse_scheduler(d, where):
    """(policy, flags, nice, priority, runtime, deadline, period) or None."""
    if not d:
        return None
    policy = _lookup(SCHED_POLICIES, d.get("policy"), f"{where}.policy")
    flags = 0
    for i, f in enumerate(d.get("flags") or ()):
        flags |= _lookup(SCHED_FLAGS, f, f"{where}.flags[{i}]")
    nice = d.get("nice", 0)
    if not -20 <= nice <= 19:
        raise ConfigError(f"{where}.nice", f"expected -20..19, got {nice}")
    return (policy, flags, nice, d.get("priority", 0), d.get("runtime", 0),
            d.get("deadline", 0), d.get("period", 0))


def parse_io_priority(d, where):
    if not d:
        return None
    cls = _lookup(IOPRIO_CLASSES, d.get("class"), f"{where}.class")
    prio = d.get("priority", 0)
    if not 0 <= prio <= 7:
        raise ConfigError(f"{where}.priority", f"expected 0..7, got {prio}")
    return (cls << 13) | prio


def parse_cpus(text, where):
    """'0-3,7' -> {0, 1, 2, 3, 7}; None when not set."""
    if not text:
        return None
    try:
        return parse_list(text)
    except ValueError as e:
        raise ConfigError(where, f"expected a list like '0-3,7', got {text!r}: {e}") from None


# the highest CPU or NUMA node number a list may name (runc's sanity limit)
MAX_CPU = 64 * 1024


def parse_list(text):
    """A kernel list ('0-3,7'), read as runc reads it: spaces around and
    empty elements allowed, at least one member. ValueError says why not."""
    out = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        lo = _list_int(lo)
        hi = _list_int(hi) if dash else lo
        if lo > hi:
            raise ValueError(f"invalid range: {part}")
        out.update(range(lo, hi + 1))
    if not out:
        raise ValueError(f"no members found in set {text!r}")
    return out


def _list_int(text):
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"strconv.ParseUint: parsing {_q(text)}: invalid syntax")
    v = int(text)
    if v > MAX_CPU:
        raise ValueError(f"values larger than {MAX_CPU} are not supported")
    return v


def parse_personality(d, where):
    if not d:
        return None
    dom = _lookup(PERSONALITY_DOMAINS, d.get("domain"), f"{where}.domain")
    if d.get("flags"):
        # runc, too, ignores them with a warning
        from . import log
        log.warn(f"ignoring unsupported personality flags: {d['flags']} ({where}.flags)")
    return dom


# modes by how many nodes they take (runc's checks, in its words)
MPOL_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
MPOL_SOME_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY",
                   "MPOL_WEIGHTED_INTERLEAVE")


def parse_memory_policy(d, where):
    """(mode|flags, nodes) or None. The errors are runc's words (engines and
    scripts match "invalid memory policy"), with the field named."""
    if d is None:
        return None
    name = d.get("mode")
    mode = MPOL_MODES.get(name) if isinstance(name, str) else None
    if mode is None:
        raise ConfigError(f"{where}.mode", f'invalid memory policy mode {_q(name)}')
    text = d.get("nodes") or ""
    nodes = set()
    if text:
        try:
            nodes = parse_list(text)
        except ValueError as e:
            raise ConfigError(f"{where}.nodes",
                              f"invalid memory policy nodes {_q(text)}: {e}") from None
    for i, f in enumerate(d.get("flags") or ()):
        flag = MPOL_FLAGS.get(f) if isinstance(f, str) else None
        if flag is None:
            raise ConfigError(f"{where}.flags[{i}]", f"invalid memory policy flag {_q(f)}")
        mode |= flag
    if name in MPOL_NO_NODES and nodes:
        raise ConfigError(f"{where}.nodes",
                          f"memory policy mode requires 0 nodes but got {len(nodes)}")
    if name in MPOL_SOME_NODES and not nodes:
        raise ConfigError(f"{where}.nodes",
                          "memory policy mode requires at least one node but got 0")
    return mode, nodes


def _q(v):
    """Go's %q of a string (what runc's messages quote)."""
    if not isinstance(v, str):
        v = "" if v is None else str(v)
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_sched_io_affinity(proc, where="process"):
    """Before the uid change: real-time policies need CAP_SYS_NICE."""
    if proc.scheduler is not None:
        try:
            sc.sched_setattr(*proc.scheduler)
        except OSError as e:
            raise InitError(f"sched_setattr: {e.strerror.lower()} ({where}.scheduler)") from None
    if proc.io_priority is not None:
        try:
            sc.ioprio_set(proc.io_priority)
        except OSError as e:
            raise InitError(f"ioprio_set: {e.strerror.lower()} ({where}.ioPriority)") from None
    if proc.personality is not None:
        try:
            sc.personality(proc.personality)
        except OSError as e:
            raise InitError(f"personality: {e.strerror.lower()} (linux.personality)") from None
    if proc.memory_policy is not None:
        try:
            sc.set_mempolicy(*proc.memory_policy)
        except OSError as e:
            raise InitError(f"set_mempolicy: {e.strerror.lower()} (linux.memoryPolicy)") from None


def reset_affinity():
    """Every CPU the kernel may ever have (the cgroup's cpuset masks it), so
    a process never inherits the affinity of whoever called the runtime (a
    pinned shell, a pinned engine): runc does this once the process is in
    its cgroups."""
    n = os.cpu_count() or 1
    try:  # (posix.read, not a file object: fewer pages touched in a forked child)
        fd = os.open("/sys/devices/system/cpu/possible", os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
        n = max(n, int(data.strip().rpartition(b"-")[2] or 0) + 1)
    except (OSError, ValueError):
        n = max(n, 1024)
    try:
        os.sched_setaffinity(0, range(n))
    except OSError:
        pass  # runc, too, only warns: the process keeps what it has


def final_affinity(cpu_affinity):
    """execCPUAffinity after the process joined its cgroups: `final` if set;
    nothing set at all: reset (as for the init); only `initial`: left as the
    kernel made it on joining the cgroup (runc)."""
    initial, final = cpu_affinity
    if final is not None:
        set_affinity(final, "process.execCPUAffinity.final")
    elif initial is None:
        reset_affinity()


def set_affinity(cpus, where):
    if cpus is not None:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError as e:
            kind = where.rpartition(".")[2]  # initial, final: runc's words
            raise InitError(f"error setting {kind} CPU affinity: {e.strerror.lower()} "
                            f"({where})") from None
