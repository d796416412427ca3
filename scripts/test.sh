#!/bin/sh
# The test suite: installs pyrunc and its test dependencies, then runs
# every test against real containers (needs root).
set -eu
. "$(dirname "$0")/setup.sh"
cd "$TOP"
exec "$VENV/bin/pytest" -q -p no:cacheprovider tests "$@"
