"""Check: the collector's output is the same on two source trees, for varied requests.

    python benchmarks/snowplow_enrich_compare.py --baseline-src /work/main/src

Runs the same ~700 requests (3,000+ tracker events: the JavaScript tracker's page views,
structured events and link clicks, changed one way or another by the ``VARIANTS`` of
``snowplow_data.py`` — bad values of every kind, oversized fields,
broken JSON and base64, unknown and invalid schemas — in POST bodies of 1 to 25 events with
varied headers, plus GET requests on ``/i`` and ``tp2``) through ``Collector.handle`` and
``build_tables`` in this tree and in ``--baseline-src``, each in its own process with the
clock and the random ids fixed, and compares what they give: the ``snowplow_events`` and
``events`` Arrow tables, the bad rows, each item's fields in order, and each response (less
its Set-Cookie header, which carries today's date). Exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
TP2 = "/com.snowplowanalytics.snowplow/tp2"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
CX = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
UE = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
LINK = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
PAGE = "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0"
UAS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "curl/8.0",
    None,
    "tab\there\x01",
]


def _odd_events() -> list[dict[str, str]]:
    base = {"e": "pv", "p": "web", "tv": "t"}
    page = {"schema": PAGE, "data": {"id": "0" * 36}}
    link = {"schema": LINK, "data": {"targetUrl": "u", "x": 1}}
    return [
        {**base, "e": "ue", "ue_pr": json.dumps({"schema": UE, "data": link})},
        {**base, "e": "ue", "ue_pr": json.dumps({"schema": CX, "data": []})},
        {**base, "co": json.dumps({"schema": CX, "data": [{"schema": "iglu:com.acme/x/jsonschema/1-0-0", "data": {}}]})},
        {**base, "co": json.dumps({"schema": UE, "data": {}})},
        {**base, "co": json.dumps({"schema": CX, "data": [{**page, "data": {"id": "bad"}}]})},
        {**base, "co": json.dumps({"schema": CX, "data": [{**page, "extra": 1}]})},
        {**base, "co": json.dumps({"schema": CX, "data": [page, page]})},
        {**base, "url": "https://x.example.com/" + "a" * 5000},
        {**base, "url": "https://x.example.com/?utm_source=" + "s" * 300},
        {**base, "page": "p" * 1999},
        {**base, "page": "p" * 2001},
        {**base, "refr": "https://www.bing.com/search?q=shoes", "url": "https://s.example.com/?gclid=a&utm_campaign=c"},
        {**base, "unknown_param": "x"},
        {"p": "web", "tv": "t"},
        {"e": "pv", "tv": "t"},
        {"e": "pv", "p": "web"},
    ]  # fmt: skip


def requests() -> list[Any]:
    from snowplow_data import varied_events

    from driftline.snowplow.collector import Request

    rng = random.Random(11)
    events = varied_events(3000) + _odd_events() * 5
    out = []
    i = 0
    while i < len(events):
        batch = events[i : i + rng.choice([1, 1, 3, 10, 10, 25])]
        i += len(batch)
        headers = [("content-type", "application/json; charset=UTF-8")]
        ua = rng.choice(UAS)
        if ua:
            headers.append(("user-agent", ua))
        for chance, header in [
            (0.2, ("referer", "https://ref.example.org/page?q=1")),
            (0.2, ("cookie", "sp=cookie-nuid-1; other=x")),
            (0.1, ("x-forwarded-for", "198.51.100.7, 10.0.0.1")),
            (0.1, ("origin", "https://shop.example.com")),
            (0.05, ("sp-anonymous", "*")),
        ]:
            if rng.random() < chance:
                headers.append(header)
        query = rng.choice(["", "", "", "aid=fromquery", "nuid=qn-1"])
        body = json.dumps({"schema": PAYLOAD_DATA, "data": batch})
        if rng.random() < 0.03:
            body = body[:-5]  # not JSON
        out.append(Request("POST", TP2, query, headers, body.encode(), "10.0.0.1"))
    for event in events[:300]:
        query = urlencode({k: v for k, v in event.items() if isinstance(v, str)})
        path = rng.choice([TP2, "/i"])
        out.append(Request("GET", path, query, [("user-agent", UAS[0])], None, "10.0.0.2"))
    return out


def dump(path: str, compile_at_once: bool) -> None:
    """This tree's outputs for :func:`requests`, pickled to ``path``; with
    ``compile_at_once``, the code per shape (where the tree has it) compiled at a shape's
    first sighting instead of after many."""
    import pyarrow as pa

    from driftline.model import Project
    from driftline.snowplow import badrows, pipeline, rows, transform
    from driftline.snowplow import collector as collector_module
    from driftline.snowplow import config as sp_config

    if compile_at_once:
        for module, name in ((transform, "_FILLERS"), (pipeline, "_LIMITS"), (rows, "_ROW_PLANS")):
            per_shape = getattr(module, name, None)
            if hasattr(per_shape, "after"):
                per_shape.after = 1  # type: ignore[union-attr]

    numbers = itertools.count()

    def numbered() -> str:
        return f"00000000-0000-4000-8000-{next(numbers):012d}"

    transform.random_uuid = numbered  # type: ignore[attr-defined]
    collector_module.random_uuid = numbered  # type: ignore[attr-defined]
    badrows.now_iso = lambda: "2026-01-01T00:00:00.000000Z"
    project = Project(id=1, name="default", token="t", secret="s")
    collector = collector_module.Collector(sp_config.load(None), lambda: [project])
    collector.clock = lambda: 1_700_000_000_500
    items, bad, responses = [], [], []
    for request in requests():
        handled = collector.handle(request, "/i" if request.path == "/i" else TP2, project)
        r = handled.response
        headers = [h for h in r.headers if h[0] != "Set-Cookie"]
        responses.append((r.status, r.body, headers, handled.events, handled.bad_rows))
        if handled.output is not None:
            items += handled.output.items
            bad += handled.output.bad
    # a failed schema lookup's history says when it was tried
    bad = [(p, k, s, re.sub(r'"lastAttempt":"[^"]*"', '"lastAttempt":""', d)) for p, k, s, d in bad]
    enriched, events = collector_module.build_tables(items)

    def ipc(table: pa.Table) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue().to_pybytes())

    out = {
        "snowplow_events": ipc(enriched),
        "events": ipc(events),
        "bad rows": ipc(collector_module.bad_table(bad)),
        "items (fields in order)": [(p, list(f.items()), row) for p, f, row in items],
        "responses": responses,
    }
    with open(path, "wb") as file:
        pickle.dump(out, file)
    kinds = sorted({b[1] for b in bad})
    print(f"{len(responses)} requests, {len(items)} events, {len(bad)} bad rows {kinds}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline-src", required=True)
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    parser.add_argument("--compile-at-once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        dump(args.dump, args.compile_at_once)
        return
    here = str(HERE.parent / "src")
    runs = {
        "baseline": (args.baseline_src, []),
        "this tree": (here, []),
        "this tree, code per shape compiled at once": (here, ["--compile-at-once"]),
    }
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (src, extra)) in enumerate(runs.items()):
            path = f"{tmp}/{i}.pickle"
            cmd = [sys.executable, __file__, "--baseline-src", src, "--dump", path, *extra]
            env = dict(os.environ, PYTHONPATH=src)
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{name}: {done.stderr}")
            print(f"{name}: {done.stdout.strip()}")
            with open(path, "rb") as file:
                outputs[name] = pickle.load(file)
    baseline = outputs.pop("baseline")
    failed = False
    for name, output in outputs.items():
        print(f"{name} against the baseline:")
        for key in baseline:
            same = output[key] == baseline[key]
            failed |= not same
            print(f"  {key}: {'equal' if same else 'DIFFERENT'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
