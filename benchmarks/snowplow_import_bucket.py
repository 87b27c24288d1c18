"""Benchmark: `driftline import snowplow s3://...` of a gzip enriched TSV object.

    python benchmarks/snowplow_import_bucket.py [--events 200000] [--repeat 3]

Generates the same events as ``snowplow_import.py``, puts the gzip file into a bucket of
moto's S3 server (in this process, on loopback), then imports ``s3://enriched/good/`` into
fresh stores in-process, alternately through the fast path (the object copied into memory and
read whole by the store: the default) and the exact path (``fast=False``: the object read
block by block through s3fs and pyarrow, which is how every bucket object was imported
before the fast path took them). Also times the copy of the object into memory alone.
Prints events/s per run, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from snowplow_data import write_enriched

from driftline.snowplow.importer import _readable_copy, import_files, list_files
from driftline.store import DuckDBStore, GroupCommitWriter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.update(AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            source = write_enriched(root / "enriched.tsv.gz", args.events)
            s3 = boto3.client("s3", endpoint_url=endpoint)
            s3.create_bucket(Bucket="enriched")
            s3.upload_file(str(source), "enriched", "good/part-0.gz")
            size = source.stat().st_size
            print(f"{args.events:,} events, {size / 1e6:.1f} MB gzip in s3://enriched/good/")
            url = "s3://enriched/good/"
            [obj] = list_files(url)
            t0 = time.perf_counter()
            with _readable_copy(obj) as path:
                assert path is not None
            copy = time.perf_counter() - t0
            print(f"copy of the object into memory alone: {copy:.2f}s")
            results: dict[str, list[float]] = {"fast": [], "exact": []}
            cpus: dict[str, list[float]] = {}
            for run in range(args.repeat):
                for label in ("fast", "exact"):
                    store = DuckDBStore(root / f"{label}{run}")
                    store.create_project("default")
                    writer = GroupCommitWriter(store)
                    t0, c0 = time.perf_counter(), time.process_time()
                    summary = import_files(store, writer, url, 1, fast=label == "fast")
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                    writer.close()
                    store.close()
                    assert summary.events == args.events, summary
                    assert [f["fast"] for f in summary.file_results] == [label == "fast"]
                    results[label].append(args.events / wall)
                    cpus.setdefault(label, []).append(cpu)
                    print(f"{label}: {args.events / wall:,.0f} events/s ({wall:.2f}s, "
                          f"{cpu:.2f} CPU-s)", flush=True)  # fmt: skip
            fast, exact = (statistics.median(results[k]) for k in ("fast", "exact"))
            fcpu, ecpu = (statistics.median(cpus[k]) for k in ("fast", "exact"))
            print(f"medians of {args.repeat}: fast {fast:,.0f} events/s ({fcpu:.2f} CPU-s), "
                  f"exact {exact:,.0f} events/s ({ecpu:.2f} CPU-s); ratio {fast / exact:.2f} "
                  f"wall, {ecpu / fcpu:.2f} CPU")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()
