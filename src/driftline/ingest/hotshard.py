"""Hot-shard remediation, as Mixpanel's ingestion does it.

Mixpanel shards events by ``distinct_id``; one identifier that sends a huge number of events
(a bot, a load test, a shared placeholder id) makes one shard hot. Its documented remedy
(``docs/tracking-best-practices/hot-shard-limits``): once a ``distinct_id`` has more than
200,000 events on one event date, its further events of that date are still stored, but
renamed ``$hotshard_events`` with ``distinct_id`` set to ``""``; the original name and id are
kept in the properties ``mp_original_event_name`` and ``mp_original_distinct_id``. Nothing is
rejected, so clients need no special handling, and reports on real users stay fast and sane.

driftline applies the same rule (the limit is the setting ``hot_shard_limit``; 0 turns it
off) to events received over HTTP. Counts are kept in memory per (project, distinct_id,
event date, UTC); when the server starts they are seeded from the store for event dates of
the last :data:`SEED_DAYS` days, for identifiers with at least :data:`SEED_MIN` events on a
date. Identifiers below that count start from zero after a restart, so the limit may be
passed by at most :data:`SEED_MIN` events. Remediated events have no device or user id, so
they never link identities. Events whose ``distinct_id`` is already ``""`` are not counted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger("driftline.ingest")

HOT_EVENT = "$hotshard_events"
SEED_DAYS = 7
SEED_MIN = 1_000
#: above this many counted keys, the keys with fewer than SEED_MIN events are forgotten
MAX_KEYS = 1_000_000

_DAY_MS = 86_400_000


class HotShards:
    """Counts events per (project, distinct_id, event date) and remediates hot ones."""

    def __init__(self, limit: int = 200_000, *, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self.counts: dict[tuple[int, str, int], int] = {}
        self.remediated = 0
        self._lock = threading.Lock()

    def seed(self, rows: list[tuple[Any, ...]]) -> None:
        """Start from stored counts: rows of ``(project_id, distinct_id, day, count)``."""
        with self._lock:
            for project, distinct, day, count in rows:
                key = (int(project), str(distinct), int(day))
                self.counts[key] = self.counts.get(key, 0) + int(count)

    @staticmethod
    def seed_sql() -> str:
        return f"""SELECT project_id, distinct_id,
                          CAST(epoch_ms(time) // {_DAY_MS} AS BIGINT) AS day, count(*) AS n
                   FROM events
                   WHERE time >= current_date - INTERVAL {SEED_DAYS} DAY AND distinct_id <> ''
                   GROUP BY ALL HAVING count(*) >= {SEED_MIN}"""

    def apply(self, events: pa.Table) -> pa.Table:
        """Count ``events`` (EVENT_SCHEMA, projects set) and remediate those over the limit."""
        if self.limit <= 0 or events.num_rows == 0:
            return events
        day = pc.divide(pc.cast(events.column("time"), pa.int64()), _DAY_MS)
        keys = pa.table(
            {
                "p": events.column("project_id"),
                "d": events.column("distinct_id"),
                "day": day,
            }
        )
        groups = keys.group_by(["p", "d", "day"], use_threads=False).aggregate([([], "count_all")])
        hot: dict[tuple[int, str, int], int] = {}  # key -> events of this batch still allowed
        with self._lock:
            counts = self.counts
            for p, d, dy, n in zip(
                groups.column("p").to_pylist(),
                groups.column("d").to_pylist(),
                groups.column("day").to_pylist(),
                groups.column("count_all").to_pylist(),
                strict=True,
            ):
                if not d:
                    continue
                key = (p, d, dy)
                before = counts.get(key, 0)
                counts[key] = before + n
                if before + n > self.limit:
                    hot[key] = max(self.limit - before, 0)
            if len(counts) > self.max_keys:
                self.counts = {k: v for k, v in counts.items() if v >= SEED_MIN}
        if not hot:
            return events
        return self._remediate(events, day, hot)

    def _remediate(
        self, events: pa.Table, day: pa.Array, hot: dict[tuple[int, str, int], int]
    ) -> pa.Table:
        """Rename the events of hot keys past their allowance (rare: a Python loop is fine)."""
        hot_ids = pa.array(sorted({d for _, d, _ in hot}), pa.string())
        candidates = pc.indices_nonzero(
            pc.fill_null(pc.is_in(events.column("distinct_id"), value_set=hot_ids), False)
        ).to_numpy()
        projects = events.column("project_id").to_numpy()
        distinct = events.column("distinct_id").to_pylist()
        days = day.to_numpy()
        seen: dict[tuple[int, str, int], int] = {}
        rows: list[int] = []
        for i in candidates.tolist():
            key = (int(projects[i]), distinct[i], int(days[i]))
            if key not in hot:
                continue
            n = seen.get(key, 0)
            seen[key] = n + 1
            if n >= hot[key]:
                rows.append(i)
        if not rows:
            return events
        self.remediated += len(rows)
        names = events.column("event").to_pylist()
        props = events.column("properties").to_pylist()
        device = events.column("device_id").to_pylist()
        user = events.column("user_id").to_pylist()
        for i in rows:
            doc = orjson.loads(props[i]) if props[i] else {}
            doc["mp_original_event_name"] = names[i]
            doc["mp_original_distinct_id"] = distinct[i]
            props[i] = orjson.dumps(doc).decode()
            names[i] = HOT_EVENT
            distinct[i] = ""
            device[i] = None
            user[i] = None
        log.info("hot shard: %d events renamed %s", len(rows), HOT_EVENT)
        columns = {
            "event": names,
            "distinct_id": distinct,
            "device_id": device,
            "user_id": user,
            "properties": props,
        }
        for name, values in columns.items():
            index = events.column_names.index(name)
            events = events.set_column(
                index, events.schema.field(name), pa.array(values, pa.string())
            )
        return events
