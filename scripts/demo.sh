#!/bin/sh
# The main job: build pyrunc's sdist and wheel, install the wheel into
# .venv, build a bundle from busybox-static and run a real container in it.
set -eu
. "$(dirname "$0")/setup.sh"
B=$(mktemp -d /tmp/pyrunc-demo.XXXXXX)
trap 'rm -rf "$B"' EXIT
mkdir -p "$B/rootfs/bin" "$B/rootfs/etc"
cp "$(command -v busybox)" "$B/rootfs/bin/busybox"
for a in $("$B/rootfs/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -s busybox "$B/rootfs/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$B/rootfs/etc/passwd"
"$PYRUNC" spec --bundle "$B"
# no terminal; a short program instead of an interactive shell
"$VENV/bin/python" - "$B/config.json" <<'EOPY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from $(hostname), pid $$ in $(readlink /proc/self/ns/pid); id; ls /"]
json.dump(c, open(p, "w"), indent=2)
EOPY
"$PYRUNC" run --bundle "$B" "demo-$$"
