"""Write ops for user and group profile updates (Mixpanel's ``/engage`` and ``/groups``).

An update is one operation on one profile: ``$set``, ``$set_once``, ``$add``, ``$union``,
``$append``, ``$remove``, ``$unset`` or ``$delete``. A batch of updates is applied in order
inside the writer's transaction: the profiles it touches are read once, changed in order,
and written back once. For projects that keep profile history, every changed user profile
closes its open ``profile_history`` row and opens a new one (SCD type 2).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from driftline.model import WriteResult

PROFILE_OPS = ("$set", "$set_once", "$add", "$union", "$append", "$remove", "$unset", "$delete")
#: operations that create the profile when it does not exist yet
CREATING_OPS = frozenset({"$set", "$set_once", "$add", "$union", "$append"})


@dataclass(frozen=True)
class ProfileUpdate:
    """One operation on one profile. ``key`` is ``(distinct_id,)`` for users and
    ``(group_key, group_id)`` for groups."""

    key: tuple[str, ...]
    op: str
    value: Any
    time: dt.datetime | None = None  # when it happened ($time); default: the commit time
    ignore_time: bool = False  # leave $last_seen alone
    defaults: dict[str, Any] = field(default_factory=dict)  # set unless the op sets them


def apply_update(props: dict[str, Any] | None, update: ProfileUpdate) -> dict[str, Any] | None:
    """The profile after ``update`` (``None``: no profile)."""
    op, value = update.op, update.value
    if op == "$delete":
        return None
    if props is None:
        if op not in CREATING_OPS:
            return None
        props = {}
    else:
        props = dict(props)
    if op == "$set":
        props.update(value)
    elif op == "$set_once":
        for k, v in value.items():
            props.setdefault(k, v)
    elif op == "$add":
        for k, v in value.items():
            old = props.get(k)
            base = old if isinstance(old, int | float) and not isinstance(old, bool) else 0
            total = base + v
            props[k] = total if not isinstance(total, float) or math.isfinite(total) else base
    elif op == "$union":
        for k, items in value.items():
            current = _as_list(props.get(k))
            for item in items:
                if item not in current:
                    current.append(item)
            props[k] = current
    elif op == "$append":
        for k, v in value.items():
            props[k] = [*_as_list(props.get(k)), v]
    elif op == "$remove":
        for k, v in value.items():
            old = props.get(k)
            if isinstance(old, list):
                props[k] = [item for item in old if item != v]
    elif op == "$unset":
        for name in value:
            props.pop(name, None)
    for k, v in update.defaults.items():
        if not (op in ("$set", "$set_once") and k in value):
            props[k] = v
    return props


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class _ProfileUpdates:
    mergeable = False
    last_seen = True  # maintain $last_seen
    table: str
    key_columns: tuple[str, ...]

    def __init__(
        self,
        project_id: int,
        updates: Sequence[ProfileUpdate],
        *,
        origin: str = "engage",
        keep_history: bool = False,
    ) -> None:
        self.project_id = project_id
        self.updates = list(updates)
        self.rows = len(self.updates)
        self.origin = origin
        self.keep_history = keep_history

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        keys = sorted({u.key for u in self.updates})
        current = self._read(conn, keys)
        state: dict[tuple[str, ...], dict[str, Any] | None] = dict(current)
        for update in self.updates:
            after = apply_update(state.get(update.key), update)
            if after is not None and self.last_seen and not update.ignore_time:
                when = update.time or now
                after["$last_seen"] = when.isoformat(timespec="seconds")
            state[update.key] = after
        changed = [k for k in keys if state.get(k) != current.get(k)]
        deleted = [k for k in changed if state.get(k) is None and k in current]
        written = [k for k in changed if state.get(k) is not None]
        self._delete(conn, deleted)
        self._write(conn, [(k, state[k]) for k in written], now)
        if self.keep_history:
            self._history(conn, changed, state, now)
        return WriteResult(
            rows=self.rows,
            stored=len(written),
            replaced=len(deleted),
            committed_at=now,
            extra={"profiles_written": len(written), "profiles_deleted": len(deleted)},
        )

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        pass

    # -------------------------------------------------------------- table access
    def _keys_table(self, keys: Sequence[tuple[str, ...]]) -> pa.Table:
        columns = {c: [k[i] for k in keys] for i, c in enumerate(self.key_columns)}
        return pa.table({c: pa.array(v, pa.string()) for c, v in columns.items()})

    def _read(
        self, conn: duckdb.DuckDBPyConnection, keys: Sequence[tuple[str, ...]]
    ) -> dict[tuple[str, ...], dict[str, Any] | None]:
        if not keys:
            return {}
        cols = ", ".join(f"t.{c}" for c in self.key_columns)
        on = " AND ".join(f"t.{c} = k.{c}" for c in self.key_columns)
        # the transaction's own connection: earlier ops of this commit are visible
        conn.register("_profile_keys", self._keys_table(keys))
        try:
            rows = conn.execute(
                f"SELECT {cols}, CAST(t.properties AS VARCHAR) FROM {self.table} t "
                f"JOIN _profile_keys k ON {on} WHERE t.project_id = ?",
                [self.project_id],
            ).fetchall()
        finally:
            conn.unregister("_profile_keys")
        n = len(self.key_columns)
        return {tuple(r[:n]): orjson.loads(r[n]) for r in rows}

    def _delete(self, conn: duckdb.DuckDBPyConnection, keys: list[tuple[str, ...]]) -> None:
        if not keys:
            return
        conn.register("_profile_gone", self._keys_table(keys))
        try:
            using = " AND ".join(f"t.{c} = g.{c}" for c in self.key_columns)
            conn.execute(
                f"DELETE FROM {self.table} t USING _profile_gone g "
                f"WHERE t.project_id = ? AND {using}",
                [self.project_id],
            )
        finally:
            conn.unregister("_profile_gone")

    def _write(
        self,
        conn: duckdb.DuckDBPyConnection,
        rows: list[tuple[tuple[str, ...], dict[str, Any] | None]],
        now: dt.datetime,
    ) -> None:
        if not rows:
            return
        table = self._keys_table([k for k, _ in rows]).append_column(
            "properties", pa.array([_dumps(p) for _, p in rows], pa.string())
        )
        cols = ", ".join(self.key_columns)
        conn.register("_profile_new", table)
        try:
            conn.execute(
                f"INSERT OR REPLACE INTO {self.table} "
                f"(project_id, {cols}, properties, updated_at, origin) "
                f"SELECT ?, {cols}, properties, ?::TIMESTAMP, ? FROM _profile_new",
                [self.project_id, now, self.origin],
            )
        finally:
            conn.unregister("_profile_new")

    def _history(
        self,
        conn: duckdb.DuckDBPyConnection,
        changed: list[tuple[str, ...]],
        state: dict[tuple[str, ...], dict[str, Any] | None],
        now: dt.datetime,
    ) -> None:
        """Hook for tables that keep history (user profiles)."""


def _dumps(props: dict[str, Any] | None) -> str:
    try:
        return orjson.dumps(props).decode()
    except TypeError:  # integers beyond 64 bits
        import json

        return json.dumps(props, separators=(",", ":"))


class ApplyProfileUpdates(_ProfileUpdates):
    """Apply ``/engage`` updates to ``profiles`` (and ``profile_history``), in order."""

    table = "profiles"
    key_columns = ("distinct_id",)

    def _history(
        self,
        conn: duckdb.DuckDBPyConnection,
        changed: list[tuple[str, ...]],
        state: dict[tuple[str, ...], dict[str, Any] | None],
        now: dt.datetime,
    ) -> None:
        if not changed:
            return
        conn.register("_profile_changed", self._keys_table(changed))
        try:
            conn.execute(
                "UPDATE profile_history h SET valid_to = ?::TIMESTAMP FROM _profile_changed c "
                "WHERE h.project_id = ? AND h.distinct_id = c.distinct_id AND h.valid_to IS NULL",
                [now, self.project_id],
            )
        finally:
            conn.unregister("_profile_changed")
        alive = [(k, state[k]) for k in changed if state.get(k) is not None]
        if not alive:
            return
        table = self._keys_table([k for k, _ in alive]).append_column(
            "properties", pa.array([_dumps(p) for _, p in alive], pa.string())
        )
        conn.register("_profile_hist", table)
        try:
            conn.execute(
                "INSERT INTO profile_history (project_id, distinct_id, properties, valid_from, "
                "valid_to, origin) SELECT ?, distinct_id, properties, ?::TIMESTAMP, NULL, ? "
                "FROM _profile_hist",
                [self.project_id, now, self.origin],
            )
        finally:
            conn.unregister("_profile_hist")


class ApplyGroupUpdates(_ProfileUpdates):
    """Apply ``/groups`` updates to ``groups`` keyed by ``(group_key, group_id)``, in order."""

    table = "groups"
    key_columns = ("group_key", "group_id")
    last_seen = False
