# Sourced by scripts/demo.sh and scripts/test.sh: installs what pyrunc needs
# on a fresh Debian machine (as root) and pyrunc itself into .venv.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
VENV=${PYRUNC_VENV:-$TOP/.venv}

need_pkgs=""
for p in busybox-static gcc libc6-dev libseccomp-dev runc podman conmon containerd; do
	dpkg -s "$p" >/dev/null 2>&1 || need_pkgs="$need_pkgs $p"
done
if [ -n "$need_pkgs" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
	"$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "$TOP" pytest 2>&1 |
	grep -v "^WARNING: Location" || true
PYRUNC=$VENV/bin/pyrunc
# pip writes a bare "#!<venv>/bin/python3" line; the launcher is meant to
# run isolated (-I: nothing from PYTHON* variables, the user site or the
# caller's directory) and without site.py (-S: ~1.5 ms of every start).
# bin/pyrunc finds its package either way.
head -n 1 "$PYRUNC" | grep -q -- ' -IS$' || sed -i '1s|$| -IS|' "$PYRUNC"
export PYRUNC
