"""A step: the unit of work a pipeline records before it starts and after it finishes.

Kinds:

* ``sync`` — events committed in the ingest-time window ``[start, end)``;
* ``backfill`` — history (committed before the pipeline's cutoff) with event time in
  ``[start, end)``;
* ``snapshot`` — a full export of people or identity mappings as of ``end``.

A step's ``key`` names every file it writes, so running it again writes the same names.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from driftline.pipelines.layout import EPOCH, step_key
from driftline.pipelines.selection import Selection


def to_iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def from_iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Step:
    kind: str
    start: dt.datetime | None
    end: dt.datetime | None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started_at: dt.datetime | None = None
    attempts: int = 1
    planned: tuple[str, ...] = ()
    events_in_store: int = 0
    cutoff: dt.datetime | None = None
    drop_late: bool = False

    @property
    def key(self) -> str:
        start = self.start or EPOCH
        end = self.end or dt.datetime(9999, 12, 31)
        return step_key(self.kind, start, end)

    def selection(self, project_id: int) -> Selection:
        if self.kind == "backfill":
            return Selection(
                project_id, ingest_hi=self.cutoff, time_lo=self.start, time_hi=self.end
            )
        return Selection(
            project_id, ingest_lo=self.start, ingest_hi=self.end, drop_late=self.drop_late
        )

    def retry(self) -> Step:
        return replace(self, attempts=self.attempts + 1)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for name in ("start", "end", "started_at", "cutoff"):
            doc[name] = to_iso(doc[name])
        doc["planned"] = list(self.planned)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Step:
        return cls(
            kind=doc["kind"],
            start=from_iso(doc.get("start")),
            end=from_iso(doc.get("end")),
            run_id=doc["run_id"],
            started_at=from_iso(doc.get("started_at")),
            attempts=int(doc.get("attempts", 1)),
            planned=tuple(doc.get("planned", ())),
            events_in_store=int(doc.get("events_in_store", 0)),
            cutoff=from_iso(doc.get("cutoff")),
            drop_late=bool(doc.get("drop_late", False)),
        )


@dataclass
class Outcome:
    """What a step wrote."""

    rows: int = 0
    files: int = 0
    bytes: int = 0
    partitions: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
