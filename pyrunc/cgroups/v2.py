"""cgroup v2 (unified) cgroupfs manager: the v1 manager's logic over the
single cgroup2 hierarchy, with the v2 freezer and every controller the
host offers enabled down to the container (so its accounting files exist
for `events` and the clients' metrics, as runc does)."""
import errno
import time

from .. import fspath
from .files import read, write
from .v1 import FREEZE_TIMEOUT, Manager as _Base


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
        """cgroup.freeze, then wait (at most `timeout` seconds) for
        cgroup.events to say so."""
        d = self.path("unified")
        write(fspath.join(d, "cgroup.freeze"), "1" if frozen else "0")
        deadline = time.monotonic() + timeout
        want = f"frozen {1 if frozen else 0}"
        while want not in read(d, "cgroup.events").splitlines():
            if time.monotonic() > deadline:
                if frozen:  # never leave it half frozen
                    try:
                        write(fspath.join(d, "cgroup.freeze"), "0")
                    except OSError:
                        pass
                raise OSError(errno.EBUSY, f"timed out after {timeout:g}s waiting for "
                                           f"{d}/cgroup.events to say {want!r}")
            time.sleep(0.001)

    def is_frozen(self):
        d = self.path("unified")
        return bool(d) and read(d, "cgroup.freeze").strip() == "1"
