"""Benchmark: the Snowplow collector under wrk, from a second process on loopback.

    python benchmarks/snowplow_collector_wrk.py [--seconds 20] [--connections 64] [--runs 3]
        [--workers N] [--baseline-workers M] [--baseline-src /work/main/src]

For each run: a fresh data directory and a real ``driftline serve``; ``wrk`` (with
``benchmarks/snowplow_tp2.lua``) posts ``payload_data`` bodies of 10 tracker events each
(page views, structured events, link clicks with a ``web_page`` context, as the JavaScript
tracker sends them), every event with its own event id. A 200 arrives only after the events
are enriched and committed. After wrk stops the server is stopped and the store is opened to
check that it holds 10 events for each 200 (requests still in flight when wrk stopped may
have been committed too: the check allows them, no more).

In the same run, interleaved: ``GET /health`` under wrk (the HTTP ceiling of this machine),
and with ``--baseline-src`` the same load on another source tree (e.g. the main branch).
With ``--baseline-workers``, the same tree again with that many collector worker processes
(``driftline serve --collector-workers``; 0 = the server enriches alone). Prints per run:
events/s, CPU-seconds of the server and its workers and events per CPU-second, load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from snowplow_data import post_body, tracker_events  # noqa: E402

TP2 = "/com.snowplowanalytics.snowplow/tp2"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and every process it started (the
    collector's workers), from Linux /proc."""
    return sum(cpu_by_process(pid).values())


def cpu_by_process(pid: int) -> dict[int, float]:
    """User + system CPU time so far of ``pid`` and of each process it started, by pid."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        stats[int(entry.name)] = (int(fields[1]), ticks)
    out: dict[int, float] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        out[current] = stats.get(current, (0, 0.0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return out


def template() -> bytes:
    """A 10-event body whose event ids the Lua script replaces per request."""
    events = tracker_events(30)[:10]
    batch = [dict(e, eid=f"EID00000-0000-4000-8000-{i:012x}") for i, e in enumerate(events)]
    return post_body(batch)


def start(
    data_dir: Path, src: str | None, workers: int | None
) -> tuple[subprocess.Popen[bytes], str]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    cmd = [sys.executable, "-m", "driftline"]
    subprocess.run(
        [*cmd, "init", "--data-dir", str(data_dir)], check=True, capture_output=True, env=env
    )
    extra = [] if workers is None else ["--collector-workers", str(workers)]
    proc = subprocess.Popen(
        [*cmd, "serve", "--port", "0", "--data-dir", str(data_dir), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    info = data_dir / "server.json"
    for _ in range(300):
        if info.exists():
            try:
                return proc, json.loads(info.read_text())["url"]
            except (ValueError, KeyError):
                pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def wrk(
    url: str, seconds: float, connections: int, script: Path | None, env: dict[str, str]
) -> str:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    return subprocess.run(
        [*cmd, url], check=True, capture_output=True, text=True, env={**os.environ, **env}
    ).stdout


def requests_per_second(output: str) -> float:
    for line in output.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise ValueError(output)


def writer_counters(url: str) -> tuple[float, float]:
    """(commits, rows committed) so far, from the server's /metrics."""
    import urllib.request

    text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("driftline_writer_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return (
        values.get("driftline_writer_commits_total", 0.0),
        values.get("driftline_writer_rows_committed_total", 0.0),
    )


def latency(output: str, percentile: str) -> float:
    """A percentile of wrk's --latency distribution, in milliseconds."""
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == percentile:
            value = parts[1]
            for unit, scale in (("ms", 1.0), ("us", 1e-3), ("s", 1e3)):
                if value.endswith(unit):
                    return float(value[: -len(unit)]) * scale
    return float("nan")


def stored_events(data_dir: Path) -> tuple[int, int, int]:
    """(snowplow_events rows, driftline events, bad rows) in a stopped server's store."""
    import duckdb

    files = sorted(data_dir.glob("*.duckdb"))
    conn = duckdb.connect(str(files[0]), read_only=True)
    try:
        sp = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM snowplow_events"
        ).fetchone()
        ev = conn.execute("SELECT count(*) FROM events").fetchone()
        bad = conn.execute("SELECT count(*) FROM bad_rows").fetchone()
        assert sp is not None and ev is not None and bad is not None
        if sp[0] != sp[1]:
            raise SystemExit(f"duplicate event ids in snowplow_events: {sp}")
        return int(sp[0]), int(ev[0]), int(bad[0])
    finally:
        conn.close()


