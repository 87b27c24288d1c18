"""Benchmark: /track and /import under load from wrk (a C load generator) on loopback.

    python benchmarks/ingest_wrk.py [--mode track|import|both] [--seconds 10] [--runs 3]
                                    [--track-connections 32] [--import-connections 8]

Needs ``wrk`` on the PATH: ``apt-get install -y wrk`` (Debian/Ubuntu package ``wrk``;
elsewhere build it from https://github.com/wg/wrk). wrk uses a fraction of the CPU the
Python generator in ``ingest_http_load.py`` (still used by ``ingest_track.py`` and
``ingest_import.py``) needs for the same load, which leaves the server the cores it is
measured on.

The Lua scripts in ``benchmarks/wrk/`` build every request as the real clients do:

* ``/track``: mixpanel-browser's POST ``/track/?verbose=1&ip=1`` with the form body
  ``data=<base64 JSON>`` holding one event with a unique ``$insert_id``;
* ``/import``: 2000-event JSON batches (``strict=1``), Basic auth with the project secret
  as the import API and the SDKs send it, every event with a unique ``$insert_id``.

Every response is counted by status (anything but 200 is reported). Each run sends for
``--seconds`` and then lets every request in flight finish (a script sends nothing after its
window), so the events stored must equal the 200 responses times the events per request:
after the runs the server is stopped and the store is counted (total and distinct insert
ids). Baseline, interleaved after each run with the same client: ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from ingest_http_load import Server, cpu_seconds, driftline_server, load_average, profiled
from ingest_import import BATCH, template

SCRIPTS = Path(__file__).resolve().parent / "wrk"
# after its window a script sends nothing; wrk runs this much longer so that every request in
# flight is answered (less than uvicorn's 5 s keep-alive timeout, which would close the idle
# connections and count as read errors)
GRACE = {"track": 2, "import": 4, "healthz": 2}


@dataclass
class WrkRun:
    kind: str
    connections: int
    window: float
    statuses: dict[int, int]
    sent: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float
    client_cpu: float
    load: str

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    @property
    def not_ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != 200)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    server: Server,
    kind: str,
    script_args: list[str],
    *,
    connections: int,
    window: float,
    threads: int = 1,
) -> WrkRun:
    """Run one wrk script for ``window`` seconds (+ the time to answer what is in flight)."""
    duration = int(window) + GRACE[kind]
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(SCRIPTS / f"{kind}.lua"),
        server.url,
        "--",
        *script_args,
        str(window),
    ]
    load = load_average()
    cpu0, client0 = cpu_seconds(server.process.pid), _children_cpu()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu, client = cpu_seconds(server.process.pid) - cpu0, _children_cpu() - client0
    line = next(x for x in out.splitlines() if x.startswith("WRKRESULT "))
    doc = json.loads(line.removeprefix("WRKRESULT "))
    if doc["socket_errors"] or doc["sent"] != sum(doc["statuses"].values()):
        raise RuntimeError(f"{doc['sent']} requests sent but {doc['statuses']} answered:\n{out}")
    return WrkRun(
        kind,
        connections,
        window,
        {int(k): v for k, v in doc["statuses"].items()},
        doc["sent"],
        doc["last_answer"] - doc["first_sent"],
        doc["p50_us"] / 1000,
        doc["p99_us"] / 1000,
        cpu,
        client,
        load,
    )


def stored_events(data_dir: Path) -> tuple[int, int]:
    """Events in the stopped server's store: total and distinct insert ids."""
    con = duckdb.connect(str(data_dir / "store.duckdb"), read_only=True)
    try:
        total, distinct = con.execute(
            "SELECT count(*), count(DISTINCT insert_id) FROM events"
        ).fetchone() or (0, 0)
    finally:
        con.close()
    return int(total), int(distinct)


