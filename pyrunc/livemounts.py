"""`pyrunc mounts add ID FILE` and `pyrunc mounts remove ID FILE|DEST...`:
mounts added to and removed from a running container (crun's `mounts
add|remove` shape: FILE is a JSON list of OCI mount entries).

The mount is made on the host's side as a detached mount (bind:
open_tree(OPEN_TREE_CLONE), tmpfs: fsopen/fsconfig/fsmount), its flags set
with mount_setattr. Then a forked child of pyrunc joins the container's
mount namespace through a pidfd of the init (checked against the recorded
start time: a reused pid is never joined) -- setns makes that namespace's
root the child's root, checked to be the init's root -- resolves the
destination in that root with openat2(RESOLVE_IN_ROOT) (a symlink in the
container cannot lead out; the resolved place is checked like create's:
nothing under /proc), creates what is missing as create does (paths.py),
and moves the detached mount onto the fd it holds (move_mount), so a
destination swapped after the lookup gets nothing. In a container with a
user namespace the detached mounts are first given locked flags (_lock).
The child never
chdirs or chroots by a path of the container: its only path lookups go
through the root fd, and the host's procfs it needs (fdinfo, the fd table
for umount) was opened and proven before the setns.

Each added mount is recorded in state.json ("added_mounts") before it is
made (mount id unknown yet), then with the kernel's mount id; `remove`
unmounts only a mount that is still that one (same mount id at the
destination's root), so it never unmounts what create (or the container
itself) put there. `state` shows them ("addedMounts"); they go with the
container's mount namespace, so `delete` has nothing to undo -- unless
that namespace outlives the container (a mount namespace joined by path):
they then stay there, as any mount made in it would.

Only bind mounts and tmpfs: a filesystem tied to namespaces (proc, sysfs,
mqueue, cgroup) would be made in the host's.
"""
import os

from . import jsonlite, log, mounts, paths, procfs, state
from . import syscalls as sc
from .config import Mount
from .errors import ConfigError, ContainerError, NotSupported, WrongState, oserror_class
from . import mountopts as mo
from .mountopts import Options

KEY = "added_mounts"
# the mount(2) flags of the options as mount_setattr attributes
_MS_TO_ATTR = ((sc.MS_RDONLY, mo.ATTR_RDONLY), (sc.MS_NOSUID, mo.ATTR_NOSUID),
               (sc.MS_NODEV, mo.ATTR_NODEV), (sc.MS_NOEXEC, mo.ATTR_NOEXEC),
               (sc.MS_NODIRATIME, mo.ATTR_NODIRATIME), (sc.MS_NOSYMFOLLOW, mo.ATTR_NOSYMFOLLOW))
_ATIME = ((sc.MS_NOATIME, mo.ATTR_NOATIME), (sc.MS_STRICTATIME, mo.ATTR_STRICTATIME),
          (sc.MS_RELATIME, mo.ATTR_RELATIME))


class _Spec:
    """What mounts.check_proc_dest and bindsources.open_in_rootfs need of
    a spec: the bundle (a relative bind source), the rootfs."""

    __slots__ = ("bundle", "root_path")

    def __init__(self, st):
        self.bundle = st.d["bundle"]
        self.root_path = st.d["rootfs"]


class _Entry:
    """One mount to add: the parsed entry, its options, its detached mount."""

    __slots__ = ("m", "opts", "dest", "tree", "isdir")

    def __init__(self, m):
        self.m = m
        self.opts = Options(m.options, m.where)
        self.dest = mounts.clean(m.destination)
        self.tree = -1
        self.isdir = True

    def record(self):
        """Its entry in state.json: as given, the mount id once attached."""
        return {"destination": self.dest, "type": self.m.type, "source": self.m.source,
                "options": list(self.m.options), "mntId": None}


# -- reading FILE -------------------------------------------------------------
def read_file(path):
    """The mount entries of FILE (a JSON list), validated with the config's
    own schema: errors are named mounts[i].field."""
    from . import config
    try:
        with open(path, "rb") as f:
            doc = jsonlite.loads(f.read(), path)
    except OSError as e:
        raise ContainerError(f"{path}: {e.strerror}") from None
    if not isinstance(doc, list):
        raise ConfigError("", f"{path}: mounts must be an array")
    config.validate({"ociVersion": "1.0.0", "mounts": doc})
    return [Mount(d, i) for i, d in enumerate(doc)]