def run_once(
    label: str,
    src: str | None,
    workers: int | None,
    args: argparse.Namespace,
    template_path: Path,
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        proc, url = start(data_dir, src, workers)
        counts = Path(tmp) / "counts.txt"
        try:
            env = {"SP_TEMPLATE": str(template_path), "SP_COUNTS": str(counts)}
            wrk(
                url + TP2, 2, 8, HERE / "snowplow_tp2.lua", {**env, "SP_RUN": "1"}
            )  # warm-up: caches, first commit
            warm = _counts(counts)
            health = requests_per_second(wrk(url + "/health", 5, args.connections, None, {}))
            load0 = os.getloadavg()[0]
            commits0 = writer_counters(url)
            by0 = cpu_by_process(proc.pid)
            t0 = time.perf_counter()
            env["SP_RUN"] = "2"
            out = wrk(url + TP2, args.seconds, args.connections, HERE / "snowplow_tp2.lua", env)
            wall = time.perf_counter() - t0
            by1 = cpu_by_process(proc.pid)
            commits1 = writer_counters(url)
            cpu = sum(by1.values()) - sum(by0.values())
            server_cpu = by1[proc.pid] - by0.get(proc.pid, 0.0)
            load1 = os.getloadavg()[0]
        finally:
            proc.terminate()
            proc.wait(120)
        answered = _counts(counts)
        ok, sent = answered.pop("200", 0), answered.pop("sent")
        sp, ev, bad = stored_events(data_dir)
    rps = requests_per_second(out)
    commits = commits1[0] - commits0[0]
    per_commit = (commits1[1] - commits0[1]) / commits if commits else 0.0
    p50, p99 = latency(out, "50%"), latency(out, "99%")
    low, high = 10 * (warm.get("200", 0) + ok), 10 * (warm["sent"] + sent)
    if not (low <= sp <= high and sp == ev and bad == 0 and not answered):
        raise SystemExit(
            f"{label}: store check failed: {sp} snowplow events, {ev} events, {bad} bad rows; "
            f"expected {low}..{high} (10 per 200 answer, plus requests in flight at the end); "
            f"answers other than 200: {answered}"
        )
    result = {
        "events_per_s": rps * 10,
        "health_rps": health,
        "cpu": cpu,
        "wall": wall,
        "events_per_cpu_s": ok * 10 / cpu if cpu else 0.0,
        "load": (load0 + load1) / 2,
        "rows_per_commit": per_commit,
        "p50_ms": p50,
        "p99_ms": p99,
    }
    print(
        f"{label}: {rps * 10:,.0f} events/s ({rps:,.0f} requests/s; {ok:,} answered 200, "
        f"sent {sent:,}); /health {health:,.0f} req/s (ratio {rps / health:.2f}); server CPU "
        f"{cpu:.1f}s in {wall:.1f}s = {ok * 10 / max(cpu, 1e-9):,.0f} events per CPU-second; "
        f"load {load0:.1f}->{load1:.1f}; stored {sp:,} snowplow events, {ev:,} events, "
        f"{bad} bad rows (10 x 200s incl. warm-up = {low:,}; in flight at the end: {(sp - low) // 10}); "
        f"CPU per event: server {server_cpu / max(ok * 10, 1) * 1e6:.0f} us, its workers "
        f"{(cpu - server_cpu) / max(ok * 10, 1) * 1e6:.0f} us; {commits:.0f} commits of "
        f"{per_commit:,.0f} rows on average; latency p50 {p50:.0f} ms, p99 {p99:.0f} ms",
        flush=True,
    )
    return result


def _counts(path: Path) -> dict[str, int]:
    """The Lua script's tally: ``sent`` and answers per status."""
    pairs = (line.split() for line in path.read_text().splitlines() if line)
    return {key: int(value) for key, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-src", default=None, help="another source tree to compare")
    parser.add_argument(
        "--workers", type=int, default=None, help="--collector-workers (default: serve's)"
    )
    parser.add_argument(
        "--baseline-workers",
        type=int,
        default=None,
        help="also run this tree with this many collector workers, alternately",
    )
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".json") as tf:
        tf.write(template())
        tf.flush()
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.runs):
            plan: list[tuple[str, str | None, int | None]] = [("this tree", None, args.workers)]
            if args.baseline_workers is not None:
                plan.append((f"{args.baseline_workers} workers", None, args.baseline_workers))
            if args.baseline_src:
                plan.append(("baseline", args.baseline_src, None))
            for label, src, workers in plan:
                results.setdefault(label, []).append(
                    run_once(label, src, workers, args, Path(tf.name))
                )
        for label, runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(
                f"median {label} ({len(runs)} runs): {med['events_per_s']:,.0f} events/s, "
                f"{med['events_per_cpu_s']:,.0f} events per server CPU-second, /health "
                f"{med['health_rps']:,.0f} req/s, {med['rows_per_commit']:,.0f} rows per "
                f"commit, latency p50 {med['p50_ms']:.0f} ms p99 {med['p99_ms']:.0f} ms, "
                f"load {med['load']:.1f}"
            )


if __name__ == "__main__":
    main()
