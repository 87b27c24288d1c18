"""`driftline import snowplow`: existing enriched data into driftline.

Sources:

* enriched TSV files, plain or gzip, from a local path (a file or a directory, read
  recursively) or ``s3://``, ``gs://``, ``az://`` URLs (through fsspec; credentials and
  endpoints from the usual environment variables);
* an enriched Kinesis stream, ``kinesis://<stream>`` (see :mod:`driftline.snowplow.kinesis`).

A file goes first through the fast path: the store reads the whole file itself with
DuckDB's ``read_csv`` and stores it in one transaction
(:class:`~driftline.store.snowplow_file.AppendEnrichedFile`); a bucket object (up to
:data:`REMOTE_COPY_BYTES`) is copied into memory for it first. At the first line the exact
path would treat otherwise, nothing of the file is stored and it is read again as below.

Otherwise (larger bucket objects, refused files) files are read as Arrow batches of lines (pyarrow's
multi-threaded CSV reader) and handed to :class:`~driftline.store.snowplow.AppendEnriched`,
which checks and casts them — there is no Python loop per event. Lines that are not valid
enriched events become ``loader_parsing_error`` bad rows.

Incremental: a file is recorded (path, size and modification time or ETag) in the same
transaction as its last rows, and skipped by later runs. A run killed half-way through a
file reads it again next time; rows already stored are replaced, not doubled.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from driftline.errors import DriftlineError, InvalidInput, TerminalError
from driftline.remote import check_gcs_endpoint, explain, scheme_of
from driftline.snowplow.events import EVENTS_SQL
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.store.snowplow import AppendEnriched, tsv_options
from driftline.store.snowplow_file import AppendEnrichedFile

BLOCK = 48 << 20  # ~30,000 enriched lines per committed batch


@dataclass
class SourceFile:
    url: str
    size: int
    fingerprint: str


@dataclass
class ImportSummary:
    source: str
    files: int = 0
    skipped: int = 0
    events: int = 0
    bad_rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    file_results: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": self.files,
            "skipped": self.skipped,
            "events": self.events,
            "bad_rows": self.bad_rows,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events / self.seconds) if self.seconds else 0,
            "file_results": self.file_results,
        }


Progress = Callable[[str, int], None]


def _filesystem(url: str) -> tuple[Any, str]:
    if not url.strip():
        raise InvalidInput("the source is empty: give a file, a directory or a URL", field="source")
    scheme, separator, rest = url.partition("://")
    if separator and scheme.lower() not in ("file", "local") and not rest.strip("/"):
        raise InvalidInput(
            f"{url} needs a bucket or container: {scheme}://bucket/prefix", field="source"
        )
    try:
        import fsspec
    except ImportError:
        raise TerminalError(
            "reading files needs fsspec: pip install 'driftline[snowplow]'"
        ) from None
    if scheme_of(url) == "gs":
        check_gcs_endpoint(url)
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        extra = {"s3": "s3", "gs": "gcs", "az": "azure"}.get(scheme_of(url), "s3")
        raise TerminalError(
            f"reading {scheme_of(url)}:// needs an extra: pip install 'driftline[{extra}]' ({exc})"
        ) from None
    except Exception as exc:  # a storage library that cannot start: credentials, options
        raise explain(exc, url) from None
    return fs, path


def list_files(url: str) -> list[SourceFile]:
    """The files under ``url`` (one file, or every file below a directory/prefix), sorted."""
    fs, path = _filesystem(url)
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple | list) else fs.protocol
    try:
        if fs.isdir(path):
            infos = [i for i in fs.find(path, detail=True).values() if i.get("type") == "file"]
        else:
            infos = [fs.info(path)]
    except FileNotFoundError:
        raise InvalidInput(f"{url}: no such file or directory", field="source") from None
    except Exception as exc:
        raise explain(exc, url) from None
    out = []
    for info in infos:
        name = info["name"]
        base = name.rsplit("/", 1)[-1]
        if base.startswith((".", "_")):  # hidden files, _SUCCESS markers
            continue
        stamp = (
            info.get("ETag")
            or info.get("etag")
            or info.get("mtime")
            or info.get("LastModified")
            or ""
        )
        full = name if protocol in ("file", "local") else f"{protocol}://{name}"
        out.append(SourceFile(full, int(info.get("size") or 0), f"{info.get('size')}:{stamp}"))
    return sorted(out, key=lambda f: f.url)


@contextlib.contextmanager
def _opened(url: str) -> Iterator[Any]:
    """The bytes of one file under ``url``, gunzipped when it is gzip; a file of binary data
    (a NUL byte in its first 64 KiB: a database, a Parquet file, an image) is refused before
    any of it is read as lines, and the storage libraries' errors become one line."""
    fs, path = _filesystem(url)
    try:
        raw = fs.open(path, "rb")
    except FileNotFoundError:
        raise InvalidInput(f"{url}: no such file or directory", field="source") from None
    except Exception as exc:
        raise explain(exc, url) from None
    stream: Any = raw
    try:
        if path.endswith(".gz") or _is_gzip(raw):
            from isal import igzip

            stream = igzip.IGzipFile(fileobj=raw)
        head = stream.read(1 << 16)
        stream.seek(0)
        nul = head.find(b"\0")
        if nul >= 0:
            raise InvalidInput(
                f"{url}: binary data, not a text file of enriched events (byte {nul:,} is "
                "NUL); move it out of the way and run the import again",
                field="source",
            )
        yield _ValidUtf8(stream)
    except (DriftlineError, pa.ArrowInvalid):
        raise
    except (OSError, EOFError) as exc:
        if isinstance(exc, gzip.BadGzipFile) or "gzip" in str(exc).lower():
            raise InvalidInput(f"{url}: not a valid gzip file ({exc})", field="source") from None
        raise explain(exc, url) from None
    finally:
        stream.close()
        raw.close()


