"""Events that repeat page URLs, referrers and queries: each event gets its own fields.

The collector caches URL splits, referrer and campaign results per distinct value; these
tests check that what one event gets never leaks into another, and that the atomic field
length limits (checked with a fast path first) still turn over-long values into bad rows.
"""

from __future__ import annotations

import json

from sp_helpers import bad_rows, post

from driftline.store import DuckDBStore

BASE = {"tv": "js-3", "p": "web", "e": "pv"}
SHOP = "https://shop.example.com/p/1?utm_source=news&utm_medium=email&gclid=g7"
COLUMNS = (
    "page_urlhost, page_urlpath, page_urlquery, page_urlport, refr_urlhost, refr_medium, "
    "refr_source, refr_term, mkt_source, mkt_medium, mkt_clickid, mkt_network"
)


def _rows(store: DuckDBStore) -> dict[str, tuple[object, ...]]:
    rows = store.query_rows(f"SELECT page_title, {COLUMNS} FROM snowplow_events")
    return {r[0]: tuple(r[1:]) for r in rows}


def test_repeated_urls_and_referrers_give_each_event_its_own_fields(
    sp_client, store: DuckDBStore
) -> None:
    google = "https://www.google.com/search?q=running+shoes"
    events = [
        {**BASE, "page": "a", "url": SHOP, "refr": google},
        {**BASE, "page": "b", "url": SHOP, "refr": "https://shop.example.com/cart"},
        {**BASE, "page": "c", "url": "http://other.example.org:8080/x", "refr": google},
        {**BASE, "page": "d", "url": SHOP, "refr": google},
        {**BASE, "page": "e", "url": "https://shop.example.com/p/2", "refr": "https://bing.com/"},
        {**BASE, "page": "f", "url": "https://shop.example.com/p/2?utm_source=ads"},
    ]
    for _ in range(2):  # the second request finds everything cached
        assert post(sp_client, events).status_code == 200
    search = ("www.google.com", "search", "Google", "running shoes")
    shop = ("shop.example.com", "/p/1", "utm_source=news&utm_medium=email&gclid=g7", 443)
    campaign = ("news", "email", "g7", "Google")
    expected = {
        "a": (*shop, *search, *campaign),
        "b": (*shop, "shop.example.com", "internal", None, None, *campaign),
        "c": ("other.example.org", "/x", None, 8080, *search, None, None, None, None),
        "d": (*shop, *search, *campaign),
        "e": ("shop.example.com", "/p/2", None, 443, "bing.com", "search", "Bing", None)
        + (None,) * 4,
        "f": ("shop.example.com", "/p/2", "utm_source=ads", 443) + (None,) * 4
        + ("ads", None, None, None),
    }  # fmt: skip
    assert _rows(store) == expected
    assert store.query_rows("SELECT count(*) FROM snowplow_events")[0][0] == 12


def test_field_length_limits_still_make_schema_violations(sp_client, store: DuckDBStore) -> None:
    events = [
        {**BASE, "page": "ok", "e": "tr", "tr_id": "o1", "tr_tt": "1", "tr_cu": "EUR"},
        {**BASE, "page": "currency", "e": "tr", "tr_id": "o2", "tr_tt": "1", "tr_cu": "EURO"},
        {**BASE, "page": "app", "aid": "a" * 256},
        {**BASE, "page": "fits", "aid": "a" * 255},
    ]
    assert post(sp_client, events).status_code == 200
    assert sorted(_rows(store)) == ["fits", "ok"]
    rows = bad_rows(store)
    assert [kind for kind, _ in rows] == ["schema_violations", "schema_violations"]
    messages = [
        report["message"]
        for _, payload in rows
        for m in json.loads(payload)["data"]["failure"]["messages"]
        for report in m["error"]["dataReports"]
    ]
    assert any(m.startswith("$.tr_currency: longer than 3 characters") for m in messages)
    assert any(m.startswith("$.app_id: longer than 255 characters") for m in messages)
