"""config.json: load once, validate, parse into typed objects.

Validation runs the module pyrunc/_configcheck.py that setup.py compiles
from spec/config-schema.json (see schemagen.py): full JSON-Schema checking
with the field's path in every error, without importing jsonschema on the
start path. The classes below hold only what the runtime acts on; checks
the schema cannot express (values that must be absolute paths, settings
this build does not implement) raise ConfigError/NotSupported naming the
field here.
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import fspath, jsonlite
from .errors import ConfigError, NotSupported

SUPPORTED_MAJOR = "1."

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

# The last uid/gid. 4294967295 is (uid_t)-1, which setresuid, setresgid and
# chown take as "leave this id unchanged" (and setgroups refuses): a process
# asked to run as it would keep the runtime's uid 0 (CVE-2024-40635 class).
# The schema's "Id" has this range; these checks repeat it for what does
# not come through the schema, and process.set_user checks once more.
MAX_ID = 4294967294
# The most ids one range can hold: 0..MAX_ID
MAX_ID_COUNT = MAX_ID + 1


def valid_id(v):
    """True for a uid/gid the kernel takes as itself (never bool, never -1)."""
    return v.__class__ is int and 0 <= v <= MAX_ID


def check_id(v, where):
    """A uid/gid from a config or process.json; worded as the schema's check."""
    if not valid_id(v):
        show = repr(v) if v.__class__ in (int, str) else type(v).__name__
        raise ConfigError(where, f"expected integer in 0..{MAX_ID}, got {show}")
    return v


class User:
    __slots__ = ("uid", "gid", "umask", "additional_gids")

    def __init__(self, d, where="process.user"):
        self.uid = check_id(d.get("uid", 0), f"{where}.uid")
        self.gid = check_id(d.get("gid", 0), f"{where}.gid")
        self.umask = d.get("umask")
        gids = d.get("additionalGids") or []
        self.additional_gids = [check_id(g, f"{where}.additionalGids[{i}]")
                                for i, g in enumerate(gids)]


class Rlimit:
    __slots__ = ("type", "soft", "hard")

    def __init__(self, d):
        self.type = d["type"]
        self.soft = d["soft"]
        self.hard = d["hard"]


class Capabilities:
    __slots__ = ("bounding", "effective", "inheritable", "permitted", "ambient")

    def __init__(self, d):
        for k in self.__slots__:
            setattr(self, k, d.get(k) or [])


class Process:
    __slots__ = ("terminal", "console_size", "user", "args", "env", "cwd",
                 "capabilities", "rlimits", "no_new_privileges",
                 "apparmor_profile", "selinux_label", "oom_score_adj", "raw",
                 "scheduler", "io_priority", "cpu_affinity", "personality", "memory_policy")

    def __init__(self, d, where="process"):
        self.raw = d
        self.terminal = bool(d.get("terminal", False))
        self.console_size = d.get("consoleSize")
        self.user = User(d.get("user") or {}, f"{where}.user")
        self.args = d.get("args") or []
        self.env = d.get("env") or []
        self.cwd = d.get("cwd", "/")
        caps = d.get("capabilities")
        self.capabilities = Capabilities(caps) if caps is not None else None
        self.rlimits = [Rlimit(r) for r in d.get("rlimits") or ()]
        self.no_new_privileges = bool(d.get("noNewPrivileges", False))
        self.apparmor_profile = d.get("apparmorProfile", "")
        self.selinux_label = d.get("selinuxLabel", "")
        self.oom_score_adj = d.get("oomScoreAdj")
        # set from linux.* by Spec (the init applies them with the process's)
        self.personality = None
        self.memory_policy = None
        if not self.args:
            raise ConfigError(f"{where}.args", "must name the program to run")
        if not self.cwd.startswith("/"):
            raise ConfigError(f"{where}.cwd", f"must be an absolute path, got {self.cwd!r}")
        for i, e in enumerate(self.env):
            if "=" not in e:
                raise ConfigError(f"{where}.env[{i}]", f"must be KEY=VALUE, got {e!r}")
            # runc's checks and words (prepareEnv)
            if e.startswith("="):
                raise ConfigError(f"{where}.env[{i}]",
                                  "invalid environment variable: name cannot be empty")
            if "\0" in e:
                key = e.partition("=")[0]
                raise ConfigError(f"{where}.env[{i}]", f'invalid environment variable "{key}": '
                                  "contains nul byte (\\x00)")
        # No LSM is driven by this build: confinement asked for is refused,
        # never silently dropped.
        if self.apparmor_profile:
            raise NotSupported(f"{where}.apparmorProfile", "AppArmor is not supported by this "
                               "version of pyrunc")
        if self.selinux_label:
            raise NotSupported(f"{where}.selinuxLabel", "SELinux is not supported by this "
                               "version of pyrunc")
        from . import process as _p
        self.scheduler = _p.parse_scheduler(d.get("scheduler"), f"{where}.scheduler")
        self.io_priority = _p.parse_io_priority(d.get("ioPriority"), f"{where}.ioPriority")
        aff = d.get("execCPUAffinity") or {}
        self.cpu_affinity = (_p.parse_cpus(aff.get("initial"), f"{where}.execCPUAffinity.initial"),
                             _p.parse_cpus(aff.get("final"), f"{where}.execCPUAffinity.final"))


