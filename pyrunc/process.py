"""The container process's own attributes, applied last in the init:
rlimits, user and groups, capabilities, no_new_privs, umask, cwd, and the
lookup of the program to run."""
import os

from . import capabilities
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
    """process.env with HOME added from /etc/passwd when missing (as runc)."""
    env = list(proc.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append("HOME=" + home_of(proc.user.uid))
    return env


def home_of(uid):
    try:
        with open("/etc/passwd", "rb") as f:
            for line in f:
                parts = line.decode(errors="replace").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
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
            raise InitError(f'exec: "{args0}": stat {args0}: {e.strerror.lower()}') from None
        if not _executable(st):
            raise InitError(f'exec: "{args0}": permission denied')
        return args0
    path = ""
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    for d in path.split(":"):
        cand = os.path.join(d or ".", args0)
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if _executable(st):
            return cand
    raise InitError(f'exec: "{args0}": executable file not found in $PATH')


def _executable(st):
    import stat
    return stat.S_ISREG(st.st_mode) and st.st_mode & 0o111


def chdir(cwd):
    try:
        os.chdir(cwd)
    except OSError as e:
        raise InitError(f"chdir to cwd ({cwd!r}) set in config.json failed: "
                        f"{(e.strerror or str(e)).lower()} (process.cwd)") from None
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
    return parse_list(text, where)


def parse_list(text, where):
    out = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = part.split("-", 1)
                lo, hi = int(lo), int(hi)
                if lo > hi:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise ConfigError(where, f"expected a list like '0-3,7', got {text!r}") from None
    return out


def parse_personality(d, where):
    if not d:
        return None
    dom = _lookup(PERSONALITY_DOMAINS, d.get("domain"), f"{where}.domain")
    if d.get("flags"):
        raise NotSupported(f"{where}.flags", "personality flags are not supported")
    return dom


def parse_memory_policy(d, where):
    if not d:
        return None
    mode = _lookup(MPOL_MODES, d.get("mode"), f"{where}.mode")
    for i, f in enumerate(d.get("flags") or ()):
        mode |= _lookup(MPOL_FLAGS, f, f"{where}.flags[{i}]")
    nodes = parse_list(d["nodes"], f"{where}.nodes") if d.get("nodes") else set()
    return mode, nodes


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


def set_affinity(cpus, where):
    if cpus is not None:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError as e:
            raise InitError(f"sched_setaffinity: {e.strerror.lower()} ({where})") from None
