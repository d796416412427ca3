"""Container state on disk: <root>/<id>/state.json, the exec fifo, the lock.

The status is never stored: it is derived each time from the init's
process (alive, same start time), the exec fifo (present until `start`)
and the freezer, so a container whose process died is "stopped" without
anyone having to record it.
"""
import posix

from . import errors, jsonlite
from .errors import oserror_class

STATE_FILE = "state.json"
FIFO = "exec.fifo"
# What `list` reads instead of the whole state.json: the few fields it
# shows and derives the status from, written after each save of the state
# with the identity (inode, size, mtime) of the state.json it copies, and
# a CRC32 of itself. It is written over the old one in place: replacing a
# file by rename (or O_TRUNC) makes ext4 start its writeback, ~0.15 ms a
# save. A record that is torn (a save killed half-way, a `list` reading
# during a write: the CRC) or not the one of the state.json beside it (a
# save killed between the two files, a state.json written by other means)
# is ignored: `list` reads state.json then. ~5x less work per container.
LIST_FILE = "list.json"
_LIST_KEYS = ("ociVersion", "pid", "start_time", "creator", "creator_start", "status",
              "bundle", "rootfs", "created", "owner", "freezer", "annotations")
# Everything a state dir may hold. `delete --force` of a dir without a
# readable state.json removes it only when it holds nothing else: a --root
# naming a host directory (runc 1.1.5 once emptied a host's /etc so) must
# never have its subdirectories taken for broken state entries.
ENTRY_FILES = (STATE_FILE, STATE_FILE + ".tmp", FIFO, LIST_FILE)


def init_timeout():
    """Seconds the init may take to reach the exec fifo (create), and to
    take the start (start); the time hooks run in this process is not
    counted (they have their own timeouts). PYRUNC_INIT_TIMEOUT overrides.
    Here, not in lifecycle.py or container.py: both commands load this."""
    try:
        return float(posix.environ.get(b"PYRUNC_INIT_TIMEOUT") or 60)
    except ValueError:
        return 60.0


def check_root(root):
    """--root, made absolute and checked (every command, before anything
    is read or made under it). runc HEAD refuses "/" in these words; pyrunc
    also refuses an existing root that is not a directory, or that another
    user owns or may write to (who could plant state entries that delete
    and kill would act on). Returns the clean absolute path."""
    if not _is_clean(root):
        from . import fspath
        root = fspath.abspath(root)
    if root.startswith("//"):  # (POSIX keeps a leading "//"; Go's Clean does not)
        root = "/" + root.lstrip("/")
    if root == "/":
        raise _root_is_slash()
    try:
        st = posix.stat(root)
    except FileNotFoundError:
        return root  # made by the first create, as the default one
    except OSError as e:
        raise errors.ContainerError(f"--root {root}: {(e.strerror or str(e)).lower()}",
                                    error_class=oserror_class(e), errno=e.errno) from None
    # a symlink to "/" (or a bind mount of it): the same directory as "/"
    # (one stat instead of realpath's lstat of every component)
    top = posix.stat("/")
    if (st.st_dev, st.st_ino) == (top.st_dev, top.st_ino):
        raise _root_is_slash()
    if st.st_mode & 0o170000 != 0o040000:  # (S_ISDIR, without the stat module)
        raise errors.ContainerError(f"--root {root}: not a directory", error_class="usage")
    if st.st_uid != posix.geteuid():
        raise errors.ContainerError(f"--root {root}: owned by uid {st.st_uid}, not by this "
                                    f"user (uid {posix.geteuid()}): refusing a state root "
                                    "another user controls",
                                    error_class="permission")
    if st.st_mode & 0o022:
        raise errors.ContainerError(f"--root {root}: writable by other users (mode "
                                    f"{st.st_mode & 0o7777:04o}): refusing a state root "
                                    "another user controls", error_class="permission")
    return root


def _is_clean(path):
    """Absolute, and already what normpath would make of it (the default
    /run/pyrunc, a --root given so): nothing for abspath to do."""
    return path[:1] == "/" and all(c not in ("", ".", "..") for c in path[1:].split("/"))


def _join(d, name):
    """os.path.join of a directory and a name without a slash (an id, a
    file of the entry): all state.py joins."""
    return d + name if not d or d.endswith("/") else d + "/" + name


