"""Pipeline export throughput: N events from the store to gzip NDJSON (local disk, S3) or
into PostgreSQL, through the real engine (backfill of history, chunked), in events/s.

Usage:
  python benchmarks/pipelines_export.py --events 5000000 --target file
  python benchmarks/pipelines_export.py --events 5000000 --target s3     (starts moto_server)
  python benchmarks/pipelines_export.py --events 5000000 --target postgres \
      --postgres postgresql://postgres@127.0.0.1:5432/postgres
  add --baseline to also time, in the same run, DuckDB's own single-stream gzip NDJSON COPY
  of the same events (file, s3), or the previous PostgreSQL path, CSV through psycopg's COPY
  (postgres).

Besides wall time, each run reports the CPU seconds of this process and of the server it
writes to (moto_server's process; the PostgreSQL backends of this run's connections), since
the machine is shared and the wall clock depends on everyone's load.

The store is built once in --work (default /tmp/driftline-bench-pipelines) and reused.
Events: 8 names, 100k users, spread over 30 days, 6 properties + the reserved ones (~390 bytes
of JSON per event).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import time
import uuid
from pathlib import Path

import duckdb

from driftline.model import EVENT_SCHEMA
from driftline.pipelines.engine import PipelineEngine
from driftline.pipelines.spec import parse_spec
from driftline.store import AppendEvents, DuckDBStore, GroupCommitWriter

START = dt.datetime(2026, 10, 1)
SPAN_MS = 30 * 86_400_000


def _events(n: int, offset: int):  # type: ignore[no-untyped-def]
    start_ms = int(START.replace(tzinfo=dt.UTC).timestamp() * 1000)
    conn = duckdb.connect()
    table = conn.sql(
        f"""
        SELECT 1::INTEGER AS project_id,
          (['Sign Up','Log In','View Page','Search','Add To Cart','Purchase','Invite Sent','Upgrade Plan'])[1 + (i % 8)] AS event,
          make_timestamp_ms(({start_ms} + (i * 7919) % {SPAN_MS})::BIGINT) AS time,
          'user-' || (i * 31 % 100000) AS distinct_id,
          'dev-' || (i * 31 % 100000) AS device_id,
          'user-' || (i * 31 % 100000) AS user_id,
          md5(CAST(i AS VARCHAR))[1:32] AS insert_id,
          to_json({{'time': ({start_ms} + (i * 7919) % {SPAN_MS}) // 1000,
                   'distinct_id': 'user-' || (i * 31 % 100000), '$insert_id': md5(CAST(i AS VARCHAR))[1:32],
                   'plan': (['free','team','business'])[1 + (i % 3)],
                   'country': (['US','DE','FR','GB','IN','BR','JP'])[1 + (i % 7)],
                   'price': round((i % 20000) / 100.0, 2), 'items': (i % 5)::INTEGER,
                   '$browser': (['Chrome','Firefox','Safari','Edge'])[1 + (i % 4)],
                   '$current_url': 'https://app.example.com/p/' || (i % 977), 'token': 'abc'}})::VARCHAR AS properties,
          'import' AS origin, NULL::VARCHAR AS origin_key
        FROM range({offset}, {offset + n}) t(i)"""
    ).to_arrow_table()
    return table.cast(EVENT_SCHEMA)


def build_store(work: Path, events: int) -> Path:
    data = work / f"store-{events}"
    marker = data / "built"
    if marker.exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    store = DuckDBStore(data)
    store.create_project("bench")
    step = 1_000_000
    for offset in range(0, events, step):
        store.apply([AppendEvents(_events(min(step, events - offset), offset))])
    store.close()
    marker.write_text("ok")
    return data


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of another process; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCPU:
    """CPU of the PostgreSQL backends whose application_name is ``name``, sampled while
    they live (a backend's CPU is lost from /proc when it exits)."""

    def __init__(self, dsn: str, name: str) -> None:
        import threading

        self.dsn, self.name = dsn, name
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.wait(0.1):
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [self.name]
                ).fetchall()
                for (pid,) in rows:
                    self.seen[pid] = max(self.seen.get(pid, 0.0), proc_cpu(pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.seen.values())


def csv_copy_append(self, table, data, json_columns):  # type: ignore[no-untyped-def]
    """The previous PostgreSQL path (baseline): CSV rendered by Arrow, psycopg's COPY."""
    import io

    import pyarrow.csv as pacsv

    target = f'"{self.schema}"."{table}"'
    cols = ", ".join(f'"{c}"' for c in data.column_names)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with (
        self.conn.cursor() as cur,
        cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv)") as copy,
    ):
        for offset in range(0, data.num_rows, 100_000):
            sink = io.BytesIO()
            pacsv.write_csv(data.slice(offset, 100_000), sink, options)
            copy.write(sink.getbuffer())


