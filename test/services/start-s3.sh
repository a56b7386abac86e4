#!/usr/bin/env bash
# Start a throw-away single-node OpenStack Swift (Debian bookworm packages, Swift 2.30) with the
# s3api middleware and tempauth on loopback: the S3 server of the integration tests.
#   Install: npm run setup   (swift swift-proxy swift-account swift-container swift-object memcached)
#
# Speaks S3 REST with real Signature V4 checks, multipart uploads (incl. ListMultipartUploads and
# Abort), user metadata and presigned URLs. Single PUTs up to 5 GiB; multipart up to 1000 parts.
#
# Settings (environment):
#   S3_PORT       proxy port (default 18080); the object, container and account servers and
#                 memcached take the next four ports (18081..18084)
#   S3_BASE       work folder (default ${TMPDIR:-/tmp}/nest-credentials-test/s3); it must be on a
#                 file system with user xattrs (ext4, xfs, btrfs, recent tmpfs)
#   S3_FRESH=1    restart even when a healthy server from S3_BASE is already running
#   S3_KEEP_DATA=1  keep the stored buckets/objects across a restart (default: wipe them)
#   S3_MEMCACHED=0  run without memcached
#   S3_LOG_LEVEL  Swift log level (default WARNING); logs are in $S3_BASE/log
#
# Accounts (tempauth, "<account>:<user>" / key), region us-east-1:
#   test:tester / testing      and a second, separate account   test2:tester2 / testing2
#
# Swift daemons call setsid(), so they outlive a killed test runner: always run stop-s3.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVICE_NAME=s3
# shellcheck source=lib.sh
. "$HERE/lib.sh"

BASE=${S3_BASE:-$TEST_SERVICES_BASE/s3}
PROXY_PORT=${S3_PORT:-18080}
OBJ_PORT=$((PROXY_PORT + 1))
CON_PORT=$((PROXY_PORT + 2))
ACC_PORT=$((PROXY_PORT + 3))
MC_PORT=$((PROXY_PORT + 4))
ETC=$BASE/etc
RUN=$BASE/run
LOG=$BASE/log
DEV=$BASE/srv/node
REGION=us-east-1
ACCESS_KEY='test:tester'
SECRET_KEY='testing'
ACCESS_KEY2='test2:tester2'
SECRET_KEY2='testing2'
SERVERS=(account container object proxy)
PY=/usr/bin/python3 # Debian's python, which has the swift modules (never a pyenv/venv python3)

print_env() {
  echo "S3_ENDPOINT=http://127.0.0.1:$PROXY_PORT"
  echo "S3_REGION=$REGION"
  echo "S3_ACCESS_KEY=$ACCESS_KEY"
  echo "S3_SECRET_KEY=$SECRET_KEY"
  echo "S3_ACCESS_KEY_2=$ACCESS_KEY2"
  echo "S3_SECRET_KEY_2=$SECRET_KEY2"
}

# All backend ports accept connections and the proxy's /healthcheck answers 200.
ready() (
  exec 2>/dev/null
  for p in $ACC_PORT $CON_PORT $OBJ_PORT; do (exec 3<>"/dev/tcp/127.0.0.1/$p") || exit 1; done
  exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT" || exit 1
  printf 'GET /healthcheck HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  read -r -t 5 l <&3 || true
  [[ "$l" == *" 200 "* ]]
)

# Every server recorded in $RUN is alive and really is ours (guards against PID reuse).
ours_running() {
  local n p
  for n in "${SERVERS[@]}"; do
    [ -f "$RUN/$n.pid" ] || return 1
    p=$(cat "$RUN/$n.pid")
    alive "$p" || return 1
    [[ "$(cmdline_of "$p")" == *"$ETC/$n-server.conf"* ]] || return 1
  done
}

[ -x "$PY" ] || die "$PY not found. Swift needs Debian's python3. Install with: npm run setup"
"$PY" -c 'import swift.proxy.server, swift.common.middleware.s3api.s3api' 2>/dev/null ||
  die "OpenStack Swift is not installed for $PY. Install the test servers with: npm run setup"
check_base "$BASE"
lock_base "$BASE"

if [ "${S3_FRESH:-0}" != 1 ] && ours_running && ready; then
  say "already running from $BASE (http://127.0.0.1:$PROXY_PORT); set S3_FRESH=1 to restart"
  print_env
  echo "S3_ALREADY_RUNNING=1"
  exit 0
fi

