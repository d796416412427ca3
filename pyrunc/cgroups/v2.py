"""cgroup v2 (unified) cgroupfs manager: the v1 manager's logic over the
single cgroup2 hierarchy."""
import time

from .v1 import Manager as _Base, _read, _write


class Manager(_Base):
    def __init__(self, v2, path, relative):
        super().__init__([], v2, path, relative)

    def freezer_file(self):
        d = self.path("unified")
        return d + "/cgroup.freeze" if d else None

    def freeze(self, frozen):
        """cgroup.freeze, then wait for cgroup.events to say so."""
        d = self.path("unified")
        _write(d + "/cgroup.freeze", "1" if frozen else "0")
        deadline = time.monotonic() + 10
        want = f"frozen {1 if frozen else 0}"
        while want not in _read(d + "/cgroup.events"):
            if time.monotonic() > deadline:
                raise OSError(16, "the container's processes did not freeze")
            time.sleep(0.001)

    def apply(self, resources, update=False):
        # Devices on v2 need an eBPF program (the cgroups work); until then a
        # v2-only host is refused rather than run with every device open.
        from ..errors import NotSupported
        for key in resources or {"devices": None}:
            raise NotSupported(f"linux.resources.{key}",
                               "cgroup v2 resource controls are not implemented yet")
