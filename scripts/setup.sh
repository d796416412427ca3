# Sourced by scripts/demo.sh and scripts/test.sh (as root, on a fresh
# Debian machine): installs what building and running pyrunc needs, builds
# its sdist and wheel with `python -m build`, and installs that wheel into
# .venv, as a user would. With PYRUNC_SETUP=test (scripts/test.sh): also
# the container clients the tests compare against, and the `test` extra.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
VENV=${PYRUNC_VENV:-$TOP/.venv}
SETUP=${PYRUNC_SETUP:-run}

# running a container: busybox for the demo's rootfs, a C compiler and
# libseccomp for the build
# Debian's own python3.11 (venv, headers): it starts in ~21M instructions
# where a pyenv build takes ~28M, ~1.5 ms of every pyrunc command; and it
# lives where any user can run it (a venv under /root is root's alone)
pkgs="busybox-static gcc libc6-dev libseccomp-dev python3.11-venv python3.11-dev"
# the tests: the real clients, each side by side with runc
[ "$SETUP" = test ] && pkgs="$pkgs runc podman conmon containerd docker.io"
need_pkgs=""
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || need_pkgs="$need_pkgs $p"
done
if [ -n "$need_pkgs" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null
fi

PYTHON=${PYTHON:-/usr/bin/python3.11}
pip_q() {
	v=$1
	shift
	"$v/bin/pip" install -q --disable-pip-version-check "$@" 2>&1 |
		grep -v "^WARNING: Location" || true
}
# the sdist and the wheel, built from this checkout in build's isolated
# environment (setuptools and cffi from PyPI), into dist/
BUILD_VENV=$TOP/.venv-build
[ -x "$BUILD_VENV/bin/python" ] || "$PYTHON" -m venv "$BUILD_VENV"
[ -x "$BUILD_VENV/bin/pyproject-build" ] || pip_q "$BUILD_VENV" build
rm -rf "$TOP/dist"
"$BUILD_VENV/bin/python" -m build -o "$TOP/dist" "$TOP" >"$BUILD_VENV/build.log" 2>&1 || {
	tail -n 30 "$BUILD_VENV/build.log" >&2
	exit 1
}
WHEEL=$(ls "$TOP"/dist/pyrunc-*.whl)

# the wheel, installed into .venv (the same version again: --force-reinstall)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
extra=""
[ "$SETUP" = test ] && extra="[test]"
pip_q "$VENV" --force-reinstall --no-deps "$WHEEL"
pip_q "$VENV" "$WHEEL$extra"
PYRUNC=$VENV/bin/pyrunc
export PYRUNC WHEEL
