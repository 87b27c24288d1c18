"""Parse and validate a lookup table CSV (``PUT /lookup-tables/{id}``).

Rules, as Mixpanel's Lookup Tables API has them: RFC 4180 CSV; the first row is a header of
unique names; the first column is the row id (the join key): never blank, unique. Values are
typed cell by cell: integers and decimals become numbers, ``true``/``false`` (any case)
booleans, RFC 3339 timestamps datetimes (stored as ``YYYY-MM-DDTHH:MM:SS`` UTC), a JSON list
(``["Free","Paid"]``) a list, an empty field is left out, anything else is a string.

The table is replaced whole or not at all: any invalid row rejects the upload, and the
error lists the first 10 invalid rows (``index`` 1 is the first row after the header).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlglot import exp

from driftline.errors import InvalidInput

MAX_REPORTED = 10
MAX_LOOKUP_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class RowError:
    index: int
    message: str


class LookupTableInvalid(InvalidInput):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("Some data points in the request failed validation.")
        self.errors = errors[:MAX_REPORTED]


_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"
_INTEGER = r"-?(0|[1-9][0-9]{0,17})"
_RFC3339 = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"


def _typed(column: str) -> str:
    c = exp.to_identifier(column, quoted=True).sql("duckdb")
    return f"""CASE
      WHEN {c} IS NULL OR {c} = '' THEN NULL
      WHEN regexp_full_match({c}, '{_INTEGER}') THEN to_json(CAST({c} AS BIGINT))
      WHEN regexp_full_match({c}, '{_NUMBER}') AND isfinite(TRY_CAST({c} AS DOUBLE))
        THEN to_json(CAST({c} AS DOUBLE))
      WHEN lower({c}) IN ('true', 'false') THEN to_json(lower({c}) = 'true')
      WHEN regexp_full_match({c}, '{_RFC3339}') AND TRY_CAST({c} AS TIMESTAMPTZ) IS NOT NULL
        THEN to_json(strftime(timezone('UTC', CAST({c} AS TIMESTAMPTZ)), '%Y-%m-%dT%H:%M:%S'))
      WHEN starts_with({c}, '[') AND json_valid({c}) AND json_type({c}) = 'ARRAY'
        THEN CAST({c} AS JSON)
      ELSE to_json({c})
    END"""


def parse_lookup_csv(data: bytes) -> pa.Table:
    """``(row_id, properties)`` rows of a lookup table CSV; raises :class:`LookupTableInvalid`."""
    if not data.strip():
        raise InvalidInput("the CSV is empty; send a header row and at least one row", field="body")
    bad_rows: list[RowError] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        if len(bad_rows) < MAX_REPORTED and row.number is not None:
            bad_rows.append(RowError(row.number - 1, "invalid row: wrong number of fields"))
        elif row.number is None:
            bad_rows.append(RowError(-1, "invalid row: wrong number of fields"))
        return "skip"

    try:
        header = _header(data)
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"the body is not valid CSV: {exc}", field="body") from None
    if table.num_rows == 0 and not bad_rows:
        raise InvalidInput("the CSV has a header but no rows", field="body")
    return _to_rows(table, header, bad_rows)


def _header(data: bytes) -> list[str]:
    import csv

    first = re.split(rb"\r\n|\n|\r", data, maxsplit=1)[0]
    try:
        text = first.decode("utf-8-sig")
        names = next(csv.reader([text]), [])
    except UnicodeDecodeError:
        raise InvalidInput("the CSV is not UTF-8 text", field="body") from None
    except csv.Error as exc:
        raise InvalidInput(f"the header row is not valid CSV: {exc}", field="header") from None
    if not names or any(not n.strip() for n in names):
        raise InvalidInput("the header row must name every column", field="header")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"the header names column {name!r} twice", field="header")
        seen.add(name)
    return names


def _to_rows(table: pa.Table, header: list[str], bad_rows: list[RowError]) -> pa.Table:
    key = exp.to_identifier(header[0], quoted=True).sql("duckdb")
    pairs = ", ".join(
        f"{exp.Literal.string(name).sql('duckdb')}, {_typed(name)}" for name in header[1:]
    )
    props = f"json_merge_patch('{{}}', json_object({pairs}))" if pairs else "'{}'"
    conn = duckdb.connect(config={"threads": "2"})
    try:
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("csv", table.append_column("_n", pa.array(range(1, table.num_rows + 1))))
        problems = conn.sql(
            f"""SELECT _n, CASE WHEN {key} = '' OR {key} IS NULL
                                THEN 'primary key is required and cannot be blank'
                           ELSE 'invalid row: row indexes ' || first_n || ' and ' || _n
                                || ' have the same primary key' END
                FROM (SELECT _n, {key}, min(_n) OVER (PARTITION BY {key}) AS first_n FROM csv)
                WHERE {key} = '' OR {key} IS NULL OR first_n <> _n
                ORDER BY _n LIMIT {MAX_REPORTED}"""
        ).fetchall()
        if bad_rows or problems:
            # pyarrow numbers the rows it skips by file line; other checks by kept row
            errors = sorted(
                [*bad_rows, *(RowError(int(n), msg) for n, msg in problems)],
                key=lambda e: e.index,
            )
            raise LookupTableInvalid(errors)
        return conn.sql(
            f"SELECT CAST({key} AS VARCHAR) AS row_id, CAST({props} AS VARCHAR) AS properties "
            "FROM csv"
        ).to_arrow_table()
    finally:
        conn.close()
