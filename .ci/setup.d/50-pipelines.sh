#!/usr/bin/env bash
# Data pipelines: the emulators the destination tests run against.
# - moto's S3 server, the GCS emulator and fakesnow come with `pip install -e .[test]`
#   (extra "test-servers"); the tests start them on free loopback ports.
# - Azurite (Azure Blob) comes from npm; tests start `azurite-blob` with
#   --skipApiVersionCheck --loose --disableTelemetry (without the last flag it phones home).
# - PostgreSQL is set up by 10-services.sh.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if ! have azurite-blob; then
  if ! have npm; then
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; export APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  npm install -g --silent --no-fund --no-audit azurite >/dev/null
fi
azurite-blob --version >/dev/null
