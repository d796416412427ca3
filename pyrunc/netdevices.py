"""linux.netDevices: host network devices moved into the container's
network namespace (renamed, permanent global addresses kept, set up),
with pyroute2 over netlink. Done by the runtime once the init's network
namespace exists, as runc HEAD does it: the device is looked up by name
once and then addressed by its ifindex, set down, and moved and renamed
in one RTM_NEWLINK naming the namespace by an fd (IFLA_NET_NS_FD) opened
from the init's pidfd-checked /proc entry, never by a pid that could be
reused meanwhile. The container's side is configured through a netlink
socket made inside that namespace (the runtime steps in and out of it),
which works as well when a user namespace of the container owns it.

Never moved back: runtime-spec (config-linux.md, "Namespace Lifecycle and
Container Termination") says the runtime MUST NOT move the interface out
of the namespace before deletion; the namespace's owner decides, and when
the namespace is freed the kernel moves physical devices back to the
initial namespace (under their container name) and destroys virtual ones
(veth, macvlan, ...). runc HEAD does the same (its netdev.bats moves a
device back by hand after delete)."""
import os

from .errors import ConfigError, NotSupported

IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0
IFNAMSIZ = 16


def check_names(devices, has_netns):
    """runc HEAD's validation (validate.netdevices), at config time."""
    if not devices:
        return
    if not has_netns:
        raise ConfigError("linux.netDevices", "unable to move network devices without a NET "
                          "namespace")
    for host_name, d in devices.items():
        where = f"linux.netDevices.{host_name}"
        if not _valid_name(host_name):
            raise ConfigError(where, f'invalid network device name "{host_name}"')
        new = (d or {}).get("name")
        if new is not None and new != "" and not _valid_name(new):
            raise ConfigError(f"{where}.name", f'invalid network device name "{new}"')


def _valid_name(name):
    # (IFNAMSIZ counts the NUL: the kernel refuses 16 characters; runc
    # lets them through to that error, and so do we)
    return (isinstance(name, str) and 0 < len(name) <= IFNAMSIZ and name not in (".", "..")
            and not any(c in name for c in "/: "))


def move(pid, devices):
    try:
        from pyroute2 import IPRoute  # ~100 ms of imports: only when asked for
    except ImportError:
        # an optional dependency: say which field needs it and how to get it
        raise NotSupported("linux.netDevices", "needs pyroute2: pip install "
                           "'pyrunc[netdevices]'") from None
    nsfd = _init_netns(pid)
    try:
        with IPRoute() as host, IPRoute(fileno=_socket_in(nsfd)) as cont:
            for host_name, d in devices.items():
                _move_one(host, cont, nsfd, host_name, (d or {}).get("name") or host_name)
    finally:
        os.close(nsfd)


def _move_one(host, cont, nsfd, host_name, new):
    where = f"linux.netDevices.{host_name}"
    found = host.link_lookup(ifname=host_name)
    if not found:
        raise ConfigError(where, f"link not found for interface {host_name} on runtime "
                          "namespace")
    idx = found[0]
    if "%d" not in new and cont.link_lookup(ifname=new):
        raise ConfigError(f"{where}.name", f"{new!r} already exists in the container")
    keep = [(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in host.get_addr(index=idx)
            if a["flags"] & IFA_F_PERMANENT and a["scope"] == RT_SCOPE_UNIVERSE]
    # A "%d" template leaves the name to the kernel, and the index may
    # change too (taken in that namespace: the kernel gives another), so
    # neither can find the device afterwards: the old index may be another
    # device of a joined namespace. It moves under a name of ours that the
    # kernel must honour exactly (else EEXIST), found by that name in the
    # namespace, then renamed there by its index in that namespace.
    move_as = _staging_name() if "%d" in new else new
    try:
        # down first (as runc: nothing on the host sees it change name
        # while up), then one request: into the namespace under its new name
        host.link("set", index=idx, state="down")
        host.link("set", index=idx, net_ns_fd=nsfd, ifname=move_as)
    except Exception as e:  # pyroute2's NetlinkError carries the errno text
        raise ConfigError(where, f"cannot move {host_name!r} into the container: {e}") from None
    # by its name in that namespace, never by the host's index
    found = cont.link_lookup(ifname=move_as)
    if not found:
        raise ConfigError(where, f"{new!r} not found in the container after the move")
    cidx = found[0]
    if move_as != new:
        try:
            cont.link("set", index=cidx, ifname=new)
        except Exception as e:
            raise ConfigError(f"{where}.name", f"cannot name {host_name!r} {new!r} in the "
                              f"container: {e}") from None
    for address, prefixlen in keep:
        cont.addr("add", index=cidx, address=address, prefixlen=prefixlen)
    cont.link("set", index=cidx, state="up")


def _staging_name():
    """A name no one else chose: 15 characters, random."""
    return "pyr" + os.urandom(6).hex()


def _init_netns(pid):
    """An fd of the init's network namespace: its /proc entry opened
    through the host's proven procfs, then a pidfd proves the pid still
    was the init's."""
    import _signal
    pidfd = os.pidfd_open(pid)
    try:
        fd = _netns_of(str(int(pid)))
        try:
            _signal.pidfd_send_signal(pidfd, 0)
        except ProcessLookupError:
            os.close(fd)
            raise
        return fd
    finally:
        os.close(pidfd)


def _netns_of(proc_pid):
    """fd of <procfs>/<proc_pid>/ns/net (the magic link followed, from a
    directory of the proven procfs)."""
    from . import procfs
    with procfs.host() as p:
        d = p.open(f"{proc_pid}/ns", os.O_PATH | os.O_DIRECTORY)
    try:
        return os.open("net", os.O_RDONLY | os.O_CLOEXEC, dir_fd=d)
    finally:
        os.close(d)


def _socket_in(nsfd):
    """A NETLINK_ROUTE socket of the namespace nsfd: this thread steps in,
    makes it, and steps back (a socket keeps the namespace it was made in)."""
    import _socket
    from . import syscalls as sc
    # (SOCK_DGRAM: netlink takes it as SOCK_RAW, and pyroute2's asyncio
    # transport accepts nothing else)
    own = _netns_of("thread-self")
    try:
        sc.setns(nsfd, sc.CLONE_NEWNET)
        try:
            s = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC, 0)
        finally:
            sc.setns(own, sc.CLONE_NEWNET)
    finally:
        os.close(own)
    return s.detach()
