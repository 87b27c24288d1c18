"""`driftline import events`: files → validated Arrow batches → the store.

Reading and validating the next chunk overlaps with writing the previous one. Chunks are
committed in batches of about ``commit_rows`` events; each batch is reported to
``on_commit`` only after its commit, so a progress line that says "stored" is true even if
the process is killed right after.

What happens to invalid records:

* default — every valid record is stored, every invalid one is reported with its file,
  line and field, and the import ends with an error (exit status 1);
* ``strict`` — the files are validated completely first; if any record is invalid nothing
  is stored.

Re-running an import never doubles events: records keep their ``$insert_id``; records
without one get a stable id derived from their content, and the store deduplicates.

NDJSON files go first through the fast path of :mod:`driftline.ingest.bulk` when the caller
offers a ``bulk`` sink (the store can read the file itself): one statement per file, all
or nothing. A file it does not take whole comes through the exact path described above.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import InvalidInput
from driftline.ingest.bulk import bulk_import_sql
from driftline.ingest.files import detect_format, iter_raw_chunks
from driftline.ingest.normalize import RecordError, normalize_records
from driftline.model import WriteResult
from driftline.prefetch import prefetch

MAX_REPORTED_ERRORS = 20


@dataclass
class FileError:
    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    records: int = 0
    stored: int = 0
    invalid: int = 0
    errors: list[FileError] = field(default_factory=list)
    seconds: float = 0.0
    stored_nothing: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "records": self.records,
            "stored": self.stored,
            "invalid": self.invalid,
            "errors": [str(e) for e in self.errors],
            "seconds": round(self.seconds, 3),
            "stored_nothing": self.stored_nothing,
        }


@dataclass
class ImportChunk:
    """One chunk of a file, validated: what the progress display reports."""

    path: str
    #: the valid records' rows; None once committed, or for a file the fast path stored
    events: pa.Table | None
    errors: list[RecordError]
    records: int
    first_line: int
    last_line: int
    nbytes: int
    #: valid records (each stored, or replacing its older copy)
    stored: int
    #: the chunk is the whole file (its line numbers are not counted)
    whole_file: bool = False


#: Commits every table of the iterator (in one transaction or several) and returns after
#: the last commit.
Sink = Callable[[Iterator[pa.Table]], WriteResult]
#: Runs a query of store rows (:func:`driftline.ingest.bulk.bulk_import_sql`) into the store
#: in one transaction, telling the third argument how far it has got (0 to 1) now and then;
#: raises :class:`BulkRefused` when the query stops, storing nothing.
BulkSink = Callable[[str, dict[str, Any], Callable[[float], None]], WriteResult]


class BulkRefused(Exception):
    """The fast path did not take a file; nothing of it was stored."""


def import_event_files(
    paths: list[Path],
    *,
    project_id: int,
    sink: Sink,
    fmt: str | None = None,
    strict: bool = False,
    chunk_rows: int = 250_000,
    commit_rows: int = 1_000_000,
    on_commit: Callable[[ImportChunk, WriteResult], None] | None = None,
    on_read: Callable[[ImportChunk], None] | None = None,
    bulk: BulkSink | None = None,
    on_progress: Callable[[str, float], None] | None = None,
) -> ImportReport:
    """Import ``paths`` into project ``project_id`` through ``sink`` (a committing writer).

    Files are stored in the order given (of two copies of an event, the later one wins).
    """
    started = time.perf_counter()
    origin = "import"

    def chunks(files: list[Path]) -> Iterator[ImportChunk]:
        for path in files:
            for raw in iter_raw_chunks(path, fmt, chunk_rows):
                normalized = normalize_records(
                    raw, project_id=project_id, origin=origin, insert_id="stable"
                )
                idx = raw.column("idx")
                nbytes = (
                    int(pc.sum(pc.binary_length(raw.column("rec"))).as_py() or 0) + raw.num_rows
                )
                yield ImportChunk(
                    str(path),
                    normalized.events,
                    normalized.errors,
                    raw.num_rows,
                    int(idx[0].as_py()) if raw.num_rows else 0,
                    int(idx[-1].as_py()) if raw.num_rows else 0,
                    nbytes,
                    normalized.events.num_rows,
                )

    if strict:
        checked = ImportReport()
        for chunk in chunks(paths):
            _count(checked, chunk)
        if checked.invalid:
            checked.stored_nothing = True
            checked.seconds = time.perf_counter() - started
            return checked

    report = ImportReport()
    exact = _ExactImport(report, sink, commit_rows, on_commit, on_read)
    if bulk is None:
        exact.run(chunks(paths))
    for path in paths if bulk is not None else []:
        chunk = _try_bulk(path, fmt, project_id, origin, bulk, on_progress)
        if chunk is None:
            exact.run(chunks([path]))
            continue
        if on_read is not None:
            on_read(chunk)
        report.records += chunk.records
        report.stored += chunk.stored
        if on_commit is not None:
            on_commit(chunk, WriteResult(rows=chunk.records, stored=chunk.stored))
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _ExactImport:
    """The exact path: validated chunks, committed in batches of about ``commit_rows``."""

    report: ImportReport
    sink: Sink
    commit_rows: int
    on_commit: Callable[[ImportChunk, WriteResult], None] | None
    on_read: Callable[[ImportChunk], None] | None

    def run(self, chunks: Iterator[ImportChunk]) -> None:
        stream = self._read(chunks)
        upcoming = next(stream, None)
        while upcoming is not None:
            batch: list[ImportChunk] = []

            def tables(batch: list[ImportChunk] = batch) -> Iterator[pa.Table]:
                # one commit: consecutive chunks of one file, up to commit_rows events
                nonlocal upcoming
                rows = 0
                chunk = upcoming
                while chunk is not None:
                    batch.append(chunk)
                    events, chunk.events = chunk.events, None
                    if events is not None and events.num_rows:
                        yield events
                    rows += chunk.stored
                    following = next(stream, None)
                    if (
                        following is None
                        or rows >= self.commit_rows
                        or following.path != chunk.path
                    ):
                        upcoming = following
                        return
                    chunk = following
                upcoming = None

            result = self.sink(tables())
            merged = _merge(batch)
            self.report.stored += merged.stored
            if self.on_commit is not None:
                self.on_commit(merged, result)

    def _read(self, chunks: Iterator[ImportChunk]) -> Iterator[ImportChunk]:
        for chunk in prefetch(chunks, name="driftline-import-reader"):
            if self.on_read is not None:
                self.on_read(chunk)
            _count(self.report, chunk)
            yield chunk


def _count(report: ImportReport, chunk: ImportChunk) -> None:
    report.records += chunk.records
    report.invalid += len(chunk.errors)
    room = MAX_REPORTED_ERRORS - len(report.errors)
    for err in chunk.errors[: max(room, 0)]:
        report.errors.append(FileError(chunk.path, err.index, err.field, err.message))


def _merge(chunks: list[ImportChunk]) -> ImportChunk:
    first, last = chunks[0], chunks[-1]
    return ImportChunk(
        first.path,
        None,
        [e for c in chunks for e in c.errors],
        sum(c.records for c in chunks),
        first.first_line,
        last.last_line,
        sum(c.nbytes for c in chunks),
        sum(c.stored for c in chunks),
    )


def _try_bulk(
    path: Path,
    fmt: str | None,
    project_id: int,
    origin: str,
    bulk: BulkSink,
    on_progress: Callable[[str, float], None] | None,
) -> ImportChunk | None:
    """``path`` stored whole by the fast path, or None when it must take the exact path."""
    if not path.is_file():
        return None  # the exact path says what is wrong
    try:
        chosen = fmt or detect_format(path)
    except InvalidInput:
        return None
    if chosen != "ndjson":
        return None
    sql, params = bulk_import_sql(
        path, project_id=project_id, origin=origin, now_ms=int(time.time() * 1000)
    )

    def progress(done: float) -> None:
        if on_progress is not None:
            on_progress(str(path), done)

    try:
        result = bulk(sql, params, progress)
    except BulkRefused:
        return None
    return ImportChunk(
        str(path), None, [], result.rows, 1, 0, path.stat().st_size, result.rows, whole_file=True
    )