def _mode(path, stat=posix.stat):
    """The file type bits of path (None: no such path). state.py's own,
    not fspath's: a module less on the short commands' path."""
    try:
        return stat(path).st_mode & 0o170000
    except (OSError, ValueError):
        return None


def _exists(path):
    return _mode(path) is not None


def _root_is_slash():
    return errors.ContainerError("Option --root argument should not be set to /",
                                 error_class="usage")


# runc's id rule: ASCII letters, digits and _+-. (a set: one C-level subset
# test per id instead of a Python loop per character; `list` checks each)
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def valid_id(cid):
    if not cid or cid in (".", "..") or len(cid) > 1024:
        return False
    return _ID_CHARS.issuperset(cid)


def check_id(cid):
    if not valid_id(cid):
        raise errors.ContainerError(f"invalid container id format: {cid}", error_class="usage")


def read_file(path, size=65536):
    """A whole file's bytes: os.read without a file object (one read for a
    state.json or a control file: a read of a regular file returns less
    than asked only at its end)."""
    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        data = posix.read(fd, size)
        if len(data) == size:  # (more to come)
            parts = [data]
            while data:
                data = posix.read(fd, size)
                parts.append(data)
            data = b"".join(parts)
        return data
    finally:
        posix.close(fd)


def proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat (None if gone or a zombie)."""
    try:  # (posix.read: no file object; a stat line is far below 4 KiB)
        fd = posix.open(f"/proc/{pid}/stat", posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            data = posix.read(fd, 4096)
        finally:
            posix.close(fd)
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


class State:
    """What `create` recorded about one container."""

    __slots__ = ("root", "id", "dir", "d")

    def __init__(self, root, cid, d):
        self.root = root
        self.id = cid
        self.dir = _join(root, cid)
        self.d = d

    @property
    def pid(self):
        """The init's host pid; 0 while being created or once recorded dead.

        Callers must never pass 0 (or less) to kill(2): that would signal
        the runtime's own process group."""
        return self.d.get("pid") or 0

    def init_alive(self):
        pid = self.d.get("pid") or 0
        start = self.d.get("start_time")
        # no recorded start time (the init died before create recorded it)
        # must not match a dead pid's "no start time"
        return pid > 0 and start is not None and proc_start_time(pid) == start

    def status(self):
        if self.d.get("status") == "creating":
            # a create in progress, or one whose process died half-way
            creator = self.d.get("creator", 0)
            start = proc_start_time(creator) if creator > 0 else None
            if start is not None and self.d.get("creator_start", start) == start:
                return "creating"
            return "stopped"
        if not self.init_alive():
            return "stopped"
        if _exists(_join(self.dir, FIFO)):
            return "created"
        if self.frozen():
            return "paused"
        return "running"

    def frozen(self):
        f = self.d.get("freezer")
        if not f:
            return False
        try:
            v = read_file(f, 64).strip()
        except OSError:
            return False
        return v in (b"FROZEN", b"FREEZING", b"1")

    def oci(self, status=None):
        """The OCI state object (runtime-spec "State"), runc's extra fields too."""
        status = status or self.status()
        out = {
            "ociVersion": self.d["ociVersion"],
            "id": self.id,
            "pid": self.d["pid"] if status not in ("stopped", "creating") else 0,
            "status": status,
            "bundle": self.d["bundle"],
            "rootfs": self.d["rootfs"],
            "created": self.d["created"],
            "owner": self.d.get("owner", ""),
        }
        if status == "creating":
            out["pid"] = self.d["pid"]
        ann = self.d.get("annotations")
        if ann:
            out["annotations"] = ann
        return out

    def hook_state(self, status):
        """The state given to hooks on stdin (spec fields only); ociVersion
        the runtime's, as runc's (specs.Version), not the config's."""
        from . import OCI_VERSION
        out = {"ociVersion": OCI_VERSION, "id": self.id, "status": status,
               "bundle": self.d["bundle"]}
        if status != "stopped":
            out["pid"] = self.d["pid"]
        ann = self.d.get("annotations")
        if ann:
            out["annotations"] = ann
        return out

    def save(self):
        """state.json by write-to-temp and rename, then `list`'s record of it."""
        tmp = _join(self.dir, STATE_FILE + ".tmp")
        fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o600)
        try:
            posix.write(fd, jsonlite.dumps(self.d).encode())
            fst = posix.fstat(fd)  # (inode, size and mtime survive the rename)
        finally:
            posix.close(fd)
        posix.rename(tmp, _join(self.dir, STATE_FILE))
        _save_record(self.dir, self.d, fst)


