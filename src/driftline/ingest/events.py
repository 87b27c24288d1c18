"""Events from HTTP requests into the store, validated a micro-batch at a time.

Validation runs as one DuckDB query (:mod:`driftline.ingest.normalize`), whose fixed cost
dwarfs the cost of one small event. So, as the writer does for commits, one thread takes
every request that is waiting, validates all their records in one query, adds the
properties the server sets, and hands the whole micro-batch to the writer as one
:class:`~driftline.store.ops.AppendEvents`. Each request gets back its own errors and a
future that resolves once its events are committed. When the server is idle a request is
processed at once; under load, requests share queries and commits.

Server-added properties (as Mixpanel adds them): ``$mp_api_endpoint`` (the host the request
was sent to), ``$mp_api_timestamp_ms`` (receipt time), ``mp_processing_time_ms``
(processing time, ms since the epoch), ``$import`` (``true`` on ``/import``), and, with a
GeoIP database, ``$city``, ``$region`` and ``mp_country_code`` (values the client sent win).
The ``ip`` property is used for geolocation and never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import Backpressure, TerminalError
from driftline.ingest import payload
from driftline.ingest.geo import GeoLocator
from driftline.ingest.hotshard import HotShards
from driftline.ingest.normalize import InsertIdPolicy, Normalized, RecordError, normalize_records
from driftline.ingest.normalize_small import (
    MAX_EVENT_BYTES,
    normalize_small_docs,
    truncate_docs,
    truncate_strings_small,
)
from driftline.store import AppendEvents, DuckDBStore, GroupCommitWriter

log = logging.getLogger("driftline.ingest")

DAY_MS = 86_400_000
#: /track keeps events of the last five days only, as Mixpanel's does.
TRACK_MAX_AGE_MS = 5 * DAY_MS
#: Micro-batches up to this many records are validated in Python first
#: (:mod:`driftline.ingest.normalize_small`): for plainly valid records that costs less CPU
#: than the vectorized query even at 2000 records, and the query still runs, owning every
#: error message, as soon as one record is anything else.
PYTHON_FIRST_ROWS = 4096
#: An event carrying this property (any value) is dropped silently, as Mixpanel does.
IGNORE_PROPERTY = "$ignore"


@dataclass
class EventRequest:
    """One request's records and how to treat them."""

    #: one JSON text per record; or None, with ``docs`` the records parsed
    records: pa.Array | None
    origin: str  # "track" or "import"
    insert_id: InsertIdPolicy
    endpoint: str  # value of $mp_api_endpoint
    project_id: int | None = None  # None: each event names its project by properties.token
    received_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    drop_before_ms: int | None = None  # valid events older than this are dropped silently
    fallback_distinct_id: str | None = None  # for events that name no identity
    time_optional: bool = False  # events without properties.time happen "now"
    geo_ip: str | None = None  # locate this address (the request's, with ip=1)
    locate_property_ip: bool = True  # else locate properties.ip
    is_import: bool = False
    docs: list[Any] | None = None  # the records, parsed (then ``records`` may be None)
    body_bytes: int = 0  # size of the request body the records came in

    @property
    def rows(self) -> int:
        return len(self.docs) if self.docs is not None else len(self.records or ())

    def texts(self) -> pa.Array:
        """The records as JSON texts."""
        if self.records is None:
            self.records = payload.record_texts(self.docs or [])
        return self.records


@dataclass
class EventOutcome:
    """What became of one request's records; ``committed`` resolves after the commit."""

    errors: list[RecordError]
    accepted: int
    dropped: int
    committed: Future[object] | None


@dataclass
class PreparedBatch:
    events: pa.Table
    outcomes: list[EventOutcome]