def run_export(data: Path, url: str, threads: int) -> tuple[float, float, int]:
    store = DuckDBStore(data)
    writer = GroupCommitWriter(store)
    try:
        engine = PipelineEngine(store, writer, threads=threads)
        project = store.get_project(1)
        name = f"bench-{uuid.uuid4().hex[:6]}"
        engine.add(project, parse_spec(name, url, "events", "daily"))
        started, cpu = time.perf_counter(), _cpu()
        result = engine.run(project, name)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        engine.delete(project, name)
        return seconds, cpu, int(result["events_exported"])
    finally:
        writer.close()
        store.close()


def baseline(data: Path, out: Path) -> float:
    """DuckDB's own gzip NDJSON COPY partitioned by day: one zlib stream."""
    conn = duckdb.connect(str(data / "store.duckdb"), read_only=True, config={"threads": "2"})
    started, cpu = time.perf_counter(), _cpu()
    conn.execute(
        f"""COPY (SELECT event, time, distinct_id, insert_id, properties, strftime(time, '%Y-%m-%d') AS day
                 FROM events) TO '{out}' (FORMAT JSON, COMPRESSION gzip, PARTITION_BY (day), OVERWRITE)"""
    )
    seconds = time.perf_counter() - started
    print(f"baseline CPU: {_cpu() - cpu:.1f} CPU-s")
    conn.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--target", choices=["file", "s3", "postgres"], default="file")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/driftline-bench-pipelines"))
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = build_store(args.work, args.events)
    print(f"store ready in {time.perf_counter() - t0:.1f}s: {data}")
    server = None
    if args.target == "s3":
        # moto's S3 server in its own process, as a remote S3 would be
        import socket
        import subprocess
        import sys

        import boto3

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        exe = str(Path(sys.executable).with_name("moto_server"))
        server = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}"
        for key, value in (
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL_S3", endpoint),
        ):
            os.environ[key] = value
        for _ in range(100):
            try:
                boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.2)
    times = []
    server_cpu = (lambda: proc_cpu(server.pid)) if server is not None else (lambda: 0.0)
    for i in range(args.repeat):
        if args.target == "file":
            out = args.work / f"out-{i}"
            shutil.rmtree(out, ignore_errors=True)
            url = f"file://{out}"
        elif args.target == "s3":
            url = f"s3://bench/run-{i}"
        else:
            schema = f"dl_pipelines_bench_{uuid.uuid4().hex[:6]}"
            url = f"{args.postgres}?schema={schema}"
        before, backends = server_cpu(), None
        if args.target == "postgres":
            url += "&application_name=dlbench"
            backends = BackendCPU(args.postgres, "dlbench")
        seconds, cpu, exported = run_export(data, url, args.threads)
        other = backends.stop() if backends is not None else server_cpu() - before
        if args.target == "postgres":
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        times.append(seconds)
        print(
            f"run {i + 1}: {exported:,} events in {seconds:.2f}s = {exported / seconds:,.0f} events/s; "
            f"{cpu:.1f} CPU-s in this process, {other:.1f} CPU-s in the server "
            f"({exported / ((cpu + other) / 2):,.0f} events/s if both had both cores); "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    median = statistics.median(times)
    print(f"median: {args.events / median:,.0f} events/s ({median:.2f}s) target={args.target}")
    if args.baseline and args.target == "postgres":
        from driftline.pipelines.destinations.postgres.client import PostgresWarehouse

        PostgresWarehouse.binary_copy = False
        PostgresWarehouse.append = csv_copy_append  # type: ignore[method-assign]
        # one COPY per 250,000-row batch, as that path did (no streamed load)
        PostgresWarehouse.append_stream = None  # type: ignore[assignment,method-assign]
        schema = f"dl_pipelines_bench_{uuid.uuid4().hex[:6]}"
        backends = BackendCPU(args.postgres, "dlbench")
        seconds, cpu, _ = run_export(
            data, f"{args.postgres}?schema={schema}&application_name=dlbench", args.threads
        )
        other = backends.stop()
        import psycopg

        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        print(
            f"baseline CSV COPY (previous path): {args.events / seconds:,.0f} events/s ({seconds:.2f}s), "
            f"{cpu:.1f} CPU-s in this process, {other:.1f} CPU-s in the server; "
            f"ratio {seconds / median:.2f}x; load {os.getloadavg()[0]:.1f}"
        )
    elif args.baseline:
        out = args.work / "baseline"
        shutil.rmtree(out, ignore_errors=True)
        seconds = baseline(data, out)
        print(
            f"baseline DuckDB COPY gzip NDJSON: {args.events / seconds:,.0f} events/s ({seconds:.2f}s); "
            f"ratio {seconds / median:.2f}x; load {os.getloadavg()[0]:.1f}"
        )
    print(f"load average: {os.getloadavg()}")
    if server is not None:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
