"""Bind-mount sources opened on the host's side (runc's procMountPlease).

Two kinds of bind source cannot be opened by the init itself:
  - a host directory the container's user cannot reach (in a user
    namespace, mapped root is not the host's root: a 0700 root-owned parent
    stops it), and
  - an idmapped source (mounts[].uidMappings/gidMappings): MOUNT_ATTR_IDMAP
    needs a user namespace made for the mapping, by the host's root.
For these the init asks the runtime (sync.WANT_SOURCE <mount index>). The
runtime forks a short-lived child that joins the init's *mount namespace*
(through a pidfd, so a reused pid cannot redirect it) keeping the host's
credentials, and there opens the source: O_PATH for a plain bind,
open_tree(OPEN_TREE_CLONE) + MOUNT_ATTR_IDMAP for an idmapped one. The fd
goes to the init over a socketpair made before the fork (SCM_RIGHTS), and
the init mounts it like any other source.

Why the init's mount namespace and not the host's:
  - sources resolve as the init sees them, in config order: a source inside
    an earlier mount of the same container (under the rootfs) is found;
  - the mounts of that namespace are copies made for a less privileged user
    namespace, so the kernel has *locked* their flags (ro, nosuid, nodev,
    noexec, atime): a clone keeps those locks, and the container can never
    remount its idmapped or unreachable source without them. A clone of a
    host mount (what open_tree in the runtime's namespace would give) has
    no locks, and a container root with CAP_SYS_ADMIN could drop them.
"""
import os

from .errors import ConfigError, InitError
from .sync import SOURCE_ERROR as _ERR, SOURCE_FD as _OK

_SOL_SOCKET, _SCM_RIGHTS = 1, 1


def wanted(spec):
    """Whether the init may ask for sources: an idmapped mount, or a bind
    mount in a container with a user namespace."""
    from . import idmap
    userns = spec.linux.ns("user") is not None
    return any(idmap.wanted(m) or (userns and _is_bind(m)) for m in spec.mounts)


def _is_bind(m):
    return m.type == "bind" or "bind" in m.options or "rbind" in m.options


def source_path(spec, m):
    return m.source if os.path.isabs(m.source) else os.path.join(spec.bundle, m.source)


def _ident(st):
    return st.st_dev, st.st_ino


def _into_rootfs(spec, src):
    """(an O_PATH fd of the rootfs, the rest of src) when src leads into
    the rootfs directory, else None.

    By identity, not by name: the host's part of the path is walked one
    component at a time, its symlinks followed (they are the host's), and
    the walk stops at the first directory that *is* the rootfs, reached by
    whatever name (a symlink to the rootfs or to the bundle, a bundle
    given through a symlink): what follows is the container's. A walk
    that fails (a component missing or unreachable, a magic link whose
    text is no path) leaves the source to the caller's usual open."""
    import stat
    try:
        root_id = _ident(os.stat(spec.root_path))
        cur = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    parts = [p for p in src.split("/") if p not in ("", ".")][::-1]  # (a stack)
    links = 0
    try:
        while True:
            if _ident(os.fstat(cur)) == root_id:
                found, cur = cur, -1
                return found, "/".join(reversed(parts))
            if not parts:
                return None
            name = parts.pop()
            nxt = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
            if not stat.S_ISLNK(os.fstat(nxt).st_mode):
                os.close(cur)
                cur = nxt
                continue
            os.close(nxt)
            links += 1
            if links > 40:
                return None
            target = os.readlink(name, dir_fd=cur)
            parts.extend(p for p in target.split("/")[::-1] if p not in ("", "."))
            if target.startswith("/"):
                os.close(cur)
                cur = -1
                cur = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    finally:
        if cur >= 0:
            os.close(cur)


def open_in_rootfs(spec, m):
    """An O_PATH fd of a bind source that leads into the rootfs (by any
    name: _into_rootfs), resolved inside it from there (openat2
    RESOLVE_IN_ROOT): a symlink of the image or of the running container
    on the way stays in the container's tree instead of reaching the
    host's, where runc would follow it. None for a source elsewhere."""
    if not _is_bind(m):
        return None
    got = _into_rootfs(spec, source_path(spec, m))
    if got is None:
        return None
    rootfd, rel = got
    from . import paths
    try:
        return paths.open_in_root(rootfd, rel)
    except OSError as e:
        raise ConfigError(f"{m.where}.source", f"{source_path(spec, m)}: {e.strerror} "
                          "(resolved inside the rootfs)") from None
    finally:
        os.close(rootfd)


class Link:
    """The socketpair: `ours` stays with the runtime, `theirs` goes to the
    init (the runtime's copy of it is closed once the init is forked)."""

    __slots__ = ("ours", "theirs")

    def __init__(self):
        import _socket
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        self.ours, self.theirs = a.detach(), b.detach()

    def close_theirs(self):
        if self.theirs >= 0:
            os.close(self.theirs)
            self.theirs = -1

    def close(self):
        self.close_theirs()
        if self.ours >= 0:
            os.close(self.ours)
            self.ours = -1


