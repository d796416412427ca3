"""process.terminal: the pty of a container and the --console-socket
protocol.

The pty is allocated by the init after pivot_root, from the container's
own /dev/ptmx (its devpts instance), made the controlling terminal and
stdio of the process; the master goes to the caller over the console
socket (one message, payload "/dev/ptmx", the fd in SCM_RIGHTS), as runc
does. The socket is connected by the runtime before the fork, since its
path is on the host.
"""
import os

TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441


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
    """(master, slave) from the /dev/ptmx of the current root."""
    import fcntl
    import struct
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        # the peer by fd, not by /dev/pts/N path: nothing can swap it
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
        if console_size:
            set_size(slave, console_size.get("height", 0), console_size.get("width", 0))
    except OSError:
        os.close(master)
        raise
    return master, slave


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
    """Receive the master fd (for `run` relaying the terminal itself)."""
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
    """Copy between our stdio and the container's terminal until the
    process has exited (exited() is checked at every turn: a background
    process still holding the terminal must not keep us here).

    Our terminal (if stdin is one) is put in raw mode meanwhile, and its
    size given to the container's."""
    import select
    import termios
    import tty
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
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