class Mount:
    __slots__ = ("destination", "type", "source", "options", "index", "uid_mappings",
                 "gid_mappings")

    def __init__(self, d, index):
        self.index = index
        self.destination = d["destination"]
        self.type = d.get("type") or ""
        self.source = d.get("source") or ""
        self.options = d.get("options") or []
        # idmapped mounts (see idmap.py)
        self.uid_mappings = d.get("uidMappings") or []
        self.gid_mappings = d.get("gidMappings") or []
        for key in ("uidMappings", "gidMappings"):
            for i, m in enumerate(d.get(key) or ()):
                IdMap(m, f"mounts[{index}].{key}[{i}]")

    @property
    def where(self):
        return f"mounts[{self.index}]"

    @property
    def idmapped(self):
        """An idmapped mount (idmap.py; here so that create need not import it)."""
        return bool(self.uid_mappings or self.gid_mappings or
                    {"idmap", "ridmap"} & set(self.options))


class Hook:
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, d):
        self.path = d["path"]
        self.args = d.get("args") or [self.path]
        self.env = d.get("env") or []
        self.timeout = d.get("timeout")

    def to_dict(self):
        d = {"path": self.path, "args": self.args, "env": self.env}
        if self.timeout is not None:
            d["timeout"] = self.timeout
        return d


HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")


class Namespace:
    __slots__ = ("type", "path")

    def __init__(self, d):
        self.type = d["type"]
        self.path = d.get("path") or ""


class IdMap:
    """One line of a uid_map/gid_map: both ranges must end by MAX_ID."""
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, d, where="idMapping"):
        self.container_id = check_id(d["containerID"], f"{where}.containerID")
        self.host_id = check_id(d["hostID"], f"{where}.hostID")
        self.size = d["size"]
        if not (self.size.__class__ is int and 1 <= self.size <= MAX_ID_COUNT):
            raise ConfigError(f"{where}.size", f"expected integer in 1..{MAX_ID_COUNT}, "
                              f"got {self.size!r}")
        for key, first in (("containerID", self.container_id), ("hostID", self.host_id)):
            last = first + self.size - 1
            if last > MAX_ID:
                raise ConfigError(where, f"{key} {first} + size {self.size} ends at {last}, "
                                  f"past the last valid id {MAX_ID}")


class Device:
    __slots__ = ("type", "path", "major", "minor", "file_mode", "uid", "gid")

    def __init__(self, d, where):
        self.type = d["type"]
        self.path = d["path"]
        self.major = d.get("major", 0)
        self.minor = d.get("minor", 0)
        self.file_mode = d.get("fileMode")
        # (uid_t)-1 would leave the node's owner as it is: refused as for users
        self.uid = None if d.get("uid") is None else check_id(d["uid"], f"{where}.uid")
        self.gid = None if d.get("gid") is None else check_id(d["gid"], f"{where}.gid")
        if self.type not in ("c", "u", "b", "p"):
            raise ConfigError(f"{where}.type", f"expected one of c, u, b, p, got {self.type!r}")
        if not self.path.startswith("/"):
            raise ConfigError(f"{where}.path", f"must be an absolute path, got {self.path!r}")


