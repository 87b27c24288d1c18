"""Store rows → gzip NDJSON parts, on both cores, deterministically.

The plan: a histogram of the step's events per partition, cut into *groups* of at most
``group_rows`` events (a run of whole partitions, or one hash slice of a big partition).
For each group DuckDB renders every record as one line of JSON text (in parallel, as Arrow
batches); the lines are sorted by a hash of the event's key so that the same events always
give the same bytes, cut into parts of ``part_rows`` lines, and each part is gzip-compressed
(ISA-L, one complete gzip member per file, mtime 0, fed the Arrow buffers without a copy) and written on a pool of threads while
DuckDB renders the next group.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from isal import isal_zlib

from driftline.pipelines.layout import Clock, part_name
from driftline.pipelines.selection import Selection

GZIP_LEVEL = 1
#: deflate with a gzip header and trailer (zlib's convention: 16 + window bits)
GZIP_WBITS = 31
SORT_KEY = "hash(insert_id, event, distinct_id, time)"

#: ``properties`` as exported: as sent, without ``token``, ``time`` and ``distinct_id`` (they
#: have their own fields), with ``$insert_id`` and ``mp_processing_time_ms`` (commit time).
PROPERTIES_SQL = """CAST(json_merge_patch(coalesce(properties, '{}'), json_object(
            'time', NULL, 'distinct_id', NULL, 'token', NULL,
            '$insert_id', insert_id, 'mp_processing_time_ms', epoch_ms(ingested_at))) AS VARCHAR)"""

#: The event record (Mixpanel's pipeline shape). Columns are authoritative for time,
#: distinct_id and $insert_id; ``token`` never leaves the store.
EVENT_LINE_SQL = (
    """
    '{"event_name":' || to_json(event)
    || ',"time":' || CAST(floor(epoch_ms(time) / 1000) AS BIGINT)
    || ',"distinct_id":' || to_json(distinct_id)
    || ',"device_id":' || coalesce(to_json(device_id), 'null')
    || ',"user_id":' || coalesce(to_json(user_id), 'null')
    || ',"insert_id":' || to_json(insert_id)
    || ',"properties":' || """
    + PROPERTIES_SQL
    + """ || '}' || chr(10)"""
)


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


def lines_bytes(column: pa.Array) -> memoryview:
    """The concatenated text of a string column (a view, no copy, no per-row loop)."""
    if column.type != pa.string():
        column = column.cast(pa.string())
    if len(column) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(
        column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4
    )
    data = column.buffers()[2]
    return memoryview(data)[offsets[0] : offsets[-1]] if data is not None else memoryview(b"")


def gzip_bytes(chunks: Iterable[bytes | memoryview]) -> bytes:
    """One complete gzip member of the chunks in order (mtime 0, so that equal input gives
    equal bytes). The chunks are fed to one ISA-L stream as they are: no joined copy of
    the text is made, which also costs ISA-L less than compressing one large buffer."""
    compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, GZIP_WBITS)
    out = [compressor.compress(chunk) for chunk in chunks]
    out.append(compressor.flush())
    return b"".join(out)


@dataclass(frozen=True)
class PartFormat:
    """How a part is rendered (columns after the partition) and encoded into a file."""

    name: str
    suffix: str
    columns_sql: str

    def encode(self, pieces: list[pa.RecordBatch]) -> bytes:
        if self.name == "parquet":
            sink = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_batches(pieces), sink, compression="zstd")
            return bytes(sink.getvalue())
        return gzip_bytes(lines_bytes(p.column(0)) for p in pieces)


PARQUET_COLUMNS_SQL = f"""event AS event_name, time, distinct_id, device_id, user_id, insert_id,
    {PROPERTIES_SQL} AS properties"""

FORMATS = {
    "json": PartFormat("json", ".json.gz", f"{EVENT_LINE_SQL} AS line"),
    "parquet": PartFormat("parquet", ".parquet", PARQUET_COLUMNS_SQL),
}


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

    def submit(
        self, path: str, partition: str, rows: int, pieces: list[pa.RecordBatch], fmt: PartFormat
    ) -> None:
        units = max(1, min(sum(p.nbytes for p in pieces) >> 20, 256))
        for _ in range(units):
            self._room.acquire()
        self._futures.append(
            self._pool.submit(self._write, path, partition, rows, pieces, fmt, units)
        )

    def _write(
        self,
        path: str,
        partition: str,
        rows: int,
        pieces: list[pa.RecordBatch],
        fmt: PartFormat,
        units: int,
    ) -> WrittenFile:
        try:
            body = fmt.encode(pieces)
            del pieces
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


def group_where(
    clock: Clock, selection: Selection, units: list[Unit]
) -> tuple[str, dict[str, Any]]:
    """The selection narrowed to one group's partitions (and hash slice)."""
    where, params = selection.where(clock)
    lo = clock.partition_range(units[0].partition)[0]
    hi = clock.partition_range(units[-1].partition)[1]
    params.update(g_lo=lo, g_hi=hi)
    where += " AND time >= $g_lo::TIMESTAMP AND time < $g_hi::TIMESTAMP"
    if units[0].modulus > 1:
        where += f" AND {SORT_KEY} % $g_mod = $g_rem"
        params.update(g_mod=units[0].modulus, g_rem=units[0].remainder)
    return where, params


