"""`pyrunc features`: what this build and this host support (the shape of
runtime-spec's features.md, as runc prints it)."""
import os

from . import OCI_VERSION, capabilities, mountopts
from .config import HOOK_KINDS, NAMESPACE_TYPES


def get():
    from . import cgroups
    from .process import MPOL_FLAGS, MPOL_MODES
    v1, v2 = cgroups.probe()
    last = capabilities.last_cap()
    annotations = {"org.opencontainers.runc.version": "pyrunc"}
    scmp = _seccomp(annotations)
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": mountopts.ALL,
        "linux": {
            "namespaces": [t for t in NAMESPACE_TYPES
                           if os.path.exists(f"/proc/self/ns/{_procname(t)}")],
            "capabilities": list(capabilities.NAMES[:last + 1]),
            "cgroup": {"v1": bool(v1), "v2": v2 is not None, "systemd": False,
                       "systemdUser": False, "rdma": _rdma(v1, v2)},
            "seccomp": scmp,
            "apparmor": {"enabled": False},
            "memoryPolicy": {"modes": sorted(MPOL_MODES), "flags": sorted(MPOL_FLAGS)},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": True},
            "intelRdt": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": annotations,
    }


def _procname(t):
    from .namespaces import PROC_NAMES
    return PROC_NAMES[t]


def _seccomp(annotations):
    from . import seccomp
    try:
        from ._seccomp import lib
    except ImportError:
        return {"enabled": False}
    v = lib.seccomp_version()
    annotations["io.github.seccomp.libseccomp.version"] = f"{v.major}.{v.minor}.{v.micro}"
    archs = sorted(a for a in _ARCHS if lib.seccomp_arch_resolve_name(
        seccomp._arch_name(a).encode()) != 0)
    return {
        "enabled": True,
        "actions": sorted(seccomp.ACTIONS),
        "operators": sorted(seccomp.OPS),
        "archs": archs,
        "knownFlags": sorted(seccomp.FLAGS),
        "supportedFlags": sorted(seccomp.FLAGS),
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
