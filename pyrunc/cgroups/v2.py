"""cgroup v2 (unified) cgroupfs manager: the v1 manager's logic over the
single cgroup2 hierarchy, with the v2 freezer and every controller the
host offers enabled down to the container (so its accounting files exist
for `events` and the clients' metrics, as runc does)."""
import os
import time

from .files import read, write
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

    def freeze(self, frozen):
        """cgroup.freeze, then wait for cgroup.events to say so."""
        d = self.path("unified")
        write(os.path.join(d, "cgroup.freeze"), "1" if frozen else "0")
        deadline = time.monotonic() + 10
        want = f"frozen {1 if frozen else 0}"
        while want not in read(d, "cgroup.events"):
            if time.monotonic() > deadline:
                raise OSError(16, "the container's processes did not freeze")
            time.sleep(0.001)
