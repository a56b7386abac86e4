#!/usr/bin/env bash
# Stop every server started by start-all.sh or by a test run (by PID files only). Idempotent;
# never fails.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVICE_NAME=services
# shellcheck source=lib.sh
. "$HERE/lib.sh"
"$HERE/stop-s3.sh" || true
REG_PORT=${TEST_REGISTRY_PORT:-15000} REG_BASE= "$HERE/stop-registry.sh" || true
REG_PORT=${TEST_OPEN_REGISTRY_PORT:-15001} REG_BASE= "$HERE/stop-registry.sh" || true
rm -rf "$TEST_SERVICES_BASE/jest" # nothing left for test runs to share