def _check(spec, m):
    """What is refused before anything is made."""
    opts = Options(m.options, m.where)
    if not m.destination.startswith("/"):
        raise ConfigError(f"{m.where}.destination", f"{m.destination!r}: must be an "
                          "absolute path in the container")
    bind = m.type == "bind" or opts.flags & sc.MS_BIND
    if not bind and m.type != "tmpfs":
        raise NotSupported(f"{m.where}.type", f"{m.type or '(none)'!r}: only bind mounts "
                           "and tmpfs can be added to a running container")
    if opts.extensions:
        raise NotSupported(f"{m.where}.options", f"{opts.extensions[0]!r} is not supported "
                           "by mounts add")
    if m.uid_mappings or m.gid_mappings:
        raise NotSupported(f"{m.where}.uidMappings", "idmapped mounts are not supported "
                           "by mounts add")
    if opts.flags & sc.MS_REMOUNT:
        raise NotSupported(f"{m.where}.options", "'remount' is not supported by mounts add")
    if bind and opts.data:
        raise ConfigError(f"{m.where}.options", f"unknown mount option {opts.data!r} for "
                          "a bind mount")
    mounts.check_proc_dest(spec, m, mounts.clean(m.destination))


# -- the detached mounts (host side) -------------------------------------------
def _attrs(flags):
    """mount_setattr (set, clear) for the mount(2) flags of the options."""
    a = 0
    for ms, attr in _MS_TO_ATTR:
        if flags & ms:
            a |= attr
    clr = 0
    for ms, attr in _ATIME:
        if flags & ms:
            a |= attr
            clr |= mo.ATTR__ATIME
    return a, clr


def _detach(spec, e):
    m, opts = e.m, e.opts
    if m.type == "bind" or opts.flags & sc.MS_BIND:
        src = m.source if os.path.isabs(m.source) else os.path.join(spec.bundle, m.source)
        flags = sc.OPEN_TREE_CLONE | (sc.AT_RECURSIVE if opts.flags & sc.MS_REC else 0)
        # a source in the container's rootfs is resolved inside it, as
        # create's: a symlink the container put there never leads to the host
        from . import bindsources
        inroot = bindsources.open_in_rootfs(spec, m)
        try:
            if inroot is not None:
                fd = sc.open_tree(inroot, "", flags | sc.AT_EMPTY_PATH)
            else:
                fd = sc.open_tree(-100, src, flags)
        except OSError as err:
            raise ConfigError(f"{m.where}.source", f"{src}: {err.strerror}") from None
        finally:
            if inroot is not None:
                os.close(inroot)
    else:
        fd = _tmpfs(m, opts)
    try:
        import stat
        e.isdir = stat.S_ISDIR(os.fstat(fd).st_mode)
        aset, aclr = _attrs(opts.flags)
        if aset or aclr:
            sc.mount_setattr(fd, "", sc.AT_EMPTY_PATH, attr_set=aset, attr_clr=aclr)
        if opts.attr_set or opts.attr_clr:
            sc.mount_setattr(fd, "", sc.AT_EMPTY_PATH | sc.AT_RECURSIVE,
                             attr_set=opts.attr_set, attr_clr=opts.attr_clr)
    except OSError as err:
        os.close(fd)
        raise ConfigError(f"{m.where}.options", f"{m.options}: {err.strerror}") from None
    e.tree = fd


def _tmpfs(m, opts):
    fsfd = sc.fsopen("tmpfs")
    try:
        try:
            sc.fsconfig(fsfd, sc.FSCONFIG_SET_STRING, "source", m.source or "tmpfs")
            for o in filter(None, opts.data.split(",")):
                k, eq, v = o.partition("=")
                if eq:
                    sc.fsconfig(fsfd, sc.FSCONFIG_SET_STRING, k, v)
                else:
                    sc.fsconfig(fsfd, sc.FSCONFIG_SET_FLAG, k)
            sc.fsconfig(fsfd, sc.FSCONFIG_CMD_CREATE)
        except OSError as err:
            raise ConfigError(f"{m.where}.options", f"tmpfs options {opts.data!r}: "
                              f"{err.strerror}") from None
        return sc.fsmount(fsfd)
    finally:
        os.close(fsfd)


