"""--pidfd-socket (runc 1.2+): a pidfd of the container's process goes to
the caller over a unix socket, so that it can wait for or signal that
process without ever racing a reused pid (containerd 2 asks for it).

runc's wire format: one message whose payload names the kind of process
("standard" for the init of create/run, "setns" for an exec), with the
pidfd in SCM_RIGHTS. runc sends it from inside the process; the runtime
sends it here, while the process cannot have been reaped yet: the init
waits on the exec fifo, an exec's process is a child of ours (or reparented
to us as subreaper) until we exit.
"""
import os

STANDARD = "standard"
SETNS = "setns"


def connect(path):
    """Connect before anything is created, as runc does (an unreachable
    socket fails the command before the container exists)."""
    import _socket
    from .errors import ContainerError
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC, 0)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        # (runc's wording, its spelling included)
        raise ContainerError(f"failed to dail {path}: dial unix {path}: connect: "
                             f"{(e.strerror or str(e)).lower()}") from None
    return s.detach()


def send(sock_fd, pid, kind, alive=None):
    """Send a pidfd of pid over sock_fd, then close sock_fd. alive(), when
    given, is checked once the pidfd is open: the pid still names the
    process meant (its recorded start time), not one that reused it."""
    import _socket
    import struct
    from .errors import ContainerError
    try:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as e:
            raise ContainerError(f"failed to pidfd_open: {(e.strerror or str(e)).lower()}") \
                from None
        try:
            if alive is not None and not alive():
                raise ContainerError("failed to pidfd_open: no such process")
            s = _socket.socket(fileno=os.dup(sock_fd))
            try:
                s.sendmsg([kind.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                             struct.pack("i", pidfd))])
            except OSError as e:
                raise ContainerError(f"failed to send pidfd on socket: "
                                     f"{(e.strerror or str(e)).lower()}") from None
            finally:
                s.close()
        finally:
            os.close(pidfd)
    finally:
        os.close(sock_fd)
