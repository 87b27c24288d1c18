"""SIGKILL in the middle of a large import: what was reported stored survives, nothing doubles.

Both ways a file is stored are killed: the exact path (a file with an invalid line, committed
in batches) and the fast path (a clean file, one statement: all of it or nothing)."""

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
STORED = re.compile(r"stored ([\d,]+) events? from .* lines (\d+)-(\d+)")
READING = re.compile(r"read (\d+)% of ")
ENV = dict(os.environ, DRIFTLINE_IMPORT_BATCH_ROWS="40000", DRIFTLINE_IMPORT_CHUNK_ROWS="40000")


def start_import(source: Path, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*DRIFTLINE, "import", "events", str(source), "--data-dir", str(data_dir)],
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def kill_when(proc: subprocess.Popen[str], seen: object) -> list[str]:
    """Read the import's progress lines until ``seen(lines)`` is true, then SIGKILL it."""
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if seen(lines):  # type: ignore[operator]
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    return lines


def counts(data_dir: Path) -> tuple[int, int, set[str]]:
    with DuckDBStore(data_dir) as store:
        present = {r[0] for r in store.query_rows("SELECT insert_id FROM events")}
        total, distinct = store.query_rows(
            "SELECT count(*), count(DISTINCT (event, distinct_id, time, insert_id)) FROM events"
        )[0]
    return total, distinct, present


@pytest.mark.slow
def test_kill_mid_import_on_the_exact_path_then_rerun(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    source = tmp_path / "events.ndjson"
    make_events_file(str(source), EVENTS)
    # an invalid first line: the file is validated record by record and committed in batches
    source.write_text('{"event": ""}\n' + source.read_text())
    run_cli("init", data_dir=data_dir)

    lines = kill_when(
        start_import(source, data_dir), lambda seen: sum(bool(STORED.search(x)) for x in seen) >= 3
    )
    reported = [(int(m.group(2)), int(m.group(3))) for x in lines if (m := STORED.search(x))]
    # line l of the file (after the invalid first one) carries $insert_id md5(str(l - 2))[:32]
    expected = {
        hashlib.md5(str(n - 2).encode()).hexdigest()
        for lo, hi in reported
        for n in range(max(lo, 2), hi + 1)
    }
    total, distinct, present = counts(data_dir)
    assert expected <= present, f"{len(expected - present)} events reported stored are missing"
    assert total == distinct
    assert total < EVENTS

    rerun = run_cli("import", "events", str(source), data_dir=data_dir, env=ENV, check=False)
    assert rerun.returncode == 1  # the invalid first line is reported again
    assert f"{EVENTS:,} of {EVENTS + 1:,} records stored" in rerun.stderr
    total, distinct, _ = counts(data_dir)
    assert total == distinct == EVENTS


@pytest.mark.slow
def test_kill_mid_import_on_the_fast_path_stores_nothing_then_rerun(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    source = tmp_path / "events.ndjson"
    make_events_file(str(source), EVENTS * 2)
    run_cli("init", data_dir=data_dir)

    kill_when(start_import(source, data_dir), lambda seen: bool(READING.search(seen[-1])))
    total, distinct, _ = counts(data_dir)
    assert total == 0, "a file on the fast path is stored whole or not at all"

    rerun = run_cli("import", "events", str(source), data_dir=data_dir, env=ENV)
    assert f"{EVENTS * 2:,} of {EVENTS * 2:,} records stored" in rerun.stderr
    total, distinct, _ = counts(data_dir)
    assert total == distinct == EVENTS * 2
