"""What `export events` shows on the terminal while it runs: nothing until the end, however
long the export took. (`export snowplow` and `export bad-rows`: tests/snowplow.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cli.test_import_export import write_ndjson
from tests.conftest import DRIFTLINE, run_cli

#: stderr (and stdout) taken for a terminal (as Rich reads it), though the test captures it
TERMINAL = {**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": "120"}

EVENTS = ("export", "events", "--from", "2025-01-01", "--to", "2025-01-31")


def _stdout_bytes(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> bytes:
    proc = subprocess.run(
        [*DRIFTLINE, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        timeout=300,
        env=env,
        check=True,
    )
    return proc.stdout


def test_export_events_shows_progress_on_a_terminal_and_writes_the_same_data(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    run_cli("import", "events", str(write_ndjson(tmp_path / "a.ndjson", 25)), data_dir=data)

    target = tmp_path / "january.ndjson"
    shown = run_cli(*EVENTS, "-o", str(target), data_dir=data, env=TERMINAL)
    assert f"exporting to {target}" in shown.stderr, shown.stderr
    assert shown.stderr.rstrip().endswith(f"25 events written to {target}"), shown.stderr
    # not a terminal: no display, the one line only
    plain = run_cli(*EVENTS, "-o", str(tmp_path / "plain.ndjson"), data_dir=data)
    assert plain.stderr.strip() == f"25 events written to {tmp_path / 'plain.ndjson'}"

    # to stdout (redirected): the display stays on stderr, stdout is the data, byte for byte
    data_bytes = target.read_bytes()
    assert _stdout_bytes(*EVENTS, data_dir=data) == data_bytes
    assert _stdout_bytes(*EVENTS, data_dir=data, env=TERMINAL) == data_bytes
    to_stdout = run_cli(*EVENTS, data_dir=data, env=TERMINAL)
    assert "exporting to stdout" in to_stdout.stderr