# -- inside the container's mount namespace -------------------------------------
class _Inside:
    """What the child needs, opened by the parent before the fork: the
    init's pidfd, the dev/ino of its root, the host's procfs (proven)."""

    __slots__ = ("pidfd", "root_id", "proc", "fddir", "userns")

    def __init__(self, st):
        pid = st.pid
        try:
            self.pidfd = os.pidfd_open(pid)
        except OSError:
            raise WrongState("container not running") from None
        self.proc = self.fddir = self.userns = None
        try:
            if not st.init_alive():  # the pid is someone else's now
                raise WrongState("container not running")
            self.proc = procfs.host()
            piddir = self.proc.open(str(pid), os.O_PATH | os.O_DIRECTORY)
            try:
                # (the links are read, and root followed, from the proven procfs)
                same = os.readlink("ns/mnt", dir_fd=piddir) == \
                    os.readlink(f"{self.proc.pid()}/ns/mnt", dir_fd=self.proc.fd)
                self.root_id = _ident(os.stat("root", dir_fd=piddir))
                self.userns = _mntns_owner(piddir, self.proc)
            finally:
                os.close(piddir)
            if same:
                raise ContainerError("the container shares the runtime's mount namespace: "
                                     "a mount added would be the host's")
            if not st.init_alive():
                raise WrongState("container not running")
        except BaseException:
            self.close()
            raise

    def close(self):
        for fd in (self.pidfd, self.fddir, self.userns):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.pidfd = self.fddir = self.userns = None
        if self.proc is not None:
            self.proc.close()
            self.proc = None

    def mnt_id(self, fd):
        for line in self.proc.read(f"self/fdinfo/{fd}").decode().splitlines():
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
        raise OSError(22, "no mnt_id in fdinfo")

    def where(self, fd):
        """The container path of fd (readlink of its magic link, relative
        to our root, which is the container's)."""
        return os.readlink(str(fd), dir_fd=self.fddir)

    def run(self, fn, entries=()):
        """fn(rootfd) in a child that joined the container's mount
        namespace (the detached mounts of `entries` locked first, see
        _lock); returns what it returns (a JSON value) or raises what it
        raised, as a ContainerError/ConfigError message."""
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # (never returns)
            os.close(r)
            _child(self, fn, w, entries)
        os.close(w)
        try:
            data = _answer(r, pid)
        finally:
            os.close(r)
            _, ws = os.waitpid(pid, 0)
        if data is None:
            raise ContainerError(f"mounts: timed out after {_limit():g}s waiting for the helper "
                                 "in the container's mount namespace")
        if not data:
            raise ContainerError(f"mounts: the helper process died (wait status {ws})")
        out = jsonlite.loads(data, "the mount helper's answer")
        if "error" in out:
            cls, errno = out.get("class"), out.get("errno")  # (errors.py's classes)
            if out.get("path") is not None:
                raise ConfigError(out["path"], out["error"], cls, errno)
            raise ContainerError(out["error"], error_class=cls, errno=errno)
        return out["ok"]


def _limit():
    from .container import init_timeout
    return init_timeout()


def _answer(r, pid):
    """The helper's answer (b"" if it died without one), or None once it
    was SIGKILLed at the deadline: a lookup in the container's tree (a
    hung FUSE or network file system there) must not hang the command,
    which holds the state lock that delete --force waits for."""
    import time
    from .sync import _wait_readable
    deadline = time.monotonic() + _limit()
    data = b""
    while True:
        try:
            _wait_readable(r, deadline)
        except TimeoutError:
            os.kill(pid, 9)  # (our child, not yet reaped: the pid is still its)
            return None
        chunk = os.read(r, 65536)
        if not chunk:
            return data
        data += chunk


def _ident(s):
    return (s.st_dev, s.st_ino)


_NS_GET_USERNS = 0xB701


def _mntns_owner(piddir, proc):
    """An fd of the user namespace owning the init's mount namespace when
    it is not ours (a less privileged one: _lock), else None."""
    import fcntl
    mnt = os.open("ns/mnt", os.O_RDONLY | os.O_CLOEXEC, dir_fd=piddir)
    try:
        owner = fcntl.ioctl(mnt, _NS_GET_USERNS)
    finally:
        os.close(mnt)
    if _ident(os.fstat(owner)) != _ident(os.stat(f"{proc.pid()}/ns/user", dir_fd=proc.fd)):
        return owner
    os.close(owner)
    return None


