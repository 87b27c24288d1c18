"""Read event files (NDJSON, JSON array, CSV; plain or gzip) as chunks of raw records.

Each chunk is an Arrow table ``(idx, rec)``: ``idx`` is the 1-based line number (NDJSON,
CSV) or record number (JSON array) that errors point at, ``rec`` the record's JSON text in
Mixpanel's event shape. Chunks go to :func:`driftline.ingest.normalize.normalize_records`.
Parsing is columnar: pyarrow's multi-threaded reader splits NDJSON into lines, DuckDB's
readers parse JSON arrays and CSV.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from driftline.errors import InvalidInput

FileFormat = Literal["ndjson", "json", "csv"]
FORMATS: tuple[str, ...] = ("ndjson", "json", "csv")

_BLOCK = 16 << 20


def detect_format(path: Path) -> FileFormat:
    """Guess the format from the name; ``.json`` files are sniffed (array or NDJSON)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".ndjson", ".jsonl")):
        return "ndjson"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".json"):
        return "json" if _first_char(path) == "[" else "ndjson"
    raise InvalidInput(
        f"{path}: cannot tell the format from the file name; pass --format ndjson, json or csv",
        field="format",
    )


def _first_char(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head[:1].decode("ascii", "replace")


def iter_raw_chunks(
    path: Path, fmt: str | None = None, chunk_rows: int = 250_000
) -> Iterator[pa.Table]:
    """Yield ``(idx, rec)`` tables of at most about ``chunk_rows`` records."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file", field="file")
    if not path.is_file():
        raise InvalidInput(f"{path}: not a file", field="file")
    chosen = fmt or detect_format(path)
    if chosen not in FORMATS:
        raise InvalidInput(
            f"unknown format {chosen!r}; use one of: {', '.join(FORMATS)}", field="format"
        )
    if chosen == "ndjson":
        yield from _ndjson_chunks(path, chunk_rows)
    elif chosen == "json":
        yield from _duckdb_chunks(path, _json_array_sql(path), chunk_rows, "a JSON array of events")
    else:
        yield from _duckdb_chunks(path, _csv_sql(path), chunk_rows, "CSV")


def _ndjson_chunks(path: Path, chunk_rows: int) -> Iterator[pa.Table]:
    read = pacsv.ReadOptions(column_names=["rec"], block_size=_BLOCK)
    parse = pacsv.ParseOptions(
        delimiter="\x01",  # never in valid JSON text unescaped: each line is one field
        quote_char=False,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=False,
        invalid_row_handler=_bad_line,
    )
    convert = pacsv.ConvertOptions(
        column_types={"rec": pa.string()},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        stream = pa.input_stream(str(path), compression="detect")
        reader = pacsv.open_csv(
            stream, read_options=read, parse_options=parse, convert_options=convert
        )
    except pa.ArrowInvalid as exc:
        if "empty" in str(exc).lower():
            return
        raise InvalidInput(
            f"{path}: cannot read as NDJSON ({_first_line(exc)})", field="file"
        ) from None
    line = 1
    pending: list[pa.Table] = []
    pending_rows = 0
    try:
        for batch in reader:
            n = batch.num_rows
            idx = pa.array(np.arange(line, line + n, dtype=np.int64))
            line += n
            recs = batch.column(0)
            table = pa.table({"idx": idx, "rec": recs})
            # blank lines (and whitespace-only ones) are skipped, not errors
            table = table.filter(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(recs)), 0))
            pending.append(table)
            pending_rows += table.num_rows
            if pending_rows >= chunk_rows:
                yield pa.concat_tables(pending)
                pending, pending_rows = [], 0
    except pa.ArrowInvalid as exc:
        raise InvalidInput(
            f"{path}: cannot read as NDJSON ({_first_line(exc)})", field="file"
        ) from None
    if pending:
        yield pa.concat_tables(pending)


def _bad_line(row: pacsv.InvalidRow) -> str:
    # A raw \x01 byte can only occur in an invalid JSON line; keep it so that it is reported.
    return "error"


def _json_array_sql(path: Path) -> str:
    return f"SELECT row_number() OVER () AS idx, CAST(json AS VARCHAR) AS rec FROM read_json_objects({_lit(path)}, format = 'array')"


def _csv_sql(path: Path) -> str:
    # Every column but `event` becomes a property with its type as DuckDB sniffs it; line
    # numbers count the header line.
    return f"""
        SELECT row_number() OVER () + 1 AS idx,
               CAST(json_object('event', t."event",
                    'properties', json_merge_patch(to_json(t), '{{"event": null}}')) AS VARCHAR) AS rec
        FROM read_csv({_lit(path)}, header = true, all_varchar = false) t
    """


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _duckdb_chunks(path: Path, sql: str, chunk_rows: int, what: str) -> Iterator[pa.Table]:
    conn = duckdb.connect(config={"threads": "2", "autoinstall_known_extensions": "false"})
    conn.execute("SET TimeZone = 'UTC'")
    try:
        reader = conn.sql(sql).to_arrow_reader(chunk_rows)
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= chunk_rows:
                yield pa.Table.from_batches(pending).cast(
                    pa.schema([("idx", pa.int64()), ("rec", pa.string())])
                )
                pending, rows = [], 0
        if pending:
            yield pa.Table.from_batches(pending).cast(
                pa.schema([("idx", pa.int64()), ("rec", pa.string())])
            )
    except duckdb.BinderException as exc:
        if '"event"' in str(exc) or "event" in str(exc):
            raise InvalidInput(
                f"{path}: the CSV has no `event` column (it names each event)", field="event"
            ) from None
        raise InvalidInput(
            f"{path}: cannot read as {what} ({_first_line(exc)})", field="file"
        ) from None
    except duckdb.Error as exc:
        raise InvalidInput(
            f"{path}: cannot read as {what} ({_first_line(exc)})", field="file"
        ) from None
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
