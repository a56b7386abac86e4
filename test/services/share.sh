#!/usr/bin/env bash
# Reference-counted use of one test server by concurrent Jest runs (two developers' runs, a
# mutation-testing loop...). Called by global-setup.ts and global-teardown.ts; not for humans.
#
#   share.sh acquire SERVICE PID [keep]   start SERVICE unless it already answers; register PID
#                                         as a user if a test run manages it. Prints one of:
#                                         started | shared | external | kept-running
#   share.sh release SERVICE PID          unregister PID; stop SERVICE if a test run started it
#                                         and no live user is left. Prints one of:
#                                         stopped | in-use | not-managed | not-registered
# SERVICE: s3 | auth-registry | open-registry.
#
# Bookkeeping lives in $TEST_SERVICES_BASE/jest/SERVICE/: `managed` (a test run started it, so
# the last test run to leave stops it) and users/<PID> (one file per Jest process using it; dead
# PIDs are pruned). Every step runs under the server's own start/stop lock. start-all.sh and
# stop-all.sh clear the bookkeeping: servers a human or CI started are never stopped by Jest.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVICE_NAME=share
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$#" -ge 3 ] || die "usage: share.sh acquire|release SERVICE PID [keep]"
ACTION=$1
SVC=$2
USER_PID=$3
KEEP=${4:-}

case "$SVC" in
  s3)
    BASE=${S3_BASE:-$TEST_SERVICES_BASE/s3}
    URL="http://127.0.0.1:${S3_PORT:-18080}/healthcheck"
    START=(env "S3_BASE=$BASE" "$HERE/start-s3.sh")
    STOP=(env "S3_BASE=$BASE" "$HERE/stop-s3.sh")
    ;;
  auth-registry | open-registry)
    [ "$SVC" = auth-registry ] && PORT=${TEST_REGISTRY_PORT:-15000} AUTH=1 || PORT=${TEST_OPEN_REGISTRY_PORT:-15001} AUTH=0
    BASE=$TEST_SERVICES_BASE/registry-$PORT
    URL="http://127.0.0.1:$PORT/v2/"
    START=(env "REG_PORT=$PORT" "REG_AUTH=$AUTH" "REG_BASE=$BASE" "$HERE/start-registry.sh")
    STOP=(env "REG_PORT=$PORT" "REG_BASE=$BASE" "$HERE/stop-registry.sh")
    ;;
  *) die "unknown service '$SVC'" ;;
esac
SHARE=$TEST_SERVICES_BASE/jest/$SVC
SERVICE_NAME=$SVC

lock_base "$BASE"
mkdir -p "$SHARE/users"
for f in "$SHARE"/users/*; do # forget users that died without their teardown
  [ -e "$f" ] || continue
  alive "${f##*/}" || rm -f "$f"
done
answers() {
  case "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL" || true)" in
    200 | 401) return 0 ;;
    *) return 1 ;;
  esac
}

case "$ACTION" in
  acquire)
    if answers; then
      if [ -f "$SHARE/managed" ] && [ "$KEEP" != keep ]; then
        touch "$SHARE/users/$USER_PID"
        echo shared
      else
        echo external # started by a human, by CI or with TEST_SERVICES=keep: never stopped by us
      fi
      exit 0
    fi
    "${START[@]}" >/dev/null # progress and errors go to stderr
    if [ "$KEEP" = keep ]; then
      rm -f "$SHARE/managed"
      echo kept-running
    else
      touch "$SHARE/managed" "$SHARE/users/$USER_PID"
      echo started
    fi
    ;;
  release)
    if [ ! -e "$SHARE/users/$USER_PID" ]; then
      echo not-registered
      exit 0
    fi
    rm -f "$SHARE/users/$USER_PID"
    if [ ! -f "$SHARE/managed" ]; then
      echo not-managed
    elif compgen -G "$SHARE/users/*" >/dev/null; then
      echo in-use
    else
      "${STOP[@]}" >/dev/null
      rm -f "$SHARE/managed"
      echo stopped
    fi
    ;;
  *) die "unknown action '$ACTION'" ;;
esac
