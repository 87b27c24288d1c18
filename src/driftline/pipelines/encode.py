"""Store rows → gzip NDJSON parts, on both cores, deterministically.

The plan: a histogram of the step's events per partition, cut into *groups* of at most
``group_rows`` events (a run of whole partitions, or one hash slice of a big partition).
For each group DuckDB renders every record as one line of JSON text (in parallel, as Arrow
batches); the lines are sorted by a hash of the event's key so that the same events always
give the same bytes, cut into parts of ``part_rows`` lines, and each part is gzip-compressed
(ISA-L, one complete gzip member per file, mtime 0) and written on a pool of threads while
DuckDB renders the next group.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip

from driftline.pipelines.layout import Clock, part_name
from driftline.pipelines.selection import Selection

GZIP_LEVEL = 1
SORT_KEY = "hash(insert_id, event, distinct_id, time)"

#: The event record (Mixpanel's pipeline shape). Columns are authoritative for time,
#: distinct_id and $insert_id; ``token`` never leaves the store.
EVENT_LINE_SQL = """
    '{"event_name":' || to_json(event)
    || ',"time":' || CAST(floor(epoch_ms(time) / 1000) AS BIGINT)
    || ',"distinct_id":' || to_json(distinct_id)
    || ',"device_id":' || coalesce(to_json(device_id), 'null')
    || ',"user_id":' || coalesce(to_json(user_id), 'null')
    || ',"insert_id":' || to_json(insert_id)
    || ',"properties":' || CAST(json_merge_patch(coalesce(properties, '{}'), json_object(
            'time', NULL, 'distinct_id', NULL, 'token', NULL,
            '$insert_id', insert_id, 'mp_processing_time_ms', epoch_ms(ingested_at))) AS VARCHAR)
    || '}' || chr(10)
"""


@dataclass(frozen=True)
class Unit:
    """All of a partition's events, or the slice with ``hash % modulus == remainder``."""

    partition: str
    rows: int
    modulus: int = 1
    remainder: int = 0


@dataclass
class Plan:
    units: list[Unit]

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.units)

    @property
    def partitions(self) -> list[str]:
        return sorted({u.partition for u in self.units})


@dataclass
class WrittenFile:
    path: str
    partition: str
    rows: int
    bytes: int


@dataclass
class EncodeResult:
    files: list[WrittenFile] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def histogram(store: Any, clock: Clock, selection: Selection) -> dict[str, int]:
    """Events per partition for a selection."""
    where, params = selection.where(clock)
    rows = store.query_rows(
        f"SELECT {clock.partition_sql()} AS p, count(*) FROM events WHERE {where} GROUP BY p",
        params,
    )
    return {str(p): int(n) for p, n in rows}


