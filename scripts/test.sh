#!/bin/sh
# The test suite: installs pyrunc and its test dependencies, runs every
# test against real containers on this host (needs root), then the
# cgroup v2 ones again inside a pure cgroup v2 VM (tests/v2vm/run.sh), and
# the systemd cgroup driver's in one booted with systemd as PID 1.
# PYRUNC_NO_V2VM=1 skips the VM part.
set -eu
PYRUNC_SETUP=test
. "$(dirname "$0")/setup.sh"
cd "$TOP"
rc=0
"$VENV/bin/pytest" -q -p no:cacheprovider tests "$@" || rc=$?
if [ -z "${PYRUNC_NO_V2VM:-}" ]; then
	echo "== cgroup v2 (in a VM)"
	tests/v2vm/run.sh -- "$VENV/bin/pytest" -q -p no:cacheprovider -m cgroupv2 \
		tests || rc=$?
	echo "== the systemd cgroup driver (systemd as PID 1, in a VM)"
	tests/v2vm/run.sh --systemd -- "$VENV/bin/pytest" -q -p no:cacheprovider -m systemd \
		tests/test_systemd.py || rc=$?
	echo "== the systemd cgroup driver on the hybrid layout (systemd as PID 1, in a VM)"
	tests/v2vm/run.sh --systemd-hybrid -- "$VENV/bin/pytest" -q -p no:cacheprovider \
		-m systemd tests/test_systemd.py || rc=$?
fi
exit "$rc"