class Linux:
    __slots__ = ("namespaces", "uid_mappings", "gid_mappings", "time_offsets",
                 "devices", "cgroups_path", "resources", "sysctl",
                 "rootfs_propagation", "masked_paths", "readonly_paths",
                 "mount_label", "seccomp", "personality", "memory_policy", "net_devices")

    def __init__(self, d):
        seen = set()
        self.namespaces = []
        for i, n in enumerate(d.get("namespaces") or ()):
            ns = Namespace(n)
            if ns.type in seen:
                raise ConfigError(f"linux.namespaces[{i}].type", f"duplicate namespace {ns.type!r}")
            seen.add(ns.type)
            if ns.path and not ns.path.startswith("/"):
                raise ConfigError(f"linux.namespaces[{i}].path", "must be an absolute path")
            self.namespaces.append(ns)
        self.uid_mappings = [IdMap(m, f"linux.uidMappings[{i}]")
                             for i, m in enumerate(d.get("uidMappings") or ())]
        self.gid_mappings = [IdMap(m, f"linux.gidMappings[{i}]")
                             for i, m in enumerate(d.get("gidMappings") or ())]
        self.time_offsets = d.get("timeOffsets") or {}
        self.devices = [Device(x, f"linux.devices[{i}]") for i, x in enumerate(d.get("devices") or ())]
        self.cgroups_path = d.get("cgroupsPath") or ""
        self.resources = d.get("resources") or {}
        self.sysctl = d.get("sysctl") or {}
        check_sysctl(self.sysctl, seen)
        self.rootfs_propagation = d.get("rootfsPropagation") or ""
        if self.rootfs_propagation not in ("", "private", "rprivate", "slave", "rslave",
                                           "shared", "rshared", "unbindable", "runbindable"):
            raise ConfigError("linux.rootfsPropagation",
                              f"rootfsPropagation={self.rootfs_propagation} is not supported")
        self.masked_paths = d.get("maskedPaths") or []
        self.readonly_paths = d.get("readonlyPaths") or []
        self.mount_label = d.get("mountLabel") or ""
        if self.mount_label:
            raise NotSupported("linux.mountLabel", "SELinux is not supported by this version of pyrunc")
        # (no mount namespace: chroot, mounts made in the host's: hostmounts.py)
        user_ns = "user" in seen
        if (self.uid_mappings or self.gid_mappings) and not user_ns:
            raise ConfigError("linux.uidMappings", "requires a user namespace in linux.namespaces")
        if user_ns and not any(n.path for n in self.namespaces if n.type == "user"):
            if not self.uid_mappings or not self.gid_mappings:
                raise ConfigError("linux.uidMappings",
                                  "a new user namespace needs uidMappings and gidMappings")
        if d.get("netDevices"):
            from . import netdevices
            netdevices.check_names(d["netDevices"], "network" in seen)
        # as runc: given at all (even {}; null is not given) counts
        if d.get("timeOffsets") is not None:
            if "time" not in seen:
                raise ConfigError("linux.timeOffsets", "time namespace offsets specified, but "
                                  "time namespace isn't enabled in the config")
            if self.ns("time").path:
                raise ConfigError("linux.timeOffsets", "time namespace enabled, but both "
                                  "namespace path and time offsets specified -- you may only "
                                  "provide one")
        # A section we cannot honour must be refused, never skipped: a
        # silently ignored seccomp profile is a hole, not a gap.
        self.seccomp = d.get("seccomp")
        from . import process as _p
        self.personality = _p.parse_personality(d.get("personality"), "linux.personality")
        self.memory_policy = _p.parse_memory_policy(d.get("memoryPolicy"), "linux.memoryPolicy")
        self.net_devices = d.get("netDevices") or {}
        if d.get("intelRdt") is not None:
            if not fspath.exists("/sys/fs/resctrl/info"):
                raise NotSupported("linux.intelRdt", "Intel RDT (resctrl) is not available on "
                                   "this host")
            raise NotSupported("linux.intelRdt", "Intel RDT is not supported by this version "
                               "of pyrunc")

    def ns(self, kind):
        for n in self.namespaces:
            if n.type == kind:
                return n
        return None


# sysctls that belong to a namespace, and which (anything else would change
# the host's kernel settings from inside a container)
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def check_sysctl(sysctl, namespaces):
    for key in sysctl:
        where = f"linux.sysctl.{key}"
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            need = "ipc"
        elif key.startswith("net."):
            need = "network"
        elif key in ("kernel.hostname", "kernel.domainname"):
            need = "uts"
        else:
            raise ConfigError(where, "is not in a separate kernel namespace")
        if need not in namespaces:
            raise ConfigError(where, f"needs a new {need} namespace")


