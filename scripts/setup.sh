#!/usr/bin/env bash
# One-time set-up of a machine (Debian bookworm) for building and testing nest-credentials.
# Idempotent: installs only what is missing.
#   1. Debian packages of the integration-test servers (OpenStack Swift with s3api as the S3
#      server, Docker Distribution as the registry, memcached, htpasswd, curl, boto3);
#      apt-get runs only when one of them is missing (with sudo when not root).
#   2. npm ci   (skip with SETUP_SKIP_NPM=1)
# Then: npm test   (starts and stops the test servers by itself; see test/services/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(swift swift-proxy swift-account swift-container swift-object memcached
  docker-registry apache2-utils python3-boto3 curl)
step() { printf '\n==> %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() {
  printf '\nsetup FAILED: %s\n' "$*" >&2
  exit 1
}

step "Debian packages for the test servers"
command -v dpkg >/dev/null || fail "dpkg not found: this script supports Debian/Ubuntu only (needs: ${PACKAGES[*]})"
missing=()
for p in "${PACKAGES[@]}"; do
  [ "$(dpkg -s "$p" 2>/dev/null | sed -n 's/^Status: //p')" = 'install ok installed' ] ||
    missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  ok "all installed (${PACKAGES[*]})"
else
  echo "    missing: ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "not root and no sudo: install as root: apt-get install ${missing[*]}"
    SUDO=(sudo)
  fi
  # DPkg::Lock::Timeout: wait for another apt/dpkg run instead of failing on its lock.
  APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  "${APT[@]}" update
  "${APT[@]}" install -y --no-install-recommends "${PACKAGES[@]}"
  ok "installed ${missing[*]}"
fi
# Swift must run on Debian's python (a pyenv/venv python3 first in PATH has no swift module).
/usr/bin/python3 -c 'import swift.common.middleware.s3api.s3api' ||
  fail "/usr/bin/python3 cannot import swift (package python3-swift)"
ok "/usr/bin/python3 has swift $(/usr/bin/python3 -c 'import swift; print(swift.__version__)')"

step "Node.js"
command -v node >/dev/null || fail "node not found (need Node.js >= 20.19)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  fail "Node.js $(node --version) is too old (need >= 20.19)"
ok "node $(node --version), npm $(npm --version)"

if [ "${SETUP_SKIP_NPM:-0}" = 1 ]; then
  step "npm ci: skipped (SETUP_SKIP_NPM=1)"
else
  step "npm ci"
  npm ci
fi

step "done. Run the tests with: npm test   (test servers: bash test/services/start-all.sh / stop-all.sh)"