t0=$EPOCHREALTIME
# Leftovers of an earlier start from this folder (crashed or half-started): stop them first.
if compgen -G "$RUN/*.pid" >/dev/null; then S3_BASE=$BASE "$HERE/stop-s3.sh" >/dev/null 2>&1 || true; fi
for p in $PROXY_PORT $OBJ_PORT $CON_PORT $ACC_PORT $MC_PORT; do
  port_open "$p" || continue
  holder=$(port_pid "$p")
  if [ -n "$holder" ] && [[ "$(cmdline_of "$holder")" == *"$ETC/"* ]]; then
    # Servers of this very folder whose PID files are gone (e.g. after a race between two
    # callers of an older version of these scripts): nobody can stop them by PID file any more.
    orphans=""
    for q in /proc/[0-9]*; do
      if [[ "$(cmdline_of "${q#/proc/}")" == *"$ETC/"* ]]; then orphans+="${q#/proc/} "; fi
    done
    mc=$(port_pid "$MC_PORT")
    [ -n "$mc" ] && [[ "$(cmdline_of "$mc")" == memcached* ]] && orphans+="$mc "
    die "port $p is held by orphaned Swift servers of $BASE (their PID files are gone); stop them with: kill ${orphans% }"
  fi
  die "port $p is already in use$(describe_port "$p"). S3 needs ports $PROXY_PORT..$MC_PORT (set S3_PORT to move them)"
done

rm -rf "$ETC" "$RUN"
[ "${S3_KEEP_DATA:-0}" = 1 ] || rm -rf "$DEV"
mkdir -p "$ETC" "$RUN" "$LOG" "$DEV/d1"

# Swift stores object metadata in user xattrs: fail early with a clear message if unsupported.
"$PY" - "$DEV/d1" <<'PY' || die "the file system of $DEV does not support user xattrs (Swift needs them). Point S3_BASE or TMPDIR at an ext4/xfs folder."
import os, sys
probe = os.path.join(sys.argv[1], '.xattr-probe')
open(probe, 'w').close()
try:
    os.setxattr(probe, 'user.swift.probe', b'1')
finally:
    os.unlink(probe)
PY

cat >"$ETC/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = nest-credentials-test
swift_hash_path_prefix = nest-credentials-test
[storage-policy:0]
name = Policy-0
default = yes
[swift-constraints]
# Swift's defaults, written out because the tests rely on them: a single PUT may be up to
# 5 GiB + 2 bytes (the tests put 100 MiB); bigger objects go through s3api multipart (SLO).
max_file_size = 5368709122
EOF

common() { # $1 = port
  cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $(id -un)
swift_dir = $ETC
devices = $DEV
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
log_level = ${S3_LOG_LEVEL:-WARNING}
EOF
}
for s in account:$ACC_PORT container:$CON_PORT object:$OBJ_PORT; do
  n=${s%%:*}
  {
    common "${s#*:}"
    printf '[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' "$n" "$n" "$n"
  } >"$ETC/$n-server.conf"
done

MC_FILTER=""
if [ "${S3_MEMCACHED:-1}" = 1 ] && command -v memcached >/dev/null; then
  MC_FILTER="memcache_servers = 127.0.0.1:$MC_PORT"
fi
{
  common "$PROXY_PORT"
  cat <<EOF
[pipeline:main]
# slo is what s3api multipart uploads are built on; copy serves UploadPartCopy/CopyObject.
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:s3api]
use = egg:swift#s3api
location = $REGION
# defaults, written out: S3's limits for multipart uploads (parts of >= 5 MiB but the last)
max_upload_part_num = 1000
min_segment_size = 5242880
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $SECRET_KEY .admin
user_test2_tester2 = $SECRET_KEY2 .admin
user_scan_scanner = Zq7-S3cret-Scan-4411 .admin
[filter:cache]
use = egg:swift#memcache
$MC_FILTER
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
max_manifest_segments = 1000
[filter:dlo]
use = egg:swift#dlo
EOF
} >"$ETC/proxy-server.conf"

# 1-replica rings with one device (what swift-ring-builder create 6 1 1 / add / rebalance does,
# in one python process: ~0.6 s instead of ~4 s). Deterministic, so S3_KEEP_DATA=1 works.
"$PY" - "$ETC" "$ACC_PORT" "$CON_PORT" "$OBJ_PORT" <<'PY'
import sys
from swift.common.ring import RingBuilder
for name, port in zip(('account', 'container', 'object'), sys.argv[2:]):
    b = RingBuilder(6, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port),
               'device': 'd1', 'weight': 1})
    b.rebalance()
    b.get_ring().save('%s/%s.ring.gz' % (sys.argv[1], name))
PY

if [ -n "$MC_FILTER" ]; then
  MCU=()
  [ "$(id -u)" = 0 ] && MCU=(-u root) # memcached refuses to run as root without -u
  memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 32 "${MCU[@]}" </dev/null >"$LOG/memcached.log" 2>&1 9>&- &
  echo $! >"$RUN/memcached.pid"
fi
# Swift reads swift.conf from the hard-coded /etc/swift/swift.conf (which the Debian package
# ships, with other settings): point it at ours before anything reads it.
LAUNCH='import sys, swift.common.utils as u; u.SWIFT_CONF_FILE = sys.argv[1]
from swift.common.wsgi import run_wsgi; sys.exit(run_wsgi(sys.argv[2], sys.argv[3], verbose=True))'
for n in "${SERVERS[@]}"; do
  "$PY" -c "$LAUNCH" "$ETC/swift.conf" "$ETC/$n-server.conf" "$n-server" </dev/null >"$LOG/$n.log" 2>&1 9>&- &
  echo $! >"$RUN/$n.pid"
done

fail() {
  say "$1"
  S3_BASE=$BASE "$HERE/stop-s3.sh" >/dev/null 2>&1 || true
  exit 1
}
for i in $(seq 1 300); do # up to 60 s
  ready && break
  for n in "${SERVERS[@]}"; do
    alive "$(cat "$RUN/$n.pid")" || {
      tail -20 "$LOG/$n.log" >&2
      fail "$n-server died while starting (log above, full log: $LOG/$n.log)"
    }
  done
  [ "$i" = 300 ] && fail "timeout waiting for Swift to answer on port $PROXY_PORT (logs: $LOG)"
  sleep 0.2
done
say "started in $(elapsed_since "$t0") s: http://127.0.0.1:$PROXY_PORT (data: $DEV, logs: $LOG)"
print_env
