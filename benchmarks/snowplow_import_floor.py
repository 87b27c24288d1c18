"""What the pieces of a Snowplow enriched-TSV import cost on this machine, each alone.

    python benchmarks/snowplow_import_floor.py [--events 200000]

Generates the gzip enriched TSV file of ``snowplow_import.py`` and times, one by one, with
process CPU: decompressing it (zlib, and ISA-L when the ``isal`` package is installed),
pyarrow's CSV reader splitting the text into 131 text columns (its threads), DuckDB storing
those 131 text columns from Arrow into a table (no casts, no events) and DuckDB's own
``read_csv`` counting the lines of the gzip file. None of them is an import; together they
are the floor under one.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from snowplow_data import write_enriched

WIDTH = 131


def timed(label: str, events: int, run: Callable[[], Any]) -> Any:
    cpu, wall = time.process_time(), time.perf_counter()
    result = run()
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    print(f"{label:48s} wall {wall:5.2f}s  CPU {cpu:5.2f}s  = {events / wall:>10,.0f} events/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory() as tmp:
        source = write_enriched(Path(tmp) / "enriched.tsv.gz", n)
        packed = Path(source).read_bytes()
        text = timed("gzip decompress (zlib)", n, lambda: gzip.decompress(packed))
        try:
            from isal import igzip

            timed("gzip decompress (ISA-L)", n, lambda: igzip.decompress(packed))
        except ImportError:
            print("gzip decompress (ISA-L): the isal package is not installed")
        names = [f"c{i}" for i in range(WIDTH)]
        table = timed(
            "pyarrow CSV reader: 131 text columns",
            n,
            lambda: pacsv.read_csv(
                pa.BufferReader(text),
                read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
                parse_options=pacsv.ParseOptions(
                    delimiter="\t", quote_char=False, escape_char=False
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
                ),
            ),
        )
        conn = duckdb.connect(str(Path(tmp) / "floor.duckdb"), config={"threads": "2"})
        conn.register("split", table)
        timed(
            "DuckDB: store the 131 text columns from Arrow",
            n,
            lambda: conn.execute("CREATE TABLE plain AS SELECT * FROM split"),
        )
        columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(WIDTH))
        timed(
            "DuckDB read_csv of the gzip file: count lines",
            n,
            lambda: conn.execute(
                f"SELECT count(*) FROM read_csv('{source}', delim='\\t', quote='', "
                f"escape='', header=false, columns={{{columns}}})"
            ).fetchall(),
        )
        conn.close()


if __name__ == "__main__":
    main()
