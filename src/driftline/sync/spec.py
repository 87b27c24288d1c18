"""What a sync is: a warehouse table, a table type, a mode, a schedule and a column mapping.

:class:`SyncSpec` is the one description shared by ``driftline sync add``, ``driftline apply``
and ``POST /api/v1/syncs``; field names are the CLI flags without ``--`` and with ``_``.
:meth:`SyncSpec.check` applies the rules that need no warehouse; the column checks against
the real table live in :mod:`driftline.sync.mapping`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from driftline.errors import InvalidInput
from driftline.model import SyncMode, TableType

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EVERY = re.compile(r"^(\d{1,4})([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

#: which modes each table type supports (Mirror arrives with its own issue)
TYPE_MODES: dict[TableType, frozenset[SyncMode]] = {
    TableType.EVENTS: frozenset({SyncMode.APPEND, SyncMode.ONE_TIME, SyncMode.MIRROR}),
    TableType.USER_PROFILES: frozenset(SyncMode),
    TableType.GROUP_PROFILES: frozenset(SyncMode),
    TableType.LOOKUP_TABLE: frozenset({SyncMode.FULL, SyncMode.ONE_TIME, SyncMode.MIRROR}),
}
_EVENT_ONLY = ("event_name", "event_name_column", "time_column", "user_id_column",
               "device_id_column", "insert_id_column", "json_properties_column")  # fmt: skip


class SyncSpec(BaseModel):
    """A sync, as declared. Column names are the warehouse's."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    name: str = Field(..., description="Unique sync name; also the lookup table's name.")
    warehouse: str = Field(..., description="Name of a warehouse added with `warehouse add`.")
    table: str = Field(..., description="[SCHEMA.]TABLE (or view) to read.")
    type: TableType = Field(
        ..., description="events, user-profiles, group-profiles or lookup-table."
    )
    mode: SyncMode = Field(..., description="mirror, append, full or one-time.")
    every: str | None = Field(None, description="Schedule inside `driftline serve`: 1h, 1d or 1w.")
    event_name: str | None = Field(None, description="Fixed event name for every row.")
    event_name_column: str | None = Field(None, description="Column holding the event name.")
    time_column: str | None = Field(
        None, description="Event time column (timestamp, date or epoch)."
    )
    user_id_column: str | None = Field(None, description="Column mapped to $user_id.")
    device_id_column: str | None = Field(None, description="Column mapped to $device_id.")
    insert_id_column: str | None = Field(
        None, description="Column mapped to $insert_id (default: a stable hash of the row)."
    )
    json_properties_column: str | None = Field(
        None, description="JSON column flattened into properties (table columns win)."
    )
    insert_time_column: str | None = Field(
        None, description="When each row was written; Append's watermark."
    )
    id_column: str | None = Field(
        None, description="Key of profiles (user id), group profiles (group id), lookup tables."
    )
    group_key: str | None = Field(None, description="Group key of group profiles, e.g. company_id.")
    start_time_column: str | None = Field(
        None, description="User profiles: a History table's start-time column."
    )
    lookup_property: str | None = Field(
        None,
        description="Event property whose values are this lookup table's ids (default: the name).",
    )

    # ------------------------------------------------------------------ rules
    def check(self) -> SyncSpec:
        """Rules that need no warehouse. Raises :class:`InvalidInput` naming the field."""
        who = f'sync "{self.name}"'
        if not NAME.match(self.name):
            raise InvalidInput(
                f"sync name {self.name!r} must be 1-64 letters, digits, '_', '.' or '-'",
                field="name",
            )
        if not self.table.strip():
            raise InvalidInput(f"{who}: --table is required", field="table")
        allowed = TYPE_MODES[self.type]
        if self.mode not in allowed:
            why = {
                TableType.EVENTS: "Full reloads a table with upsert semantics, which events do not have",
                TableType.LOOKUP_TABLE: "lookup tables are replaced whole on every run",
            }.get(self.type, "")
            raise InvalidInput(
                f"{who}: mode {self.mode.value} is not available for {self.type.value}"
                + (f" ({why})" if why else "")
                + f"; use one of: {', '.join(sorted(m.value for m in allowed))}",
                field="mode",
            )
        if self.every is not None:
            every_seconds(self.every)
            if self.mode is SyncMode.ONE_TIME:
                raise InvalidInput(f"{who}: a one-time sync runs once; drop --every", field="every")
        if self.mode is SyncMode.APPEND and not self.insert_time_column:
            raise InvalidInput(
                f"{who}: append mode needs --insert-time-column (when each row was written)",
                field="insert_time_column",
            )
        if self.type is TableType.EVENTS:
            self._check_events(who)
        else:
            self._check_keyed(who)
        return self

    def _check_events(self, who: str) -> None:
        if bool(self.event_name) == bool(self.event_name_column):
            raise InvalidInput(
                f"{who}: give exactly one of --event-name TEXT or --event-name-column C",
                field="event_name",
            )
        if not self.time_column:
            raise InvalidInput(f"{who}: events need --time-column", field="time_column")
        if not (self.user_id_column or self.device_id_column):
            raise InvalidInput(
                f"{who}: events need --user-id-column or --device-id-column (or both) to say who did them",
                field="user_id_column",
            )
        for name in ("id_column", "group_key", "start_time_column", "lookup_property"):
            if getattr(self, name):
                raise InvalidInput(f"{who}: --{_flag(name)} is not used by events", field=name)

    def _check_keyed(self, who: str) -> None:
        if not self.id_column:
            key = {TableType.USER_PROFILES: "the user id", TableType.GROUP_PROFILES: "the group id"}
            raise InvalidInput(
                f"{who}: {self.type.value} need --id-column ({key.get(self.type, 'the row id')})",
                field="id_column",
            )
        for name in _EVENT_ONLY:
            if getattr(self, name):
                raise InvalidInput(
                    f"{who}: --{_flag(name)} is only for events; {self.type.value} use --id-column",
                    field=name,
                )
        if self.type is TableType.GROUP_PROFILES and not self.group_key:
            raise InvalidInput(
                f"{who}: group profiles need --group-key (e.g. company_id)", field="group_key"
            )
        if self.type is not TableType.GROUP_PROFILES and self.group_key:
            raise InvalidInput(f"{who}: --group-key is only for group-profiles", field="group_key")
        if self.start_time_column and self.type is not TableType.USER_PROFILES:
            raise InvalidInput(
                f"{who}: --start-time-column (History tables) is only for user-profiles",
                field="start_time_column",
            )
        if self.lookup_property and self.type is not TableType.LOOKUP_TABLE:
            raise InvalidInput(
                f"{who}: --lookup-property is only for lookup-table", field="lookup_property"
            )

    # ------------------------------------------------------------------ views
    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @property
    def origin(self) -> str:
        return f"sync:{self.name}"


def every_seconds(every: str) -> int:
    match = EVERY.match(every.strip())
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(
            f"--every {every!r} is not a schedule; use 1h, 1d or 1w (or e.g. 30m, 6h)",
            field="every",
        )
    return int(match.group(1)) * _UNIT[match.group(2)]


def next_due(every: str, last_started: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When a scheduled sync should next run: now if it never ran, else one period later."""
    if last_started is None:
        return now
    return last_started + dt.timedelta(seconds=every_seconds(every))


def _flag(name: str) -> str:
    return name.replace("_", "-")
