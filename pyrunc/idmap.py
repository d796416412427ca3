"""Idmapped mounts (mounts[].uidMappings/gidMappings, "idmap"/"ridmap").

The runtime, privileged in the host's user namespace, makes a user
namespace for the mapping; a child of it in the container's mount
namespace clones the source as a detached mount (open_tree) and gives it
the mapping (mount_setattr MOUNT_ATTR_IDMAP); the init gets the fd when it
reaches that mount (bindsources.py) and attaches it at the destination
(move_mount). So this works for containers with their own user namespace
too."""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from . import namespaces as ns
from . import syscalls as sc
from .config import IdMap
from .errors import ConfigError


def wanted(m):
    return m.idmapped


def userns_for(spec, m):
    """In the runtime, in its own namespaces: an fd of a new user namespace
    holding the mount's mapping (its own, or the container's)."""
    where = m.where
    uids = [IdMap(x) for x in m.uid_mappings] or spec.linux.uid_mappings
    gids = [IdMap(x) for x in m.gid_mappings] or spec.linux.gid_mappings
    if not uids or not gids:
        raise ConfigError(f"{where}.uidMappings", "an idmapped mount needs uidMappings and "
                          "gidMappings (its own, or the container's user namespace's)")
    if m.type not in ("bind", "") and not {"bind", "rbind"} & set(m.options):
        raise ConfigError(f"{where}.type", "only bind mounts can be idmapped")
    return _userns_with(uids, gids, where)


def detached(src, m, userns, srcfd=None):
    """The source (`srcfd` when it was resolved already) cloned as a
    detached mount (open_tree), idmapped through `userns`. Called in the
    container's mount namespace (bindsources.py), so the clone keeps the
    flags the kernel locked there."""
    where = m.where
    # submounts come along with rbind; they are idmapped too with ridmap
    rbind = "rbind" in m.options
    ridmap = "ridmap" in m.options
    flags = sc.OPEN_TREE_CLONE | (sc.AT_RECURSIVE if rbind else 0)
    try:
        if srcfd is not None:
            fd = sc.open_tree(srcfd, "", flags | sc.AT_EMPTY_PATH)
        else:
            fd = sc.open_tree(-100, src, flags)
    except OSError as e:
        raise ConfigError(f"{where}.source", f"{src}: {e.strerror}") from None
    try:
        sc.mount_setattr(fd, "", sc.AT_EMPTY_PATH | (sc.AT_RECURSIVE if ridmap else 0),
                         attr_set=sc.MOUNT_ATTR_IDMAP, userns_fd=userns)
    except OSError as e:
        os.close(fd)
        raise ConfigError(where, f"cannot idmap {src}: {e.strerror} (its file system may "
                          "not support idmapped mounts)") from None
    return fd


def _userns_with(uids, gids, where):
    """An fd of a new user namespace with these maps (a short-lived child
    holds it while the maps are written)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    r2, w2 = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.close(w2)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(w, b"1")
            os.read(r2, 1)  # until the parent has opened our namespace
        finally:
            os._exit(0)
    os.close(w)
    os.close(r2)
    try:
        if os.read(r, 1) != b"1":
            raise ConfigError(where, "cannot make a user namespace for the mapping")

        class _L:  # namespaces.write_id_maps reads these two fields
            uid_mappings, gid_mappings = uids, gids
        ns.write_id_maps(pid, _L)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(w2)
        os.close(r)
        os.waitpid(pid, 0)
