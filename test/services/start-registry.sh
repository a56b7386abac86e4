#!/usr/bin/env bash
# Start a throw-away Docker Distribution registry (Debian package docker-registry 2.8) on
# loopback for the integration tests: Registry HTTP API v2, with htpasswd basic auth or none.
#   Install: npm run setup   (docker-registry, and apache2-utils for htpasswd)
#
# Settings (environment):
#   REG_PORT      port (default 15000)
#   REG_AUTH      1 = htpasswd basic auth (default), 0 = no auth (like a plain local registry)
#   REG_USER / REG_PASSWORD   the one account when REG_AUTH=1 (default estela / registry-secret)
#   REG_BASE      work folder (default ${TMPDIR:-/tmp}/nest-credentials-test/registry-$REG_PORT);
#                 give each registry its own folder to run several at once
#   REG_FRESH=1   restart even when a healthy registry from REG_BASE is already running
#   REG_KEEP_DATA=1  keep the stored images across a restart (default: wipe them)
#
# The tests use two: 15000 with auth (estela / registry-secret) and 15001 without (start-all.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${REG_PORT:-15000}
SERVICE_NAME=registry:$PORT
# shellcheck source=lib.sh
. "$HERE/lib.sh"

BASE=${REG_BASE:-$TEST_SERVICES_BASE/registry-$PORT}
AUTH_ON=${REG_AUTH:-1}
USER_=${REG_USER:-estela}
PASS=${REG_PASSWORD:-registry-secret}
[ "$AUTH_ON" = 1 ] && EXPECT=401 || EXPECT=200 # what GET /v2/ answers without credentials

print_env() {
  echo "REGISTRY_HOST=127.0.0.1:$PORT"
  if [ "$AUTH_ON" = 1 ]; then
    echo "REGISTRY_USERNAME=$USER_"
    echo "REGISTRY_PASSWORD=$PASS"
  fi
}
status_code() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" || true; }
ours_running() {
  [ -f "$BASE/registry.pid" ] || return 1
  local p
  p=$(cat "$BASE/registry.pid")
  alive "$p" && [[ "$(cmdline_of "$p")" == *"$BASE/config.yml"* ]]
}

need_cmd docker-registry docker-registry
need_cmd curl curl
[ "$AUTH_ON" = 1 ] && need_cmd htpasswd apache2-utils
check_base "$BASE"
lock_base "$BASE"

if [ "${REG_FRESH:-0}" != 1 ] && ours_running && [ "$(status_code)" = "$EXPECT" ] &&
  { [ "$AUTH_ON" != 1 ] || grep -q "^$USER_:" "$BASE/htpasswd" 2>/dev/null; }; then
  say "already running from $BASE (auth: $([ "$AUTH_ON" = 1 ] && echo on || echo off)); set REG_FRESH=1 to restart"
  print_env
  echo "REGISTRY_ALREADY_RUNNING=1"
  exit 0
fi

t0=$EPOCHREALTIME
if [ -f "$BASE/registry.pid" ]; then REG_BASE=$BASE REG_PORT=$PORT "$HERE/stop-registry.sh" >/dev/null 2>&1 || true; fi
port_open "$PORT" && die "port $PORT is already in use$(describe_port "$PORT") (set REG_PORT to move the registry)"
if [ "${REG_KEEP_DATA:-0}" = 1 ]; then
  rm -f "$BASE/config.yml" "$BASE/htpasswd"
else
  rm -rf "$BASE"
fi
mkdir -p "$BASE/data"

AUTH_YML=""
if [ "$AUTH_ON" = 1 ]; then
  # Only bcrypt entries count (-B); the path must be a FILE (Debian's default config points it at
  # a folder, which makes every authenticated request fail with 400). Re-read when it changes.
  htpasswd -Bbn "$USER_" "$PASS" >"$BASE/htpasswd"
  AUTH_YML="auth:
  htpasswd:
    realm: nest-credentials-test-registry
    path: $BASE/htpasswd"
fi
cat >"$BASE/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $BASE/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: nest-credentials-test
$AUTH_YML
YML
docker-registry serve "$BASE/config.yml" </dev/null >"$BASE/registry.log" 2>&1 9>&- &
echo $! >"$BASE/registry.pid"

fail() {
  say "$1"
  REG_BASE=$BASE REG_PORT=$PORT "$HERE/stop-registry.sh" >/dev/null 2>&1 || true
  exit 1
}
for i in $(seq 1 200); do # up to 20 s
  code=$(status_code)
  [ "$code" = "$EXPECT" ] && break
  case "$code" in 200 | 401) fail "GET /v2/ answered $code, expected $EXPECT (log: $BASE/registry.log)" ;; esac
  alive "$(cat "$BASE/registry.pid")" || {
    cat "$BASE/registry.log" >&2
    fail "registry died while starting (log above)"
  }
  [ "$i" = 200 ] && fail "timeout waiting for the registry on port $PORT (log: $BASE/registry.log)"
  sleep 0.1
done
say "started in $(elapsed_since "$t0") s: http://127.0.0.1:$PORT (auth: $([ "$AUTH_ON" = 1 ] && echo "on, user $USER_" || echo off); data: $BASE/data)"
print_env
