"""linux.netDevices: host network devices moved into the container's
network namespace (renamed, permanent global addresses kept, set up),
with pyroute2 over netlink. Done by the runtime once the init's network
namespace exists; never moved back (the namespace's owner decides)."""
from .errors import ConfigError, NotSupported

IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0


def move(pid, devices):
    try:
        from pyroute2 import IPRoute  # ~100 ms of imports: only when asked for
    except ImportError:
        # an optional dependency: say which field needs it and how to get it
        raise NotSupported("linux.netDevices", "needs pyroute2: pip install "
                           "'pyrunc[netdevices]'") from None
    with IPRoute() as host, IPRoute(netns=f"/proc/{pid}/ns/net") as cont:
        for host_name, d in devices.items():
            where = f"linux.netDevices.{host_name}"
            new = (d or {}).get("name") or host_name
            found = host.link_lookup(ifname=host_name)
            if not found:
                raise ConfigError(where, f"no network device {host_name!r} on the host")
            idx = found[0]
            if "%d" not in new and cont.link_lookup(ifname=new):
                raise ConfigError(f"{where}.name", f"{new!r} already exists in the container")
            keep = [(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in host.get_addr(index=idx)
                    if a["flags"] & IFA_F_PERMANENT and a["scope"] == RT_SCOPE_UNIVERSE]
            try:
                # one request: into the namespace under its new name
                host.link("set", index=idx, net_ns_pid=pid, ifname=new)
            except Exception as e:  # pyroute2's NetlinkError carries the errno text
                raise ConfigError(where, f"cannot move {host_name!r} into the container: {e}") \
                    from None
            # by its new name (its index may change on a clash); a "%d"
            # template leaves the kernel's choice, found by the index
            found = cont.link_lookup(ifname=new) if "%d" not in new else \
                [x["index"] for x in cont.get_links() if x["index"] == idx]
            if not found:
                raise ConfigError(where, f"{new!r} not found in the container after the move")
            cidx = found[0]
            for address, prefixlen in keep:
                cont.addr("add", index=cidx, address=address, prefixlen=prefixlen)
            cont.link("set", index=cidx, state="up")
