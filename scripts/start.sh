#!/usr/bin/env bash
# Installs driftline into ./.venv and starts it on the embedded store with demo data.
# Extra arguments go to `driftline serve` (e.g. --port 9000 --demo-events 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e .
exec .venv/bin/driftline serve --demo "$@"
