"""What `driftline pipeline run` tells the user about each step and in total."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_a_people_snapshot_is_counted_in_profiles(tmp_path: Path) -> None:
    """It said `snapshot None → 2026-...: 37548 events, ok` and `1 steps, 37,548 events
    exported` for a pipeline that exports user profiles."""
    data = tmp_path / "data"
    run_cli("demo", "--events", "2000", "--seed", "3", data_dir=data)
    run_cli(
        "pipeline", "add", "ppl", "--destination", (tmp_path / "bucket").as_uri(),
        "--data", "people", data_dir=data,
    )  # fmt: skip
    proc = run_cli("pipeline", "run", "ppl", data_dir=data)
    [step] = proc.stderr.strip().splitlines()
    assert step.startswith("snapshot at ") and step.endswith(" profiles, ok"), step
    assert "None" not in step and "events" not in step
    assert proc.stdout.startswith("ppl: 1 step, ") and " profiles exported; " in proc.stdout
