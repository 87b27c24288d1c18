"""Where things go: windows on the export clock, event-time partitions, file names.

* **Windows** (the export clock, ``ingested_at``): hourly windows are UTC hours; daily
  windows are days in the project's timezone.
* **Partitions** (event ``time``): hourly ``YYYY/MM/DD/HH`` in UTC (no hour is ambiguous);
  daily ``YYYY/MM/DD`` in the project's timezone.
* **Files**: ``<root>/<project_id>/mp_master_event/<partition>/<step>-<part>.json.gz`` where
  ``<step>`` is derived from the step's range only, so a step that is run again writes the
  same names. ``mp_people_data/`` and ``mp_identity_mappings_data/`` hold full snapshots.
  Every directory a step writes to gets an empty ``complete`` marker after its files.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from driftline.pipelines.spec import DataKind, Frequency

EVENTS_DIR = "mp_master_event"
PEOPLE_DIR = "mp_people_data"
IDENTITY_DIR = "mp_identity_mappings_data"
DATA_DIRS = {
    DataKind.EVENTS: EVENTS_DIR,
    DataKind.PEOPLE: PEOPLE_DIR,
    DataKind.IDENTITY: IDENTITY_DIR,
}
MARKER = "complete"
SUFFIX = ".json.gz"

EPOCH = dt.datetime(1970, 1, 1)


def _utc_naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


@dataclass(frozen=True)
class Clock:
    """Window and partition arithmetic for one frequency in one timezone."""

    frequency: Frequency
    timezone: str = "UTC"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    # -------------------------------------------------------------- windows (naive UTC)
    def floor(self, ts: dt.datetime) -> dt.datetime:
        """Start of the window holding ``ts``."""
        ts = _utc_naive(ts)
        if self.frequency is Frequency.HOURLY:
            return ts.replace(minute=0, second=0, microsecond=0)
        local = ts.replace(tzinfo=dt.UTC).astimezone(self.tz)
        return self.day_start(local.date())

    def next_boundary(self, ts: dt.datetime) -> dt.datetime:
        """The first window boundary strictly after ``ts``."""
        ts = _utc_naive(ts)
        start = self.floor(ts)
        if self.frequency is Frequency.HOURLY:
            return start + dt.timedelta(hours=1)
        local_day = start.replace(tzinfo=dt.UTC).astimezone(self.tz).date()
        return self.day_start(local_day + dt.timedelta(days=1))

    def day_start(self, day: dt.date) -> dt.datetime:
        """Local midnight of ``day`` in the project's timezone, as naive UTC."""
        local = dt.datetime.combine(day, dt.time(), self.tz)
        return local.astimezone(dt.UTC).replace(tzinfo=None)

    # -------------------------------------------------------------- partitions
    def partition_sql(self, column: str = "time") -> str:
        """DuckDB expression giving an event's partition path (``YYYY/MM/DD[/HH]``)."""
        if self.frequency is Frequency.HOURLY:
            return f"strftime({column}, '%Y/%m/%d/%H')"
        if self.timezone == "UTC":
            return f"strftime({column}, '%Y/%m/%d')"
        tz = self.timezone.replace("'", "''")
        return f"strftime(timezone('{tz}', timezone('UTC', {column})), '%Y/%m/%d')"

    def partition_range(self, partition: str) -> tuple[dt.datetime, dt.datetime]:
        """The event-time range [start, end) (naive UTC) that a partition path covers."""
        parts = [int(p) for p in partition.split("/")]
        if self.frequency is Frequency.HOURLY:
            start = dt.datetime(parts[0], parts[1], parts[2], parts[3])
            return start, start + dt.timedelta(hours=1)
        day = dt.date(parts[0], parts[1], parts[2])
        return self.day_start(day), self.day_start(day + dt.timedelta(days=1))

    def event_day_sql(self, column: str = "time") -> str:
        """DuckDB expression for an event's day in the project's timezone (warehouse column)."""
        if self.timezone == "UTC":
            return f"CAST({column} AS DATE)"
        tz = self.timezone.replace("'", "''")
        return f"CAST(timezone('{tz}', timezone('UTC', {column})) AS DATE)"


def stamp(ts: dt.datetime) -> str:
    """A compact, sortable UTC stamp for names: ``20261122T100000Z`` (+ ``.ffffff`` if any)."""
    ts = _utc_naive(ts)
    text = ts.strftime("%Y%m%dT%H%M%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}"
    return text + "Z"


def parse_stamp(text: str) -> dt.datetime:
    body = text.rstrip("Z")
    fmt = "%Y%m%dT%H%M%S.%f" if "." in body else "%Y%m%dT%H%M%S"
    return dt.datetime.strptime(body, fmt)


def step_key(kind: str, start: dt.datetime, end: dt.datetime) -> str:
    """The name stem of every file a step writes: ``<kind>-<start>-<end>``.

    ``kind`` is ``sync`` for steps over an ingest-time window and ``backfill`` for history
    chunks over an event-time range.
    """
    return f"{kind}-{stamp(start)}-{stamp(end)}"


def data_root(project_id: int, data: DataKind) -> str:
    return f"{project_id}/{DATA_DIRS[data]}"


def part_name(key: str, part: int, suffix: str = SUFFIX) -> str:
    return f"{key}-{part:04d}{suffix}"


def partition_end_sql(clock: Clock, column: str = "time") -> str:
    """DuckDB expression: the end (naive UTC) of the partition holding ``column``."""
    if clock.frequency is Frequency.HOURLY:
        return f"(date_trunc('hour', {column}) + INTERVAL 1 HOUR)"
    tz = clock.timezone.replace("'", "''")
    local_day = f"CAST(timezone('{tz}', timezone('UTC', {column})) AS DATE)"
    return f"timezone('UTC', timezone('{tz}', CAST({local_day} + 1 AS TIMESTAMP)))"
