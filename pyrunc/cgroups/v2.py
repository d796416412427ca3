"""cgroup v2 (unified) cgroupfs manager: the v1 manager's logic over the
single cgroup2 hierarchy, with the v2 freezer and every controller the
host offers enabled down to the container (so its accounting files exist
for `events` and the clients' metrics, as runc does)."""
from . import live
from .files import read
from .live import FREEZE_TIMEOUT
from .v1 import Manager as _Base


class Manager(_Base):
    def __init__(self, v2, path, relative):
        super().__init__([], v2, path, relative)

    def create(self):
        super().create()
        avail = read(self.v2root, "cgroup.controllers").split()
        if avail:
            self.enable_v2(avail, "linux.cgroupsPath", strict=False)

    def freezer_file(self):
        d = self.path("unified")
        return d + "/cgroup.freeze" if d else None

    def freeze(self, frozen, timeout=FREEZE_TIMEOUT):
        """cgroup.freeze, waiting for cgroup.events to say so
        (live.freeze_v2)."""
        live.freeze_v2(self.path("unified"), frozen, timeout)

    def is_frozen(self):
        d = self.path("unified")
        return bool(d) and read(d, "cgroup.freeze").strip() == "1"