# -- in the init ------------------------------------------------------------
class Client:
    """The init's side: which mounts need a source from the runtime, and
    getting it."""

    __slots__ = ("chan", "sock", "spec", "userns")

    def __init__(self, chan, sock, spec):
        self.chan = chan
        self.sock = sock
        self.spec = spec
        self.userns = spec.linux.ns("user") is not None

    def fetch(self, m):
        """(fd, is_detached_tree) for a mount whose source the runtime must
        open, else None (the init mounts it by path itself)."""
        from . import idmap
        if idmap.wanted(m):
            return self._ask(m), True
        if not (self.userns and _is_bind(m)):
            return None
        try:
            os.stat(source_path(self.spec, m))
            return None  # reachable: a bind by path, as without a user namespace
        except OSError:
            return self._ask(m), False

    def _ask(self, m):
        from . import sync
        self.chan.send(sync.WANT_SOURCE, str(m.index))
        return _recv_fd(self.sock, m)


def _recv_fd(sock, m):
    import _socket
    import struct
    s = _socket.socket(fileno=os.dup(sock))
    try:
        # (close-on-exec from the start: a host directory's fd must never
        # reach the container's process, CVE-2024-21626)
        data, anc, _, _ = s.recvmsg(4096, _socket.CMSG_SPACE(4), _socket.MSG_CMSG_CLOEXEC)
    finally:
        s.close()
    fds = [struct.unpack("i", d[:4])[0] for lvl, typ, d in anc
           if lvl == _SOL_SOCKET and typ == _SCM_RIGHTS]
    if data[:1] == _OK and len(fds) == 1:
        return fds[0]
    for fd in fds:
        os.close(fd)
    if data[:1] != _ERR:
        raise ConfigError(f"{m.where}.source", "no answer from the runtime")
    path, _, msg = data[1:].decode(errors="replace").partition("\0")
    raise ConfigError(path, msg)


# -- in the runtime ---------------------------------------------------------
def serve(link, spec, payload, init_pid, deadline):
    """Answer one WANT_SOURCE: a child joins the init's mount namespace and
    sends the opened source (or why it could not) straight to the init.
    The user namespace of an idmapping is made here first, in the
    runtime's own namespaces (the container's mount namespace may be a
    joined one whose /proc is another container's)."""
    from . import idmap
    try:
        m = spec.mounts[int(payload)]
    except (ValueError, IndexError):
        raise InitError(f"init: asked for the source of mount {payload!r}") from None
    userns = -1
    try:
        if idmap.wanted(m):
            userns = idmap.userns_for(spec, m)
    except ConfigError as e:
        _send(link.ours, _ERR + f"{e.path}\0{e.message}".encode())
        return
    pidfd = os.pidfd_open(init_pid)
    try:
        pid = os.fork()
        if pid == 0:
            _child(link.ours, spec, m, pidfd, userns)  # never returns
    finally:
        os.close(pidfd)
        if userns >= 0:
            os.close(userns)
    status = _wait(pid, deadline)
    if status is None:
        _send(link.ours, _ERR + f"{m.where}.source\0timed out opening it".encode())
    elif status != 0:  # died before it answered: the init must not wait in vain
        _send(link.ours, _ERR + f"{m.where}.source\0the runtime could not open it".encode())


def _wait(pid, deadline):
    """The child's status, or None once it was killed at the deadline (an
    open on a hung network or FUSE file system must not hang create)."""
    import select
    import time
    pidfd = os.pidfd_open(pid)
    try:
        p = select.poll()
        p.register(pidfd, select.POLLIN)
        if not p.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            import _signal
            _signal.pidfd_send_signal(pidfd, 9)
            os.waitpid(pid, 0)
            return None
    finally:
        os.close(pidfd)
    return os.waitpid(pid, 0)[1]


def _child(sock, spec, m, pidfd, userns):
    """Host root in the init's mount namespace, which may be a joined one
    that a running container controls: it holds no fd but these three
    (a symlink to /proc/self/fd/N must find nothing of the runtime's), and
    follows no magic link while it resolves the source."""
    status = 1
    try:
        src = source_path(spec, m)
        try:
            from . import idmap, paths  # noqa: F401  (everything used below)
            from . import syscalls as sc
            sc.close_all_except({sock, pidfd, userns})
            sc.prctl(4, 0)  # PR_SET_DUMPABLE 0: the host's Python, in the init's namespace
            # after the setns a path is the init's namespace's (a joined one
            # is another container's): no import may look for a module there
            from .launch import seal_imports
            seal_imports()
            sc.setns(pidfd, sc.CLONE_NEWNS)
            fd = open_in_rootfs(spec, m)
            if fd is None:
                fd = sc.openat2(-100, src, os.O_PATH, 0, sc.RESOLVE_NO_MAGICLINKS)
            if userns >= 0:
                path_fd, fd = fd, idmap.detached(src, m, userns, fd)
                os.close(path_fd)
        except ConfigError as e:
            _send(sock, _ERR + f"{e.path}\0{e.message}".encode())
        except OSError as e:
            _send(sock, _ERR + f"{m.where}.source\0{src}: {e.strerror}".encode())
        else:
            _send(sock, _OK, fd)
        status = 0
    finally:
        os._exit(status)


def _send(sock, data, fd=None):
    import _socket
    import struct
    s = _socket.socket(fileno=os.dup(sock))
    try:
        anc = [(_SOL_SOCKET, _SCM_RIGHTS, struct.pack("i", fd))] if fd is not None else []
        s.sendmsg([data], anc)
    finally:
        s.close()
