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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from driftline.ingest.files import iter_raw_chunks
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
    events: pa.Table
    errors: list[RecordError]
    records: int
    first_line: int
    last_line: int
    nbytes: int


#: Commits every table of the iterator (in one transaction or several) and returns after
#: the last commit.
Sink = Callable[[Iterator[pa.Table]], WriteResult]


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
) -> ImportReport:
    """Import ``paths`` into project ``project_id`` through ``sink`` (a committing writer)."""
    started = time.perf_counter()
    report = ImportReport()
    origin = "import"

    def chunks() -> Iterator[ImportChunk]:
        for path in paths:
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
                )

    if strict:
        for chunk in chunks():
            _count(report, chunk)
        if report.invalid:
            report.stored_nothing = True
            report.seconds = time.perf_counter() - started
            return report
        report = ImportReport()

    def read() -> Iterator[ImportChunk]:
        for chunk in prefetch(chunks(), name="driftline-import-reader"):
            if on_read is not None:
                on_read(chunk)
            _count(report, chunk)
            yield chunk

    stream = read()
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
                if chunk.events.num_rows:
                    yield chunk.events
                rows += chunk.events.num_rows
                following = next(stream, None)
                if following is None or rows >= commit_rows or following.path != chunk.path:
                    upcoming = following
                    return
                chunk = following
            upcoming = None

        result = sink(tables())
        merged = _merge(batch)
        report.stored += merged.events.num_rows
        if on_commit is not None:
            on_commit(merged, result)
    report.seconds = time.perf_counter() - started
    return report


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
        pa.concat_tables([c.events for c in chunks]),
        [e for c in chunks for e in c.errors],
        sum(c.records for c in chunks),
        first.first_line,
        last.last_line,
        sum(c.nbytes for c in chunks),
    )
