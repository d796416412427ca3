"""`pyrunc spec`: a default config.json, equivalent to runc's (1.2+: the
runtime-spec version this runtime implements, no ambient capabilities, a
cgroup namespace on a pure cgroup v2 host; --rootless keeps the cgroup
mount)."""
import os

from . import OCI_VERSION, jsonlite
from .errors import ContainerError

CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default(rootless=False):
    spec = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            # no ambient set: runc's current `runc spec` leaves it out, and an ambient
            # cap not also inheritable only earns a warning at every start
            "capabilities": {k: list(CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyrunc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if _cgroup2_unified():
        spec["linux"]["namespaces"].append({"type": "cgroup"})
    if rootless:
        _make_rootless(spec)
    return spec


def _cgroup2_unified():
    """Whether /sys/fs/cgroup is cgroup2 (runc's IsCgroup2UnifiedMode)."""
    try:
        return _fstype() == "cgroup2"
    except OSError:
        return False


def _fstype():
    with open("/proc/self/mountinfo") as f:
        fstype = None
        for line in f:
            fields = line.split()
            if fields[4] == "/sys/fs/cgroup":
                fstype = fields[fields.index("-") + 1]  # (the last mount there wins)
    return fstype


def _make_rootless(spec):
    linux = spec["linux"]
    linux.pop("resources", None)
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] not in ("network", "user")]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    mounts = []
    for m in spec["mounts"]:
        if m["destination"] == "/sys":
            mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
        else:
            if "options" in m:
                m["options"] = [o for o in m["options"] if not o.startswith(("gid=", "uid="))]
            mounts.append(m)
    spec["mounts"] = mounts


def write(bundle, rootless):
    """config.json in `bundle`; errors in runc's words (Go's PathError:
    "chdir <bundle>: no such file or directory")."""
    op, what = "chdir", bundle
    try:
        if bundle:
            os.chdir(bundle)  # (as runc: the file is then named relatively)
        op, what = "stat", "config.json"
        if os.path.lexists("config.json"):
            raise ContainerError("File config.json exists. Remove it first")
        op = "open"
        with open("config.json", "w") as f:
            f.write(jsonlite.dumps(default(rootless), "\t"))
    except OSError as e:
        raise ContainerError(f"{op} {what}: {(e.strerror or str(e)).lower()}") from None
