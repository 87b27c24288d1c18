"""Mirror syncs in the store: the snapshot diff, and one transaction that applies it.

A Mirror sync keeps a *snapshot* in ``sync_snapshots``: the checksum (computed in the
warehouse) and the key of every distinct row it has applied. A run stages, under its
staging directory:

* ``snap/`` — ``(row_key, checksum)`` of the table as it is now (the checksum scan), or of
  the rows it read whole;
* ``diff/`` — what :func:`mirror_diff` found: the checksums that are new (``added``) and
  the ones that are gone (``removed``);
* ``part-*.parquet`` — the mapped rows it fetched, each with its ``checksum``.

:class:`CommitMirrorRun` then, in one transaction: deletes the events of removed rows
(``origin_key`` is the row checksum), inserts the events of new rows, upserts and deletes
profiles / groups / lookup rows by key, rebuilds profile history for the keys that changed,
moves the snapshot forward, and writes the sync's state and history row. A run killed
anywhere before that commit leaves store and snapshot as they were; the next run diffs
against the same snapshot and converges.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from driftline.store.duckdb_store import DuckDBStore
from driftline.store.sync_ops import CommitSyncRun, RunCounts, SyncStaging, Target


def _files(directory: Path) -> list[str]:
    return sorted(str(p) for p in directory.glob("*.parquet")) if directory.is_dir() else []


def _rel(files: list[str], empty: str) -> str:
    if not files:
        return empty
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"read_parquet([{listed}])"


_NO_KEYS = (
    "(SELECT CAST(NULL AS VARCHAR) AS row_key, CAST(NULL AS VARCHAR) AS checksum WHERE false)"
)


@dataclass
class MirrorDiff:
    """What changed since the snapshot, by row and by key."""

    current: int = 0  # rows in the table now (identical rows counted each)
    added: int = 0
    removed: int = 0
    inserts: int = 0  # added rows whose key was not removed
    updates: int = 0  # added rows whose key was removed (a changed row)
    deletes: int = 0  # removed rows whose key was not added
    added_file: str = ""
    removed_file: str = ""

    def pending(self) -> dict[str, int]:
        return {"inserts": self.inserts, "updates": self.updates, "deletes": self.deletes}


def snapshot_size(store: DuckDBStore, project_id: int, sync_name: str) -> int:
    rows = store.query_rows(
        "SELECT count(*) FROM sync_snapshots WHERE project_id = ? AND sync_name = ?",
        [project_id, sync_name],
    )
    return int(rows[0][0])


def mirror_diff(
    store: DuckDBStore, project_id: int, sync_name: str, snap_dir: Path, out_dir: Path
) -> MirrorDiff:
    """``new EXCEPT old`` and ``old EXCEPT new`` on checksums, written to ``out_dir``.

    One pass (a full outer join of the scan with the snapshot, keeping the unmatched rows);
    a read of the store: nothing changes until the run commits."""
    out_dir.mkdir(parents=True, exist_ok=True)
    new = _rel(_files(snap_dir), _NO_KEYS)
    both = out_dir / "changes.parquet"
    store.query_rows(
        f"""COPY (SELECT coalesce(n.row_key, o.row_key) AS row_key,
                         coalesce(n.checksum, o.checksum) AS checksum,
                         n.checksum IS NOT NULL AS added
                  FROM {new} n
                  FULL JOIN (SELECT row_key, checksum FROM sync_snapshots
                             WHERE project_id = ? AND sync_name = ?) o ON o.checksum = n.checksum
                  WHERE n.checksum IS NULL OR o.checksum IS NULL)
            TO '{both}' (FORMAT parquet)""",
        [project_id, sync_name],
    )
    added = out_dir / "added.parquet"
    removed = out_dir / "removed.parquet"
    c = f"read_parquet('{both}')"
    store.query_rows(
        f"COPY (SELECT DISTINCT row_key, checksum FROM {c} WHERE added) TO '{added}' (FORMAT parquet)"
    )
    store.query_rows(
        f"COPY (SELECT row_key, checksum FROM {c} WHERE NOT added) TO '{removed}' (FORMAT parquet)"
    )
    a, r = f"read_parquet('{added}')", f"read_parquet('{removed}')"
    row = store.query_rows(
        f"""SELECT (SELECT count(*) FROM {new}),
                   (SELECT count(*) FROM {a}), (SELECT count(*) FROM {r}),
                   (SELECT count(*) FROM {a} WHERE row_key IN (SELECT row_key FROM {r})),
                   (SELECT count(*) FROM {r} WHERE row_key IN (SELECT row_key FROM {a}))"""
    )[0]
    current, n_added, n_removed, upd_added, upd_removed = (int(v or 0) for v in row)
    return MirrorDiff(
        current=current, added=n_added, removed=n_removed, inserts=n_added - upd_added,
        updates=upd_added, deletes=n_removed - upd_removed, added_file=str(added),
        removed_file=str(removed),
    )  # fmt: skip


def read_keys(path: str, store: DuckDBStore) -> list[tuple[str | None, str]]:
    """``(row_key, checksum)`` rows of a diff file (small: only the changes)."""
    return [
        (r[0], r[1])
        for r in store.query_rows(f"SELECT row_key, checksum FROM read_parquet('{path}')")
    ]


# ---------------------------------------------------------------------- commit
@dataclass
class CommitMirrorRun(CommitSyncRun):
    """Apply a Mirror run: data, snapshot, state and history row in one transaction."""

    snap_dir: Path = field(default_factory=Path)  # (row_key, checksum) the snapshot gains
    removed_file: str = ""

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> RunCounts:
        pid, name = self.project_id, self.sync_name
        key = [pid, name]
        stage = _rel(
            self.staging.files(),
            "(SELECT CAST(NULL AS VARCHAR) AS checksum, CAST(NULL AS VARCHAR) AS row_key, "
            "0 AS seq, CAST(NULL AS VARCHAR) AS properties, CAST(NULL AS TIMESTAMP) AS start_time "
            "WHERE false)",
        )
        removed = _rel([self.removed_file] if self.removed_file else [], _NO_KEYS)
        old = "(SELECT checksum FROM sync_snapshots WHERE project_id = ? AND sync_name = ?)"
        conn.execute(f"CREATE OR REPLACE TEMP TABLE _mirror_removed AS SELECT * FROM {removed}")
        # staged rows the snapshot does not have yet: the new and the changed rows
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE _mirror_new AS
                SELECT s.* FROM {stage} s ANTI JOIN {old} o ON o.checksum = s.checksum
                QUALIFY row_number() OVER (PARTITION BY s.checksum ORDER BY s.seq) = 1""",
            key,
        )
        if self.target.table_type == "events":
            _apply_events(conn, self, now)
        else:
            _apply_keyed(conn, self, stage, now)
        conn.execute(
            """DELETE FROM sync_snapshots WHERE project_id = ? AND sync_name = ?
               AND checksum IN (SELECT checksum FROM _mirror_removed)""",
            key,
        )
        snap = _rel(_files(self.snap_dir), _NO_KEYS)
        conn.execute(
            f"""INSERT INTO sync_snapshots
                SELECT ?, ?, any_value(s.row_key), s.checksum FROM {snap} s
                ANTI JOIN {old} o ON o.checksum = s.checksum GROUP BY s.checksum""",
            [*key, *key],
        )
        conn.execute("DROP TABLE _mirror_new")
        conn.execute("DROP TABLE _mirror_removed")
        self.write_state(conn, now)
        return self.counts