def _save_record(dirpath, d, fst):
    """LIST_FILE: the fields `list` needs, tied to the state.json of fstat."""
    import zlib
    rec = {k: d[k] for k in _LIST_KEYS if k in d}
    rec["of"] = [fst.st_ino, fst.st_size, fst.st_mtime_ns]
    body = jsonlite.dumps(rec).encode()
    data = b"%08x" % zlib.crc32(body) + body
    fd = posix.open(_join(dirpath, LIST_FILE), posix.O_WRONLY | posix.O_CREAT | posix.O_CLOEXEC,
                 0o600)
    try:
        posix.write(fd, data)
        posix.ftruncate(fd, len(data))  # (a longer old one's tail)
    finally:
        posix.close(fd)


def ensure_root(root):
    try:
        _makedirs(root, 0o711)
    except OSError as e:
        raise errors.ContainerError(f"cannot create state root {root}: {e.strerror}") from None


def _makedirs(path, mode):
    """os.makedirs(path, mode, exist_ok=True) without os (create's path):
    the missing parents made with the default mode, as os.makedirs does."""
    try:
        posix.mkdir(path, mode)
    except FileExistsError:
        if not _isdir(path):
            raise
    except FileNotFoundError:
        parent = path.rstrip("/").rsplit("/", 1)[0]
        if not parent or parent == path:
            raise
        _makedirs(parent, 0o777)
        try:
            posix.mkdir(path, mode)
        except FileExistsError:  # (made meanwhile, by a concurrent create)
            if not _isdir(path):
                raise


def _isdir(path):
    return _mode(path) == 0o040000


# A new entry is born complete: made under a temporary name, locked, its
# state.json written, then renamed to <root>/<id> (rename of a directory
# onto a non-empty one fails: the atomic "id in use" check). So <root>/<id>
# never exists without state.json (but while `delete` removes it), and a
# create killed before the rename leaves only a `@new.*` directory, which
# sweep_new() removes once its creator is gone. ("@" is in no valid id: the
# name never clashes with a container's, and `list` never shows it.)
NEW_PREFIX = "@new."
NEW_GRACE = 10.0  # seconds: younger `@new.*` dirs may be a create not yet locked


def new(root, cid, d):
    """Make the state dir of a new container, locked: fails if the id is
    taken. Returns (State, Lock); other commands on the id wait for the
    lock."""
    check_id(cid)
    ensure_root(root)
    path = _join(root, cid)
    if _lexists(_join(path, STATE_FILE)):
        raise errors.AlreadyExists(cid)  # (the rename below is the check that counts)
    tmp = _join(root, f"{NEW_PREFIX}{posix.getpid()}.{posix.urandom(6).hex()}")
    posix.mkdir(tmp, 0o711)
    try:
        lock = Lock(tmp)
    except BaseException:
        posix.rmdir(tmp)
        raise
    st = State(root, cid, d)
    st.dir = tmp
    try:
        st.save()
        try:
            posix.rename(tmp, path)
        except OSError as e:
            if e.errno in (17, 39, 20):  # EEXIST, ENOTEMPTY, ENOTDIR
                raise errors.AlreadyExists(cid) from None
            raise
    except BaseException:
        lock.release()
        remove_dir(tmp)
        raise
    st.dir = path
    return st, lock


def _is_file(path):
    return _mode(path) == 0o100000


def _is_dir(path):
    """A directory itself, not a symlink to one (runc: the dirent's type)."""
    return _mode(path, posix.lstat) == 0o040000


def _lexists(path):
    return _mode(path, posix.lstat) is not None


def sweep_new(root):
    """Remove the `@new.*` dirs of creates killed before their rename (no
    live holder of their lock, and older than NEW_GRACE). Returns their
    paths."""
    import fcntl
    import time
    try:
        names = [n for n in posix.listdir(root) if n.startswith(NEW_PREFIX)]
    except OSError:
        return []
    out = []
    now = time.time()
    for n in names:
        p = _join(root, n)
        try:  # (a symlink is never a create's dir: never followed)
            fd = posix.open(p, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_NOFOLLOW | posix.O_CLOEXEC)
        except OSError:
            continue
        try:
            pid = n[len(NEW_PREFIX):].split(".")[0]
            alive = pid.isdigit() and proc_start_time(int(pid)) is not None
            if alive and now - posix.fstat(fd).st_mtime < NEW_GRACE:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its create is still running
            if not set(posix.listdir(fd)) <= set(ENTRY_FILES):
                continue  # (what no create's dir holds: not ours to remove)
            remove_dir(p)
            out.append(p)
        finally:
            posix.close(fd)
    return out