def _child(inside, fn, w, entries):
    code = 1
    try:
        sc.prctl(4, 0)  # PR_SET_DUMPABLE 0: nothing in the container can attach to us
        inside.fddir = inside.proc.fd_dir()  # our own fd table now, not the parent's
        # after the setns, a path is the container's: no import may ever
        # look for a module there (everything used below is loaded;
        # sys.path.clear() alone left pyrunc's own submodules reachable)
        from .launch import seal_imports
        seal_imports()
        if entries and inside.userns is not None:
            _lock(inside, entries)
        sc.setns(inside.pidfd, sc.CLONE_NEWNS)
        rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        if _ident(os.fstat(rootfd)) != inside.root_id:
            raise ContainerError("the container's root is not its mount namespace's root")
        out = {"ok": fn(rootfd)}
        code = 0
    except ConfigError as e:
        out = {"error": e.message, "path": e.path, "class": e.error_class, "errno": e.errno}
    except ContainerError as e:
        out = {"error": str(e), "class": e.error_class, "errno": e.errno}
    except OSError as e:
        out = {"error": f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""),
               "class": oserror_class(e), "errno": e.errno}
    except BaseException as e:  # noqa: BLE001 -- reported, never a traceback in a child
        out = {"error": f"internal error: {e!r}"}
    try:
        os.write(w, jsonlite.dumps(out).encode())
    finally:
        os._exit(code)


# -- add ----------------------------------------------------------------------
def add(root, cid, path):
    spec_mounts = read_file(path)
    st, lock = state.load_locked(root, cid)
    try:
        _running(st)
        spec = _Spec(st)
        for m in spec_mounts:
            _check(spec, m)
        entries = [_Entry(m) for m in spec_mounts]
        inside = _Inside(st)
        try:
            for e in entries:
                _detach(spec, e)
            # intent before effect: recorded before they exist
            recs = [e.record() for e in entries]
            st.d.setdefault(KEY, []).extend(recs)
            st.save()
            try:
                ids = inside.run(lambda rootfd: _attach_all(inside, spec, entries, rootfd),
                                 entries)
            except BaseException:
                for rec in recs:
                    st.d[KEY].remove(rec)
                st.save()
                raise
            for rec, mid in zip(recs, ids):
                rec["mntId"] = mid
            st.save()
        finally:
            for e in entries:
                if e.tree >= 0:
                    os.close(e.tree)
            inside.close()
    finally:
        lock.release()


def _running(st):
    status = st.status()
    if status in ("stopped", "creating"):
        raise WrongState("container not running")


