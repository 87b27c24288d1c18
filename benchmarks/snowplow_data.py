"""Realistic Snowplow test data: tracker requests and enriched TSV files.

Enriched lines come from driftline's own collector pipeline (a page view, a structured
event and a self-describing event with contexts, from a browser user agent), then are varied
per event (event id, user, session, timestamps) so that every line is a distinct event.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import uuid
from pathlib import Path
from typing import Any

from driftline.snowplow import enrich
from driftline.snowplow.iglu import Resolver
from driftline.snowplow.payload import CollectorPayload
from driftline.snowplow.pipeline import Enricher
from driftline.snowplow.tsv import format_tstamp

UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"


def _b64(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def tracker_events(
    n: int, seed: int = 7, start_ms: int = 1_700_000_000_000
) -> list[dict[str, str]]:
    """``n`` tracker-protocol events as the JavaScript tracker sends them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = start_ms + i * 1000
        user = f"user-{rng.randrange(5000)}"
        ctx = _b64(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
                "data": [
                    {
                        "schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
                        "data": {"id": str(uuid.UUID(int=rng.getrandbits(128)))},
                    }
                ],
            }
        )
        base = {
            "eid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "tv": "js-3.24.0", "tna": "sp", "aid": "website", "p": "web", "cookie": "1",
            "cs": "UTF-8", "lang": "en-GB", "res": "2560x1440", "cd": "24", "tz": "Europe/London",
            "dtm": str(t), "stm": str(t + 50), "vp": "1280x720", "ds": "1280x4000",
            "vid": str(rng.randrange(1, 40)), "sid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "duid": f"d-{user}", "url": f"https://shop.example.com/p/{i % 300}?utm_source=news&utm_medium=email",
            "refr": "https://www.google.com/search?q=running+shoes", "cx": ctx,
        }  # fmt: skip
        kind = i % 3
        if kind == 0:
            base.update({"e": "pv", "page": f"Product {i % 300}"})
        elif kind == 1:
            base.update(
                {"e": "se", "se_ca": "shop", "se_ac": "add-to-basket", "se_la": "pcs", "se_va": "2"}
            )
        else:
            link = {
                "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                "data": {
                    "schema": "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                    "data": {"targetUrl": f"https://example.com/{i}", "elementId": "cta"},
                },
            }
            base.update({"e": "ue", "ue_px": _b64(link), "uid": user})
        out.append(base)
    return out


UE = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
CX = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
LINK = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"


#: changes to a valid event: bad values of every kind, empty and unprintable strings,
#: parameters that set the same field, plain and encoded JSON
VARIANTS: list[dict[str, Any]] = [
    {"eid": "NOT-A-UUID"}, {"eid": "3F2504E0-4F89-11D3-9A0C-0305E82C3301"}, {"sid": "bad"},
    {"dtm": "abc"}, {"dtm": "-5"}, {"stm": "99999999999999999"}, {"ttm": "1700000000999"},
    {"dtm": "1700000000100", "stm": "1700000000000"}, {"res": "12x"}, {"vp": "0099x0012"},
    {"ds": "99999999999x1"}, {"vid": "x"}, {"vid": "99999999999"}, {"vid": " 12 "},
    {"tid": "-12"}, {"cookie": "2"}, {"f_pdf": "1", "f_java": "0"}, {"se_va": "2.50"},
    {"se_va": "NaN"}, {"se_va": " 1e3 "}, {"ev_va": "abc"}, {"vid": 7}, {"page": None},
    {"e": "tr", "tr_id": "o1", "tr_tt": "10.00", "tr_tx": "1", "tr_sh": "0.5"},
    {"e": "ti", "ti_id": "o1", "ti_nm": "n", "ti_na": "m", "ti_pr": "3.3", "ti_qu": "2"},
    {"page": "tab\there"}, {"page": "ctl\x01x"}, {"page": ""}, {"aid": ""}, {"refr": ""},
    {"url": ""}, {"url": "not a url"}, {"refr": "https://bing.com/?q=x"}, {"e": "xx"},
    {"p": "zz"}, {"e": "ue"}, {"ue_px": "!!!", "e": "ue"},
    {"e": "ue", "ue_pr": json.dumps({"schema": UE, "data": {"schema": LINK, "data": {}}})},
    {"e": "ue", "ue_px": _b64({"schema": UE, "data": {"schema": LINK, "data": {"targetUrl": "u"}}})},
    {"cx": _b64({"schema": CX, "data": [{"schema": "bad", "data": {}}]})}, {"co": "{"},
    {"ip": "10.0.0.1, 10.0.0.2"}, {"tnuid": "tn-1"}, {"nuid": "nu-1"}, {"ua": "curl/8"},
    {"cv": "x"}, {"uid": "u" * 300}, {"e": "se", "se_ca": "c", "ev_ca": "d"}, {"tz": "x" * 256},
    {"e": "pp", "pp_mix": "1", "pp_max": "2", "pp_miy": "3", "pp_may": "4"}, {"e": "ad"},
    {"cd": "1234567890123"}, {"tr_cu": "EURO"}, {"lang": "\x7f"}, {"duid": "é ü"},
]  # fmt: skip


