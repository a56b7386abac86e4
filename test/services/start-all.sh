#!/usr/bin/env bash
# Start every server the integration tests use (each one is reused if already running):
#   S3 (Swift s3api)         http://127.0.0.1:18080   test:tester / testing, test2:tester2 / testing2
#   registry with auth       127.0.0.1:15000          estela / registry-secret
#   registry without auth    127.0.0.1:15001
# Stop them with stop-all.sh. Prints the KEY=VALUE lines of each server on stdout.
# Ports: S3_PORT, TEST_REGISTRY_PORT, TEST_OPEN_REGISTRY_PORT (with TEST_SERVICES_BASE: a second
# set of servers for a second checkout). Servers started here are yours: Jest's global teardown will not stop them.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVICE_NAME=services
# shellcheck source=lib.sh
. "$HERE/lib.sh"
t0=$EPOCHREALTIME
REG_PORT=${TEST_REGISTRY_PORT:-15000} REG_AUTH=1 REG_BASE= "$HERE/start-registry.sh"
# the open registry's variables get a prefix so they do not clash with the first one's
REG_PORT=${TEST_OPEN_REGISTRY_PORT:-15001} REG_AUTH=0 REG_BASE= "$HERE/start-registry.sh" | sed 's/^/OPEN_/'
"$HERE/start-s3.sh"
# forget that a test run started any of them (see share.sh): from now on they are yours
rm -rf "$TEST_SERVICES_BASE/jest"
say "all test servers are up ($(elapsed_since "$t0") s)"
