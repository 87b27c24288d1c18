"""Full: read the whole table every run; profiles, groups and lookup rows are upserted
(lookup tables replaced whole). Properties a row no longer has are not removed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from driftline.sync.mapping import Mapping
from driftline.sync.sources.base import ReadRequest


class FullRun:
    def __init__(self, mapping: Mapping, state: dict[str, Any], boundary: set[str]) -> None:
        self.mapping = mapping
        self.state = dict(state)

    def skip_reason(self) -> str | None:
        return None

    def request(self) -> ReadRequest:
        return ReadRequest(self.mapping.schema.table, self.mapping.read_columns)

    def skip_sql(self, key: str, wm: str) -> tuple[str, dict[str, Any]]:
        return "false", {}  # every row is taken

    def accept(self, rows: pa.Table) -> pa.Table:
        return rows

    def new_state(self) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
        return {**self.state, "last_loaded_at": now}

    def boundary(self) -> pa.Table | None:
        return None
