#!/bin/sh
# Start latency: `run` of /bin/true, pyrunc against runc and crun, paired
# (bench/run.py; kept under this name for the rules and the stop hook).
#   bench/start.sh [RUNS]   SECCOMP=podman, USERNS=1, OTHER=, PYRUNC=: see
#                           bench/benchlib.py
exec "${PYTHON:-python3}" "$(dirname "$0")/run.py" "$@"
