"""Mirror: inserts, updates and deletes in the warehouse table, reflected exactly.

Change detection by snapshot and per-row checksum, computed inside the warehouse
(:mod:`driftline.sync.sources.checksums`: MD5 over every column in table order, trailing
NULL columns left out). A run:

1. **scan** — reads ``(key, checksum)`` of every row; only these 32-hex-digit checksums and
   the key travel, not the rows;
2. **diff** — ``new EXCEPT old`` and ``old EXCEPT new`` against the sync's snapshot in the
   store (:func:`~driftline.store.mirror_ops.mirror_diff`);
3. **fetch** — reads whole only the rows that are new or changed (by key through the
   warehouse's index when the key is an integer or text column, else by checksum);
4. **apply** — one store transaction (:class:`~driftline.store.mirror_ops.CommitMirrorRun`):
   events of removed rows deleted, events of new rows inserted (an update is both: the old
   event is gone from every query and export); profiles, groups and lookup rows replaced or
   deleted by key; the snapshot moves forward with the sync's state and history row.

The first run, a run whose snapshot is older than :data:`SNAPSHOT_DAYS` (it starts over
with a full comparison, and says so) and a run where most rows changed read the table whole
in one pass instead (its checksums come along), then diff and apply the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from driftline.errors import TerminalError
from driftline.model import TableType
from driftline.prefetch import prefetch
from driftline.store.mirror_ops import CommitMirrorRun, MirrorDiff, mirror_diff, read_keys
from driftline.sync.mapping import Mapping, split_rejected
from driftline.sync.mapping import _conn as _compute
from driftline.sync.sources.base import ColumnKind, ReadRequest, WarehouseChecksums
from driftline.sync.sources.checksums import CHECKSUM, checksum_values

log = logging.getLogger("driftline.sync")

#: a snapshot older than this is not trusted: the run starts over with a full comparison
SNAPSHOT_DAYS = 21
#: when more than this share of the rows changed, one full read is cheaper than a fetch
FULL_READ_SHARE = 0.3
#: keys per fetch query (each is an index lookup in the warehouse)
KEYS_PER_QUERY = 20_000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class _Parts:
    """Parquet parts of ``(row_key, checksum)`` under one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.n = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f"{self.n:06d}.tmp"
        pq.write_table(table, tmp, compression="none")
        tmp.rename(self.dir / f"{self.n:06d}.parquet")
        self.n += 1

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.n = 0


