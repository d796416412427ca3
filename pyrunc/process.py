"""The container process's own attributes, applied last in the init:
rlimits, user and groups, capabilities, no_new_privs, umask, cwd, and the
lookup of the program to run."""
import os

from . import capabilities
from . import syscalls as sc
from .errors import ConfigError, InitError

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
