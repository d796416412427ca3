"""A container without a mount namespace (`linux.namespaces` lacks
"mount"; runtime-tools' linux_ns_itype), supported as runc does: the
container's mounts are made in the host's mount namespace and the init
enters the rootfs with chroot, not pivot_root (which would move the root
of every host process).

What is made in the host's namespace must go at delete, also after a
kill -9 at any instant (intent before effect): before the init is forked,
the state records the rootfs path and the mounts already on it. The init
then bind-mounts the rootfs onto itself (never touching the propagation
of the host's "/" or of the parent mount) and makes every other mount
*below* that bind, so one lazy unmount of it takes them all, and the
unmount propagates wherever the bind propagated. `delete` detaches every
mount stacked on the rootfs path since the create that shows the rootfs
directory itself (device and inode recorded at create: a bind of it), and
nothing else: a record pointing elsewhere, or a mount someone else put
there, is left alone.

Differences from runc, on purpose: runc makes the host's "/" rslave and
leaves its mounts behind at delete; pyrunc changes no host propagation
and removes them. As runc, maskedPaths/readonlyPaths are refused (there is
no private namespace to hide anything in), and `exec` enters the
container's root (runc HEAD's exec would run in the host's root: nothing
of the host may be reachable from the container).

CAP_SYS_CHROOT is dropped, with a warning (runc HEAD grants it and plain-chroots): the
container's root is then only a chroot in the host's mount namespace, and
a process holding CAP_SYS_CHROOT leaves a chroot at will (chroot into a
subdirectory, walk ".." up from the cwd it kept, chroot there): the
host's "/" would be one syscall away. A chrooted process cannot make a
user namespace of its own to gain it (the kernel refuses), so it is
enough that no set of the config's, or of an exec's, holds it (dropped
rather than refused, so that a config asking for it still runs)."""
import os

from .errors import ConfigError, NotSupported

UMOUNT_NOFOLLOW = 8


def wanted(linux):
    return linux.ns("mount") is None


def check(spec):
    """What cannot be done without a mount namespace, refused before
    anything is made (runc's words for the paths)."""
    linux = spec.linux
    for field, paths in (("linux.maskedPaths", linux.masked_paths),
                         ("linux.readonlyPaths", linux.readonly_paths)):
        if paths:
            raise ConfigError(field, "unable to restrict sys entries without a private MNT "
                              "namespace")
    for m in spec.mounts:
        if "tmpcopyup" in m.options:
            # it fills the tmpfs at a staging mount outside the rootfs
            raise NotSupported(f"{m.where}.options", "tmpcopyup needs a mount namespace")
    drop_chroot(spec.process)


def drop_chroot(proc, where="process.capabilities"):
    """CAP_SYS_CHROOT out of every set of `proc` (see above), with a
    warning naming the field; an absent process.capabilities (the process
    keeps the runtime's capabilities) becomes the runtime's sets without
    it. Dropped rather than refused: a config asking for it (runtime-tools'
    defaults hold it) still runs, and the chroot still holds."""
    from . import capabilities, log
    from . import syscalls as sc
    from .config import Capabilities
    caps = proc.capabilities
    if caps is None:
        _, held, inh = sc.capget()
        names = [n for b, n in enumerate(capabilities.NAMES)
                 if b <= capabilities.last_cap() and n != "CAP_SYS_CHROOT"]
        pick = lambda mask: [n for n in names if mask & (1 << capabilities.BY_NAME[n])]  # noqa: E731
        proc.capabilities = Capabilities({"bounding": pick(held), "effective": pick(held),
                                          "permitted": pick(held), "inheritable": pick(inh)})
        log.warn(f"{where}: absent, the runtime's capabilities without CAP_SYS_CHROOT: without "
                 "a mount namespace the container's root is a chroot, which it leaves")
        return
    dropped = []
    for k in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        names = getattr(caps, k)
        if "CAP_SYS_CHROOT" in names:
            setattr(caps, k, [n for n in names if n != "CAP_SYS_CHROOT"])
            dropped.append(k)
    if dropped:
        log.warn(f"{where}: CAP_SYS_CHROOT dropped from {', '.join(dropped)}: without a mount "
                 "namespace the container's root is a chroot, which it leaves")


def plan(spec):
    """The state's record, made before the fork: the rootfs path and the
    ids of the mounts already on it (never ours to remove)."""
    path = os.path.realpath(spec.root_path)
    st = os.stat(path, follow_symlinks=False)
    # the rootfs directory itself: the init's bind of it onto itself shows
    # this very directory, whatever else were mounted there shows another
    return {"path": path, "before": _stack(path), "dir": [st.st_dev, st.st_ino]}


def _stack(path):
    """Ids of the mounts whose mount point is `path`, bottom first: each
    one stacked there has the one below as its parent."""
    from . import procfs
    from .mounts import _unescape
    parent_of = {}
    with procfs.host() as proc:  # (proven procfs)
        text = proc.read("self/mountinfo").decode(errors="replace")
    for line in text.splitlines():
        fields = line.split(" ", 5)
        if len(fields) > 4 and _unescape(fields[4]) == path:
            parent_of[int(fields[0])] = int(fields[1])
    above = {p: i for i, p in parent_of.items()}
    cur = next((i for i, p in parent_of.items() if p not in parent_of), None)
    out = []
    while cur is not None and len(out) < len(parent_of):
        out.append(cur)
        cur = above.get(cur)
    return out


def remove(rec, say=None):
    """delete: detach every mount stacked on the rootfs since the create
    (the rootfs bind and whatever the container put over it), top first.
    The lazy unmount takes the mounts below each along."""
    if not rec:
        return
    path, before, ident = rec["path"], set(rec.get("before") or ()), rec.get("dir")
    from . import syscalls as sc
    for _ in range(64):  # (a bound: each pass removes one mount)
        stack = _stack(path)
        if not stack or stack[-1] in before:
            return
        if not _is_rootfs_bind(path, ident):
            # not the rootfs bound onto itself (a record without the
            # rootfs's identity, or another mount on that path now): never
            # ours to remove
            if say:
                say(f"delete: left mount {stack[-1]} on {path}: not the container's rootfs bind")
            return
        try:
            sc.umount2(path, sc.MNT_DETACH | UMOUNT_NOFOLLOW)
        except OSError as e:
            if e.errno in (2, 22):  # gone meanwhile, or no longer a mount
                return
            raise
        if say:
            say(f"delete: unmounted {path} (mount {stack[-1]}) from the host's namespace")


def _is_rootfs_bind(path, ident):
    if not (isinstance(ident, list) and len(ident) == 2):
        return False
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return [st.st_dev, st.st_ino] == ident


def enter_root(rootfs):
    """The init, once every mount is made: chroot into the rootfs (as runc
    without a mount namespace)."""
    os.chdir(rootfs)
    os.chroot(".")
    os.chdir("/")


def open_init_root(pidfd, pid):
    """exec: an O_PATH fd of the init's root, the container's rootfs. Read
    through the host's procfs, then the pidfd proves the pid was still the
    init's while it was opened."""
    import _signal
    from . import procfs
    with procfs.host() as p:
        d = p.open(str(int(pid)), os.O_PATH | os.O_DIRECTORY)
    try:
        fd = os.open("root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=d)
    finally:
        os.close(d)
    try:
        _signal.pidfd_send_signal(pidfd, 0)
    except ProcessLookupError:
        os.close(fd)
        raise
    return fd


def enter_root_fd(fd):
    """exec, in the child: the container's root for the process."""
    os.fchdir(fd)
    os.chroot(".")
    os.close(fd)