class MirrorRun:
    def __init__(self, mapping: Mapping, state: dict[str, Any], boundary: set[str]) -> None:
        self.mapping = mapping
        self.state = dict(state)
        self.started = _now()
        spec = mapping.spec
        self.key_field = "insert_id_column" if spec.type is TableType.EVENTS else "id_column"
        self.key = mapping.columns.get(self.key_field)
        self.detail: dict[str, Any] = {}

    # ------------------------------------------------------------------ the mode protocol
    def skip_reason(self) -> str | None:
        return None

    def request(self) -> ReadRequest:
        return ReadRequest(self.mapping.schema.table, self.mapping.read_columns)

    def accept(self, rows: pa.Table) -> pa.Table:
        return rows

    def new_state(self) -> dict[str, Any]:
        return {**self.state, "snapshot_at": self.started.isoformat(), "last_run": self.detail}

    def boundary(self) -> pa.Table | None:
        return None

    # ------------------------------------------------------------------ planning
    def starts_over(self) -> str | None:
        """Why this run compares the whole table (no snapshot, or an expired one), or None."""
        taken = self.state.get("snapshot_at")
        if not taken:
            return "first run: the whole table is read"
        age = self.started - dt.datetime.fromisoformat(taken)
        if age > dt.timedelta(days=SNAPSHOT_DAYS):
            return (
                f"the snapshot from {taken[:10]} is older than {SNAPSHOT_DAYS} days: starting over "
                "with a full comparison of the table"
            )
        return None

    def _checksums(self, source: Any) -> WarehouseChecksums:
        if not isinstance(source, WarehouseChecksums) or not source.capabilities.checksums:
            raise TerminalError(
                f'sync "{self.mapping.spec.name}": this warehouse cannot compute row checksums, '
                "which Mirror needs; use append or full"
            )
        return source

    def _keys(self, batch: pa.RecordBatch | pa.Table) -> pa.Table:
        """``(row_key, checksum)``: the key as text exactly as the mapping writes it."""
        conn = _compute()
        conn.register("b", batch)
        try:
            return conn.sql(
                f"SELECT {self.mapping._text(self.key_field)} AS row_key, "
                f'lower(CAST("{CHECKSUM}" AS VARCHAR)) AS checksum FROM b'
            ).to_arrow_table()
        finally:
            conn.unregister("b")

    # ------------------------------------------------------------------ the run
    def drive(
        self, *, store: Any, writer: Any, source: Any, project_id: int, name: str, run_id: str,
        staging: Any, prog: Any, notify: Callable[[Any], None], cancel: Any, target: Any,
    ) -> None:  # fmt: skip
        checksums = self._checksums(source)
        snap = _Parts(staging.dir / "snap")
        diff_dir = staging.dir / "diff"
        why = self.starts_over()
        started = time.monotonic()
        self.detail = {"path": "incremental"}
        if why is None:
            prog.status = "scanning"
            notify(prog)
            diff = self._scan(checksums, snap, store, project_id, name, diff_dir, prog, cancel)
            if diff.added > 1000 and diff.added > FULL_READ_SHARE * max(diff.current, 1):
                why = f"{diff.added:,} of {diff.current:,} rows changed: reading the table whole"
                snap.clear()
        if why is not None:
            if "older than" in why:
                log.warning("sync %s: %s", name, why)
                prog.message = why
            self.detail = {"path": "full", "why": why}
            prog.status = "reading"
            notify(prog)
            batches = source.read_mirror(self.mapping.schema, self.mapping.read_columns)
            self._stage(batches, snap, staging, project_id, prog, notify, cancel, None)
            diff = mirror_diff(store, project_id, name, snap.dir, diff_dir)
            snap_dir = snap.dir
        else:
            fetched = _Parts(staging.dir / "fetched")
            self._fetch(
                source, diff, store, snap, fetched, staging, project_id, prog, notify, cancel
            )
            snap_dir = fetched.dir
        prog.counts.inserted, prog.counts.updated = diff.inserts, diff.updates
        prog.counts.deleted = diff.deletes
        self.detail.update(
            rows_in_table=diff.current, rows_fetched=self.detail.get("rows_fetched", 0),
            seconds=round(time.monotonic() - started, 3),
        )  # fmt: skip
        prog.status = "committing"
        notify(prog)
        self.detail["before_commit_seconds"] = round(time.monotonic() - started, 3)
        commit = CommitMirrorRun(
            staging, project_id, name, run_id, target, prog.counts, self.new_state(), None,
            snap_dir=snap_dir, removed_file=diff.removed_file,
        )  # fmt: skip
        writer.write(commit)

    def _scan(
        self, checksums: WarehouseChecksums, snap: _Parts, store: Any, project_id: int, name: str,
        diff_dir: Path, prog: Any, cancel: Any,
    ) -> MirrorDiff:  # fmt: skip
        """Every row's ``(key, checksum)`` into ``snap``, then the diff against the snapshot."""
        key = [self.key.name] if self.key else []
        t0 = time.monotonic()
        rows = size = 0
        for batch in prefetch(
            checksums.read_checksums(self.mapping.schema, key), name="driftline-mirror-scan"
        ):
            if cancel is not None and cancel.is_set():
                raise TerminalError("cancelled")
            rows += batch.num_rows
            size += batch.nbytes
            snap.write(self._keys(batch))
        prog.counts.bytes += size
        t1 = time.monotonic()
        diff = mirror_diff(store, project_id, name, snap.dir, diff_dir)
        self.detail.update(
            checksums_scanned=rows, checksum_bytes=size, scan_seconds=round(t1 - t0, 3),
            diff_seconds=round(time.monotonic() - t1, 3),
        )  # fmt: skip
        return diff

    def _fetch(
        self, source: Any, diff: MirrorDiff, store: Any, snap: _Parts, fetched: _Parts,
        staging: Any, project_id: int, prog: Any, notify: Any, cancel: Any,
    ) -> None:  # fmt: skip
        """Read whole only the rows the diff needs: new and changed rows (events), every
        row of a key whose rows changed (profiles, groups, lookup rows)."""
        added = read_keys(diff.added_file, store) if diff.added else []
        removed = read_keys(diff.removed_file, store) if diff.removed else []
        events = self.mapping.spec.type is TableType.EVENTS
        if events:
            keys = {k for k, _ in added}
            wanted: set[str] | None = {c for _, c in added}
        else:
            keys = {k for k, _ in added + removed if k is not None}
            wanted = None
        keys.discard(None)  # type: ignore[arg-type]
        by_key = (
            self.key is not None
            and self.key.kind in (ColumnKind.INTEGER, ColumnKind.STRING)
            and not (events and any(k is None for k, _ in added))
        )
        if not keys and not (events and wanted):
            self.detail["rows_fetched"] = 0
            return
        queries: list[tuple[str | None, list[str | int]]]
        if by_key and self.key is not None:
            values: list[str | int] = sorted(
                int(k) if self.key.kind is ColumnKind.INTEGER else k for k in keys if k is not None
            )
            queries = [
                (self.key.name, values[i : i + KEYS_PER_QUERY])
                for i in range(0, len(values), KEYS_PER_QUERY)
            ]
        else:
            need = wanted if wanted is not None else self._checksums_of(snap, keys)
            queries = [(CHECKSUM, list(checksum_values(sorted(need))))]
        self.detail["fetch_by"] = "key" if by_key else "checksum"
        self.detail["fetch_queries"] = len(queries)
        prog.total = len(wanted) if wanted is not None else None
        prog.status = "reading"
        notify(prog)

        def batches() -> Iterator[pa.RecordBatch]:
            for by, chunk in queries:
                yield from source.read_mirror(
                    self.mapping.schema, self.mapping.read_columns, by, chunk
                )

        self._stage(batches(), fetched, staging, project_id, prog, notify, cancel, wanted)

    def _checksums_of(self, snap: _Parts, keys: set[str | None]) -> set[str]:
        """Checksums (from the scan) of every current row of ``keys``."""
        if not keys or not snap.n:
            return set()
        conn = _compute()
        conn.register(
            "k", pa.table({"row_key": pa.array(sorted(k for k in keys if k), pa.string())})
        )
        try:
            rows = conn.execute(
                f"SELECT checksum FROM read_parquet('{snap.dir}/*.parquet') "
                "WHERE row_key IN (SELECT row_key FROM k)"
            ).fetchall()
        finally:
            conn.unregister("k")
        return {r[0] for r in rows}

    def _stage(
        self, batches: Iterator[pa.RecordBatch], snap: _Parts, staging: Any, project_id: int,
        prog: Any, notify: Any, cancel: Any, wanted: set[str] | None,
    ) -> None:  # fmt: skip
        """Map each batch, stage its rows with their checksums, and note its checksums."""
        from driftline.sync.engine import _stage

        wanted_arr = pa.array(sorted(wanted), pa.string()) if wanted is not None else None
        now_ms = int(time.time() * 1000)
        t0 = time.monotonic()
        fetched = {"rows": 0, "bytes": 0}

        def mapped() -> Iterator[pa.Table]:
            seq = 0
            for batch in prefetch(batches, name="driftline-mirror-reader"):
                if cancel is not None and cancel.is_set():
                    raise TerminalError("cancelled")
                fetched["rows"] += batch.num_rows
                fetched["bytes"] += batch.nbytes
                prog.counts.rows_read += batch.num_rows
                prog.counts.bytes += batch.nbytes
                keys = self._keys(batch)
                if wanted_arr is not None:  # rows that changed again since the scan wait
                    keep = pc.is_in(keys.column("checksum"), wanted_arr)
                    batch = batch.filter(keep)
                    keys = keys.filter(keep)
                if batch.num_rows == 0:
                    continue
                snap.write(keys)
                rows = self.mapping.transform(batch, seq_start=seq, project_id=project_id,
                                              now_ms=now_ms)  # fmt: skip
                index = pc.subtract(rows.column("seq"), pa.scalar(seq, pa.int64()))
                rows = rows.append_column("checksum", keys.column("checksum").take(index))
                seq += batch.num_rows
                rows, rejected, reason = split_rejected(rows)
                if rejected:
                    prog.counts.rejected += rejected
                    prog.message = prog.message or f"rejected rows, e.g.: {reason}"
                notify(prog)
                yield rows.drop_columns(["_wm"])

        _stage(mapped(), staging)
        self.detail.update(
            rows_fetched=fetched["rows"], payload_bytes=fetched["bytes"],
            fetch_seconds=round(time.monotonic() - t0, 3),
        )  # fmt: skip

    # ------------------------------------------------------------------ preview
    def pending(
        self, store: Any, source: Any, project_id: int, name: str, staging: Any
    ) -> dict[str, Any]:
        """What the next run would apply: inserts, updates and deletes (nothing written)."""
        why = self.starts_over()
        if why is not None and "first run" in why:
            total = source.count(self.request())
            return {"inserts": total, "updates": 0, "deletes": 0, "note": why}
        checksums = self._checksums(source)
        snap = _Parts(staging.dir / "snap")
        try:
            diff = self._scan(checksums, snap, store, project_id, name, staging.dir / "diff",
                              _Null(), None)  # fmt: skip
        finally:
            staging.remove()
        out: dict[str, Any] = dict(diff.pending())
        if why:
            out["note"] = why
        return out


class _Null:
    """Progress that nobody watches (preview)."""

    def __init__(self) -> None:
        from driftline.store.sync_ops import RunCounts

        self.counts = RunCounts()
