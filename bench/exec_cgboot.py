# callgrind harness for exec, and for create/run's runtime parent (valgrind 3.19 lacks pidfd_open 434 and openat2 437):
# pidfd_open -> an fd of /proc/PID (pidfd_send_signal takes one), openat2 -> openat
# (same flags, no resolve checks), setns(pidfd, flags) -> setns of each /proc/PID/ns file.
# create/run: the init runs under valgrind too, which lacks open_tree and keeps fds for
# itself: use a config without readonlyPaths/maskedPaths and rlimits, root writable;
# the parent's figure is the callgrind file of the lowest pid.
import gc, sys, posix
gc.disable()
p = sys.argv.pop(1)  # site-packages
sys.path.append(p)
_O = posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC
_pids = {}
def _pidfd_open(pid, flags=0):
    fd = posix.open(f"/proc/{pid}", _O)
    _pids[fd] = pid
    return fd
posix.pidfd_open = _pidfd_open
import _signal
def _pss(fd, sig, siginfo=None, flags=0):
    posix.kill(_pids[fd], sig)
_signal.pidfd_send_signal = _pss
import pyrunc._shim as _s
_lib = _s.lib
class L:
    def __getattr__(self, n):
        return getattr(_lib, n)
    def pr_openat2(self, dirfd, path, flags, mode, resolve):
        try:
            return posix.open(_s.ffi.string(path) if not isinstance(path, bytes) else path, flags, mode, dir_fd=None if dirfd == -100 else dirfd)
        except OSError as e:
            return -e.errno
    def pr_setns(self, fd, flags):
        if flags == 0:
            return _lib.pr_setns(fd, 0)
        names = [(0x10000000,"user"),(0x08000000,"ipc"),(0x04000000,"uts"),(0x40000000,"net"),(0x20000000,"pid"),(0x80,"time"),(0x02000000,"cgroup"),(0x00020000,"mnt")]
        for f, n in names:
            if flags & f:
                nfd = posix.open(f"ns/{n}", posix.O_RDONLY | posix.O_CLOEXEC, dir_fd=fd)
                r = _lib.pr_setns(nfd, 0)
                posix.close(nfd)
                if r < 0:
                    return r
        return 0
_s.lib = L()
_execve = posix.execve
def _helper(path, argv, env):
    # the sealed helper (static C, not counted here): its protocol only
    if not isinstance(path, int):
        return _execve(path, argv, env)
    how, opts = argv[1], argv[3]
    fifo = int(how[1:]) if how[:1] == "f" else -1
    if how[:1] == "p":  # create's init: block until `start` reads the fifo,
        # the exec's close-on-exec fds (the channel to pyrunc) closed first
        import fcntl
        for fd in range(3, 1024):
            try:
                if fd != int(how[1:]) and fcntl.fcntl(fd, fcntl.F_GETFD) & 1:
                    posix.close(fd)
            except OSError:
                pass
        fifo = posix.open(f"/proc/self/fd/{how[1:]}", posix.O_WRONLY | posix.O_CLOEXEC)
    for o in opts.split(","):
        if o[:1] == "F":
            pid = posix.fork()
            if pid:
                posix.write(int(o[1:]), f"pid {pid}\n".encode())
                posix._exit(0)
    if fifo >= 0:
        posix.write(fifo, b"0")
    _execve(argv[4], argv[5:], env)
posix.execve = _helper
from pyrunc.cli import main
r = main()
try:
    sys.stdout.flush(); sys.stderr.flush()
except BaseException:
    sys.exit(r)
posix._exit(r or 0)
