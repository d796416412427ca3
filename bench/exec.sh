#!/bin/sh
# exec latency (bench/exec.py): `exec` of /bin/true into a running
# container, pyrunc against runc and crun, paired.
#   bench/exec.sh [RUNS]    OTHER=, PYRUNC=: see bench/benchlib.py
exec "${PYTHON:-python3}" "$(dirname "$0")/exec.py" "$@"
