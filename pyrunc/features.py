"""`pyrunc features`: what this build and this host support (the shape of
runtime-spec's features.md, as runc prints it)."""
import os

from . import OCI_VERSION, __version__, capabilities, mountopts
from .config import HOOK_KINDS, NAMESPACE_TYPES


def get():
    from . import cgroups
    v1, v2 = cgroups.probe()
    last = capabilities.last_cap()
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": _mount_options(),
        "linux": {
            "namespaces": [t for t in NAMESPACE_TYPES
                           if os.path.exists(f"/proc/self/ns/{_procname(t)}")],
            "capabilities": list(capabilities.NAMES[:last + 1]),
            "cgroup": {"v1": bool(v1), "v2": v2 is not None, "systemd": False,
                       "systemdUser": False, "rdma": _rdma(v1, v2)},
            "seccomp": _seccomp(),
            "apparmor": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": _idmap()}},
            "intelRdt": {"enabled": False},
            "selinux": {"enabled": False},
            "memoryPolicy": _memory_policy(),
            "netDevices": {"enabled": _net_devices()},
        },
        "annotations": _annotations(),
    }


def _mount_options():
    """The recursive r* options and idmapped mounts need mount_setattr(2):
    without it (before Linux 5.12) they are not listed."""
    if _idmap():
        return mountopts.ALL
    needs = set(mountopts.RECURSIVE) | {"idmap", "ridmap"}
    return [o for o in mountopts.ALL if o not in needs]


def _annotations():
    from . import clihelp
    a = {"org.opencontainers.runc.version": __version__,
         "org.opencontainers.runc.commit": clihelp._commit(),
         "org.opencontainers.runc.checkpoint.enabled": "false"}
    seccomp = clihelp._libseccomp()
    if seccomp != "none":
        a["io.github.seccomp.libseccomp.version"] = seccomp
    return a


def _memory_policy():
    """linux.memoryPolicy: the modes and flags pyrunc passes to
    set_mempolicy(2)."""
    from .process import MPOL_FLAGS, MPOL_MODES
    return {"modes": sorted(MPOL_MODES), "flags": sorted(MPOL_FLAGS)}


def _net_devices():
    """linux.netDevices needs pyroute2 (the `netdevices` extra)."""
    from importlib.util import find_spec
    return find_spec("pyroute2") is not None


# syscall numbers (the generic table's on the newer architectures)
_NR = {"x86_64": {"seccomp": 317}, "aarch64": {"seccomp": 277}, "riscv64": {"seccomp": 277},
       "i686": {"seccomp": 354}, "armv7l": {"seccomp": 383}, "ppc64le": {"seccomp": 358},
       "s390x": {"seccomp": 348}}
_MOUNT_SETATTR = 442  # the same on every architecture


def _syscall_errno(nr, *args):
    """The errno of syscall(nr, *args), 0 if it succeeded."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(ctypes.c_long(nr), *args) == -1:
        return ctypes.get_errno()
    return 0


def _idmap():
    """Idmapped mounts: mount_setattr(2) (Linux 5.12); an invalid call
    tells whether the kernel has it (ENOSYS) or not."""
    import ctypes
    import errno
    return _syscall_errno(_MOUNT_SETATTR, ctypes.c_int(-1), ctypes.c_char_p(b""),
                          ctypes.c_uint(0), ctypes.c_void_p(0), ctypes.c_size_t(0)) \
        != errno.ENOSYS


def _seccomp_flags(flags):
    """The filter flags this kernel accepts: seccomp(SECCOMP_SET_MODE_FILTER,
    flag, NULL) fails with EFAULT (at the missing program) for a flag it
    knows and EINVAL for one it does not; nothing is ever installed."""
    import ctypes
    import errno
    nr = _NR.get(os.uname().machine, {}).get("seccomp")
    if nr is None:
        return sorted(flags)
    # (WAIT_KILLABLE_RECV is only valid with NEW_LISTENER, a NOTIFY filter)
    need = {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 8}
    return sorted(name for name, bit in flags.items()
                  if _syscall_errno(nr, ctypes.c_uint(1), ctypes.c_uint(bit | need.get(name, 0)),
                                    ctypes.c_void_p(0)) == errno.EFAULT)


def _procname(t):
    from .namespaces import PROC_NAMES
    return PROC_NAMES[t]


def _seccomp():
    from . import seccomp
    try:
        from ._seccomp import lib
    except ImportError:
        return {"enabled": False}
    archs = sorted(a for a in _ARCHS if lib.seccomp_arch_resolve_name(
        seccomp._arch_name(a).encode()) != 0)
    return {
        "enabled": True,
        "actions": sorted(seccomp.ACTIONS),
        "operators": sorted(seccomp.OPS),
        "archs": archs,
        "knownFlags": sorted(seccomp.FLAGS),
        "supportedFlags": _seccomp_flags(seccomp.FLAGS),
    }


_ARCHS = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
          "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
          "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
          "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
          "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64")


def _rdma(v1, v2):
    if any("rdma" in h.controllers for h in v1):
        return True
    if v2 is None:
        return False
    try:
        with open(os.path.join(v2.mountpoint, "cgroup.controllers")) as f:
            return "rdma" in f.read().split()
    except OSError:
        return False
