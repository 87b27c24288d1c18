"""The issue's "Done when": a day of events exported hourly to S3 (moto's server) by the
real CLI, late events injected, run again, killed (SIGKILL) and run again — the union of
all files holds every event exactly once, each in its event-time partition, and every
partition has its `complete` marker."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from driftline.store import AppendEvents, DuckDBStore

from .conftest import make_events, new_s3_bucket

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def cli(
    *args: str, data_dir: Path, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("DRIFTLINE_PIPELINE_CRASH_AT", None)
    if crash_at:
        env["DRIFTLINE_PIPELINE_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "driftline", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def commit(data_dir: Path, table: object) -> None:
    """Commit events the way a server would (the CLI processes are not running now)."""
    store = DuckDBStore(data_dir)
    try:
        store.apply([AppendEvents(table)])  # type: ignore[arg-type]
    finally:
        store.close()


def bucket_objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    out: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            out[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


def test_a_day_hourly_to_s3_late_events_kills_exactly_once(
    tmp_path: Path, s3_env: str, day: dt.datetime
) -> None:
    data_dir = tmp_path / "data"
    with DuckDBStore(data_dir) as store:
        store.create_project("default")
    bucket = new_s3_bucket(s3_env)
    name = "hourly-s3"
    ok(
        cli(
            "pipeline",
            "add",
            name,
            "--destination",
            f"s3://{bucket}/exports",
            "--data",
            "events",
            "--frequency",
            "hourly",
            data_dir=data_dir,
        )
    )

    # a day of events, committed as a day's traffic would be: in several commits
    for seed in range(4):
        commit(
            data_dir,
            make_events(1500, day + dt.timedelta(hours=6 * seed), dt.timedelta(hours=6), seed=seed),
        )
    ok(cli("pipeline", "run", name, data_dir=data_dir))

    # late events for hours already exported
    commit(data_dir, make_events(500, day + dt.timedelta(hours=2), dt.timedelta(hours=20), seed=10))
    ok(cli("pipeline", "run", name, data_dir=data_dir))

    # more late events; the run is killed between files, then again before the watermark
    commit(data_dir, make_events(700, day, dt.timedelta(days=1), seed=11))
    killed = cli("pipeline", "run", name, data_dir=data_dir, crash_at="between_files")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    killed = cli("pipeline", "run", name, data_dir=data_dir, crash_at="before_watermark")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    ok(cli("pipeline", "run", name, data_dir=data_dir))

    # the union of all files
    objects = bucket_objects(s3_env, bucket)
    root = "exports/1/mp_master_event/"
    seen: Counter[str] = Counter()
    data_partitions, markers = set(), set()
    for key, body in objects.items():
        assert key.startswith(root), key
        partition, file = key[len(root) :].rsplit("/", 1)
        if file == "complete":
            assert body == b""
            markers.add(partition)
            continue
        assert file.endswith(".json.gz")
        data_partitions.add(partition)
        for line in gzip.decompress(body).splitlines():
            doc = json.loads(line)
            seen[doc["insert_id"]] += 1
            placed = dt.datetime.fromtimestamp(doc["time"], dt.UTC).strftime("%Y/%m/%d/%H")
            assert placed == partition, (doc["insert_id"], placed, partition)
            assert "token" not in doc["properties"]
    with DuckDBStore(data_dir) as store:
        stored = {r[0] for r in store.query_rows("SELECT insert_id FROM events")}
    assert len(stored) == 6000 + 500 + 700
    assert set(seen) == stored, (
        f"missing: {len(stored - set(seen))}, unexpected: {len(set(seen) - stored)}"
    )
    assert max(seen.values()) == 1, "an event was exported twice"
    assert data_partitions == markers, "every partition has its complete marker"
    assert len(data_partitions) == 24

    # history: oldest first, every step reconciled, the killed step finished on its retry
    history = json.loads(
        ok(cli("pipeline", "history", name, "--format", "json", data_dir=data_dir)).stdout
    )
    assert [h["started_at"] for h in history] == sorted(h["started_at"] for h in history)
    for field in (
        "started_at",
        "finished_at",
        "status",
        "error",
        "rows_read",
        "inserted",
        "updated",
        "deleted",
        "bytes",
        "window_start",
        "window_end",
        "events_in_store",
        "events_exported",
        "files",
    ):
        assert field in history[0], field
    assert {h["status"] for h in history} == {"ok"}
    assert sum(h["events_exported"] for h in history) == len(stored)
    assert all(h["events_in_store"] == h["events_exported"] for h in history)
    assert max(h["attempts"] for h in history) == 3
