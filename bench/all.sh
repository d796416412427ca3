#!/bin/sh
# Every bench/ row, one after the other, then one markdown table of the
# medians (for the README). Benchmarks, not tests: nothing fails on a
# number. Paired runs inside each row; see bench/benchlib.py for the
# environment (PYRUNC, OTHER, CRUN, SECCOMP=podman, USERNS=1, N).
#
#   bench/all.sh            (N rounds per row: each row's default)
#   N=2 SIZES=2,3 bench/all.sh   a quick check that every row runs
#   E2E=0 bench/all.sh      without podman/ctr end to end (bench/e2e.py)
#
# `run` is timed three times: the default spec, with podman's default
# seccomp profile (SECCOMP=podman) and in a user namespace (USERNS=1).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
BENCH_TABLE=$(mktemp /tmp/pyrunc-bench-table.XXXXXX)
export BENCH_TABLE
trap 'rm -f "$BENCH_TABLE"' EXIT
echo "# pyrunc bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
rows="run run:SECCOMP=podman run:USERNS=1 lifecycle exec commands list memory"
[ "${E2E:-1}" = 0 ] || rows="$rows e2e"
for row in $rows; do
	case "$row" in
	*:*) env "${row#*:}" "$PY" "$HERE/${row%%:*}.py" ;;
	*) "$PY" "$HERE/$row.py" ;;
	esac
	echo
done
"$PY" "$HERE/table.py" "$BENCH_TABLE"
