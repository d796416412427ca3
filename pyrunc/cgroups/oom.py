"""OOM notifications for `events`: a file descriptor that becomes
readable when the kernel OOM-kills in the container's memory cgroup.

v1: an eventfd registered on memory.oom_control through
cgroup.event_control (the kernel signals it on every OOM).
v2: memory.events, which the kernel marks changed (POLLPRI) whenever a
counter moves; the oom_kill counter tells whether a kill happened.
"""
import os
import select

from .files import flat_keyed, write


class Watcher:
    __slots__ = ("fd", "v1dir", "v2dir", "kills", "poller")

    def __init__(self, mgr):
        self.fd = -1
        self.v1dir = self.v2dir = None
        self.kills = 0
        self.poller = select.poll()
        d = mgr.v1_dir("memory")
        if d:
            self.v1dir = d
            self.fd = os.eventfd(0, os.EFD_CLOEXEC)
            ctl = os.open(os.path.join(d, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                write(os.path.join(d, "cgroup.event_control"), f"{self.fd} {ctl}")
            finally:
                # the registration holds its own reference to the file
                os.close(ctl)
            self.poller.register(self.fd, select.POLLIN)
            return
        d = mgr.path("unified")
        if d and os.path.exists(os.path.join(d, "memory.events")):
            self.v2dir = d
            self.fd = os.open(os.path.join(d, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
            os.read(self.fd, 4096)  # poll reports changes after a read
            self.kills = flat_keyed(d, "memory.events").get("oom_kill", 0)
            self.poller.register(self.fd, select.POLLPRI)

    def wait(self, timeout):
        """Number of OOM kills seen within `timeout` seconds (0 on timeout)."""
        if self.fd < 0:
            import time
            time.sleep(timeout)
            return 0
        if not self.poller.poll(int(timeout * 1000)):
            return 0
        if self.v2dir is None:
            n = os.eventfd_read(self.fd)
            # the kernel also signals the eventfd when the cgroup goes away
            if not os.path.exists(os.path.join(self.v1dir, "memory.oom_control")):
                self.close()
                return 0
            return n
        if not os.path.exists(os.path.join(self.v2dir, "memory.events")):
            self.close()
            return 0
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.read(self.fd, 4096)
        kills = flat_keyed(self.v2dir, "memory.events").get("oom_kill", 0)
        new, self.kills = kills - self.kills, kills
        return max(new, 0)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