def varied_events(n: int = 600) -> list[dict[str, Any]]:
    """``n`` tracker events, a third of them changed by one of the ``VARIANTS``, some with
    their parameters in another order or one parameter left out."""
    rng = random.Random(5)
    out = []
    for i, event in enumerate(tracker_events(n, seed=13)):
        if i % 3 == 1:
            event.update(VARIANTS[rng.randrange(len(VARIANTS))])
        if i % 11 == 5:  # the same parameters in another order
            keys = list(event)
            rng.shuffle(keys)
            event = {k: event[k] for k in keys}
        if i % 13 == 2:
            event.pop(rng.choice([k for k in event if k not in ("e", "p", "tv")]))
        out.append(event)
    return out


def post_body(events: list[dict[str, str]]) -> bytes:
    return json.dumps({"schema": PAYLOAD_DATA, "data": events}).encode()


def enriched_lines(n: int, seed: int = 7) -> list[str]:
    """``n`` distinct enriched TSV lines."""
    enricher = Enricher(Resolver(), enrich.defaults())
    templates = []
    for ev in tracker_events(3, seed):
        payload = CollectorPayload(
            "com.snowplowanalytics.snowplow", "tp2", None, None, None,
            ip_address="203.0.113.9", timestamp_ms=1_700_000_000_500, useragent=UA,
            network_userid="5d3c1f8e-0d55-4a11-9a3f-3f1c2b8e7a10",
        )  # fmt: skip
        result = enricher.enrich(ev, payload, 1_700_000_001_000)
        templates.append((result.fields, ev["eid"]))  # type: ignore[union-attr]
    from driftline.snowplow.tsv import to_line

    rng = random.Random(seed)
    lines = []
    base_ms = 1_700_000_000_000
    for i in range(n):
        fields, _ = templates[i % 3]
        f = dict(fields)
        t = base_ms + i * 500
        f["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        f["collector_tstamp"] = format_tstamp(t + 60)
        f["dvce_created_tstamp"] = format_tstamp(t)
        f["dvce_sent_tstamp"] = format_tstamp(t + 50)
        f["derived_tstamp"] = format_tstamp(t + 10)
        f["domain_userid"] = f"d-user-{rng.randrange(20000)}"
        if f.get("user_id"):
            f["user_id"] = f"user-{rng.randrange(20000)}"
        lines.append(to_line(f))
    return lines


def write_enriched(path: Path, n: int, seed: int = 7) -> Path:
    data = ("\n".join(enriched_lines(n, seed)) + "\n").encode()
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data, 6))
    else:
        path.write_bytes(data)
    return path
