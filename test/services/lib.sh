# shellcheck shell=bash
# Helpers shared by the test-service scripts in this folder. Sourced, never executed.
# The caller sets SERVICE_NAME (used as the prefix of every message) before sourcing.

# Every server keeps its config, PID files, logs and data below this folder.
TEST_SERVICES_BASE=${TEST_SERVICES_BASE:-${TMPDIR:-/tmp}/nest-credentials-test}

# Progress and errors go to stderr; stdout only carries KEY=VALUE lines for callers to parse.
say() { printf '[%s] %s\n' "${SERVICE_NAME:-services}" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "${SERVICE_NAME:-services}" "$*" >&2
  exit 1
}

# A process counts as alive when it exists and is not a zombie (in containers whose PID 1 does
# not reap orphans, killed daemons can linger as zombies forever).
alive() {
  [ -n "${1:-}" ] && [ -d "/proc/$1" ] && ! grep -q '^State:.*zombie' "/proc/$1/status" 2>/dev/null
}

cmdline_of() { tr '\0\n' '  ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Seconds since $1 (a value of $EPOCHREALTIME), with one decimal.
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# The data folders are wiped with rm -rf: refuse obviously wrong values.
check_base() {
  case "$1" in
    "" | / | /tmp | /tmp/ | /root | /home | "${HOME:-/root}" | "$PWD")
      die "refusing to use '$1' as a throw-away data folder"
      ;;
    /*) ;;
    *) die "the data folder must be an absolute path (got '$1')" ;;
  esac
}

# kill_pids PID...: SIGTERM, wait up to 5 s, then SIGKILL whatever is still alive.
kill_pids() {
  [ "$#" -gt 0 ] || return 0
  kill "$@" 2>/dev/null || true
  local i p left
  for i in $(seq 1 50); do
    left=()
    for p in "$@"; do alive "$p" && left+=("$p"); done
    [ "${#left[@]}" -eq 0 ] && return 0
    sleep 0.1
  done
  say "still running after SIGTERM, sending SIGKILL: ${left[*]}"
  kill -9 "${left[@]}" 2>/dev/null || true
}

# need_cmd CMD PACKAGE: fail with the set-up hint when CMD is missing.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 ||
    die "'$1' not found (Debian package $2). Install the test servers with: npm run setup"
}

# lock_base DIR: serialise start/stop of the server living in DIR between concurrent callers
# (two test runs, a test run and a developer...). Held until the script exits. Nested calls
# (a start script running the stop script) inherit it through fd 9 and NCT_LOCKED. Daemons must
# be launched with 9>&- or they would keep holding it.
lock_base() {
  [ "${NCT_LOCKED:-}" = "$1" ] && return 0
  command -v flock >/dev/null 2>&1 || return 0
  mkdir -p "$(dirname "$1")"
  exec 9>"$1.lock"
  if ! flock -n 9; then
    say "waiting for another start/stop of $1 to finish..."
    flock -w 300 9 || die "timeout waiting for the lock $1.lock"
  fi
  export NCT_LOCKED=$1
}

# port_pid PORT: PID of the process listening on 127.0.0.1:PORT, if ss can tell.
port_pid() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1
}

# describe_port PORT: " (PID n: command line)" of who listens there, for error messages.
describe_port() {
  local pid
  pid=$(port_pid "$1")
  [ -n "$pid" ] && printf ' (PID %s: %s)' "$pid" "$(cmdline_of "$pid" | cut -c1-300)"
  return 0
}
