"""The shapes that move between subsystems: Arrow schemas, projects, identity rules.

Events travel as Arrow record batches with :data:`EVENT_SCHEMA`. Identity follows Mixpanel's
simplified ID merge: ``distinct_id`` is ``$user_id`` when present, otherwise
``$device:<device_id>``; an event carrying both links the device to the user, and readers
resolve every event of that device to the user, retroactively.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa

DEVICE_PREFIX = "$device:"

#: Earliest event time accepted (Mixpanel rejects events before 1971-01-01), in ms.
MIN_EVENT_TIME_MS = 31_536_000_000
#: Events more than this far in the future are rejected; nearer ones are clamped to now.
MAX_FUTURE_MS = 3_600_000
#: The days a report, export or backfill may name. Nothing stored is older than 1971 or newer
#: than now; inside these bounds a range's next day, a timezone's offset and a month's bucket
#: stay inside Python's calendar (years 1 to 9999), outside them they overflow it.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
#: A numeric time at or above this is milliseconds, below it seconds (1e11 s is year 5138).
MS_THRESHOLD = 100_000_000_000

#: distinct_id / $insert_id values Mixpanel refuses (compared case-insensitively).
INVALID_IDS = (
    "00000000-0000-0000-0000-000000000000",
    "anon",
    "anonymous",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "<nil>",
    "0",
    "-1",
    "true",
    "false",
    "[]",
    "{}",
)

#: Properties whose values live in their own columns; readers and exports take them from
#: the columns and leave these keys out of ``properties``.
RESERVED_EVENT_PROPERTIES = ("time", "distinct_id", "$insert_id", "token", "$device_id", "$user_id")

EVENT_SCHEMA = pa.schema(
    [
        pa.field("project_id", pa.int32(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("time", pa.timestamp("ms"), nullable=False),
        pa.field("distinct_id", pa.string(), nullable=False),
        pa.field("device_id", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("insert_id", pa.string(), nullable=False),
        pa.field("properties", pa.string()),  # JSON object text
        pa.field("origin", pa.string(), nullable=False),
        pa.field("origin_key", pa.string()),
    ]
)


class TableType(StrEnum):
    EVENTS = "events"
    USER_PROFILES = "user-profiles"
    GROUP_PROFILES = "group-profiles"
    LOOKUP_TABLE = "lookup-table"


class SyncMode(StrEnum):
    MIRROR = "mirror"
    APPEND = "append"
    FULL = "full"
    ONE_TIME = "one-time"


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    token: str
    secret: str
    timezone: str = "UTC"
    keep_profile_history: bool = False

    def public(self, show_secrets: bool = False) -> dict[str, object]:
        """The project as listings show it; the secret only when asked for."""
        out: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "token": self.token,
            "timezone": self.timezone,
        }
        if show_secrets:
            out["secret"] = self.secret
        return out


def new_token() -> str:
    """A fresh 32-hex-digit project token or secret, as Mixpanel's look."""
    return secrets.token_hex(16)


@dataclass
class WriteResult:
    """What one committed write did."""

    rows: int = 0
    stored: int = 0
    replaced: int = 0
    committed_at: dt.datetime | None = None
    extra: dict[str, int] = field(default_factory=dict)


def resolve_distinct_id(
    distinct_id: str | None, device_id: str | None, user_id: str | None
) -> tuple[str, str | None, str | None]:
    """Apply the simplified ID merge rules to one event's ids.

    Returns ``(distinct_id, device_id, user_id)``. Used for single objects (profiles, tests);
    batches apply the same rules in SQL (see ``ingest.normalize``).
    """
    device = device_id or None
    if device is None and distinct_id and distinct_id.startswith(DEVICE_PREFIX):
        device = distinct_id[len(DEVICE_PREFIX) :]
    user = user_id or None
    if (
        user is None
        and distinct_id
        and not distinct_id.startswith(DEVICE_PREFIX)
        and distinct_id != device_id
    ):
        user = distinct_id
    if user is not None:
        return user, device, user
    if device is not None:
        return DEVICE_PREFIX + device, device, None
    return distinct_id or "", None, None
