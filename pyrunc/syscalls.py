"""The syscalls Python lacks, as Python functions raising OSError.

This is the seam between pyrunc's logic and the kernel: the C shim
(csrc/, built into pyrunc._shim) only wraps syscalls and returns -errno;
here that becomes OSError with the path in it. Unit tests may replace
functions of this module to run the logic without root.
"""
import posix as os  # (not os: see fspath.py; os.X here are posix's own functions)

from ._shim import ffi, lib

# namespace clone flags
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

# openat2 resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# prctl
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

CLOSE_RANGE_CLOEXEC = 4


def _check(ret, *what):
    if ret < 0:
        if not what:  # name the call, for errors without a path
            import sys
            what = (sys._getframe(1).f_code.co_name,)
        raise OSError(-ret, os.strerror(-ret), *what)
    return ret


def _b(s):
    return s.encode() if isinstance(s, str) else s


def setns(fd, nstype=0):
    _check(lib.pr_setns(fd, nstype))


def unshare(flags):
    _check(lib.pr_unshare(flags))


def sethostname(name):
    b = _b(name)
    _check(lib.pr_sethostname(b, len(b)))


def setdomainname(name):
    b = _b(name)
    _check(lib.pr_setdomainname(b, len(b)))


def socket(domain, type_, protocol=0):
    """A socket's fd, close-on-exec (SOCK_CLOEXEC is O_CLOEXEC on Linux),
    without the _socket module."""
    return _check(lib.pr_socket(domain, type_ | os.O_CLOEXEC, protocol))


def mount(source, target, fstype, flags=0, data=None):
    _check(lib.pr_mount(_b(source) if source is not None else ffi.NULL, _b(target),
                        _b(fstype) if fstype else ffi.NULL, flags,
                        _b(data) if data else ffi.NULL), target)


def umount2(target, flags=0):
    _check(lib.pr_umount2(_b(target), flags), target)


def pivot_root(new_root, put_old):
    _check(lib.pr_pivot_root(_b(new_root), _b(put_old)), new_root)


def openat2(dirfd, path, flags, mode=0, resolve=0):
    return _check(lib.pr_openat2(dirfd, _b(path), flags | os.O_CLOEXEC, mode, resolve), path)


def fstatfs_type(fd):
    """f_type of the filesystem the fd (O_PATH is fine) is on."""
    out = ffi.new("uint64_t *")
    _check(lib.pr_fstatfs_type(fd, out), f"fd {fd}")
    return out[0]


def prctl(option, a2=0, a3=0, a4=0, a5=0):
    return _check(lib.pr_prctl(option, a2, a3, a4, a5))


def capget(pid=0):
    """(effective, permitted, inheritable) of pid as 64-bit masks."""
    out = ffi.new("uint32_t[6]")
    _check(lib.pr_capget_pid(pid, out))
    return tuple(out[i] | (out[i + 3] << 32) for i in range(3))


def capset(effective, permitted, inheritable):
    m = 0xFFFFFFFF
    _check(lib.pr_capset([effective & m, permitted & m, inheritable & m,
                          effective >> 32, permitted >> 32, inheritable >> 32]))


def close_range(first, last=0xFFFFFFFF, flags=0):
    _check(lib.pr_close_range(first, last, flags))


def keyctl_join_session(name):
    return _check(lib.pr_keyctl_join(_b(name) if name else ffi.NULL))


def personality(persona):
    return _check(lib.pr_personality(persona))


def clone3(flags=0, cgroup_fd=-1):
    """fork(2) into new namespaces (flags) and/or a cgroup v2 directory
    (clone3 with CLONE_INTO_CGROUP when cgroup_fd >= 0).

    Unlike os.fork this skips CPython's at-fork bookkeeping; callers are
    single-threaded and only run the container's init in the child."""
    return _check(lib.pr_clone3(flags, cgroup_fd))


def seccomp_load(flags, prog):
    """seccomp(SECCOMP_SET_MODE_FILTER) of a BPF program (bytes); the
    notify fd with SECCOMP_FILTER_FLAG_NEW_LISTENER."""
    return _check(lib.pr_seccomp_load(flags, prog, len(prog)))


def sched_setattr(policy, flags=0, nice=0, priority=0, runtime=0, deadline=0, period=0):
    _check(lib.pr_sched_setattr(policy, flags, nice, priority, runtime, deadline, period))


def ioprio_set(ioprio):
    _check(lib.pr_ioprio_set(ioprio))


def set_mempolicy(mode, nodes):
    """nodes: an iterable of NUMA node numbers (empty for MPOL_DEFAULT/LOCAL)."""
    nodes = list(nodes)
    words = (max(nodes) // 64 + 1) if nodes else 1
    mask = ffi.new("unsigned long[]", words)
    for n in nodes:
        mask[n // 64] |= 1 << (n % 64)
    _check(lib.pr_set_mempolicy(mode, mask if nodes else ffi.NULL, words * 64 + 1 if nodes else 0))


AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
MOUNT_ATTR_IDMAP = 0x00100000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40


def open_tree(dirfd, path, flags):
    return _check(lib.pr_open_tree(dirfd, _b(path), flags | os.O_CLOEXEC), path)


def mount_setattr(fd, path, flags, attr_set=0, attr_clr=0, propagation=0, userns_fd=0):
    _check(lib.pr_mount_setattr(fd, _b(path), flags, attr_set, attr_clr, propagation, userns_fd))


def move_mount(from_fd, from_path, to_fd, to_path, flags):
    _check(lib.pr_move_mount(from_fd, _b(from_path), to_fd, _b(to_path), flags))


FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, FSCONFIG_SET_FD, FSCONFIG_CMD_CREATE = 0, 1, 5, 6
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 1, 2, 4, 8


def fsopen(fsname):
    return _check(lib.pr_fsopen(_b(fsname), FSOPEN_CLOEXEC), fsname)


def fsconfig(fd, cmd, key=None, value=None, aux=0):
    _check(lib.pr_fsconfig(fd, cmd, _b(key) if key is not None else ffi.NULL,
                           _b(value) if value is not None else ffi.NULL, aux), key)


def fsmount(fd, attr_flags=0):
    return _check(lib.pr_fsmount(fd, FSMOUNT_CLOEXEC, attr_flags))


def close_all_except(keep):
    """Close every fd but those in keep (None entries ignored), in as few
    close_range calls as there are gaps."""
    start = 0
    for fd in sorted(k for k in keep if k is not None and k >= 0):
        if fd > start:
            close_range(start, fd - 1)
        start = fd + 1
    close_range(start)


def bpf(cmd, attr):
    """bpf(2) with attr, a bytearray the caller packed: passed by address so
    what the kernel writes back (BPF_PROG_QUERY's count) lands in it.
    Returns the syscall's result (an fd for the commands that make one)."""
    return _check(lib.pr_bpf(cmd, ffi.from_buffer(attr), len(attr)))


def buffer_address(buf):
    """(keep, address) of a bytes/bytearray's data, for the pointers inside
    a bpf attr; keep must stay referenced while the kernel may use address
    (it also pins a bytearray's size)."""
    keep = ffi.from_buffer(buf)
    return keep, int(ffi.cast("uintptr_t", keep))
