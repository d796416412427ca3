#!/bin/sh
# Start latency: `run` of /bin/true from the default spec, pyrunc against
# runc (and crun when it can run on this host), paired runs in one go,
# medians and ratios. Not a test: run it by hand or from the stop hook.
#
#   bench/start.sh [RUNS]        (default 25; PYRUNC=path to pick a binary)
#   SECCOMP=podman bench/start.sh  the same with podman's default seccomp
#                                  profile (containers-common's seccomp.json,
#                                  turned into its OCI form as podman does
#                                  for root with its default capabilities)
set -eu
RUNS=${1:-25}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=$(command -v python3)
PYRUNC=${PYRUNC:-$(command -v pyrunc || echo "$HERE/.venv/bin/pyrunc")}
BUSYBOX=$(command -v busybox || echo /bin/busybox)
[ -x "$PYRUNC" ] || { echo "no pyrunc at $PYRUNC (install it first)" >&2; exit 2; }
[ -x "$BUSYBOX" ] || { echo "busybox-static is needed" >&2; exit 2; }
WORK=$(mktemp -d /tmp/pyrunc-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bundle/rootfs/bin"
cp "$BUSYBOX" "$WORK/bundle/rootfs/bin/busybox"
ln -s busybox "$WORK/bundle/rootfs/bin/true"
"$PYRUNC" spec --bundle "$WORK/bundle"
"$PY" - "$RUNS" "$WORK" "$PYRUNC" <<'EOPY'
import json, os, shutil, statistics, subprocess, sys, time
runs, work, pyrunc = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bundle = os.path.join(work, "bundle")
cfg = os.path.join(bundle, "config.json")
with open(cfg) as f:
    c = json.load(f)
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
PODMAN_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
               "CAP_SETUID", "CAP_SYS_CHROOT"}


def oci_profile(path, arch="SCMP_ARCH_X86_64"):
    """A docker-format profile (archMap, includes/excludes) in OCI form."""
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


if os.environ.get("SECCOMP") == "podman":
    c["linux"]["seccomp"] = oci_profile("/usr/share/containers/seccomp.json")
    n = sum(len(r["names"]) for r in c["linux"]["seccomp"]["syscalls"])
    print(f"# with podman's default seccomp profile ({n} syscall names)")
with open(cfg, "w") as f:
    json.dump(c, f)
runtimes = [("pyrunc", pyrunc)]
for name in ("runc", "crun"):
    path = shutil.which(name)
    if path:
        runtimes.append((name, path))
times = {n: [] for n, _ in runtimes}
usable = {}
for i in range(runs + 2):  # two warm-up rounds
    for name, path in runtimes:
        if usable.get(name) is False:
            continue
        root = os.path.join(work, "state-" + name)
        cmd = [path, "--root", root, "run", "--bundle", bundle, f"b{i}"]
        t = time.perf_counter()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        dt = (time.perf_counter() - t) * 1000
        if p.returncode != 0:
            if name == "pyrunc":
                sys.exit(f"pyrunc failed: {p.stderr.decode()}")
            usable[name] = False
            print(f"# {name} cannot run here: {p.stderr.decode().strip()[:100]}")
            continue
        usable[name] = True
        if i >= 2:
            times[name].append(dt)
base = statistics.median(times["pyrunc"])
print(f"# run of /bin/true, {runs} paired runs, median (min..max) ms")
for name, _ in runtimes:
    if times[name]:
        m = statistics.median(times[name])
        print(f"{name:8s} {m:6.1f}  ({min(times[name]):.1f}..{max(times[name]):.1f})")
for name, _ in runtimes[1:]:
    if times[name]:
        print(f"pyrunc/{name} = {base / statistics.median(times[name]):.2f}")
EOPY