class Spec:
    __slots__ = ("oci_version", "root_path", "root_readonly", "mounts", "process",
                 "hostname", "domainname", "hooks", "annotations", "linux", "bundle")

    def __init__(self, doc, bundle):
        self.bundle = bundle
        self.oci_version = doc["ociVersion"]
        if not self.oci_version.startswith(SUPPORTED_MAJOR):
            raise ConfigError("ociVersion", f"unsupported version {self.oci_version!r} (1.x expected)")
        root = doc.get("root")
        if not root or not root.get("path"):
            raise ConfigError("root.path", "is required")
        path = root["path"]
        self.root_path = fspath.normpath(fspath.join(bundle, path))
        self.root_readonly = bool(root.get("readonly", False))
        self.mounts = [Mount(m, i) for i, m in enumerate(doc.get("mounts") or ())]
        for m in self.mounts:
            m.destination = strip_root(self.root_path, m.destination)
        p = doc.get("process")
        self.process = Process(p) if p is not None else None
        self.hostname = doc.get("hostname")
        self.domainname = doc.get("domainname")
        self.hooks = {k: [Hook(h) for h in v] for k, v in (doc.get("hooks") or {}).items()
                      if k in HOOK_KINDS and v}
        self.annotations = doc.get("annotations") or {}
        self.linux = Linux(doc.get("linux") or {})
        if self.process is not None:
            self.process.personality = self.linux.personality
            self.process.memory_policy = self.linux.memory_policy
        if self.hostname and not self.linux.ns("uts"):
            raise ConfigError("hostname", "setting the hostname requires a new uts namespace")
        if self.domainname and not self.linux.ns("uts"):
            raise ConfigError("domainname", "setting the domainname requires a new uts namespace")


def strip_root(root, dest):
    """A destination written as the host's path of a place in the rootfs
    ("<bundle>/rootfs/mnt") is that place in the container ("/mnt"), as
    runc takes it (LexicallyStripRoot; runc 1.1.5 too): engines and
    runc's own tests write them so. Lexical, on cleaned paths; anything
    else is left as written."""
    root = fspath.normpath(fspath.abspath(root))
    path = fspath.normpath("/" + dest.lstrip("/"))
    if path == root:
        return "/"
    if root != "/" and path.startswith(root + "/"):
        return path[len(root):]
    return dest


def drop_nulls(v):
    """A member whose value is null is taken as not set, at any depth, as
    runc's Go decoder does (a null pointer, slice or map is nil; a null
    scalar leaves the zero value). Go engines write null for an empty map
    or slice ("timeOffsets": null, "flags": null)."""
    if isinstance(v, dict):
        for k in [k for k, x in v.items() if x is None]:
            del v[k]
        for x in v.values():
            drop_nulls(x)
    elif isinstance(v, list):
        for x in v:
            drop_nulls(x)


def validate(doc):
    try:
        from . import _configcheck
    except ImportError:  # a source tree without the build step
        from . import schemagen
        _configcheck = schemagen.load_validator("config")
    _configcheck.validate(doc)


def load(bundle):
    """Read, validate and parse <bundle>/config.json."""
    path = fspath.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConfigError("", f"JSON specification file {path} not found") from None
    except OSError as e:
        raise ConfigError("", f"cannot read {path}: {e.strerror}") from None
    doc = jsonlite.loads(data, "config.json")
    if not isinstance(doc, dict):
        raise ConfigError("", "config.json: expected a JSON object")
    if b"null" in data:
        drop_nulls(doc)
    validate(doc)
    return Spec(doc, bundle)


def validate_process(doc):
    """Check a process.json against config.json's `process` schema; errors
    are named as in config.json (process.user.uid, process.args...)."""
    validate({"ociVersion": "1.0.0", "process": doc})


def load_process(path):
    """Read, validate and parse a process.json (for exec --process)."""
    with open(path, "rb") as f:
        doc = jsonlite.loads(f.read(), "process.json")
    if not isinstance(doc, dict):
        raise ConfigError("", "process.json: expected a JSON object")
    drop_nulls(doc)
    validate_process(doc)
    return Process(doc)