def remove_partial(root, cid):
    """`delete --force` of an id without a readable state.json: remove what
    is there (a dir left by a delete killed half-way, or a state.json that
    cannot be read), under its lock. Returns a list of what was removed."""
    from . import log
    check_id(cid)
    removed = [f"state dir {p} of an interrupted create" for p in sweep_new(root)]
    path = _join(root, cid)
    try:
        lock = Lock(path)
    except errors.NotExist:
        return removed
    try:
        try:
            load(root, cid)
            return removed  # complete after all (a create finished meanwhile)
        except errors.NotExist:
            pass
        except errors.PyruncError as e:  # unreadable: nothing in it can be trusted
            log.warn(f"delete: {cid}: {e}; removing its state dir only")
        _check_entry_dir(path)
        remove_dir(path)
        removed.append(f"state dir {path} without a readable state")
    finally:
        lock.release()
    return removed


def _check_entry_dir(path):
    """Refuse to remove, as a broken state entry, a directory holding what
    no state dir holds (ENTRY_FILES; of those, only an empty directory
    where a file belongs is taken too)."""
    try:
        names = posix.listdir(path)
    except OSError:
        return
    for n in names:
        if n not in ENTRY_FILES:
            raise errors.ContainerError(f"refusing to remove {path}: not a container's state "
                                        f"directory (it holds {n!r})")


def load_locked(root, cid):
    """(State, Lock) of an existing container, read after taking its lock so
    that what a concurrent command changed is seen."""
    check_id(cid)
    lock = Lock(_join(root, cid))
    try:
        return load(root, cid), lock
    except BaseException:
        lock.release()
        raise


def load(root, cid):
    check_id(cid)
    try:
        d = jsonlite.loads(read_file(_join(_join(root, cid), STATE_FILE)), "state.json")
    except (FileNotFoundError, NotADirectoryError):
        raise errors.NotExist(cid) from None
    except errors.ConfigError as e:  # (unparsable) our own record, not the user's config
        e.error_class = "internal"
        raise
    except OSError as e:  # (a directory in its place, say)
        raise errors.ConfigError("", f"state.json of {cid}: {(e.strerror or str(e)).lower()}",
                                 "internal") \
            from None
    if not isinstance(d, dict) or "ociVersion" not in d or "bundle" not in d:
        raise errors.ConfigError("", f"state.json of {cid} is incomplete", "internal")
    bad = _misshapen(d)
    if bad:  # garbage that parses: an error, never a traceback in delete
        raise errors.ConfigError("", f"state.json of {cid}: {bad} has the wrong type", "internal")
    return State(root, cid, d)


_INT, _STR, _DICT, _LIST = (int,), (str,), (dict,), (list,)
_NONE = type(None)
# the fields status/kill/delete act on, and the types create writes
_SHAPE = {"pid": _INT, "start_time": (int, _NONE), "creator": _INT,
          "creator_start": (int, _NONE), "status": _STR, "bundle": _STR,
          "cgroups": _DICT, "freezer": (str, _NONE), "hooks": _DICT,
          "host_mounts": (dict, _NONE), "added_mounts": (list, _NONE), "exit": (dict, _NONE)}


def _misshapen(d):
    """The first field of a state record whose type is not what create
    wrote (None: all fine)."""
    for k, types in _SHAPE.items():
        v = d.get(k)
        if k in d and (not isinstance(v, types) or isinstance(v, bool)):
            return k
    cg = d.get("cgroups") or {}
    dirs, made = cg.get("dirs", {}), cg.get("created", [])
    if not (isinstance(dirs, dict) and isinstance(made, list)
            and all(isinstance(p, str) for p in (*dirs.values(), *made))
            and isinstance(cg.get("systemd", {}), dict)):
        return "cgroups"
    for hs in (d.get("hooks") or {}).values():
        if not isinstance(hs, list) or not all(isinstance(h, dict) for h in hs):
            return "hooks"
    hm = d.get("host_mounts")
    if hm is not None and (not isinstance(hm.get("path"), str)
                           or not isinstance(hm.get("before", []), list)
                           or not all(type(i) is int for i in hm.get("before", []))):
        return "host_mounts"
    if not all(isinstance(r, dict) for r in d.get("added_mounts") or ()):
        return "added_mounts"
    return None


