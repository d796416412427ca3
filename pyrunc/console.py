r"""process.terminal: the pty of a container and the --console-socket
protocol.

The pty is allocated by the init after pivot_root (by an exec in the
container's mount namespace), from the container's own /dev/ptmx (its
devpts instance), made the controlling terminal and stdio of the process;
the master goes to the caller over the console socket (one message,
payload "/dev/ptmx", the fd in SCM_RIGHTS), as runc does. The socket is
connected by the runtime before the fork, since its path is on the host.

Everything is done on fds the container cannot swap (CVE-2025-52565):
/dev/ptmx is opened inside the root without magic links and checked to be
the pty multiplexer, the slave is the master's peer (TIOCGPTPEER, checked
to be that pts), and the init binds that open slave on /dev/console
(open_tree + move_mount), onto a file opened without following a symlink.

runc's other terminal details: the slave belongs to process.user.uid
(its group is the devpts mount's gid=, set by the kernel), and when the
runtime relays the terminal itself (`run`/`exec` without
--console-socket) ONLCR is off, so what the caller reads is the program's
bytes, not "\r\n" for every "\n".
"""
import errno  # (built in; here, not in _own: the exec child calls it inside the container)
import os

TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441
TIOCGPTN = 0x80045430
TCGETS = 0x5401
TCSETS = 0x5402
ONLCR = 0o4
PTMX_RDEV = (5, 2)            # /dev/ptmx, /dev/pts/ptmx
PTS_MAJORS = range(136, 144)  # UNIX98_PTY_SLAVE_MAJOR and the 7 after it


def connect(path):
    """The runtime's side: an fd connected to the console socket."""
    import _socket
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC, 0)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"connecting to console socket {path}: {e.strerror}") from None
    return s.detach()


