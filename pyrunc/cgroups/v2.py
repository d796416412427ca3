"""cgroup v2 (unified) cgroupfs manager: the v1 manager's logic over the
single cgroup2 hierarchy."""
from .v1 import Manager as _Base


class Manager(_Base):
    def __init__(self, v2, path, relative):
        super().__init__([], v2, path, relative)

    def freezer_file(self):
        d = self.path("unified")
        return d + "/cgroup.freeze" if d else None

    def apply(self, resources):
        # Devices on v2 need an eBPF program (the cgroups work); until then a
        # v2-only host is refused rather than run with every device open.
        from ..errors import NotSupported
        for key in resources or {"devices": None}:
            raise NotSupported(f"linux.resources.{key}",
                               "cgroup v2 resource controls are not implemented yet")
