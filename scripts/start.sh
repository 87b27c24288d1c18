#!/usr/bin/env bash
# Installs driftline into ./.venv and starts it on the embedded store with demo data.
# Extra arguments go to `driftline serve` (e.g. --port 9000 --demo-events 1000000).
# With the drivers for Postgres and MySQL/MariaDB, buckets (S3, GCS, Azure) and Snowplow's
# enrichments, so the README's tour works as written; Snowflake, BigQuery and Databricks are
# extras of their own (pip install -e '.[snowflake]', ...).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[postgres,mysql,s3,gcs,azure,snowplow]'
exec .venv/bin/driftline serve --demo "$@"