def open_pty(console_size=None):
    """(master, slave) from the /dev/ptmx of the current root, both checked:
    the master is the pty multiplexer (5:2), the slave its own peer (a pts
    whose number is the master's)."""
    import fcntl
    import stat
    import struct
    from . import syscalls as sc
    from .errors import InitError
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # a symlink (/dev/ptmx -> pts/ptmx) resolves inside the root; a
        # magic link (/proc/<pid>/root/...) could leave it: refused
        master = sc.openat2(root, "dev/ptmx", os.O_RDWR | os.O_NOCTTY, 0,
                            sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
    finally:
        os.close(root)
    slave = None
    try:
        st = os.fstat(master)
        if not stat.S_ISCHR(st.st_mode) or \
                (os.major(st.st_rdev), os.minor(st.st_rdev)) != PTMX_RDEV:
            raise InitError("/dev/ptmx in the container is not the pty multiplexer "
                            f"(device {os.major(st.st_rdev)}:{os.minor(st.st_rdev)})")
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        # the peer by fd, not by /dev/pts/N path: nothing can swap it
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        _check_peer(master, slave)
        if console_size:
            set_size(slave, console_size.get("height", 0), console_size.get("width", 0))
    except BaseException:
        if slave is not None:
            os.close(slave)
        os.close(master)
        raise
    return master, slave


def _check_peer(master, slave):
    """The slave is a pts device, the one numbered as the master's pty."""
    import fcntl
    import stat
    import struct
    from .errors import InitError
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    st = os.fstat(slave)
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    if not stat.S_ISCHR(st.st_mode) or major not in PTS_MAJORS or \
            (major - PTS_MAJORS[0]) * 256 + minor != n:
        raise InitError(f"the terminal's peer is not /dev/pts/{n} (device {major}:{minor})")


def setup(proc, console_fd, dev_console=False, relay=False, controlling=True):
    """The container's side of process.terminal, in its root: a new pty
    owned by the process's user, bound on /dev/console (dev_console: the
    init, not an exec), ONLCR off when the runtime relays it (relay), the
    master sent over console_fd (which is closed then), the slave our
    controlling terminal and stdio -- or, with controlling=False, returned
    for the process the helper forks (csrc/execinit.c, T), which makes it
    its own."""
    master, slave = open_pty(proc.console_size)
    try:
        _own(slave, proc.user.uid)
        if dev_console:
            mount_console(slave)
        if relay:
            clear_onlcr(slave)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    send_master(console_fd, master)
    if not controlling:
        return slave
    make_controlling(slave)
    return None


def _own(slave, uid):
    """The slave to the process's user (a container uid: we are in its
    user namespace, so the host sees the mapped id); the group stays the
    one the kernel gave (the devpts gid= option), as runc does."""
    try:
        if os.fstat(slave).st_uid != uid:
            os.fchown(slave, uid, -1)
    except OSError as e:
        # EINVAL: uid not mapped, reported by the setuid that follows;
        # EPERM/EROFS: a /dev/pts we cannot change (runc skips these too)
        if e.errno not in (errno.EINVAL, errno.EPERM, errno.EROFS):
            raise


def mount_console(slave):
    """Bind the open pty slave on the container's /dev/console (the
    runtime-spec's MUST), with the current root the container's.

    The source is the slave fd itself (open_tree of the fd), never a
    /dev/pts path looked up again. The target is a file made with O_EXCL
    and O_NOFOLLOW in /dev, which is resolved inside the root without
    symlinks. Something already at /dev/console (a /dev bind-mounted from
    a directory, a copied-up /dev, a device the config lists) is never
    followed: a symlink or a directory is refused, anything else is only
    mounted over (in the container's mount namespace)."""
    from . import syscalls as sc
    from .errors import InitError
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            dev = sc.openat2(root, "dev", os.O_PATH | os.O_DIRECTORY, 0,
                             sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_SYMLINKS |
                             sc.RESOLVE_NO_MAGICLINKS)
        except OSError as e:
            raise InitError(f"/dev/console: cannot open the container's /dev: {e.strerror}") \
                from None
    finally:
        os.close(root)
    try:
        target = _console_target(dev)
    finally:
        os.close(dev)
    try:
        tree = sc.open_tree(slave, "", sc.OPEN_TREE_CLONE | sc.AT_EMPTY_PATH)
        try:
            sc.move_mount(tree, "", target, "",
                          sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)
        finally:
            os.close(tree)
    except OSError as e:
        raise InitError(f"cannot mount the terminal on /dev/console: {e.strerror}") from None
    finally:
        os.close(target)


def _console_target(dev):
    """An fd of /dev/console in directory fd dev, never through a symlink."""
    import stat
    from . import syscalls as sc
    from .errors import InitError
    flags = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_RDONLY | os.O_CLOEXEC
    try:
        return os.open("console", flags, 0o600, dir_fd=dev)
    except FileExistsError:
        pass
    except OSError as e:
        raise InitError(f"cannot create /dev/console: {e.strerror}") from None
    try:
        # not O_NOFOLLOW: with RESOLVE_NO_SYMLINKS a symlink is ELOOP
        fd = sc.openat2(dev, "console", os.O_PATH, 0,
                        sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InitError("/dev/console in the container is a symlink: refusing to "
                            "mount the terminal on it") from None
        raise InitError(f"/dev/console: {e.strerror}") from None
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise InitError("/dev/console in the container is a directory")
    return fd


def clear_onlcr(fd):
    r"""ONLCR off on a pty (either side: the flags are the slave's), so
    "\n" reaches the reader as "\n" (runc's ClearONLCR). With fcntl and
    struct only: no termios module to load in the init."""
    import fcntl
    import struct
    buf = bytearray(fcntl.ioctl(fd, TCGETS, b"\0" * 64))
    oflag = struct.unpack_from("I", buf, 4)[0]
    if oflag & ONLCR:
        struct.pack_into("I", buf, 4, oflag & ~ONLCR)
        fcntl.ioctl(fd, TCSETS, bytes(buf))


def set_size(fd, rows, cols):
    import fcntl
    import struct
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def make_controlling(slave):
    """New session, the slave its controlling terminal and our stdio."""
    import fcntl
    os.setsid()
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def send_master(sock_fd, master):
    import _socket
    import struct
    s = _socket.socket(fileno=sock_fd)
    try:
        s.sendmsg([b"/dev/ptmx"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                    struct.pack("i", master))])
    finally:
        s.close()
        os.close(master)


def recv_master(sock_fd):
    """Receive the master fd (for `run`/`exec` relaying the terminal
    itself), with ONLCR off as runc has it."""
    import _socket
    import array
    s = _socket.socket(fileno=sock_fd)
    try:
        fds = array.array("i")
        _, anc, _, _ = s.recvmsg(64, _socket.CMSG_LEN(fds.itemsize), _socket.MSG_CMSG_CLOEXEC)
        for level, kind, data in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        if not fds:
            raise OSError(5, "no terminal received from the init")
        for extra in fds[1:]:
            os.close(extra)
        try:
            clear_onlcr(fds[0])
        except OSError:
            os.close(fds[0])
            raise
        return fds[0]
    finally:
        s.detach()  # the caller owns sock_fd


def _drain(master):
    os.set_blocking(master, False)
    try:
        while True:
            data = os.read(master, 65536)
            if not data:
                return
            os.write(1, data)
    except OSError:  # EAGAIN: nothing more now; EIO: no writer left
        return


def relay(master, exited):
    r"""Copy between our stdio and the container's terminal until the
    process has exited (exited() is checked at every turn: a background
    process still holding the terminal must not keep us here).

    Our terminal (if stdin is one) is put in raw mode meanwhile, and its
    size given to the container's. Raw but for output processing (OPOST),
    as runc's: the container's pty has ONLCR off, so our terminal is the
    one turning "\n" into "\r\n" on the screen."""
    import select
    import termios
    import tty
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        raw = termios.tcgetattr(0)
        raw[tty.OFLAG] |= termios.OPOST
        termios.tcsetattr(0, termios.TCSANOW, raw)
        try:
            import fcntl
            import struct
            ws = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            rows, cols = struct.unpack("HHHH", ws)[:2]
            if rows and cols:
                set_size(master, rows, cols)
        except OSError:
            pass
    try:
        fds = [master, 0]
        while True:
            try:
                r, _, _ = select.select(fds, [], [], 0.5)
            except InterruptedError:
                continue
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the last holder of the slave is gone
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in r:
                data = os.read(0, 65536)
                if not data:
                    fds = [master]
                else:
                    os.write(master, data)
            if exited():
                _drain(master)  # what it wrote just before it exited
                return
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