class _ValidUtf8:
    """The bytes of a stream as valid UTF-8: a byte sequence that is not UTF-8 becomes U+FFFD,
    as the JVM's readers of enriched files (Snowplow's loaders and Analytics SDK) decode it.
    The line it is in is then a bad row or an event with that character, never a reason to
    refuse the whole file. Valid blocks pass through as they are (checked by Arrow, ~1 GB/s);
    only a block with an invalid sequence is decoded and encoded again."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._held = b""  # the first bytes of a character split by the block's end

    def read(self, size: int = -1) -> bytes:
        while True:
            block = bytes(self._stream.read(size))
            if not block:  # the end; a character cut off by it becomes U+FFFD
                held, self._held = self._held, b""
                return held.decode("utf-8", "replace").encode()
            if self._held:
                block, self._held = self._held + block, b""
            if block.isascii():
                return block
            cut = _whole_characters(block)
            block, self._held = block[:cut], block[cut:]
            if block:  # else only a split character's first bytes: read on
                return block if _is_utf8(block) else block.decode("utf-8", "replace").encode()

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return bool(self._stream.closed)

    def close(self) -> None:
        self._stream.close()


def _whole_characters(block: bytes) -> int:
    """The length of ``block`` without the first bytes of a UTF-8 character that its end cuts
    (0-3 bytes fewer). Bytes that could not start a character count as whole: the check of
    the block decides about them."""
    end = len(block)
    back = 0
    while back < 3 and back < end and block[end - 1 - back] & 0xC0 == 0x80:
        back += 1  # continuation bytes
    if back == end:
        return end
    lead = block[end - 1 - back]
    need = (
        2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 0
    )
    return end - 1 - back if need > back + 1 else end


def _is_utf8(block: bytes) -> bool:
    """Whether ``block`` is valid UTF-8, checked by Arrow without decoding it in Python."""
    buffer = pa.py_buffer(block)
    offsets = pa.array([0, len(block)], pa.int64()).buffers()[1]
    try:
        pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buffer]).cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def read_lines(url: str, batch_bytes: int = BLOCK) -> Iterator[pa.Array]:
    """Arrow arrays of the lines of one (possibly gzip) file."""
    with _opened(url) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=["line"], block_size=batch_bytes),
                parse_options=pacsv.ParseOptions(
                    delimiter="\x01", quote_char=False, escape_char=False, newlines_in_values=False
                ),
                convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}),
            )
            for batch in reader:
                if batch.num_rows:
                    yield batch.column(0)
        except pa.ArrowInvalid as exc:
            raise InvalidInput(
                f"{url}: not a text file of enriched events ({exc})", field="source"
            ) from None


def read_fields(
    url: str, width: int = 131, batch_bytes: int = BLOCK
) -> Iterator[tuple[pa.Table, list[str]]]:
    """Tables of ``width`` text columns ``c0..`` (empty fields NULL) from one (possibly gzip)
    enriched TSV file, each with the lines that did not have ``width`` fields."""
    broken: list[str] = []

    def on_invalid(row: Any) -> str:
        broken.append(row.text)
        return "skip"

    with _opened(url) as stream:
        try:
            reader = pacsv.open_csv(
                stream, **tsv_options(width, on_invalid, block_size=batch_bytes)
            )
            for batch in reader:
                out, broken = list(broken), []
                yield pa.Table.from_batches([batch]), out
            if broken:
                yield pa.Table.from_batches([], schema=reader.schema), broken
        except pa.ArrowInvalid as exc:
            raise InvalidInput(
                f"{url}: not a text file of enriched events ({exc})", field="source"
            ) from None


def _is_gzip(f: Any) -> bool:
    head = f.read(2)
    f.seek(0)
    return bool(head == b"\x1f\x8b")


def already_imported(store: DuckDBStore, project_id: int) -> set[tuple[str, str]]:
    rows = store.query_rows(
        "SELECT source, fingerprint FROM snowplow_imports WHERE project_id = ?", [project_id]
    )
    return {(r[0], r[1]) for r in rows}


def import_files(
    store: DuckDBStore,
    writer: GroupCommitWriter,
    url: str,
    project_id: int,
    *,
    on_progress: Progress | None = None,
    batch_bytes: int = BLOCK,
    fast: bool = True,
) -> ImportSummary:
    """Import the enriched files under ``url`` into project ``project_id``.

    A file goes first through the fast path (:class:`AppendEnrichedFile`: the store reads it
    whole, one transaction; a bucket object is copied into memory for it); a file it does not
    take, or a bucket object over :data:`REMOTE_COPY_BYTES`, comes through the exact path
    (Arrow blocks of lines, checked line by line). ``fast=False`` always takes the exact
    path.
    """
    started = time.perf_counter()
    summary = ImportSummary(url)
    done = already_imported(store, project_id)
    pending: list[tuple[Future[Any], SourceFile | None]] = []
    for file in list_files(url):
        if (file.url, file.fingerprint) in done:
            summary.skipped += 1
            continue
        marker = [(project_id, file.url, file.fingerprint, 0, 0)]
        if fast:
            _drain(pending, summary, on_progress, keep=0)  # files are reported in order
        if fast and _import_whole(writer, file, project_id, marker, summary, on_progress):
            continue
        previous: tuple[pa.Table, list[str]] | None = None
        for chunk in read_fields(file.url, batch_bytes=batch_bytes):
            if previous is not None:
                pending.append(
                    (writer.submit(_op(*previous, project_id), wait_for_room=True), None)
                )
            previous = chunk
            _drain(pending, summary, on_progress, keep=2)
        table, broken = previous if previous is not None else (None, [])
        pending.append(
            (writer.submit(_op(table, broken, project_id, marker), wait_for_room=True), file)
        )
        _drain(pending, summary, on_progress, keep=2)
        summary.files += 1
        summary.bytes += file.size
    _drain(pending, summary, on_progress, keep=0)
    summary.seconds = time.perf_counter() - started
    return summary


def _import_whole(
    writer: GroupCommitWriter,
    file: SourceFile,
    project_id: int,
    marker: list[Any],
    summary: ImportSummary,
    on_progress: Progress | None,
) -> bool:
    """Try the fast path for one file; False (nothing of it stored) when it does not apply
    or stopped at a line that needs the exact path."""
    with _readable_copy(file) as path:
        if path is None:
            return False
        with open(path, "rb") as f:
            gzip = _is_gzip(f)
        op = AppendEnrichedFile(path, EVENTS_SQL, project_id=project_id, gzip=gzip, imports=marker)
        try:
            result = writer.submit(op, wait_for_room=True).result()
        except duckdb.Error:
            return False
    summary.events += result.stored
    summary.bad_rows += result.extra.get("bad_rows", 0)
    summary.files += 1
    summary.bytes += file.size
    summary.file_results.append({"file": file.url, "bytes": file.size, "fast": True})
    if on_progress is not None:
        on_progress(file.url, result.stored)
    return True


#: the largest bucket object copied into memory for the fast path (larger ones are read
#: block by block on the exact path)
REMOTE_COPY_BYTES = 512 << 20


@contextlib.contextmanager
def _readable_copy(file: SourceFile) -> Iterator[str | None]:
    """A path the store can read ``file`` from: a local file's own, or for a bucket object of
    at most :data:`REMOTE_COPY_BYTES` a copy in anonymous memory (Linux ``memfd``: no file
    on disk, freed with the process even when it is killed); None for neither."""
    local = scheme_of(file.url) in ("file", "local")
    if local or file.size > REMOTE_COPY_BYTES or not hasattr(os, "memfd_create"):
        yield _local_path(file.url) if local else None
        return
    fs, remote = _filesystem(file.url)
    fd = os.memfd_create("driftline-import")
    try:
        try:
            with fs.open(remote, "rb") as src, open(fd, "wb", closefd=False) as dst:
                shutil.copyfileobj(src, dst, 8 << 20)
        except FileNotFoundError:
            raise InvalidInput(f"{file.url}: no such file or directory", field="source") from None
        except Exception as exc:
            raise explain(exc, file.url) from None
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _local_path(url: str) -> str | None:
    """The path of a local file DuckDB can read itself, else None."""
    if "://" in url and not url.startswith("file://"):
        return None
    path = url.removeprefix("file://")
    if any(c in path for c in "*?[{"):  # DuckDB would read the name as a glob pattern
        return None
    return path if os.path.isfile(path) else None


def _op(
    table: pa.Table | None,
    broken: list[str],
    project_id: int,
    imports: list[Any] | None = None,
) -> AppendEnriched:
    split = None
    if table is not None and table.num_rows:
        split = table.add_column(
            0, "project_id", pa.array(np.full(table.num_rows, project_id, np.int32))
        )
    problems = [
        (project_id, f"expected 131 tab-separated fields, got {line.count(chr(9)) + 1}", line)
        for line in broken
    ]
    return AppendEnriched(
        None, EVENTS_SQL, split=split, broken=problems, imports=imports, trusted=False
    )


def _drain(
    pending: list[tuple[Future[Any], SourceFile | None]],
    summary: ImportSummary,
    on_progress: Progress | None,
    keep: int,
) -> None:
    while len(pending) > keep:
        future, file = pending.pop(0)
        result = future.result()
        summary.events += result.stored
        summary.bad_rows += result.extra.get("bad_rows", 0)
        if on_progress is not None:
            on_progress(file.url if file else "", result.stored)
        if file is not None:
            summary.file_results.append({"file": file.url, "bytes": file.size, "fast": False})