class EventIngestor:
    """The thread that validates and enriches waiting requests together."""

    def __init__(
        self,
        store: DuckDBStore,
        writer: GroupCommitWriter,
        geo: GeoLocator | None = None,
        *,
        hot: HotShards | None = None,
        max_batch_rows: int = 40_000,
        max_queued_rows: int = 200_000,
        workers: int = 2,
    ) -> None:
        self.store = store
        self.writer = writer
        self.geo = geo
        self.hot = hot
        self.max_batch_rows = max_batch_rows
        self.max_queued_rows = max_queued_rows
        self._queue: queue.SimpleQueue[tuple[EventRequest, Reply] | None] = queue.SimpleQueue()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._closing = False
        # Two workers: while one waits on its validation query, the other prepares the next
        # micro-batch (DuckDB releases the GIL while it runs).
        self._threads = [
            threading.Thread(target=self._run, name=f"driftline-ingest-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, request: EventRequest) -> Future[EventOutcome]:
        """Queue a request; raises :class:`Backpressure` when too much is waiting.

        The future resolves once the request is validated; ``outcome.committed`` then
        resolves after the commit."""
        future: Future[EventOutcome] = Future()
        self._put(request, future)
        return future

    def submit_async(self, request: EventRequest) -> asyncio.Future[EventOutcome]:
        """Queue a request from the event loop; the asyncio future resolves after the commit.

        The requests of one micro-batch are woken together, with one call into the loop
        (instead of two thread-safe future hand-offs per request)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EventOutcome] = loop.create_future()
        self._put(request, _LoopReply(loop, future))
        return future

    def _put(self, request: EventRequest, reply: Reply) -> None:
        if self._closing:
            raise TerminalError("the server is shutting down")
        with self._lock:
            if self._queued_rows and self._queued_rows + request.rows > self.max_queued_rows:
                raise Backpressure("ingestion is behind; retry with exponential backoff")
            self._queued_rows += request.rows
        self._queue.put((request, reply))

    def close(self, timeout: float = 30.0) -> None:
        if self._closing:
            return
        self._closing = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            group = [item]
            rows = item[0].rows
            while rows < self.max_batch_rows:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
                rows += nxt[0].rows
            with self._lock:
                self._queued_rows -= rows
            self._process(group)

    def _process(self, group: list[tuple[EventRequest, Reply]]) -> None:
        requests = [r for r, _ in group]
        started = time.perf_counter()
        try:
            prepared = prepare_events(requests, self.store, self.geo, hot=self.hot)
            log.debug(
                "prepared %d requests (%d events) in %.1f ms",
                len(group),
                prepared.events.num_rows,
                (time.perf_counter() - started) * 1000,
            )
        except Exception:
            if len(group) > 1:  # one request's records must not fail the others
                for item in group:
                    self._process([item])
                return
            log.exception("preparing an ingestion request failed")
            error = TerminalError("the server could not process these records; see its log")
            _deliver([(group[0][1], None, error)])
            return
        committed: Future[object] | None = None
        try:
            if prepared.events.num_rows:
                op = AppendEvents(prepared.events, sources=len(group))
                committed = self.writer.submit(op)
        except Exception as exc:
            _deliver([(reply, None, exc) for _, reply in group])
            return
        now: list[Delivery] = []
        later: list[tuple[Reply, EventOutcome]] = []
        for (_, reply), outcome in zip(group, prepared.outcomes, strict=True):
            if outcome.accepted:
                outcome.committed = committed
            if isinstance(reply, _LoopReply) and committed is not None:
                later.append((reply, outcome))
            else:
                now.append((reply, outcome, None))
        _deliver(now)
        if later:
            assert committed is not None

            def after_commit(done: Future[object]) -> None:
                exc = done.exception()
                _deliver(
                    [
                        (reply, None, exc) if exc and outcome.accepted else (reply, outcome, None)
                        for reply, outcome in later
                    ]
                )

            committed.add_done_callback(after_commit)


@dataclass(frozen=True)
class _LoopReply:
    """An asyncio future waiting in ``loop`` for its request's outcome."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[EventOutcome]


Reply = Future[EventOutcome] | _LoopReply
Delivery = tuple[Reply, EventOutcome | None, BaseException | None]


def _deliver(deliveries: list[Delivery]) -> None:
    """Resolve futures: thread-safe ones at once, asyncio ones with one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Delivery]] = {}
    for delivery in deliveries:
        reply, outcome, exc = delivery
        if isinstance(reply, _LoopReply):
            by_loop.setdefault(reply.loop, []).append(delivery)
        elif exc is not None:
            reply.set_exception(exc)
        else:
            reply.set_result(outcome)  # type: ignore[arg-type]
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_resolve_in_loop, items)


def _resolve_in_loop(items: list[Delivery]) -> None:
    for reply, outcome, exc in items:
        future = reply.future  # type: ignore[union-attr]
        if future.done():  # the client went away
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]


def prepare_events(
    requests: list[EventRequest],
    store: DuckDBStore,
    geo: GeoLocator | None,
    *,
    hot: HotShards | None = None,
    now_ms: int | None = None,
) -> PreparedBatch:
    """Validate and enrich the records of ``requests`` together, one query for all."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    counts = np.array([r.rows for r in requests], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    total = int(offsets[-1])
    req_of = np.repeat(np.arange(len(requests), dtype=np.int64), counts)
    req_idx = pa.array(req_of)
    python_first = total <= PYTHON_FIRST_ROWS
    normalized = None
    if python_first and all(
        r.docs is not None and r.body_bytes <= MAX_EVENT_BYTES for r in requests
    ):
        normalized = _normalize_docs(requests, now_ms)
    if normalized is None:
        normalized = _normalize_texts(requests, req_idx, total, now_ms, python_first)
    assert normalized.meta is not None and normalized.dropped is not None
    ignored = _ignored(normalized.events)
    if ignored is not None:  # silently dropped, like events too old for /track
        normalized.dropped = pa.concat_arrays(
            [
                normalized.dropped.cast(pa.int64()),
                normalized.indexes.filter(ignored).cast(pa.int64()),
            ]
        )
        keep = pc.invert(ignored)
        normalized.events = normalized.events.filter(keep)
        normalized.meta = normalized.meta.filter(keep)
        normalized.indexes = normalized.indexes.filter(keep)
    events = normalized.events
    rows_req = req_of[normalized.indexes.to_numpy(zero_copy_only=False)]
    errors = list(normalized.errors)

    # the project of each event: the request's (authenticated /import) or its token's
    fixed = np.array([-1 if r.project_id is None else r.project_id for r in requests], np.int64)
    project = fixed[rows_req] if len(rows_req) else np.zeros(0, np.int64)
    by_token = project < 0
    if by_token.any():
        tokens = normalized.meta.column("token")
        project = np.where(by_token, _token_projects(tokens, store), project)
        unknown = project < 0
        if unknown.any():
            idx = normalized.indexes.to_numpy(zero_copy_only=False)[unknown]
            token_values = np.asarray(tokens.to_pylist(), dtype=object)[unknown]
            for i, tok in zip(idx.tolist(), token_values.tolist(), strict=True):
                message = (
                    "'properties.token' is required"
                    if tok is None
                    else "'properties.token' is invalid: no project has this token"
                )
                errors.append(RecordError(i, "properties.token", message))
            keep = pa.array(~unknown)
            events = events.filter(keep)
            normalized.meta = normalized.meta.filter(keep)
            rows_req = rows_req[~unknown]
            project = project[~unknown]

    if events.num_rows:
        events = events.set_column(
            0, events.schema.field("project_id"), pa.array(project.astype(np.int32))
        )
        if hot is not None:
            events = hot.apply(events)
        if geo is not None:
            properties = _locate(events, normalized.meta, rows_req, requests, geo)
            events = events.set_column(
                events.column_names.index("properties"),
                events.schema.field("properties"),
                properties,
            )

    accepted = np.bincount(rows_req, minlength=len(requests))
    dropped_req = req_of[normalized.dropped.to_numpy(zero_copy_only=False)]
    dropped = np.bincount(dropped_req, minlength=len(requests))
    per_req_errors: list[list[RecordError]] = [[] for _ in requests]
    for err in sorted(errors, key=lambda e: e.index):
        r = int(np.searchsorted(offsets, err.index, side="right") - 1)
        per_req_errors[r].append(
            RecordError(err.index - int(offsets[r]), err.field, err.message, err.insert_id)
        )
    outcomes = [
        EventOutcome(per_req_errors[i], int(accepted[i]), int(dropped[i]), None)
        for i in range(len(requests))
    ]
    return PreparedBatch(events, outcomes)


def _options(request: EventRequest, now_ms: int) -> dict[str, Any]:
    """The per-record options (``normalize.OPTION_COLUMNS``) of a request's records."""
    return {
        "origin": request.origin,
        "policy": request.insert_id,
        "drop_before_ms": request.drop_before_ms,
        "fallback_distinct_id": request.fallback_distinct_id,
        "default_time_ms": now_ms if request.time_optional else None,
        "properties_over": _server_properties(request, now_ms),
    }


def _normalize_docs(requests: list[EventRequest], now_ms: int) -> Normalized | None:
    """Validate parsed records in Python, or None when one needs the vectorized query."""
    for r in requests:
        if r.docs and getattr(r.docs, "long_strings", True):
            truncate_docs(r.docs)
    small = normalize_small_docs(
        [(r.docs or [], _options(r, now_ms)) for r in requests],
        project_id=0,
        origin="track",
        insert_id="require",
        now_ms=now_ms,
    )
    if small is None:
        return None
    events, meta, indexes, dropped = small
    return Normalized(events, [], indexes, meta, dropped)


def _normalize_texts(
    requests: list[EventRequest],
    req_idx: pa.Array,
    total: int,
    now_ms: int,
    python_first: bool,
) -> Normalized:
    def per_request(values: list[object], dtype: pa.DataType) -> pa.Array:
        return pa.array(values, dtype).take(req_idx)

    options = [_options(r, now_ms) for r in requests]
    texts = [r.texts() for r in requests]
    raw = pa.table(
        {
            "idx": pa.array(np.arange(total, dtype=np.int64)),
            "rec": pa.concat_arrays(
                [t if t.type == pa.string() else t.cast(pa.string()) for t in texts]
            )
            if requests
            else pa.array([], pa.string()),
            **{
                name: per_request([o[name] for o in options], dtype)
                for name, dtype in (
                    ("origin", pa.string()),
                    ("policy", pa.string()),
                    ("drop_before_ms", pa.int64()),
                    ("fallback_distinct_id", pa.string()),
                    ("default_time_ms", pa.int64()),
                    ("properties_over", pa.string()),
                )
            },
        }
    )
    if python_first:
        raw = truncate_strings_small(raw)
    return normalize_records(
        raw,
        project_id=0,
        origin="track",
        now_ms=now_ms,
        truncate_strings=not python_first,
        small_batch=PYTHON_FIRST_ROWS,
    )


def _ignored(events: pa.Table) -> pa.Array | None:
    """Mask of the events whose properties have a top-level ``$ignore`` key, or None."""
    if events.num_rows == 0:
        return None
    properties = events.column("properties")
    maybe = pc.fill_null(pc.match_substring(properties, f'"{IGNORE_PROPERTY}"'), False)
    if not pc.any(maybe).as_py():
        return None
    texts = properties.to_pylist()
    mask = [
        bool(hit) and IGNORE_PROPERTY in orjson.loads(text)
        for hit, text in zip(maybe.to_pylist(), texts, strict=True)
    ]
    if not any(mask):
        return None
    return pa.array(mask, pa.bool_())


def _token_projects(tokens: pa.ChunkedArray | pa.Array, store: DuckDBStore) -> np.ndarray:
    """Project id per token (-1 where no project has it)."""
    known = [(p.token, p.id) for p in store.list_projects()]
    value_set = pa.array([t for t, _ in known], pa.string())
    ids = np.array([i for _, i in known] + [-1], np.int64)
    pos = pc.index_in(tokens, value_set=value_set).to_numpy(zero_copy_only=False)
    pos = np.where(np.isnan(pos.astype(float)), len(known), pos).astype(np.int64)
    return ids[pos]


def _server_properties(request: EventRequest, now_ms: int) -> str:
    """What the server sets over each event's properties (``ip``: used, never stored)."""
    doc: dict[str, object] = {
        "$mp_api_endpoint": request.endpoint,
        "$mp_api_timestamp_ms": request.received_ms,
        "mp_processing_time_ms": now_ms,
        "ip": None,
    }
    if request.is_import:
        doc["$import"] = True
    return orjson.dumps(doc).decode()


_GEO_SQL = """
SELECT CASE WHEN city IS NULL AND region IS NULL AND country IS NULL THEN properties
  ELSE CAST(json_merge_patch(properties, json_merge_patch('{}', json_object(
    '$city', CASE WHEN json_exists(properties, '$."$city"') THEN NULL ELSE city END,
    '$region', CASE WHEN json_exists(properties, '$."$region"') THEN NULL ELSE region END,
    'mp_country_code', CASE WHEN json_exists(properties, '$.mp_country_code') THEN NULL
                            ELSE country END))) AS VARCHAR)
  END AS properties
FROM located
"""
_local = threading.local()


def _locate(
    events: pa.Table,
    meta: pa.Table,
    rows_req: np.ndarray,
    requests: list[EventRequest],
    geo: GeoLocator,
) -> pa.ChunkedArray | pa.Array:
    """``$city``, ``$region`` and ``mp_country_code`` from the request's IP (``ip=1``) or
    the event's ``ip`` property; values the client sent are kept."""
    req_idx = pa.array(rows_req)
    request_ip = pa.array([r.geo_ip for r in requests], pa.string()).take(req_idx)
    allow = pa.array([r.locate_property_ip for r in requests], pa.bool_()).take(req_idx)
    prop_ip = pc.if_else(allow, meta.column("ip").combine_chunks(), pa.scalar(None, pa.string()))
    ips = pc.coalesce(request_ip, prop_ip)
    if ips.null_count == len(ips):
        return events.column("properties")
    unique = pc.unique(ips).drop_null()
    found = [geo.lookup(ip) if ip and ip != "0" else None for ip in unique.to_pylist()]
    pos = pc.index_in(ips, value_set=unique)
    columns = {
        name: pa.array([f[i] if f else None for f in found], pa.string()).take(pos)
        for i, name in enumerate(("city", "region", "country"))
    }
    table = pa.table({"properties": events.column("properties"), **columns})
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = duckdb.connect(config={"threads": "2"})
    conn.register("located", table)
    try:
        out = conn.sql(_GEO_SQL).to_arrow_table()
    finally:
        conn.unregister("located")
    return out.column("properties").combine_chunks()
