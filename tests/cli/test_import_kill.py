"""SIGKILL in the middle of a large import: what was reported stored survives, nothing doubles."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from benchmarks.make_events_file import make_events_file
from driftline.store import DuckDBStore
from tests.conftest import DRIFTLINE, run_cli

EVENTS = 400_000
STORED = re.compile(r"stored (\d+) events from .* lines (\d+)-(\d+)")


@pytest.mark.slow
def test_kill_mid_import_then_rerun(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    source = tmp_path / "events.ndjson"
    make_events_file(str(source), EVENTS)
    run_cli("init", data_dir=data_dir)

    env = dict(os.environ, DRIFTLINE_IMPORT_BATCH_ROWS="40000", DRIFTLINE_IMPORT_CHUNK_ROWS="40000")
    proc = subprocess.Popen(
        [*DRIFTLINE, "import", "events", str(source), "--data-dir", str(data_dir)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    reported: list[tuple[int, int]] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        match = STORED.search(line)
        if match:
            reported.append((int(match.group(2)), int(match.group(3))))
        if len(reported) >= 3:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"

    # lines l of the file carry $insert_id md5(str(l - 1))[:32] (see make_events_file)
    expected = {
        hashlib.md5(str(n - 1).encode()).hexdigest()
        for lo, hi in reported
        for n in range(lo, hi + 1)
    }
    with DuckDBStore(data_dir) as store:
        present = {r[0] for r in store.query_rows("SELECT insert_id FROM events")}
        total, distinct = store.query_rows(
            "SELECT count(*), count(DISTINCT (event, distinct_id, time, insert_id)) FROM events"
        )[0]
    assert expected <= present, f"{len(expected - present)} events reported stored are missing"
    assert total == distinct
    assert total < EVENTS

    rerun = run_cli("import", "events", str(source), data_dir=data_dir, env=env)
    assert f"{EVENTS:,} of {EVENTS:,} records stored" in rerun.stderr
    with DuckDBStore(data_dir) as store:
        total, distinct = store.query_rows(
            "SELECT count(*), count(DISTINCT (event, distinct_id, time, insert_id)) FROM events"
        )[0]
    assert total == distinct == EVENTS
