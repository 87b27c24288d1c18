#!/usr/bin/env bash
# Headless Chromium (Debian's) and the npm packages of the browser SDK test
# (tests/ingest/browser: mixpanel-browser, playwright-core). No browser is downloaded.
set -euo pipefail
cd "$(dirname "$0")/../.."

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; export APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
if ! have node || ! have npm; then apt_install nodejs npm; fi

dir=tests/ingest/browser
if [ ! -d "$dir/node_modules/playwright-core" ] || [ ! -d "$dir/node_modules/mixpanel-browser" ] \
   || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
  # playwright-core never downloads a browser; the test uses /usr/bin/chromium
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
