#!/usr/bin/env bash
# Stop the S3 test server started by start-s3.sh: only the processes recorded in its PID files
# (checked against their command lines, so a reused PID is never killed). Idempotent.
# Settings: S3_BASE (default ${TMPDIR:-/tmp}/nest-credentials-test/s3), as for start-s3.sh.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVICE_NAME=s3
# shellcheck source=lib.sh
. "$HERE/lib.sh"

BASE=${S3_BASE:-$TEST_SERVICES_BASE/s3}
ETC=$BASE/etc
RUN=$BASE/run
lock_base "$BASE"
# memcached's command line does not name our folder: recognise it by the port in our config.
MC_ADDR=$(sed -n 's/^memcache_servers = //p' "$ETC/proxy-server.conf" 2>/dev/null || true)

pids=()
for f in "$RUN"/*.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f")
  rm -f "$f"
  alive "$p" || continue
  n=$(basename "$f" .pid)
  cmd=$(cmdline_of "$p")
  if [ "$n" = memcached ]; then
    [[ -n "$MC_ADDR" && "$cmd" == memcached* && "$cmd" == *" -p ${MC_ADDR##*:} "* ]] && pids+=("$p")
  else
    [[ "$cmd" == *"$ETC/$n-server.conf"* ]] && pids+=("$p")
  fi
done
if [ "${#pids[@]}" -gt 0 ]; then
  kill_pids "${pids[@]}"
  say "stopped (${#pids[@]} processes from $BASE)"
else
  say "not running (nothing to stop in $BASE)"
fi
