#!/usr/bin/env bash
# Stop a registry started by start-registry.sh (by its PID file only; the PID must still belong
# to a docker-registry serving our config). Idempotent.
# Settings: REG_PORT (default 15000) and REG_BASE, as for start-registry.sh.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${REG_PORT:-15000}
SERVICE_NAME=registry:$PORT
# shellcheck source=lib.sh
. "$HERE/lib.sh"

BASE=${REG_BASE:-$TEST_SERVICES_BASE/registry-$PORT}
lock_base "$BASE"
if [ ! -f "$BASE/registry.pid" ]; then
  say "not running (no PID file in $BASE)"
  exit 0
fi
p=$(cat "$BASE/registry.pid")
rm -f "$BASE/registry.pid"
if alive "$p" && [[ "$(cmdline_of "$p")" == *"$BASE/config.yml"* ]]; then
  kill_pids "$p"
  say "stopped (PID $p)"
else
  say "not running (stale PID file removed)"
fi
