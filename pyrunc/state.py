"""Container state on disk: <root>/<id>/state.json, the exec fifo, the lock.

The status is never stored: it is derived each time from the init's
process (alive, same start time), the exec fifo (present until `start`)
and the freezer, so a container whose process died is "stopped" without
anyone having to record it.
"""
import os

from . import jsonlite
from .errors import AlreadyExists, ContainerError, NotExist

STATE_FILE = "state.json"
FIFO = "exec.fifo"


def valid_id(cid):
    if not cid or cid in (".", "..") or len(cid) > 1024:
        return False
    for ch in cid:
        if not (ch.isascii() and (ch.isalnum() or ch in "_+-.")):
            return False
    return True


def check_id(cid):
    if not valid_id(cid):
        raise ContainerError(f"invalid container id format: {cid}")


def proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat (None if gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
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
        self.dir = os.path.join(root, cid)
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
            if creator > 0 and proc_start_time(creator) is not None:
                return "creating"
            return "stopped"
        if not self.init_alive():
            return "stopped"
        if os.path.exists(os.path.join(self.dir, FIFO)):
            return "created"
        if self.frozen():
            return "paused"
        return "running"

    def frozen(self):
        f = self.d.get("freezer")
        if not f:
            return False
        try:
            with open(f) as fh:
                v = fh.read().strip()
        except OSError:
            return False
        return v in ("FROZEN", "FREEZING", "1")

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
        """The state given to hooks on stdin (spec fields only)."""
        out = {"ociVersion": self.d["ociVersion"], "id": self.id, "status": status,
               "bundle": self.d["bundle"]}
        if status != "stopped":
            out["pid"] = self.d["pid"]
        ann = self.d.get("annotations")
        if ann:
            out["annotations"] = ann
        return out

    def save(self):
        tmp = os.path.join(self.dir, STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, jsonlite.dumps(self.d).encode())
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.dir, STATE_FILE))


def ensure_root(root):
    try:
        os.makedirs(root, 0o711, exist_ok=True)
    except OSError as e:
        raise ContainerError(f"cannot create state root {root}: {e.strerror}") from None


def new(root, cid, d):
    """Make the state dir of a new container, locked: fails if the id is
    taken. Returns (State, Lock); other commands on the id wait for the lock,
    and find state.json only once it is there."""
    check_id(cid)
    ensure_root(root)
    path = os.path.join(root, cid)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        raise AlreadyExists(cid) from None
    lock = Lock(path)
    st = State(root, cid, d)
    st.save()
    return st, lock


def load_locked(root, cid):
    """(State, Lock) of an existing container, read after taking its lock so
    that what a concurrent command changed is seen."""
    check_id(cid)
    lock = Lock(os.path.join(root, cid))
    try:
        return load(root, cid), lock
    except BaseException:
        lock.release()
        raise


def load(root, cid):
    check_id(cid)
    try:
        with open(os.path.join(root, cid, STATE_FILE), "rb") as f:
            d = jsonlite.loads(f.read(), "state.json")
    except (FileNotFoundError, NotADirectoryError):
        raise NotExist(cid) from None
    return State(root, cid, d)


def list_ids(root):
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if valid_id(n) and os.path.isfile(os.path.join(root, n, STATE_FILE)))


class Lock:
    """flock on the container's state dir: serializes commands on one id."""

    __slots__ = ("fd",)

    def __init__(self, path):
        import fcntl
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotExist() from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        """Unlock, for every holder of the lock: a child forked meanwhile
        shares it and may not run to close its copy (an exec'd process
        born into a frozen cgroup v2 waits for the very `resume` that
        needs this lock)."""
        if self.fd >= 0:
            import fcntl
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def drop(self):
        """A forked child's side: close its copy, leaving the lock with the
        parent."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def remove_dir(path):
    """Remove a state dir (flat: only files inside)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(os.path.join(path, n))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
