"""What a pipeline is: its declared spec (name, destination, data, frequency, sync, start)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from driftline.errors import InvalidInput
from driftline.model import FIRST_DAY, LAST_DAY

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: Most recurring event pipelines a project may have (as Mixpanel allows).
MAX_EVENT_PIPELINES = 2


class DataKind(StrEnum):
    EVENTS = "events"
    PEOPLE = "people"
    IDENTITY = "identity"


class Frequency(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    destination: str
    data: DataKind
    frequency: Frequency
    sync: bool = True
    from_date: str | None = None  # YYYY-MM-DD in the project's timezone; None: all history

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"] = str(self.data)
        out["frequency"] = str(self.frequency)
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PipelineSpec:
        return cls(
            name=doc["name"],
            destination=doc["destination"],
            data=DataKind(doc["data"]),
            frequency=Frequency(doc["frequency"]),
            sync=bool(doc.get("sync", True)),
            from_date=doc.get("from_date"),
        )


def parse_spec(
    name: str,
    destination: str,
    data: str,
    frequency: str,
    sync: bool = True,
    from_date: str | None = None,
) -> PipelineSpec:
    """Validate user input into a spec; each error names the offending option."""
    if not NAME_RE.match(name or ""):
        raise InvalidInput(
            f"pipeline name {name!r} must be 1-64 letters, digits, '_', '.' or '-'", field="name"
        )
    if not destination or "://" not in destination:
        raise InvalidInput(
            f"--destination {destination!r} is not a URL; use file:///dir, s3://bucket/prefix, "
            "gs://, az://, postgresql://, redshift://, duckdb:///file, snowflake:// or bigquery://",
            field="destination",
        )
    try:
        kind = DataKind(data)
    except ValueError:
        raise InvalidInput(
            f"--data {data!r}: use one of events, people, identity", field="data"
        ) from None
    try:
        freq = Frequency(frequency)
    except ValueError:
        raise InvalidInput(
            f"--frequency {frequency!r}: use hourly or daily", field="frequency"
        ) from None
    if from_date is not None:
        try:
            day = dt.date.fromisoformat(from_date)
        except ValueError:
            raise InvalidInput(
                f"--from {from_date!r} is not a date; use YYYY-MM-DD", field="from_date"
            ) from None
        if not FIRST_DAY <= day <= LAST_DAY:
            raise InvalidInput(
                f"--from {day} is not between {FIRST_DAY} and {LAST_DAY}", field="from_date"
            )
    return PipelineSpec(name, destination, kind, freq, sync, from_date)
