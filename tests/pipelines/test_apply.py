"""``driftline apply FILE.toml`` declares pipelines as it declares syncs: applying the same
file again changes nothing, and a bad table is a one-line error naming it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftline.cli import app
from driftline.errors import DriftlineError
from driftline.store import AppendEvents, DuckDBStore

from .conftest import make_events

PLAN = """
[pipelines.lake]
destination = "file://{out}"
frequency = "hourly"
from = {first}

[pipelines.people]
destination = "file://{out}-people"
data = "people"
"""


@pytest.fixture(autouse=True)
def no_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_PIPELINE_SCHEDULER", "false")


def invoke(*args: str, data_dir: Path) -> tuple[int, str]:
    """Exit code and standard output; on failure, the error the user is shown in one line
    (``driftline``'s entry point prints a DriftlineError's message and exits 1)."""
    result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])
    if result.exit_code == 0:
        return 0, result.stdout
    assert isinstance(result.exception, DriftlineError), result.output
    return 1, result.exception.message


def exported(data_dir: Path) -> int:
    code, out = invoke("pipeline", "run", "lake", "--format", "json", data_dir=data_dir)
    assert code == 0, out
    return sum(int(r["events_exported"]) for r in json.loads(out))


def apply(plan: Path, data_dir: Path) -> dict[str, dict[str, str]]:
    code, out = invoke("apply", str(plan), "--format", "json", data_dir=data_dir)
    assert code == 0, out
    return {s["name"]: s for s in json.loads(out)["pipelines"]}


def test_apply_declares_pipelines_once(tmp_path: Path, day: dt.datetime) -> None:
    data_dir = tmp_path / "data"
    with DuckDBStore(data_dir) as store:
        store.create_project("default")
        store.apply([AppendEvents(make_events(50, day, dt.timedelta(hours=5)))])
    out = tmp_path / "out"
    plan = tmp_path / "driftline.toml"
    plan.write_text(PLAN.format(out=out, first=day.date().isoformat()))
    first = apply(plan, data_dir)
    assert {n: s["applied"] for n, s in first.items()} == {"lake": "created", "people": "created"}
    assert (
        first["lake"]["frequency"] == "hourly" and first["lake"]["from"] == day.date().isoformat()
    )
    assert exported(data_dir) == 50
    again = apply(plan, data_dir)
    assert {s["applied"] for s in again.values()} == {"unchanged"}

    # sync off: the same pipeline, its watermark kept
    plan.write_text(
        plan.read_text().replace('frequency = "hourly"', 'frequency = "hourly"\nsync = false')
    )
    updated = apply(plan, data_dir)["lake"]
    assert updated["applied"] == "updated" and updated["sync"] is False
    assert exported(data_dir) == 0

    # a new destination is a new export; the same destination with another layout is refused
    plan.write_text(plan.read_text().replace(f'file://{out}"', f'file://{out}-2"'))
    assert apply(plan, data_dir)["lake"]["applied"] == "replaced"
    plan.write_text(plan.read_text().replace('"hourly"', '"daily"'))
    code, message = invoke("apply", str(plan), data_dir=data_dir)
    assert code == 1 and "frequency cannot change" in message and "pipeline delete lake" in message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('frequency = "daily"', "needs destination"),
        ('destination = "file:///tmp/x"\nfrequency = "weekly"', "[pipelines.p] --frequency"),
        ('destination = "file:///tmp/x"\nsync = "no"', "sync: must be a boolean"),
        ('destination = "file:///tmp/x"\nevery = "1h"', "every: is not a pipeline option"),
        ('destination = "ftp://x/y"', "destination"),
    ],
)
def test_a_bad_pipeline_table_is_one_line_naming_it(tmp_path: Path, body: str, words: str) -> None:
    data_dir = tmp_path / "data"
    with DuckDBStore(data_dir) as store:
        store.create_project("default")
    plan = tmp_path / "driftline.toml"
    plan.write_text(f"[pipelines.p]\n{body}\n")
    code, message = invoke("apply", str(plan), data_dir=data_dir)
    assert code == 1 and words in message and "\n" not in message, message
    code, listed = invoke("pipeline", "list", "--format", "json", data_dir=data_dir)
    assert code == 0 and json.loads(listed) == []