def plan_units(counts: dict[str, int], group_rows: int) -> Plan:
    units: list[Unit] = []
    for partition in sorted(counts):
        rows = counts[partition]
        slices = max(1, -(-rows // group_rows))
        if slices == 1:
            units.append(Unit(partition, rows))
        else:  # slices are estimated; each is exact when it is read
            units.extend(Unit(partition, rows // slices, slices, j) for j in range(slices))
    return Plan(units)


def _groups(plan: Plan, group_rows: int) -> Iterator[list[Unit]]:
    group: list[Unit] = []
    size = 0
    for unit in plan.units:
        if unit.modulus > 1:
            if group:
                yield group
                group, size = [], 0
            yield [unit]
            continue
        if group and size + unit.rows > group_rows:
            yield group
            group, size = [], 0
        group.append(unit)
        size += unit.rows
    if group:
        yield group


def lines_bytes(column: pa.Array) -> bytes:
    """The concatenated text of a string column, without a per-row Python loop."""
    if column.type != pa.string():
        column = column.cast(pa.string())
    if len(column) == 0:
        return b""
    offsets = np.frombuffer(
        column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4
    )
    data = column.buffers()[2]
    return bytes(memoryview(data)[offsets[0] : offsets[-1]]) if data is not None else b""


def gzip_bytes(data: bytes) -> bytes:
    """One complete gzip member; mtime 0 so that equal input gives equal bytes."""
    return igzip.compress(data, GZIP_LEVEL, mtime=0)


class PartWriter:
    """Compresses and writes parts on a thread pool, with bounded bytes in flight."""

    def __init__(
        self,
        put: Callable[[str, bytes], None],
        *,
        threads: int = 2,
        max_inflight_bytes: int = 512 << 20,
        after_first: Callable[[], None] | None = None,
    ) -> None:
        self._put = put
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="driftline-export")
        self._room = threading.BoundedSemaphore(max(1, max_inflight_bytes >> 20))
        self._futures: list[Future[WrittenFile]] = []
        self._after_first = after_first
        self._first_done = threading.Event()
        self._lock = threading.Lock()

    def submit(self, path: str, partition: str, rows: int, raw: bytes) -> None:
        units = max(1, min(len(raw) >> 20, 256))
        for _ in range(units):
            self._room.acquire()
        self._futures.append(self._pool.submit(self._write, path, partition, rows, raw, units))

    def _write(self, path: str, partition: str, rows: int, raw: bytes, units: int) -> WrittenFile:
        try:
            body = gzip_bytes(raw)
            del raw
            # the first file goes alone, so that a crash "between files" leaves exactly one
            with self._lock:
                first = not self._first_done.is_set()
                if first:
                    self._put(path, body)
                    self._first_done.set()
            if first:
                if self._after_first is not None:
                    self._after_first()
            else:
                self._put(path, body)
            return WrittenFile(path, partition, rows, len(body))
        finally:
            for _ in range(units):
                self._room.release()

    def finish(self) -> list[WrittenFile]:
        try:
            return [f.result() for f in self._futures]
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def render_units(
    store: Any,
    clock: Clock,
    selection: Selection,
    units: list[Unit],
    line_sql: str = EVENT_LINE_SQL,
) -> pa.Table:
    """The lines of a group's events, with their partition and sort key."""
    where, params = selection.where(clock)
    lo = clock.partition_range(units[0].partition)[0]
    hi = clock.partition_range(units[-1].partition)[1]
    params.update(g_lo=lo, g_hi=hi)
    extra = "AND time >= $g_lo::TIMESTAMP AND time < $g_hi::TIMESTAMP"
    if units[0].modulus > 1:
        extra += f" AND {SORT_KEY} % $g_mod = $g_rem"
        params.update(g_mod=units[0].modulus, g_rem=units[0].remainder)
    sql = f"""SELECT {clock.partition_sql()} AS p, {SORT_KEY} AS k, {line_sql} AS line
              FROM events WHERE {where} {extra}"""
    batches = list(store.stream(sql, params, batch_rows=200_000))
    if not batches:
        return pa.table(
            {"p": pa.array([], pa.string()), "k": pa.array([], pa.uint64()), "line": pa.array([], pa.string())}
        )
    return pa.Table.from_batches(batches)


def sorted_partitions(table: pa.Table) -> Iterator[tuple[str, pa.Array]]:
    """``(partition, lines)`` in a deterministic order: by partition, then key, then text."""
    if table.num_rows == 0:
        return
    parts = table.column("p").combine_chunks().dictionary_encode()
    # dictionary order is arrival order; rank the dictionary so codes sort like the names
    dictionary = parts.dictionary.to_pylist()
    rank = np.argsort(np.array(dictionary, dtype=object)).argsort()
    codes = rank[parts.indices.to_numpy(zero_copy_only=False)]
    keys = table.column("k").to_numpy()
    order = np.lexsort((keys, codes))
    codes_sorted = codes[order]
    keys_sorted = keys[order]
    lines = table.column("line").combine_chunks()
    same = (np.diff(codes_sorted) == 0) & (np.diff(keys_sorted) == 0)
    if same.any():  # a hash tie: settle it by the text itself
        idx = pc.sort_indices(
            pa.table({"c": codes, "k": keys, "l": lines}),
            sort_keys=[("c", "ascending"), ("k", "ascending"), ("l", "ascending")],
        ).to_numpy()
        order = idx
        codes_sorted = codes[order]
    lines = lines.take(pa.array(order))
    bounds = np.flatnonzero(np.diff(codes_sorted)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(order)]))
    names = sorted(dictionary)
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        yield names[int(codes_sorted[start])], lines.slice(start, end - start)


def write_event_parts(
    store: Any,
    clock: Clock,
    selection: Selection,
    plan: Plan,
    *,
    key: str,
    root: str,
    put: Callable[[str, bytes], None],
    group_rows: int = 1_000_000,
    part_rows: int = 250_000,
    threads: int = 2,
    after_first: Callable[[], None] | None = None,
    on_group: Callable[[int], None] | None = None,
) -> EncodeResult:
    """Render, compress and write every part of ``plan``; returns what was written."""
    writer = PartWriter(put, threads=threads, after_first=after_first)
    try:
        for group in _groups(plan, group_rows):
            table = render_units(store, clock, selection, group)
            base = group[0].remainder * 100 if group[0].modulus > 1 else 0
            for partition, lines in sorted_partitions(table):
                for index, offset in enumerate(range(0, len(lines), part_rows)):
                    chunk = lines.slice(offset, part_rows)
                    path = f"{root}/{partition}/{part_name(key, base + index)}"
                    writer.submit(path, partition, len(chunk), lines_bytes(chunk))
            if on_group is not None:
                on_group(table.num_rows)
            del table
    except BaseException:
        writer.abort()
        raise
    return EncodeResult(writer.finish())
