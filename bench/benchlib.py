"""What every bench/ script shares: the runtimes to compare, a bundle of
busybox, paired timing and the report lines.

Benchmarks, not tests: nothing here fails on a number. Each script times
pyrunc, runc and crun (and OTHER, a second pyrunc build, for A/B of a
change) in the same rounds, one after the other, the order rotating every
round, so that load from the rest of the machine falls on all of them
alike; it prints medians and the ratio to runc.

Environment:
  PYRUNC   the pyrunc to measure (default: `pyrunc` in $PATH, else .venv)
  OTHER    a second pyrunc (e.g. main's build) timed as "pyrunc-other"
  RUNC     runc (default: `runc` in $PATH); CRUN likewise; RUNTIMES=pyrunc,runc
           limits the set
  SECCOMP=podman  podman's default seccomp profile in the config
  USERNS=1        a user namespace (root mapped to 100000..165535)
  N        rounds (each script has its own default; the smoke test uses 2)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PODMAN_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
               "CAP_SETUID", "CAP_SYS_CHROOT"}


class Runtime:
    """One runtime's command prefix, its --root under the bench's work dir."""
    __slots__ = ("name", "argv", "root", "note")

    def __init__(self, name, argv, root, note=""):
        self.name, self.argv, self.root, self.note = name, argv, root, note

    def cmd(self, *args):
        return list(self.argv) + ["--root", self.root] + list(args)


class Bench:
    """A work dir under /tmp with the bundle and each runtime's --root;
    everything made is removed by close() (containers first)."""

    def __init__(self, title, default_runs):
        self.title = title
        self.runs = int(os.environ.get("N") or (sys.argv[1] if len(sys.argv) > 1 else
                                                 default_runs))
        self.work = tempfile.mkdtemp(prefix="pyrunc-bench.")
        self.bundle = os.path.join(self.work, "bundle")
        self.made = []  # (runtime, id) to delete at the end
        # the ids name the cgroups (/<id> without linux.cgroupsPath), which
        # are the host's: unique to this bench run and to each runtime
        self.tag = "pb" + os.urandom(3).hex()
        self.notes = []
        # a row's name says which config variant it timed (SECCOMP, USERNS)
        self.variant = "".join(v for k, v in (("SECCOMP", ", podman seccomp"),
                                               ("USERNS", ", user namespace"))
                               if os.environ.get(k))
        self.runtimes = self._find_runtimes()
        self.floor = self._floor()

    # -- runtimes ----------------------------------------------------------
    def _find_runtimes(self):
        want = set((os.environ.get("RUNTIMES") or "pyrunc,pyrunc-other,runc,crun").split(","))
        out = []
        py = os.environ.get("PYRUNC") or shutil.which("pyrunc") or os.path.join(
            TOP, ".venv", "bin", "pyrunc")
        if not os.access(py, os.X_OK):
            sys.exit(f"no pyrunc at {py} (install it first)")
        out.append(Runtime("pyrunc", [py], self._root("pyrunc")))
        other = os.environ.get("OTHER")
        if other and "pyrunc-other" in want:
            out.append(Runtime("pyrunc-other", [other], self._root("pyrunc-other")))
        runc = os.environ.get("RUNC") or shutil.which("runc")
        if runc and "runc" in want:
            out.append(Runtime("runc", [runc], self._root("runc")))
        crun = os.environ.get("CRUN") or shutil.which("crun")
        if crun and "crun" in want:
            out.append(self._crun(crun))
        elif "crun" in want:
            self.notes.append("crun: not installed (CRUN=path to give one)")
        return out

    def _floor(self):
        """The bare start of the interpreter pyrunc runs (the venv's python3
        next to it, else Debian's python3.11): `-I -S -c pass`."""
        py = os.path.join(os.path.dirname(self.runtimes[0].argv[0]), "python3")
        if not os.access(py, os.X_OK):
            py = "/usr/bin/python3.11"
        return [os.path.realpath(py), "-I", "-S", "-c", "pass"]

    def _crun(self, crun):
        """crun natively where it runs; on a hybrid host (it refuses one
        whose unified hierarchy holds a controller) through crun-v1.c,
        which hides that hierarchy in a private mount namespace. The
        wrapper's own cost is measured and printed."""
        r = Runtime("crun", [crun], self._root("crun"))
        unified = "/sys/fs/cgroup/unified/cgroup.controllers"
        try:
            with open(unified) as f:
                hybrid = bool(f.read().strip())
        except OSError:
            hybrid = False
        if hybrid:
            wrapper = os.path.join(self.work, "crun-v1")
            subprocess.run(["gcc", "-O2", "-o", wrapper, os.path.join(HERE, "crun-v1.c")],
                           check=True)
            r.argv = [wrapper, crun]
            r.note = "crun*"
            self.notes.append("crun*: crun refuses this hybrid cgroup host; run through "
                              "bench/crun-v1.c (a private mount namespace without "
                              "/sys/fs/cgroup/unified)")
        return r

    def _root(self, name):
        return os.path.join(self.work, "root-" + name)

    # -- the bundle --------------------------------------------------------
    def make_bundle(self, args, path=None):
        """busybox rootfs, the default spec of `pyrunc spec` (ociVersion
        1.0.2, which crun 1.8.1 accepts), no terminal, `args` as the process."""
        path = path or self.bundle
        if not os.path.exists(os.path.join(path, "rootfs")):
            os.makedirs(os.path.join(path, "rootfs", "bin"))
            bb = shutil.which("busybox") or "/bin/busybox"
            shutil.copy(bb, os.path.join(path, "rootfs", "bin", "busybox"))
            for a in ("true", "sleep", "sh"):
                os.symlink("busybox", os.path.join(path, "rootfs", "bin", a))
        subprocess.run(self.runtimes[0].argv + ["spec", "--bundle", path], check=True)
        cfg = os.path.join(path, "config.json")
        with open(cfg) as f:
            c = json.load(f)
        c["ociVersion"] = "1.0.2"
        c["process"]["terminal"] = False
        c["process"]["args"] = list(args)
        if os.environ.get("SECCOMP") == "podman":
            c["linux"]["seccomp"] = oci_profile("/usr/share/containers/seccomp.json")
            self.notes.append("with podman's default seccomp profile")
        if os.environ.get("USERNS"):
            c["linux"]["namespaces"].append({"type": "user"})
            m = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            c["linux"]["uidMappings"] = m
            c["linux"]["gidMappings"] = m
            os.chown(os.path.join(path, "rootfs"), 100000, 100000)
            # the mapped root must reach the rootfs (mkdtemp makes 0700)
            for d in (self.work, path):
                os.chmod(d, 0o755)
            self.notes.append("with a user namespace (0 -> 100000, 65536)")
        with open(cfg, "w") as f:
            json.dump(c, f)
        return path

    # -- running -----------------------------------------------------------
    def run(self, rt, *args, check=True, out=subprocess.DEVNULL):
        """rt's command; stderr to a file (see timed())."""
        with tempfile.TemporaryFile() as err:
            p = subprocess.run(rt.cmd(*args), stdin=subprocess.DEVNULL, stdout=out,
                               stderr=err)
            if check and p.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"{rt.name} {' '.join(args)}: exit {p.returncode}: "
                                   f"{err.read().decode(errors='replace').strip()[:300]}")
        return p

    def cid(self, rt, name):
        """A container id unique to this bench and runtime."""
        return f"{self.tag}-{rt.name}-{name}"

    def container(self, rt, name, bundle=None, start=True):
        """A container made for the bench (deleted by close()); its id."""
        cid = self.cid(rt, name)
        self.made.append((rt, cid))
        self.run(rt, "create", "--bundle", bundle or self.bundle, cid)
        if start:
            self.run(rt, "start", cid)
        return cid

    def paired(self, steps, warmup=1):
        """steps: [(label, fn)]; fn(i) runs one round's command(s) and
        returns the seconds to count (None: time the whole call).
        Every round runs every step once, the order rotating."""
        times = {label: [] for label, _ in steps}
        for i in range(self.runs + warmup):
            k = i % len(steps)
            for label, fn in steps[k:] + steps[:k]:
                t = time.perf_counter()
                dt = fn(i)
                if dt is None:
                    dt = time.perf_counter() - t
                if i >= warmup:
                    times[label].append(dt * 1000)
        return times

    def close(self):
        for rt, cid in reversed(self.made):
            subprocess.run(rt.cmd("delete", "--force", cid), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def timed(argv):
    """Whole-process time of argv, or an error naming it. Its stderr goes
    to a file, not a pipe: a created container keeps the stdio it was
    given, and a pipe would only close when the container does."""
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=err)
        dt = time.perf_counter() - t
        if p.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: "
                               f"{err.read().decode(errors='replace').strip()[:300]}")
    return dt


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def report(b, what, times, unit="ms", ref="runc", goal=None):
    """One line per runtime: median (min..max) and the ratio to `ref`;
    then the goal, met or by how much it is missed."""
    print(f"## {what} ({b.runs} paired rounds, median (min..max) {unit})")
    for n in b.notes:
        print(f"#  {n}")
    r = median(times[ref]) if times.get(ref) else None
    for label, xs in times.items():
        if not xs:
            continue
        m = median(xs)
        ratio = f"  {m / r:5.2f}x {ref}" if r and label != ref else ""
        print(f"  {label:16s} {m:8.1f}  ({min(xs):.1f}..{max(xs):.1f}){ratio}")
    g = goal(times) if goal else ""
    if g:
        print("  goal: " + g)
    sys.stdout.flush()
    table = os.environ.get("BENCH_TABLE")
    if table:  # bench/all.sh gathers the rows into one table
        row = {"what": what, "unit": unit, "goal": g, "notes": b.notes,
               "medians": {k: median(v) for k, v in times.items() if v}}
        with open(table, "a") as f:
            f.write(json.dumps(row) + "\n")


