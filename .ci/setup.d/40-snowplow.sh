#!/usr/bin/env bash
# Snowplow collector tests: Debian's Chromium for the JavaScript tracker test, and the npm
# packages (@snowplow/browser-tracker, playwright-core) under tests/snowplow/browser/.
# Idempotent: skips what is already installed. Never downloads a browser build.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; export APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; export APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

browser=tests/snowplow/browser
if [ ! -d "$browser/node_modules/@snowplow/browser-tracker" ] || [ ! -d "$browser/node_modules/playwright-core" ]; then
  (cd "$browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
fi