def _lock(inside, entries):
    """In the child, before it joins the container's mount namespace,
    when that namespace belongs to another user namespace: replace each
    detached mount by a clone whose flags the kernel has locked.

    A mount the host's root attaches there carries no lock: root of the
    container's user namespace could remount it without ro, nosuid,
    nodev or noexec (and write to a source meant read-only). The kernel
    locks the flags of mounts it copies into a mount namespace of a less
    privileged user namespace (as for create's binds), and a clone keeps
    them. So: in a private mount namespace of our own (nothing propagates
    to the host's), the mounts are staged on a tmpfs; then, in the
    container's user namespace, a new mount namespace copies them
    (locked) and each is cloned again (open_tree) from there. The staging
    namespaces go away with this child."""
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    fs = sc.fsopen("tmpfs")
    try:
        sc.fsconfig(fs, sc.FSCONFIG_SET_STRING, "mode", "700")
        sc.fsconfig(fs, sc.FSCONFIG_CMD_CREATE)
        stage = sc.fsmount(fs)
    finally:
        os.close(fs)
    try:
        sc.move_mount(stage, "", -100, "/", sc.MOVE_MOUNT_F_EMPTY_PATH)
        os.fchdir(stage)  # (the copy below moves our cwd to its copy)
    finally:
        os.close(stage)
    for i, e in enumerate(entries):
        if e.isdir:
            os.mkdir(str(i), 0o700)
        else:
            os.close(os.open(str(i), os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        sc.move_mount(e.tree, "", -100, str(i), sc.MOVE_MOUNT_F_EMPTY_PATH)
    sc.setns(inside.userns, sc.CLONE_NEWUSER)
    sc.unshare(sc.CLONE_NEWNS)
    for i, e in enumerate(entries):
        fd = sc.open_tree(-100, str(i), sc.OPEN_TREE_CLONE | sc.AT_RECURSIVE)
        os.close(e.tree)
        e.tree = fd


def _attach_all(inside, spec, entries, rootfd):
    """In the container's mount namespace: every entry, or none (those
    attached are detached again when one fails)."""
    done = []
    try:
        for e in entries:
            done.append(_attach(inside, spec, e, rootfd))
    except BaseException:
        for fd in reversed(done):
            _umount_fd(inside, fd)
        raise
    return [inside.mnt_id(fd) for fd in done]


def _attach(inside, spec, e, rootfd):
    m = e.m
    try:
        fd = paths.mkdir_all(rootfd, e.dest) if e.isdir else paths.make_file(rootfd, e.dest)
    except OSError as err:
        raise ConfigError(f"{m.where}.destination", f"{e.dest}: {err.strerror}") from None
    try:
        # where it really is (through the container's symlinks, inside
        # its root): nothing under /proc either
        mounts.check_proc_dest(spec, m, inside.where(fd), e.tree)
        sc.move_mount(e.tree, "", fd, "", sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)
    except OSError as err:
        raise ConfigError(m.where, f"mounting {m.source or m.type!r} on {e.dest}: "
                          f"{err.strerror}", "resource.mount", err.errno) from None
    finally:
        os.close(fd)
    for p in e.opts.propagation:
        rec = sc.AT_RECURSIVE if p & sc.MS_REC else 0
        try:
            sc.mount_setattr(e.tree, "", sc.AT_EMPTY_PATH | rec, propagation=p & ~sc.MS_REC)
        except OSError as err:
            _umount_fd(inside, e.tree)
            raise ConfigError(f"{m.where}.options", f"propagation: {err.strerror}",
                              "resource.mount", err.errno) from None
    return e.tree


def _umount_fd(inside, fd):
    """Detach the mount whose root fd is: umount2 of our fd's magic link,
    reached from the host's proven procfs fd table (never a path of the
    container). The kernel refuses (EINVAL) unless fd is a mount's root."""
    os.fchdir(inside.fddir)
    sc.umount2(str(fd), sc.MNT_DETACH)


# -- remove -------------------------------------------------------------------
def remove(root, cid, args):
    st, lock = state.load_locked(root, cid)
    try:
        _running(st)
        recs = st.d.get(KEY) or []
        dests = _destinations(args, recs)
        inside = _Inside(st)
        try:
            gone = inside.run(lambda rootfd: _umount_all(inside, dests, recs, rootfd))
        finally:
            inside.close()
        st.d[KEY] = [r for r in recs if r.get("mntId") not in gone]
        if not st.d[KEY]:
            del st.d[KEY]
        st.save()
    finally:
        lock.release()


def _destinations(args, recs):
    """DEST arguments (a destination `mounts add` recorded: checked first)
    or FILEs of mount entries (their destinations)."""
    known = {r["destination"] for r in recs}
    out = []
    for a in args:
        if mounts.clean(a) in known and a.startswith("/"):
            out.append(mounts.clean(a))
        elif os.path.isfile(a):
            out.extend(mounts.clean(m.destination) for m in read_file(a))
        else:
            raise ContainerError(f"{a}: no mount added by `mounts add` at this destination, "
                                 "and no such file")
    for d in out:
        if d not in known:
            raise ContainerError(f"{d}: no mount added by `mounts add` at this destination")
    return out


def _umount_all(inside, dests, recs, rootfd):
    """Every destination checked first (still the mount `mounts add`
    made), then unmounted: a refused one leaves all in place."""
    fds = []
    try:
        for d in dests:
            fd = paths.open_in_root(rootfd, d)
            fds.append(fd)
            mid = inside.mnt_id(fd)
            if not any(r["destination"] == d and r.get("mntId") == mid for r in recs):
                raise ContainerError(f"{d}: the mount there is not the one `mounts add` made "
                                     f"(mount id {mid}); nothing unmounted")
        gone = []
        # the latest first: one added on top of (or inside) another goes
        # before it (a lazy unmount of the lower one would take it along)
        # (mount ids are reused lowest-first: the records' order is the age)
        age = {r.get("mntId"): i for i, r in enumerate(recs)}
        order = sorted(zip(dests, fds), key=lambda x: -age[inside.mnt_id(x[1])])
        for d, fd in order:
            mid = inside.mnt_id(fd)
            try:
                _umount_fd(inside, fd)
            except OSError as err:
                raise ContainerError(f"{d}: cannot unmount: {err.strerror}") from None
            gone.append(mid)
        return gone
    finally:
        for fd in fds:
            os.close(fd)


def shown(st):
    """The `addedMounts` field of `state`: the entries as given."""
    return [{k: r[k] for k in ("destination", "type", "source", "options") if r.get(k)}
            for r in st.d.get(KEY) or () if r.get("mntId") is not None]


def log_at_delete(st):
    n = len(st.d.get(KEY) or ())
    if n:
        log.debug(f"delete: {n} mount(s) added by `mounts add` went with the container's "
                  "mount namespace")