def describe(run: WrkRun, per_request: int) -> str:
    unit = "events" if per_request > 1 else "requests"
    rate = run.rate * per_request
    work = max(run.ok * per_request, 1)
    return (
        f"{run.kind:8s} c={run.connections:<3d} {run.ok:>7,d} OK"
        + (f" ({run.not_ok} not OK: {run.statuses})" if run.not_ok else "")
        + f" in {run.seconds:5.2f} s: {rate:>9,.0f} {unit}/s, "
        f"p50 {run.p50_ms:7.1f} ms, p99 {run.p99_ms:7.1f} ms | server CPU {run.server_cpu:5.1f} s "
        f"({run.server_cpu / run.seconds:.2f} cores, {run.server_cpu * 1e6 / work:7.1f} ms per 1000 "
        f"{unit}) | wrk CPU {run.client_cpu:.1f} s | load {run.load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--mode", choices=["track", "import", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--track-connections", type=int, default=32)
    parser.add_argument("--import-connections", type=int, default=8)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="py-spy raw profiles of the first runs (FILE.track, FILE.import)",
    )
    args = parser.parse_args()
    kinds = ["track", "import"] if args.mode == "both" else [args.mode]
    per_request = {"track": 1, "import": BATCH, "healthz": 0}
    with tempfile.TemporaryDirectory() as tmp, driftline_server() as server:
        batch = Path(tmp) / "batch.json"
        batch.write_bytes(template(time.time()))
        auth = "Basic " + __import__("base64").b64encode(f"{server.secret}:".encode()).decode()
        script_args = {"track": [server.token], "import": [str(batch), auth], "healthz": []}
        conns = {"track": args.track_connections, "import": args.import_connections}
        runs: list[WrkRun] = []
        for kind in kinds:  # warm-up, counted in the stored-events check
            runs.append(run_wrk(server, kind, script_args[kind], connections=conns[kind], window=3))
        for n in range(args.runs):
            for kind in kinds:
                # the first run of each kind is profiled (without its baseline) if asked
                svg = f"{args.profile}.{kind}" if args.profile and n == 0 else None
                with profiled(server.process.pid, svg):
                    run = run_wrk(
                        server,
                        kind,
                        script_args[kind],
                        connections=conns[kind],
                        window=args.seconds,
                    )
                runs.append(run)
                print(describe(run, per_request[kind]), flush=True)
                base = run_wrk(
                    server, "healthz", [], connections=conns[kind], window=args.seconds / 2
                )
                runs.append(base)
                print(describe(base, 1), flush=True)
        server.stop()
        total, distinct = stored_events(server.data_dir)
    expected = sum(r.ok * per_request[r.kind] for r in runs)
    verdict = "OK" if total == distinct == expected else "MISMATCH"
    print(
        f"store check: {total:,} events stored, {distinct:,} distinct insert ids, "
        f"200 responses x events per request = {expected:,}: {verdict}"
    )
    print("\nmedians:")
    for kind in kinds:
        mine = [r for r in runs[len(kinds) :] if r.kind == kind]
        bases = [
            r for r in runs[len(kinds) :] if r.kind == "healthz" and r.connections == conns[kind]
        ]
        rate = median(r.rate for r in mine) * per_request[kind]
        cpu = median(r.server_cpu * 1e6 / max(r.ok * per_request[kind], 1) for r in mine)
        base_rate = median(r.rate for r in bases)
        print(
            f"  {kind}: {rate:,.0f} {'events' if per_request[kind] > 1 else 'requests'}/s, "
            f"p50 {median(r.p50_ms for r in mine):.1f} ms, p99 {median(r.p99_ms for r in mine):.1f} ms, "
            f"server {median(r.server_cpu / r.seconds for r in mine):.2f} cores, "
            f"{cpu:.1f} ms CPU per 1000 {'events' if per_request[kind] > 1 else 'requests'}; "
            f"baseline GET /healthz {base_rate:,.0f} requests/s "
            f"({median(r.server_cpu * 1e6 / max(r.ok, 1) for r in bases):.1f} ms CPU per 1000), "
            f"p50 {median(r.p50_ms for r in bases):.1f} ms"
        )
    if verdict != "OK":
        sys.exit(1)


if __name__ == "__main__":
    main()