def _apply_events(conn: duckdb.DuckDBPyConnection, op: CommitMirrorRun, now: dt.datetime) -> None:
    """A removed row's event is deleted; a new row's event inserted (its checksum is its
    ``origin_key``): an updated row replaces its old event everywhere."""
    pid, origin = op.project_id, op.target.origin
    conn.execute(
        """DELETE FROM events WHERE project_id = ? AND origin = ?
           AND origin_key IN (SELECT checksum FROM _mirror_removed)""",
        [pid, origin],
    )
    if not op.staging.files():
        return
    conn.execute(
        """INSERT INTO events SELECT project_id, event, time, distinct_id, device_id, user_id,
               insert_id, properties, origin, checksum, ?::TIMESTAMP FROM _mirror_new""",
        [now],
    )
    conn.execute(
        """INSERT OR IGNORE INTO identities
           SELECT project_id, device_id, arg_min(user_id, time), ?::TIMESTAMP FROM _mirror_new
           WHERE device_id IS NOT NULL AND user_id IS NOT NULL GROUP BY project_id, device_id""",
        [now],
    )


def _apply_keyed(
    conn: duckdb.DuckDBPyConnection, op: CommitMirrorRun, stage: str, now: dt.datetime
) -> None:
    """Keys whose rows changed are replaced by what the table holds for them now (the
    staged rows of those keys), or deleted when it holds none."""
    pid, origin, target = op.project_id, op.target.origin, op.target
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE _mirror_keys AS
           SELECT row_key FROM _mirror_removed WHERE row_key IS NOT NULL
           UNION SELECT row_key FROM _mirror_new WHERE row_key IS NOT NULL"""
    )
    rows = f"(SELECT * FROM {stage} WHERE row_key IN (SELECT row_key FROM _mirror_keys))"
    latest = f"""SELECT row_key, properties, start_time FROM {rows}
                 QUALIFY row_number() OVER (PARTITION BY row_key
                                            ORDER BY start_time DESC NULLS LAST, checksum DESC) = 1"""
    if target.table_type == "user-profiles":
        conn.execute(
            """DELETE FROM profiles WHERE project_id = ?
               AND distinct_id IN (SELECT row_key FROM _mirror_keys)""",
            [pid],
        )
        conn.execute(
            f"""INSERT INTO profiles (project_id, distinct_id, properties, updated_at, origin)
                SELECT ?, row_key, properties, ?::TIMESTAMP, ? FROM ({latest})""",
            [pid, now, origin],
        )
        if target.history:
            conn.execute(
                """DELETE FROM profile_history WHERE project_id = ? AND origin = ?
                   AND distinct_id IN (SELECT row_key FROM _mirror_keys)""",
                [pid, origin],
            )
            conn.execute(
                f"""INSERT INTO profile_history
                    SELECT ?, row_key, properties, start_time,
                           lead(start_time) OVER (PARTITION BY row_key ORDER BY start_time), ?
                    FROM (SELECT * FROM {rows} WHERE start_time IS NOT NULL
                          QUALIFY row_number() OVER (PARTITION BY row_key, start_time
                                                     ORDER BY checksum DESC) = 1)""",
                [pid, origin],
            )
    elif target.table_type == "group-profiles":
        conn.execute(
            """DELETE FROM groups WHERE project_id = ? AND group_key = ?
               AND group_id IN (SELECT row_key FROM _mirror_keys)""",
            [pid, target.group_key],
        )
        conn.execute(
            f"""INSERT INTO groups (project_id, group_key, group_id, properties, updated_at, origin)
                SELECT ?, ?, row_key, properties, ?::TIMESTAMP, ? FROM ({latest})""",
            [pid, target.group_key, now, origin],
        )
    else:
        conn.execute(
            "INSERT OR REPLACE INTO lookup_tables VALUES (?, ?, ?, ?, ?::TIMESTAMP)",
            [pid, target.lookup_id, target.lookup_name, target.lookup_property, now],
        )
        conn.execute(
            """DELETE FROM lookup_rows WHERE project_id = ? AND table_id = ?
               AND row_id IN (SELECT row_key FROM _mirror_keys)""",
            [pid, target.lookup_id],
        )
        conn.execute(
            f"""INSERT INTO lookup_rows SELECT ?, ?, row_key, properties FROM ({latest})""",
            [pid, target.lookup_id],
        )
    conn.execute("DROP TABLE _mirror_keys")


def forget_snapshot(conn: duckdb.DuckDBPyConnection, project_id: int, sync_name: str) -> None:
    """Drop a sync's snapshot (the sync was deleted, or its state reset)."""
    conn.execute(
        "DELETE FROM sync_snapshots WHERE project_id = ? AND sync_name = ?", [project_id, sync_name]
    )


__all__ = [
    "CommitMirrorRun",
    "MirrorDiff",
    "SyncStaging",
    "Target",
    "forget_snapshot",
    "mirror_diff",
    "read_keys",
    "snapshot_size",
]
