"""The contract every destination passes: first export, late events, schema widening,
rerun after a kill at each step, backfill, two pipelines at once.

A destination's test module subclasses :class:`DestinationContract`, provides the
``destination_url`` fixture and implements :meth:`exported` (every event record the
destination holds, with the partition or event day it was placed in).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftline.errors import AlreadyExists
from driftline.model import Project
from driftline.pipelines.engine import CRASH_POINTS, PipelineEngine
from driftline.pipelines.spec import parse_spec
from driftline.store import AppendEvents, DuckDBStore, GroupCommitWriter

from .conftest import make_events


class SimulatedKill(BaseException):
    """Raised at a crash point: like SIGKILL, nothing after it runs in this attempt."""


@dataclass(frozen=True)
class Record:
    insert_id: str
    event_name: str
    place: str  # partition path (buckets) or event day / hour (warehouses)
    time: int  # seconds
    properties: dict[str, Any]


@dataclass
class Harness:
    store: DuckDBStore
    writer: GroupCommitWriter
    project: Project

    def engine(self, crash_at: str | None = None, **kwargs: Any) -> PipelineEngine:
        fired = []

        def crash(point: str) -> None:
            if point == crash_at and not fired:
                fired.append(point)
                raise SimulatedKill(point)

        params = {"group_rows": 300, "part_rows": 120, "chunk_rows": 500}
        params.update(kwargs)
        return PipelineEngine(self.store, self.writer, crash=crash, **params)

    def write(self, table: Any) -> None:
        self.writer.write(AppendEvents(table))

    def insert_ids(self) -> Counter[str]:
        rows = self.store.query_rows(
            "SELECT insert_id FROM events WHERE project_id = ?", [self.project.id]
        )
        return Counter(r[0] for r in rows)


def hour_partition(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y/%m/%d/%H")


def day_partition(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y/%m/%d")


class DestinationContract:
    """Subclasses: provide a ``url_for`` fixture (a name → a fresh destination URL, e.g. a
    new bucket or schema) and implement ``exported``."""

    frequency = "hourly"

    def exported(self, url: str, project_id: int) -> list[Record]:  # pragma: no cover - abstract
        raise NotImplementedError

    def expected_place(self, seconds: int) -> str:
        return hour_partition(seconds) if self.frequency == "hourly" else day_partition(seconds)

    # ------------------------------------------------------------------ fixtures
    @pytest.fixture
    def destination_url(self, url_for: Callable[[str], str]) -> str:
        return url_for("exports")

    @pytest.fixture
    def second_destination_url(self, url_for: Callable[[str], str]) -> str:
        return url_for("second")

    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[Harness]:
        store = DuckDBStore(tmp_path / "data")
        store.create_project("default")
        writer = GroupCommitWriter(store)
        yield Harness(store, writer, store.get_project(1))
        writer.close()
        store.close()

    def add(self, h: Harness, url: str, name: str = "p", **kwargs: Any) -> None:
        spec = parse_spec(name, url, "events", kwargs.pop("frequency", self.frequency), **kwargs)
        h.engine().add(h.project, spec)

    def assert_exactly_once(self, h: Harness, url: str) -> list[Record]:
        records = self.exported(url, h.project.id)
        got = Counter(r.insert_id for r in records)
        doubled = {k: v for k, v in got.items() if v > 1}
        assert not doubled, f"exported more than once: {list(doubled)[:5]}"
        want = h.insert_ids()
        missing = set(want) - set(got)
        assert not missing, f"{len(missing)} events never exported, e.g. {sorted(missing)[:5]}"
        assert set(got) == set(want)
        for record in records:
            assert record.place == self.expected_place(record.time), record
        return records

    # ------------------------------------------------------------------ the contract
    def test_first_export(self, harness: Harness, destination_url: str, day: dt.datetime) -> None:
        self.add(harness, destination_url)
        harness.write(make_events(900, day, dt.timedelta(days=1), seed=1))
        result = harness.engine().run(harness.project, "p")
        assert result["events_exported"] == 900
        assert result["pending"] is False
        records = self.assert_exactly_once(harness, destination_url)
        sample = next(r for r in records)
        assert "token" not in sample.properties, "the project token must never be exported"
        assert sample.properties.get("$insert_id") == sample.insert_id
        assert "mp_processing_time_ms" in sample.properties
        # nothing new: a second run exports nothing and changes nothing
        again = harness.engine().run(harness.project, "p")
        assert again["events_exported"] == 0
        self.assert_exactly_once(harness, destination_url)

    def test_late_events_land_in_their_partitions(
        self, harness: Harness, destination_url: str, day: dt.datetime
    ) -> None:
        self.add(harness, destination_url)
        harness.write(make_events(400, day, dt.timedelta(days=1), seed=1))
        harness.engine().run(harness.project, "p")
        # late: event times in the same (already exported) day, committed now
        harness.write(make_events(150, day + dt.timedelta(hours=3), dt.timedelta(hours=5), seed=2))
        result = harness.engine().run(harness.project, "p")
        assert result["events_exported"] == 150
        self.assert_exactly_once(harness, destination_url)

    def test_schema_widening(
        self, harness: Harness, destination_url: str, day: dt.datetime
    ) -> None:
        self.add(harness, destination_url)
        harness.write(make_events(200, day, dt.timedelta(hours=6), seed=1))
        harness.engine().run(harness.project, "p")
        widened = """to_json({'time': epoch_ms(t) // 1000, 'plan': 42, 'coupon': 'WELCOME',
                      'nested': {'a': [1, 2]}, 'items': 'several'})"""
        harness.write(
            make_events(100, day, dt.timedelta(hours=6), seed=3, extra_properties=widened)
        )
        result = harness.engine().run(harness.project, "p")
        assert result["events_exported"] == 100
        records = self.assert_exactly_once(harness, destination_url)
        new = [r for r in records if r.insert_id.startswith("s3-")]
        assert all(r.properties.get("coupon") == "WELCOME" for r in new)
        assert all(r.properties.get("nested") == {"a": [1, 2]} for r in new)
        assert all(r.properties.get("items") == "several" for r in new)

    @pytest.mark.parametrize("point", CRASH_POINTS)
    def test_rerun_after_kill(
        self, harness: Harness, destination_url: str, day: dt.datetime, point: str
    ) -> None:
        self.add(harness, destination_url)
        harness.write(make_events(700, day, dt.timedelta(days=1), seed=1))
        with pytest.raises(SimulatedKill):
            harness.engine(crash_at=point).run(harness.project, "p")
        harness.engine().run(harness.project, "p")
        self.assert_exactly_once(harness, destination_url)
        # killed while exporting late events, too
        harness.write(make_events(300, day, dt.timedelta(hours=2), seed=2))
        with pytest.raises(SimulatedKill):
            harness.engine(crash_at=point).run(harness.project, "p")
        result = harness.engine().run(harness.project, "p")
        assert result["pending"] is False
        self.assert_exactly_once(harness, destination_url)

    def test_backfill(self, harness: Harness, destination_url: str, day: dt.datetime) -> None:
        # history committed before the pipeline exists: three days, then the pipeline from day 2
        harness.write(make_events(600, day - dt.timedelta(days=2), dt.timedelta(days=3), seed=1))
        first_day = (day - dt.timedelta(days=1)).date()
        self.add(harness, destination_url, from_date=first_day.isoformat())
        with pytest.raises(SimulatedKill):
            harness.engine(crash_at="between_files").run(harness.project, "p")
        harness.engine().run(harness.project, "p")
        exported = self.exported(destination_url, harness.project.id)
        oldest = min(r.time for r in exported)
        assert dt.datetime.fromtimestamp(oldest, dt.UTC).date() >= first_day
        # now the day before as well, and a range already done: nothing doubles
        engine = harness.engine()
        engine.backfill(harness.project, "p", first_day - dt.timedelta(days=1), first_day)
        engine.run(harness.project, "p", backfill_only=True)
        self.assert_exactly_once(harness, destination_url)
        again = engine.backfill(harness.project, "p", first_day - dt.timedelta(days=1), first_day)
        assert again["planned"] is False

    def test_two_pipelines_at_once(
        self, harness: Harness, destination_url: str, second_destination_url: str, day: dt.datetime
    ) -> None:
        self.add(harness, destination_url, name="a")
        self.add(harness, second_destination_url, name="b")
        with pytest.raises(AlreadyExists):
            self.add(harness, second_destination_url, name="c")
        harness.write(make_events(800, day, dt.timedelta(days=1), seed=1))
        errors: list[BaseException] = []

        def run(name: str) -> None:
            try:
                harness.engine().run(harness.project, name)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        self.assert_exactly_once(harness, destination_url)
        self.assert_exactly_once(harness, second_destination_url)
