"""Mount options of config.json, as mount(2) flags, propagation and
mount_setattr(2) attributes (the recursive "r*" options)."""
from . import syscalls as sc
from .errors import ConfigError

# option -> (clear?, flag)
FLAGS = {
    "async": (True, sc.MS_SYNCHRONOUS), "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND), "defaults": (False, 0), "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME), "dirsync": (False, sc.MS_DIRSYNC),
    "exec": (True, sc.MS_NOEXEC), "iversion": (False, sc.MS_I_VERSION),
    "lazytime": (False, sc.MS_LAZYTIME), "loud": (True, sc.MS_SILENT),
    "mand": (False, sc.MS_MANDLOCK), "noatime": (False, sc.MS_NOATIME),
    "nodev": (False, sc.MS_NODEV), "nodiratime": (False, sc.MS_NODIRATIME),
    "noexec": (False, sc.MS_NOEXEC), "noiversion": (True, sc.MS_I_VERSION),
    "nolazytime": (True, sc.MS_LAZYTIME), "nomand": (True, sc.MS_MANDLOCK),
    "norelatime": (True, sc.MS_RELATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosuid": (False, sc.MS_NOSUID), "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "rbind": (False, sc.MS_BIND | sc.MS_REC), "relatime": (False, sc.MS_RELATIME),
    "remount": (False, sc.MS_REMOUNT), "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY), "silent": (False, sc.MS_SILENT),
    "strictatime": (False, sc.MS_STRICTATIME), "suid": (True, sc.MS_NOSUID),
    "sync": (False, sc.MS_SYNCHRONOUS), "symfollow": (True, sc.MS_NOSYMFOLLOW),
    "acl": (False, sc.MS_POSIXACL), "noacl": (True, sc.MS_POSIXACL),
}
PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# mount_setattr attributes (MOUNT_ATTR_*)
ATTR_RDONLY, ATTR_NOSUID, ATTR_NODEV, ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8
ATTR__ATIME, ATTR_RELATIME, ATTR_NOATIME, ATTR_STRICTATIME = 0x70, 0x0, 0x10, 0x20
ATTR_NODIRATIME, ATTR_NOSYMFOLLOW = 0x80, 0x200000
# option -> (clear?, attr)
RECURSIVE = {
    "rro": (False, ATTR_RDONLY), "rrw": (True, ATTR_RDONLY),
    "rnosuid": (False, ATTR_NOSUID), "rsuid": (True, ATTR_NOSUID),
    "rnodev": (False, ATTR_NODEV), "rdev": (True, ATTR_NODEV),
    "rnoexec": (False, ATTR_NOEXEC), "rexec": (True, ATTR_NOEXEC),
    "rnodiratime": (False, ATTR_NODIRATIME), "rdiratime": (True, ATTR_NODIRATIME),
    "rnosymfollow": (False, ATTR_NOSYMFOLLOW), "rsymfollow": (True, ATTR_NOSYMFOLLOW),
    "rnoatime": (False, ATTR_NOATIME), "rrelatime": (False, ATTR_RELATIME),
    "rstrictatime": (False, ATTR_STRICTATIME),
    "ratime": (True, ATTR__ATIME), "rnorelatime": (True, ATTR__ATIME),
    "rnostrictatime": (True, ATTR__ATIME),
}
EXTENSIONS = ("tmpcopyup", "idmap", "ridmap")
ALL = sorted(set(FLAGS) | set(PROPAGATION) | set(RECURSIVE) | set(EXTENSIONS))


class Options:
    __slots__ = ("flags", "cleared", "propagation", "attr_set", "attr_clr", "data", "extensions")

    def __init__(self, options, where):
        self.flags = 0
        self.cleared = 0  # asked to be clear ("dev", "rw"...): a bind remount must clear them
        self.propagation = []
        self.attr_set = 0
        self.attr_clr = 0
        self.extensions = []
        data = []
        for i, o in enumerate(options):
            f = FLAGS.get(o)
            if f is not None:
                if f[0]:
                    self.flags &= ~f[1]
                    self.cleared |= f[1]
                else:
                    self.flags |= f[1]
                    self.cleared &= ~f[1]
                continue
            p = PROPAGATION.get(o)
            if p is not None:
                self.propagation.append(p)
                continue
            r = RECURSIVE.get(o)
            if r is not None:
                if r[0]:
                    self.attr_clr |= r[1]
                else:
                    self.attr_set |= r[1]
                    if r[1] in (ATTR_NOATIME, ATTR_STRICTATIME, ATTR_RELATIME):
                        self.attr_clr |= ATTR__ATIME
                continue
            if o in EXTENSIONS:
                self.extensions.append(o)
                continue
            if not o:
                raise ConfigError(f"{where}.options[{i}]", "empty mount option")
            data.append(o)
        self.data = ",".join(data)