def groups(plan: Plan, group_rows: int) -> Iterator[list[Unit]]:
    return _groups(plan, group_rows)


def render_group(
    store: Any,
    clock: Clock,
    selection: Selection,
    units: list[Unit],
    columns_sql: str = FORMATS["json"].columns_sql,
) -> Iterator[pa.RecordBatch]:
    """A group's lines with their partition, sorted by partition and the hash of the event's
    key: the same events always come out in the same order (the store holds one event per
    key, so only a 64-bit hash collision could tie). DuckDB renders and sorts on both cores
    and streams the result; sorting on the text as well would cost twice as much."""
    where, params = group_where(clock, selection, units)
    sql = f"""SELECT {clock.partition_sql()} AS p, {columns_sql}
              FROM events WHERE {where}
              ORDER BY p, {SORT_KEY}"""
    yield from store.stream(sql, params, batch_rows=100_000)


class _PartBuffer:
    """Rows of one partition gathered until a part is full."""

    def __init__(self) -> None:
        self.partition: str | None = None
        self.pieces: list[pa.RecordBatch] = []
        self.rows = 0
        self.index = 0

    def take(self) -> tuple[list[pa.RecordBatch], int]:
        pieces, rows = self.pieces, self.rows
        self.pieces, self.rows = [], 0
        return pieces, rows


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
    fmt: PartFormat = FORMATS["json"],
) -> EncodeResult:
    """Render, encode and write every part of ``plan``; returns what was written."""
    writer = PartWriter(put, threads=threads, after_first=after_first)
    buffer = _PartBuffer()
    base = 0

    def flush() -> None:
        if buffer.rows:
            pieces, rows = buffer.take()
            name = part_name(key, base + buffer.index, fmt.suffix)
            writer.submit(
                f"{root}/{buffer.partition}/{name}", str(buffer.partition), rows, pieces, fmt
            )
            buffer.index += 1

    try:
        for group in _groups(plan, group_rows):
            base = group[0].remainder * 100 if group[0].modulus > 1 else 0
            buffer.partition, buffer.index = None, 0
            rendered = 0
            for batch in render_group(store, clock, selection, group, fmt.columns_sql):
                rendered += batch.num_rows
                parts = batch.column(0)
                lines = batch.drop_columns(["p"])
                runs = pc.run_end_encode(parts)
                ends = runs.run_ends.to_numpy()
                values = runs.values.to_pylist()
                start = 0
                for end, partition in zip(ends.tolist(), values, strict=True):
                    if partition != buffer.partition:
                        flush()
                        buffer.partition, buffer.index = partition, 0
                    offset = start
                    while offset < end:
                        room = part_rows - buffer.rows
                        count = min(room, end - offset)
                        buffer.pieces.append(lines.slice(offset, count))
                        buffer.rows += count
                        offset += count
                        if buffer.rows >= part_rows:
                            flush()
                    start = end
            flush()
            if on_group is not None:
                on_group(rendered)
    except BaseException:
        writer.abort()
        raise
    return EncodeResult(writer.finish())


def read_table(store: Any, sql: str, params: dict[str, Any]) -> pa.Table:
    """A query's result as one Arrow table, streamed (``store.query`` makes an extra copy
    and DuckDB 2.0 warns about it)."""
    batches = list(store.stream(sql, params, batch_rows=200_000))
    if batches:
        return pa.Table.from_batches(batches)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        empty: pa.Table = store.query(f"SELECT * FROM ({sql}) LIMIT 0", params)
    return empty
