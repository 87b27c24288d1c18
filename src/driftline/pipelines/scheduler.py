"""When pipelines run: due windows, fair turns within a project, retries with backoff.

* An event pipeline is due when a window has closed more than ``delay`` ago and its
  watermark is behind it, or when it has backfill chunks or an unfinished step.
  People and identity pipelines are due once per window.
* One step per project at a time; the project's due pipelines take turns (the one served
  longest ago goes next), so a long backfill never starves the hourly pipeline.
* A failed step is retried after ``base * 2^(n-1)`` seconds (capped); every failure is in
  `pipeline history` with its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from driftline.pipelines.catalog import Pipeline
from driftline.pipelines.layout import Clock
from driftline.pipelines.spec import DataKind
from driftline.pipelines.steps import from_iso


@dataclass
class Backoff:
    base: float = 60.0
    cap: float = 3600.0
    failures: dict[tuple[int, str], int] = field(default_factory=dict)
    not_before: dict[tuple[int, str], dt.datetime] = field(default_factory=dict)

    def failed(self, key: tuple[int, str], now: dt.datetime) -> float:
        count = self.failures.get(key, 0) + 1
        self.failures[key] = count
        wait = min(self.base * 2 ** (count - 1), self.cap)
        self.not_before[key] = now + dt.timedelta(seconds=wait)
        return wait

    def succeeded(self, key: tuple[int, str]) -> None:
        self.failures.pop(key, None)
        self.not_before.pop(key, None)

    def ready(self, key: tuple[int, str], now: dt.datetime) -> bool:
        at = self.not_before.get(key)
        return at is None or now >= at


def due_until(
    pipeline: Pipeline, timezone: str, now: dt.datetime, delay: dt.timedelta
) -> dt.datetime | None:
    """The export end a pipeline should run to now, or ``None`` when it is not due."""
    clock = Clock(pipeline.spec.frequency, timezone)
    closed = clock.floor(now - delay)
    state = pipeline.state
    if state.get("in_flight") or state.get("history"):
        return closed
    if pipeline.spec.data is DataKind.EVENTS:
        watermark = from_iso(state.get("watermark"))
        return closed if watermark is None or watermark < closed else None
    asof = from_iso(state.get("asof"))
    return closed if asof is None or asof < closed else None


@dataclass
class FairQueue:
    """Per project: the pipeline served longest ago goes first."""

    served: dict[tuple[int, str], dt.datetime] = field(default_factory=dict)

    def pick(self, project_id: int, names: list[str]) -> str | None:
        if not names:
            return None
        return min(names, key=lambda n: (self.served.get((project_id, n), dt.datetime.min), n))

    def mark(self, project_id: int, name: str, now: dt.datetime) -> None:
        self.served[(project_id, name)] = now
