"""Capability names and the five sets of process.capabilities."""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import syscalls as sc
from .errors import ConfigError

NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
BY_NAME = {n: i for i, n in enumerate(NAMES)}


_last_cap = None


def last_cap():
    """The kernel's highest capability number, found once in the runtime
    and kept: the init and exec children are forks, and init.preload()
    calls this in the parent, so a child never asks the container's /proc
    (a file mounted on its /proc/sys/kernel/cap_last_cap saying 31 would
    leave caps 32.. in the bounding set)."""
    global _last_cap
    if _last_cap is None:
        try:
            found = probe_last_cap()
        except OSError:  # prctl refused (a seccomp profile around us)
            found = None
        # A filter around us may answer EINVAL below the kernel's bound
        # too: caps above what we found would then stay in every bounding
        # set. None of our own capabilities can lie above the real bound,
        # so one above `found` proves it wrong: ask the host's procfs.
        if found is None or _highest_held() > found:
            found = _read_last_cap()
        _last_cap = found
    return _last_cap


def _highest_held():
    """The highest capability in any of our own sets (-1: none)."""
    eff, perm, inh = sc.capget()
    return (eff | perm | inh).bit_length() - 1


def _read_last_cap():
    from . import procfs
    with procfs.host() as p:
        return int(p.read("sys/kernel/cap_last_cap"))


def probe_last_cap():
    """PR_CAPBSET_READ says EINVAL exactly past the kernel's last
    capability (cap_valid(): the value of cap_last_cap): a binary search
    of 6 prctl calls, no procfs (its verified read imports procfs.py,
    ~0.9M instructions of an exec)."""
    lo, hi = 0, 64  # CAP_CHOWN (0) always exists; 64 never does
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            sc.prctl(sc.PR_CAPBSET_READ, mid)
        except OSError as e:
            if e.errno != 22:
                raise
            hi = mid
        else:
            lo = mid
    return lo


def mask(names, last, unknown):
    """Bit mask of a list of names. A name unknown to pyrunc or to this
    kernel is left out and added to `unknown` (runtime-spec 1.0.2: such a
    name MUST be logged as a warning and SHOULD NOT fail; runc)."""
    m = 0
    for n in names:
        bit = BY_NAME.get(n)
        if bit is None or bit > last:
            unknown.add(n)
            continue
        m |= 1 << bit
    return m


class Sets:
    __slots__ = ("bounding", "effective", "inheritable", "permitted", "ambient", "unknown",
                 "ambient_order")

    def __init__(self, caps, where="process.capabilities"):
        last = last_cap()
        unknown = set()
        for k in ("bounding", "effective", "inheritable", "permitted", "ambient"):
            setattr(self, k, mask(getattr(caps, k), last, unknown))
        self.unknown = sorted(unknown)
        # for the warnings, in the config's order (runc's)
        self.ambient_order = [BY_NAME[n] for n in caps.ambient
                              if n in BY_NAME and self.ambient & (1 << BY_NAME[n])]


def check_grantable(sets, where="process.capabilities"):
    """In the runtime, before the fork: warn as runc does of what will be
    left out, and refuse what cannot be granted at all.

    A capability the runtime itself lacks cannot be granted: say which, and
    in which set, instead of a bare EPERM from capset later. A cap in
    permitted/effective but not in bounding is no error: the exec of the
    program drops it (runc)."""
    from . import log
    if sets.unknown:
        log.warn(f"ignoring unknown or unavailable capabilities: [{' '.join(sets.unknown)}]")
    have = sc.capget()[1]  # our permitted set
    for k in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        missing = getattr(sets, k) & ~have
        if missing and k != "bounding":
            names = [NAMES[b] for b in range(len(NAMES)) if missing & (1 << b)]
            raise ConfigError(f"{where}.{k}", f"{', '.join(names)} not held by the runtime "
                              "(not in its bounding set), so not grantable",
                              "permission", 1)  # (the runtime lacks them: EPERM)
    # PR_CAP_AMBIENT_RAISE needs the cap in both permitted and inheritable:
    # runc warns of each one it cannot raise, and goes on
    for b in sets.ambient_order:
        if not sets.permitted & sets.inheritable & (1 << b):
            log.warn(f"can't raise ambient capability {NAMES[b]}: operation not permitted")


def drop_bounding(keep):
    last = last_cap()
    for cap in range(last + 1):
        if not keep & (1 << cap):
            try:
                sc.prctl(sc.PR_CAPBSET_DROP, cap)
            except OSError as e:
                if e.errno != 22:  # EINVAL: not in this kernel
                    raise


def apply(sets):
    """After the uid change (done with keepcaps): the final sets."""
    sc.capset(sets.effective, sets.permitted, sets.inheritable)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(last_cap() + 1):
        if sets.ambient & (1 << cap):
            try:
                sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
            except OSError as e:
                # runc: an ambient cap outside permitted/inheritable is
                # skipped (the runtime warned: check_grantable)
                if e.errno != 1:
                    raise
