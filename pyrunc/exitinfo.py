"""How a stopped container's init ended: its exit status, whether the
kernel's OOM killer took it, how many OOM kills its memory cgroup saw,
and when it stopped -- without a daemon.

No pyrunc process outlives `create`: the init's parent is whoever called
pyrunc (an engine's shim), and only a parent learns the exit status from
wait(2). So what `pyrunc state` can say depends on who is asked, and each
answer says where it came from ("exitSource"):

- "waited": pyrunc was the parent (`run` without --detach; with --keep
  the state survives for `state` to show). Exact status and time, and the
  OOM counters read right after the reap, before the cgroup goes.
- "zombie": someone else is the parent but has not reaped the init yet:
  the exit status is field 52 of /proc/<pid>/stat (only while it is a
  zombie, and only for the pid with the recorded start time). The time is
  when pyrunc first saw it stopped, an upper bound.
- "kmsg": the init is gone, but the kernel's OOM report names it
  ("oom-kill:... task_memcg=<the container's cgroup>,...,pid=<its pid>"):
  it died of the OOM killer's SIGKILL, so its status is 137. Needs the
  kernel log still to hold the report (a ring buffer) and CAP_SYSLOG,
  and a pid namespace of the container's own: the report has no start
  time, and without one a process of the container that outlives the init
  can be given its pid again (a wrap of the pid space) and be OOM-killed
  in the same cgroup; with one, the init's end kills every process of the
  namespace and no process can be born in it any more.
- "observed": the init was reaped by someone else before pyrunc looked:
  no exit status; "finished" is when pyrunc first saw it stopped.

The OOM counters (v1 memory.oom_control "oom_kill", v2 memory.events
"oom_kill") live in the container's cgroup, which stays until `delete`:
they are read at each `state`. They count every OOM kill in the container
(any of its processes), hence "oomKills"; "oomKilled" says that the init
itself was killed: its status is SIGKILL and the counter moved ("waited",
"zombie"), or the kernel named it ("kmsg"). Without an exit status it is
left out rather than guessed. (memory.failcnt, v2's "max" count the times
the limit was hit, reclaimed or not: they say nothing about a kill.)

What was learnt once is kept in state.json ("exit"): a zombie reaped after
one `state` keeps its status. The fields are top-level extras of the OCI
state (as runc's "rootfs", "created", "owner"): clients ignore unknown
fields, while "annotations" belong to the config's author and are passed
to hooks; a runtime's findings do not belong there.
"""
import posix  # (not os: `state` of a stopped container stays without it)
import time

from .errors import PyruncError

SIGKILL = 9


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _decode(wstatus):
    """(exitStatus as a shell reports it, the killing signal or 0)."""
    if posix.WIFSIGNALED(wstatus):
        return 128 + posix.WTERMSIG(wstatus), posix.WTERMSIG(wstatus)
    return posix.WEXITSTATUS(wstatus), 0


def oom_kills(cgroups_state):
    """The oom_kill counter of the container's memory cgroup, or None
    where there is none (no memory controller, the cgroup removed, a v1
    kernel before 4.13)."""
    from .cgroups.files import flat_keyed
    dirs = cgroups_state.get("dirs", {})
    for name, d in dirs.items():
        if name != "unified" and "memory" in name.split(","):
            return flat_keyed(d, "memory.oom_control").get("oom_kill")
    d = dirs.get("unified")
    if d:
        return flat_keyed(d, "memory.events").get("oom_kill")
    return None


def record_waited(root, cid, wstatus):
    """`run`: pyrunc reaped the init itself; called right after the reap,
    before the cgroup goes. The state is read again under its lock: what
    other commands recorded since the create stays."""
    from . import state
    status, sig = _decode(wstatus)
    info = {"status": status, "signal": sig, "finished": _now(), "source": "waited"}
    st, lock = state.load_locked(root, cid)
    try:
        info["oomKills"] = oom_kills(st.d.get("cgroups", {}))
        st.d["exit"] = info
        st.save()
    finally:
        lock.release()
    return st


