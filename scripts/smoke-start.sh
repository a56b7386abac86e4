#!/usr/bin/env bash
# Smoke test of `npm start` (the example app) from a clean dist: it must build, start on the
# filesystem backend of .env with a generated API token, answer the curl lines it prints, and
# stop on SIGTERM. Uses a free port and a temporary PROJECTS_DIR; leaves nothing behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

work="$(mktemp -d)"
log="$work/start.log"
pgid=''
cleanup() {
  if [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  printf 'smoke-start FAILED: %s\n--- app output ---\n' "$*" >&2
  cat "$log" >&2 || true
  exit 1
}

rm -rf dist
# Its own process group, so that npm, its shell and node all get the signal.
env -u CREDENTIALS_API_TOKEN PORT=0 PROJECTS_DIR="$work/projects" setsid npm start >"$log" 2>&1 &
pgid=$!

url=''
for _ in $(seq 1 120); do
  url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)"
  [ -n "$url" ] && break
  kill -0 "$pgid" 2>/dev/null || fail 'npm start exited before listening'
  sleep 0.5
done
[ -n "$url" ] || fail 'no "listening on" line within 60 s'
token="$(sed -n 's/^API token (generated[^:]*: \(.*\)$/\1/p' "$log" | head -1)"
[ -n "$token" ] || fail 'no generated API token printed'
auth="Authorization: Bearer $token"

# An empty ZIP archive: the end-of-central-directory record alone.
printf 'PK\005\006\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >"$work/project.zip"
curl -fsS -T "$work/project.zip" -H 'Content-Type: application/zip' -H "$auth" \
  "$url/projects/smoke.zip" | grep -q '"key":"smoke.zip"' || fail 'PUT upload'
curl -fsS -F "project_zip=@$work/project.zip" -H "$auth" "$url/projects/smoke-form.zip" |
  grep -q '"size":22' || fail 'POST upload'
curl -fsS -o "$work/downloaded.zip" -H "$auth" "$url/projects/smoke.zip" || fail 'download'
cmp -s "$work/project.zip" "$work/downloaded.zip" || fail 'downloaded bytes differ'
curl -fsS -H "$auth" "$url/registry/token" | grep -q '"expiresAt"' || fail 'registry token'
status="$(curl -sS -o /dev/null -w '%{http_code}' "$url/registry/token")"
[ "$status" = 401 ] || fail "no token answered $status, not 401"

kill -TERM -- "-$pgid"
for _ in $(seq 1 40); do
  kill -0 -- "-$pgid" 2>/dev/null || break
  sleep 0.25
done
kill -0 -- "-$pgid" 2>/dev/null && fail 'still running 10 s after SIGTERM'
pgid=''
echo "smoke-start: ok ($url)"