def ratio_goal(label, ref, limit):
    """'pyrunc <= 0.7x runc': met, or the ratio and the ms still to cut."""
    def check(times):
        if not times.get(ref):
            return f"{label} <= {limit}x {ref}: {ref} not measured"
        a, b = median(times[label]), median(times[ref])
        if a <= limit * b:
            return f"{label} <= {limit}x {ref}: met ({a / b:.2f}x)"
        return (f"{label} <= {limit}x {ref}: NOT met ({a / b:.2f}x; "
                f"{a - limit * b:.1f} ms to cut)")
    return check


def oci_profile(path, arch="SCMP_ARCH_X86_64"):
    """A docker-format profile (archMap, includes/excludes) in OCI form, as
    podman gives it for root with its default capabilities."""
    with open(path) as f:
        p = json.load(f)
    archs = [arch]
    for m in p.get("archMap") or ():
        if m["architecture"] == arch:
            archs += m.get("subArchitectures") or []
    rules = []
    for r in p["syscalls"]:
        inc, exc = r.get("includes") or {}, r.get("excludes") or {}
        if inc.get("caps") and not set(inc["caps"]) <= PODMAN_CAPS:
            continue
        if inc.get("arches") and not {"amd64", "x86_64", "x32"} & set(inc["arches"]):
            continue
        if exc.get("caps") and set(exc["caps"]) & PODMAN_CAPS:
            continue
        rules.append({k: r[k] for k in ("names", "action", "args", "errnoRet") if k in r})
    out = {"defaultAction": p["defaultAction"], "architectures": archs, "syscalls": rules}
    if "defaultErrnoRet" in p:
        out["defaultErrnoRet"] = p["defaultErrnoRet"]
    return out