def _zombie_status(pid, start_time):
    """The wait status of pid if it is still a zombie with that start
    time, else None (reaped, or the pid is another process's now)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    # rest[0] is field 3 (state), rest[19] field 22 (starttime), rest[49]
    # field 52 (exit_code, since Linux 3.5)
    if rest[0] != b"Z" or len(rest) < 50 or int(rest[19]) != start_time:
        return None
    return int(rest[49])


def _kmsg_names(pid, start_time, cgroup_dirs):
    """Whether the kernel log holds an OOM kill of `pid` in one of the
    container's cgroups (task_memcg is the cgroup's path in its
    hierarchy: the recorded directory is that path under a mount point),
    logged after the init started (an older process with that pid in a
    cgroup of that name is not it; the log's clock stops during a
    suspend, the start time's does not: that can only hide a kill, never
    invent one).

    The container must not be able to forge it: only the kernel's own
    records count (facility 0: a line written to /dev/kmsg gets the user
    facility), and the pid is the one the kernel prints last
    (",pid=%d,uid=%d" ends the report; the task's name, just before, is
    the container's to choose and may hold ",pid=<the init's>,")."""
    import errno
    started_us = start_time * 1_000_000 // posix.sysconf("SC_CLK_TCK")
    try:
        fd = posix.open("/dev/kmsg", posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except OSError:
        return False
    try:
        while True:
            try:
                rec = posix.read(fd, 8192)
            except OSError as e:
                if e.errno == errno.EPIPE:  # overwritten while read: go on
                    continue
                return False  # EAGAIN: the end
            if b"oom-kill:" in rec and _names(rec, pid, started_us, cgroup_dirs):
                return True
    finally:
        posix.close(fd)


def _names(rec, pid, started_us, cgroup_dirs):
    """One /dev/kmsg record ("prio,seq,usec,flags;text\n..."): the
    kernel's OOM report of `pid` in one of cgroup_dirs, after started_us."""
    head, _, text = rec.partition(b";")
    try:
        prio, _, usec = head.split(b",")[:3]
        if int(prio) >> 3 != 0 or int(usec) < started_us:
            return False
    except ValueError:
        return False
    text = text.split(b"\n", 1)[0].decode(errors="replace")
    if not text.startswith("oom-kill:"):
        return False
    rest, _, tail = text.rpartition(",pid=")
    if not rest or tail.split(",uid=", 1)[0] != str(pid):
        return False
    i = rest.find(",task_memcg=")
    memcg = rest[i + 12:].split(",task=", 1)[0] if i >= 0 else ""
    # the recorded directory is that path under a mount point of the
    # hierarchy: a suffix alone would take /other/<name> for <name>
    from os.path import ismount  # (only when the kernel logged an OOM kill)
    return bool(memcg) and any(d.endswith(memcg) and ismount(d[:-len(memcg)] or "/")
                               for d in cgroup_dirs)


def _learn(st):
    """What can be learnt now about an init that is gone (not our child)."""
    pid, start = st.d.get("pid") or 0, st.d.get("start_time")
    info = {"finished": _now(), "source": "observed"}
    if pid <= 0 or start is None:
        return info  # the init never ran: nothing to learn but the time
    ws = _zombie_status(pid, start)
    if ws is not None:
        info["status"], info["signal"] = _decode(ws)
        info["source"] = "zombie"
        return info
    kills = oom_kills(st.d.get("cgroups", {}))
    if kills and st.d.get("own_pidns") is True:
        dirs = [d for d in st.d.get("cgroups", {}).get("dirs", {}).values() if d]
        if _kmsg_names(pid, start, dirs):
            info.update(status=128 + SIGKILL, signal=SIGKILL, source="kmsg", oomKilled=True)
    return info


def observe(st):
    """Learn and keep (state.json) how a stopped container's init ended,
    once; a later `state` reuses it. Saved only when the lock is free at
    once: `state` never waits (a concurrent `delete` is removing it)."""
    if "exit" in st.d:
        return
    st.d["exit"] = _learn(st)
    import fcntl
    from . import state
    try:
        fd = posix.open(st.dir, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        now = state.load(st.root, st.id)  # as it is now, under the lock
        if "exit" not in now.d:
            now.d["exit"] = st.d["exit"]
            now.save()
        else:
            st.d["exit"] = now.d["exit"]
    except (OSError, PyruncError):
        pass  # busy (a delete) or gone: shown, not kept
    finally:
        posix.close(fd)


def fields(st):
    """The extra top-level fields of `state` for a stopped container."""
    e = st.d.get("exit") or {}
    out = {}
    if "status" in e:
        out["exitStatus"] = e["status"]
    kills = oom_kills(st.d.get("cgroups", {}))
    if kills is None:
        kills = e.get("oomKills")
    if kills is not None:
        out["oomKills"] = kills
    if e.get("oomKilled"):
        out["oomKilled"] = True
    elif "status" in e and kills is not None:
        out["oomKilled"] = e.get("signal") == SIGKILL and kills > 0
    if "finished" in e:
        out["finished"] = e["finished"]
        out["exitSource"] = e["source"]
    return out
