#!/bin/sh
# exec latency: `exec` of /bin/true into a running container (default spec,
# a `sleep` as its process), pyrunc against runc, paired runs, medians and
# the ratio. Not a test: run it by hand.
#
#   bench/exec.sh [RUNS]     (default 30; PYRUNC=path to pick a binary,
#                             OTHER=path to a second pyrunc to compare, e.g.
#                             the build before a change)
set -eu
RUNS=${1:-30}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PYRUNC=${PYRUNC:-$(command -v pyrunc || echo "$HERE/.venv/bin/pyrunc")}
BUSYBOX=$(command -v busybox || echo /bin/busybox)
[ -x "$PYRUNC" ] || { echo "no pyrunc at $PYRUNC (install it first)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/pyrunc-bench.XXXXXX)
mkdir -p "$WORK/bundle/rootfs/bin"
cp "$BUSYBOX" "$WORK/bundle/rootfs/bin/busybox"
for a in true sleep; do ln -s busybox "$WORK/bundle/rootfs/bin/$a"; done
"$PYRUNC" spec --bundle "$WORK/bundle"
python3 - "$RUNS" "$WORK" "$PYRUNC" "${OTHER:-}" <<'EOPY'
import json, os, shutil, statistics, subprocess, sys, time
runs, work, pyrunc, other = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
cfg = os.path.join(work, "bundle", "config.json")
with open(cfg) as f:
    c = json.load(f)
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sleep", "600"]
with open(cfg, "w") as f:
    json.dump(c, f)
rts = [("pyrunc", pyrunc)]
if other:
    rts.append(("pyrunc-other", other))
if shutil.which("runc"):
    rts.append(("runc", shutil.which("runc")))
times = {n: [] for n, _ in rts}
started = []
try:
    for n, b in rts:
        root = os.path.join(work, "root-" + n)
        subprocess.run([b, "--root", root, "run", "-d", "-b", os.path.join(work, "bundle"),
                        "bench-" + n], check=True, stdout=subprocess.DEVNULL)
        started.append((b, root, "bench-" + n))
    for _ in range(runs):
        for n, b in rts:
            root = os.path.join(work, "root-" + n)
            t = time.perf_counter()
            subprocess.run([b, "--root", root, "exec", "bench-" + n, "/bin/true"], check=True)
            times[n].append(time.perf_counter() - t)
finally:
    for b, root, cid in started:
        subprocess.run([b, "--root", root, "delete", "-f", cid])
    shutil.rmtree(work, ignore_errors=True)
ref = statistics.median(times["runc"]) if "runc" in times else None
print(f"exec /bin/true, {runs} paired runs, medians:")
for n, _ in rts:
    m = statistics.median(times[n])
    print(f"  {n:13s} {m * 1000:6.1f} ms" + (f"  ({m / ref:.2f}x runc)" if ref else ""))
EOPY
