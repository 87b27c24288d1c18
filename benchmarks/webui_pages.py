"""Server time of each web UI page on the demo dataset (default 1,000,000 events).

Usage: python benchmarks/webui_pages.py [DATA_DIR] [--events 1000000] [--runs 5]

Loads the demo data into DATA_DIR once (``demo.load``, seed 42, ending yesterday), then
renders every main page in-process (the app with its store, no network) ``--runs`` times
after one warm-up, with the form caches (event and property names) emptied before each
request so every run pays for its queries. Reports the median wall time and the process CPU
time per page and, as the baseline measured in the same run, the report API call that the
page wraps (``/api/query/...``), with the load average.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import statistics
import time
from pathlib import Path

from fastapi.testclient import TestClient

from driftline.config import load_settings
from driftline.server import create_app, ops
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.web import catalog

FUNNEL = "/funnels?step=Sign+Up&step=Purchase&range=last_month&window=7&window_unit=days&by=plan"
PAGES = [
    ("Insights (default: top event, 30 days by day)", "/insights", None),
    ("Insights: Purchase by plan, 90 days by week", "/insights?event=Purchase&range=90d&unit=week&on=plan",
     "/api/query/segmentation?event=Purchase&unit=week&on=plan&from_date={d90}&to_date={today}"),
    ("Funnels: Sign Up → Purchase, last month, 7 days, by plan", FUNNEL,
     '/api/query/funnels?events=["Sign Up","Purchase"]&from_date={lm0}&to_date={lm1}&length=7&on=plan'),
    ("Retention: Sign Up cohorts, 90 days by week", "/retention",
     "/api/query/retention?born_event=Sign Up&from_date={d90}&to_date={today}&unit=week&interval_count=8"),
    ("Events browser", "/data/events", None),
    ("Properties of Purchase", "/data/events?event=Purchase", None),
    ("Profiles", "/data/profiles", None),
    ("Profiles filtered", '/data/profiles?where=plan+%3D+"business"', None),
    ("Live view", "/data/live", None),
    ("Warehouses", "/connections/warehouses", None),
    ("Syncs", "/connections/syncs", None),
    ("Pipelines", "/connections/pipelines", None),
    ("Bad rows", "/connections/bad-rows", None),
]  # fmt: skip


def load(data_dir: Path, events: int) -> None:
    with DuckDBStore(data_dir) as store:
        if not store.list_projects():
            store.create_project("default")
        if store.count_events(1) >= events:
            return
        writer = GroupCommitWriter(store)
        end = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
        t0 = time.monotonic()
        ops.run(
            "demo.load",
            ops.Context(store, writer),
            {"project_id": 1, "events": events, "seed": 42, "end_date": end},
        )
        writer.close()
        print(f"loaded {events:,} demo events in {time.monotonic() - t0:.1f} s")


def timed(client: TestClient, url: str, **kw: object) -> tuple[float, float]:
    catalog._cache.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    answer = client.get(url, **kw)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if answer.status_code != 200:
        raise SystemExit(f"{url}: HTTP {answer.status_code}: {answer.text[:300]}")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default="benchmarks/data/webui-demo")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    load(data_dir, args.events)
    today = dt.datetime.now(dt.UTC).date()
    lm1 = today.replace(day=1) - dt.timedelta(days=1)
    dates = {"today": today.isoformat(), "d90": (today - dt.timedelta(days=89)).isoformat(),
             "lm0": lm1.replace(day=1).isoformat(), "lm1": lm1.isoformat()}  # fmt: skip
    with DuckDBStore(data_dir) as store:
        project = store.get_project(1)
        app = create_app(load_settings(data_dir=data_dir), store=store)
        basic = {
            "Authorization": "Basic " + base64.b64encode(f"{project.secret}:".encode()).decode()
        }
        with TestClient(app) as client:
            client.post("/login", data={"secret": project.secret})
            print(f"events: {store.count_events(1):,} · runs: {args.runs} · load average before: "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
            print("| page | median wall | median CPU | report API (baseline) | page / API |")
            print("|---|---|---|---|---|")
            for name, url, api in PAGES:
                timed(client, url)
                runs = [timed(client, url) for _ in range(args.runs)]
                wall = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                base = ratio = "—"
                if api:
                    api_url = api.format(**dates)
                    timed(client, api_url, headers=basic)
                    api_wall = statistics.median(
                        timed(client, api_url, headers=basic)[0] for _ in range(args.runs)
                    )
                    base, ratio = f"{api_wall * 1000:.0f} ms", f"{wall / api_wall:.2f}"
                print(f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {base} | {ratio} |")
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
