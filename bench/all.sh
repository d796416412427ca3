#!/bin/sh
# Every bench/ row, one after the other, then one markdown table of the
# medians (for the README). Benchmarks, not tests: nothing fails on a
# number. Paired runs inside each row; see bench/benchlib.py for the
# environment (PYRUNC, OTHER, CRUN, SECCOMP=podman, USERNS=1, N).
#
#   bench/all.sh            (N rounds per row: each row's default)
#   N=2 SIZES=2,3 bench/all.sh   a quick check that every row runs
#   E2E=1 bench/all.sh      also podman/ctr end to end (bench/e2e.py)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
BENCH_TABLE=$(mktemp /tmp/pyrunc-bench-table.XXXXXX)
export BENCH_TABLE
trap 'rm -f "$BENCH_TABLE"' EXIT
echo "# pyrunc bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
rows="run lifecycle exec commands list memory"
[ "${E2E:-}" = 1 ] && rows="$rows e2e"
for row in $rows; do
	"$PY" "$HERE/$row.py"
	echo
done
"$PY" "$HERE/table.py" "$BENCH_TABLE"