def load_listed(root, cid):
    """The State `list` shows for an entry: from its record (LIST_FILE) when
    that is the one written with the state.json beside it, else load().
    (root is check_root's clean absolute path, cid a valid id: plain
    joins; posix.open/posix.read: no file object per container.)"""
    d = f"{root}/{cid}"
    try:
        fd = posix.open(f"{d}/{LIST_FILE}", posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            data = posix.read(fd, 65536)
        finally:
            posix.close(fd)
        import zlib
        body = data[8:]
        rec = jsonlite.loads(body, LIST_FILE) if data[:8] == b"%08x" % zlib.crc32(body) else None
        s = posix.stat(f"{d}/{STATE_FILE}")
        if (type(rec) is dict and rec.pop("of", None) == [s.st_ino, s.st_size, s.st_mtime_ns]
                and "ociVersion" in rec and "bundle" in rec and _record_shaped(rec)):
            return State(root, cid, rec)
    except (OSError, errors.PyruncError):
        pass
    return load(root, cid)


def _record_shaped(rec):
    """The fields status() reads have the types create writes."""
    for k in ("pid", "start_time", "creator", "creator_start", "status", "freezer"):
        if k in rec:
            v = rec[k]
            if not isinstance(v, _SHAPE[k]) or isinstance(v, bool):
                return False
    return True


def list_listed(root, warn=None):
    """Every entry under root, sorted by id, as State, for `list`. An entry
    that cannot be read is left out and named to warn(line) in runc's words
    ("load container ID: ..."); names that are no container id (a create's
    `@new.*` dir) are not entries."""
    try:
        names = posix.listdir(root)
    except FileNotFoundError:
        return []
    out = []
    for cid in sorted(names):
        if valid_id(cid):
            try:
                out.append(load_listed(root, cid))
            except errors.PyruncError as e:
                if warn is not None and _is_dir(_join(root, cid)):
                    warn(f"load container {cid}: {e}")
    return out


def list_ids(root):
    try:
        names = posix.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if valid_id(n) and _is_file(_join(_join(root, n), STATE_FILE)))


class Lock:
    """flock on the container's state dir: serializes commands on one id."""

    __slots__ = ("fd",)

    def __init__(self, path):
        import fcntl
        while True:
            try:  # (an entry is born a directory by rename: a symlink is none)
                self.fd = posix.open(path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_NOFOLLOW |
                                  posix.O_CLOEXEC)
            except (FileNotFoundError, NotADirectoryError):
                raise errors.NotExist() from None
            except OSError as e:
                if e.errno == 40:  # ELOOP: a symlink
                    raise errors.NotExist() from None
                raise
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            # the dir we waited on may have been deleted meanwhile, and a
            # new container made under the same id: its lock is another one
            try:
                now = posix.stat(path)
            except OSError:
                now = None
            mine = posix.fstat(self.fd)
            if now is not None and (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev):
                return
            posix.close(self.fd)
            self.fd = -1

    def release(self):
        """Unlock, for every holder of the lock: a child forked meanwhile
        shares it and may not run to close its copy (an exec'd process
        born into a frozen cgroup v2 waits for the very `resume` that
        needs this lock)."""
        if self.fd >= 0:
            import fcntl
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            posix.close(self.fd)
            self.fd = -1

    def drop(self):
        """A forked child's side: close its copy, leaving the lock with the
        parent."""
        if self.fd >= 0:
            posix.close(self.fd)
            self.fd = -1


def remove_dir(path):
    """Remove a state dir (flat: only files inside), state.json last: a
    delete killed half-way leaves either a loadable state or a dir without
    one, which `delete --force` removes (remove_partial)."""
    try:
        names = posix.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    names.sort(key=lambda n: n == STATE_FILE)
    for n in names:
        try:
            posix.unlink(_join(path, n))
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            # (a corrupt entry: a directory where a file belongs) removed if
            # empty; a tree is never walked here
            try:
                posix.rmdir(_join(path, n))
            except OSError as e:
                raise errors.ContainerError(f"cannot remove {_join(path, n)}: "
                                            f"{(e.strerror or str(e)).lower()}") from None
    try:
        posix.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno != 39:  # ENOTEMPTY: a new create of this id took the name
            raise
