"""Append: new rows by insert time.

The sync remembers the largest insert time it has loaded (the watermark) and the keys of
the rows that carry exactly that time. The next run reads rows *at or after* the watermark
(pushed down into the warehouse's SQL) and drops those keys, so a row written in the same
instant as the last loaded one is neither lost nor loaded twice.

Rows written later with an *older* insert time than the watermark are not picked up (as in
Mixpanel's time-based syncs); updates and deletes are not seen. Mirror sees both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from driftline.sync.mapping import Mapping
from driftline.sync.sources.base import ReadRequest


def _key_column(rows: pa.Table) -> str:
    return "origin_key" if "origin_key" in rows.schema.names else "row_key"


class AppendRun:
    def __init__(self, mapping: Mapping, state: dict[str, Any], boundary: set[str]) -> None:
        self.mapping = mapping
        self.state = dict(state)
        raw = state.get("watermark")
        self.watermark = dt.datetime.fromisoformat(raw) if raw else None
        self._old_keys = sorted(boundary)
        self._old_boundary: pa.Array | None = None
        self.max: dt.datetime | None = self.watermark
        self.keys: list[pa.Array] = []

    @property
    def old_boundary(self) -> pa.Array:
        # made when first needed: building an array from Python values makes pyarrow import
        # pandas (when installed), a cost a run that never needs it should not pay
        if self._old_boundary is None:
            self._old_boundary = pa.array(self._old_keys, pa.string())
        return self._old_boundary

    def skip_reason(self) -> str | None:
        return None

    def request(self) -> ReadRequest:
        return ReadRequest(
            self.mapping.schema.table,
            self.mapping.read_columns,
            since_column=self.mapping.insert_time,
            since=self.watermark,
            since_type=self.mapping.columns["insert_time_column"].type_name,
        )

    def skip_sql(self, key: str, wm: str) -> tuple[str, dict[str, Any]]:
        """SQL over the columns ``key`` and ``wm``: true for the rows :meth:`accept` drops."""
        if self.watermark is None or not self._old_keys:
            return "false", {}
        return (
            f"({wm} = $dl_watermark AND list_contains($dl_boundary, {key}))",
            {"dl_watermark": self.watermark, "dl_boundary": self._old_keys},
        )

    def accept(self, rows: pa.Table) -> pa.Table:
        wm = rows.column("_wm")
        if rows.num_rows == 0:
            return rows
        # rows without an insert time can never be picked up again: load them now
        if self.watermark is not None and self._old_keys:
            key = rows.column(_key_column(rows))
            seen = pc.and_(
                pc.equal(wm, pa.scalar(self.watermark, wm.type)), pc.is_in(key, self.old_boundary)
            )
            rows = rows.filter(pc.invert(pc.fill_null(seen, False)))
            wm = rows.column("_wm")
        if rows.num_rows == 0:
            return rows
        top_scalar = pc.max(wm)
        top = _datetime(top_scalar)
        if top is not None:
            at_top = pc.equal(wm, top_scalar)  # null where wm is: not selected
            keys = rows.filter(at_top).column(_key_column(rows)).combine_chunks()
            if self.max is None or top > self.max:
                self.max, self.keys = top, [keys]
            elif top == self.max:
                self.keys.append(keys)
        return rows

    def new_state(self) -> dict[str, Any]:
        state = dict(self.state)
        if self.max is not None:
            state["watermark"] = self.max.isoformat()
        return state

    def boundary(self) -> pa.Table | None:
        if self.max is None:
            return None
        kept = [k.cast(pa.string()) for k in self.keys]
        if self.max == self.watermark and self._old_keys:
            kept.insert(0, self.old_boundary)  # still on the old instant: its keys stay
        keys = pa.concat_arrays(kept) if kept else pa.nulls(0, pa.string())
        return pa.table({"row_key": keys})


_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0}


def _datetime(value: pa.Scalar) -> dt.datetime | None:
    """A timestamp or date scalar as a naive datetime, read from its number (``as_py``
    makes pyarrow import pandas when it is installed)."""
    if not value.is_valid:
        return None
    kind = value.type
    if pa.types.is_timestamp(kind) and kind.unit in _UNITS:
        raw = value.value
        micros = raw // 1_000 if kind.unit == "ns" else raw * _UNITS[kind.unit]
        return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=micros)
    got = value.as_py()
    if isinstance(got, dt.datetime):
        return (
            got.replace(tzinfo=None)
            if got.tzinfo is None
            else got.astimezone(dt.UTC).replace(tzinfo=None)
        )
    if isinstance(got, dt.date):
        return dt.datetime(got.year, got.month, got.day)
    return None
