"""`pyrunc features`: what this build and this host support (the shape of
runtime-spec's features.md, as runc prints it)."""
import os

from . import OCI_VERSION, capabilities, mountopts
from .config import HOOK_KINDS, NAMESPACE_TYPES


def get():
    from . import cgroups
    v1, v2 = cgroups.probe()
    last = capabilities.last_cap()
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
                       "systemdUser": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "pyrunc"},
    }


def _procname(t):
    from .namespaces import PROC_NAMES
    return PROC_NAMES[t]
