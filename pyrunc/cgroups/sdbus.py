"""The few D-Bus calls the systemd cgroup driver makes to systemd's manager
(org.freedesktop.systemd1), over jeepney: a pure-Python D-Bus library with
no dependencies of its own (the `systemd` extra), imported only here, so
only containers using --systemd-cgroup pay for it.

As runc (go-systemd) does, root talks to systemd directly on its private
socket /run/systemd/private (peer to peer: no bus daemon needed, no Hello),
and falls back to the system bus; anyone else uses the system bus.
A job is waited for through its JobRemoved signal, which systemd sends to
every private connection and, on the bus, to subscribers (Subscribe and a
match rule).
"""
import os
import time

from ..errors import ContainerError

PRIVATE = "/run/systemd/private"
SYSTEM_BUS = "/run/dbus/system_bus_socket"
DEST = "org.freedesktop.systemd1"
PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
JOB_TIMEOUT = 30.0  # seconds systemd may take to run a start or stop job (runc's)
CALL_TIMEOUT = 25.0


class SystemdError(ContainerError):
    """systemd answered a call with a D-Bus error (`name`: its error name)."""

    def __init__(self, name, message):
        self.name = name
        super().__init__(message)


def _jeepney():
    try:
        import jeepney
        from jeepney.io import blocking
    except ImportError:
        raise ContainerError("--systemd-cgroup needs the jeepney D-Bus library: "
                             "pip install 'pyrunc[systemd]'") from None
    return jeepney, blocking


class Bus:
    """One connection to systemd's manager."""

    __slots__ = ("conn", "jobs", "j", "private")

    def __init__(self, conn, private, j):
        self.conn = conn
        self.private = private
        self.j = j
        self.jobs = {}  # job path -> result, from JobRemoved signals seen

    @classmethod
    def connect(cls):
        jeepney, blocking = _jeepney()
        errs = []
        addrs = ([PRIVATE] if os.geteuid() == 0 else []) + [_system_bus_path()]
        for addr in addrs:
            try:
                sock, rest = _open(addr)
            except (OSError, TimeoutError, ContainerError) as e:
                errs.append(f"{addr}: {getattr(e, 'strerror', None) or e}")
                continue
            conn = blocking.DBusConnectionBase(sock)
            if rest:
                conn.parser.add_data(rest)
            bus = cls(conn, addr == PRIVATE, jeepney)
            try:
                if not bus.private:
                    bus._hello()
                    bus.call(PATH, MANAGER, "Subscribe")
            except (OSError, TimeoutError, SystemdError) as e:
                conn.close()
                errs.append(f"{addr}: {getattr(e, 'strerror', None) or e}")
                continue
            return bus
        raise ContainerError("cannot reach systemd over D-Bus (" + "; ".join(errs) + ")")

    def _hello(self):
        dbus = self.j.DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                                  interface="org.freedesktop.DBus")
        self._call(self.j.new_method_call(dbus, "Hello"))
        rule = ("type='signal',sender='org.freedesktop.systemd1',"
                "interface='org.freedesktop.systemd1.Manager',member='JobRemoved'")
        self._call(self.j.new_method_call(dbus, "AddMatch", "s", (rule,)))

    def close(self):
        self.conn.close()

    # -- the calls --------------------------------------------------------
    def call(self, path, iface, method, sig=None, body=()):
        addr = self.j.DBusAddress(path, bus_name=DEST, interface=iface)
        return self._call(self.j.new_method_call(addr, method, sig, body))

    def _call(self, msg):
        """Send `msg` and return its reply's body; signals read meanwhile
        are kept (a JobRemoved may come before the reply that names the job)."""
        serial = next(self.conn.outgoing_serial)
        self.conn.sock.sendall(msg.serialise(serial=serial))
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            reply = self._receive(deadline)
            if reply.header.fields.get(self.j.HeaderFields.reply_serial) != serial:
                continue
            if reply.header.message_type == self.j.MessageType.error:
                name = reply.header.fields.get(self.j.HeaderFields.error_name, "")
                text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else name
                raise SystemdError(name, text)
            return reply.body

    def _receive(self, deadline):
        try:
            msg = self.conn._receive(deadline)
        except TimeoutError:
            raise ContainerError("timed out waiting for systemd to answer over D-Bus") from None
        h = msg.header
        if (h.message_type == self.j.MessageType.signal
                and h.fields.get(self.j.HeaderFields.member) == "JobRemoved"):
            _, job, _, result = msg.body  # (id, job path, unit, result)
            self.jobs[job] = result
        return msg

    def wait_job(self, job, what, timeout=JOB_TIMEOUT):
        """The job's result ("done", "failed", "canceled", ...)."""
        deadline = time.monotonic() + timeout
        try:
            while job not in self.jobs:
                self._receive(deadline)
        except ContainerError:
            raise ContainerError(f"timed out after {timeout:g}s waiting for systemd to "
                                 f"{what}") from None
        return self.jobs.pop(job)

    def start_transient(self, unit, props):
        """StartTransientUnit in "replace" mode; returns the job's path."""
        return self.call(PATH, MANAGER, "StartTransientUnit", "ssa(sv)a(sa(sv))",
                         (unit, "replace", props, []))[0]

    def stop(self, unit):
        return self.call(PATH, MANAGER, "StopUnit", "ss", (unit, "replace"))[0]

    def reset_failed(self, unit):
        self.call(PATH, MANAGER, "ResetFailedUnit", "s", (unit,))

    def set_properties(self, unit, props, runtime=True):
        self.call(PATH, MANAGER, "SetUnitProperties", "sba(sv)", (unit, runtime, props))

    def get_unit(self, unit):
        """The unit's object path; SystemdError NoSuchUnit when not loaded."""
        return self.call(PATH, MANAGER, "GetUnit", "s", (unit,))[0]

    def unit_property(self, unit, iface, name):
        path = self.get_unit(unit)
        return self.call(path, "org.freedesktop.DBus.Properties", "Get", "ss",
                         (iface, name))[0][1]

    def version(self):
        """systemd's version number (252 for "252.38-1~deb12u1"), -1 if unknown."""
        try:
            v = self.call(PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                          (MANAGER, "Version"))[0][1]
        except SystemdError:
            return -1
        digits = ""
        for ch in v.lstrip('"v'):
            if not ch.isdigit():
                break
            digits += ch
        return int(digits) if digits else -1


def _open(addr, timeout=5.0):
    """A connected, authenticated socket (and any bytes read past the
    server's OK). sd-bus's way, not jeepney's: AUTH and BEGIN in one write,
    then nothing more until OK. systemd's private socket (252 here) leaves
    a message that arrives in the same read as BEGIN unprocessed until more
    data comes, so a client sending BEGIN after OK and its first call right
    after it may never get an answer (seen under load: both in the socket
    before systemd reads)."""
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        sock.connect(addr)
        uid = str(os.geteuid()).encode().hex().encode()
        sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\nBEGIN\r\n")
        buf = b""
        while b"\r\n" not in buf:
            chunk = sock.recv(256)
            if not chunk:
                raise ContainerError("connection closed during authentication")
            buf += chunk
        line, _, rest = buf.partition(b"\r\n")
        if not line.startswith(b"OK "):
            raise ContainerError(f"authentication refused ({line.decode(errors='replace')})")
        sock.settimeout(None)  # the calls have deadlines of their own
    except BaseException:
        sock.close()
        raise
    return sock, rest


def _system_bus_path():
    addr = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    for part in addr.split(";"):
        if part.startswith("unix:path="):
            return part[len("unix:path="):].split(",")[0]
    return SYSTEM_BUS
