"""The fast path of `driftline import snowplow` (the store reads a whole file) stores exactly
what the exact path (Arrow blocks, checked line by line) stores, and a file with a line it
does not take goes through the exact path whole, with the same bad rows."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from snowplow_data import enriched_lines

from driftline.snowplow.fields import INDEX
from driftline.snowplow.importer import import_files
from driftline.store import DuckDBStore, GroupCommitWriter

_CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
_UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"


def _set(line: str, **values: str) -> str:
    fields = line.split("\t")
    fields[INDEX["event_id"]] = str(uuid.uuid5(uuid.NAMESPACE_URL, repr(values)))
    for name, value in values.items():
        fields[INDEX[name]] = value
    return "\t".join(fields)


def _mixed() -> list[str]:
    """Enriched lines of many shapes: page views, structured and self-describing events,
    with and without (derived) contexts, CamelCase and repeated context schemas, null members,
    user ids, anonymous network ids, money, odd text."""
    base = enriched_lines(12, seed=3)
    ctx = json.dumps(
        {
            "schema": _CONTEXTS,
            "data": [
                {
                    "schema": "iglu:com.acme/ShoppingCart-Item/jsonschema/2-1-0",
                    "data": {"sku": "a"},
                },
                {
                    "schema": "iglu:com.acme/ShoppingCart-Item/jsonschema/2-1-0",
                    "data": {"sku": "b"},
                },
                {
                    "schema": "iglu:com.acme.web/page/jsonschema/1-0-0",
                    "data": {"n": None, "x": 1.5},
                },
            ],
        }
    )
    unstruct = json.dumps(
        {
            "schema": _UNSTRUCT,
            "data": {
                "schema": "iglu:com.acme/checkout/jsonschema/1-0-0",
                "data": {
                    "total": 12.5,
                    "gone": None,
                    "nested": {"a": None, "b": "é"},
                    "app_id": "x",
                },
            },
        }
    )
    out = list(base)
    out.append(_set(base[0], contexts="", derived_contexts="", user_id="u-1"))
    out.append(_set(base[1], contexts=ctx, network_userid="00000000-0000-0000-0000-000000000000",
                    domain_userid=""))  # fmt: skip
    out.append(_set(base[2], unstruct_event=unstruct, event="unstruct", event_name="checkout",
                    contexts=ctx))  # fmt: skip
    out.append(_set(base[3], event="struct", se_action="", se_category="c", se_value="2.50",
                    tr_total="10.00", page_title="tab\\tand “quotes” 'x'"))  # fmt: skip
    out.append(_set(base[4], derived_tstamp="", geo_latitude="-12.5", br_cookies="0",
                    dvce_screenwidth="1920", page_url=""))  # fmt: skip
    out.append(_set(base[5], event_id="", event_fingerprint="fp-1"))
    return out


def _snapshot(store: DuckDBStore) -> dict[str, Any]:
    sp = store.query_rows(
        "SELECT * EXCLUDE (ingested_at) FROM snowplow_events ORDER BY event_id, collector_tstamp"
    )
    ev = store.query_rows(
        """SELECT project_id, event, time, distinct_id, device_id, user_id, insert_id, origin,
                  origin_key, properties::VARCHAR FROM events ORDER BY insert_id"""
    )
    bad = store.query_rows(
        "SELECT project_id, kind, schema, payload::VARCHAR FROM bad_rows ORDER BY payload::VARCHAR"
    )
    imports = store.query_rows("SELECT project_id, source, fingerprint FROM snowplow_imports")
    return {
        "snowplow_events": [tuple(r) for r in sp],
        "events": [(*r[:9], json.loads(r[9])) for r in ev],
        "bad_rows": [tuple(r) for r in bad],
        "imports": [tuple(r) for r in imports],
    }


def _import(tmp_path: Path, name: str, source: Path, *, fast: bool) -> dict[str, Any]:
    store = DuckDBStore(tmp_path / name)
    store.create_project("default")
    writer = GroupCommitWriter(store)
    try:
        summary = import_files(store, writer, str(source), 1, fast=fast)
        paths = [f["fast"] for f in summary.file_results]
        return {
            "summary": (summary.files, summary.events, summary.bad_rows),
            **_snapshot(store),
            "fast": paths,
        }
    finally:
        writer.close()
        store.close()


@pytest.mark.parametrize("compressed", [True, False])
def test_fast_path_stores_what_the_exact_path_stores(tmp_path: Path, compressed: bool) -> None:
    lines = _mixed()
    text = ("\n".join(lines) + "\n").encode()
    source = tmp_path / ("mixed.tsv.gz" if compressed else "mixed.tsv")
    source.write_bytes(gzip.compress(text) if compressed else text)
    fast = _import(tmp_path, "fast", source, fast=True)
    exact = _import(tmp_path, "exact", source, fast=False)
    assert fast["summary"] == exact["summary"] == (1, len(lines), 0)
    assert len(fast["events"]) == len(lines)
    assert not fast["bad_rows"]
    assert (fast["fast"], exact["fast"]) == ([True], [False])
    for key in ("snowplow_events", "events", "imports"):
        assert fast[key] == exact[key], key
    # the shapes above are mapped as documented
    props = {e[6]: e[9] for e in fast["events"]}
    cart = [p for p in props.values() if "contexts_com_acme_shopping_cart_item_2" in p]
    assert cart and cart[0]["contexts_com_acme_shopping_cart_item_2"] == [
        {"sku": "a"},
        {"sku": "b"},
    ]
    checkout = [p for p in props.values() if "total" in p]
    assert checkout and checkout[0]["nested"] == {"b": "é"} and "gone" not in checkout[0]


def test_a_file_with_a_bad_line_falls_back_with_the_same_bad_rows(tmp_path: Path) -> None:
    lines = _mixed()
    broken = _set(lines[4], collector_tstamp="yesterday")
    content = [*lines[:3], "only\tthree\tfields", broken, *lines[3:]]
    source = tmp_path / "bad.tsv.gz"
    source.write_bytes(gzip.compress(("\n".join(content) + "\n").encode()))
    fast = _import(tmp_path, "fast", source, fast=True)
    exact = _import(tmp_path, "exact", source, fast=False)
    assert fast["fast"] == exact["fast"] == [False]
    assert fast == exact
    assert fast["summary"] == (1, len(lines), 2)
    messages = sorted(
        json.loads(b[3])["data"]["failure"]["errors"][0]["message"] for b in fast["bad_rows"]
    )
    assert messages == [
        "expected 131 tab-separated fields, got 3",
        "values that do not parse in: collector_tstamp",
    ]


def test_a_file_whose_name_reads_as_a_pattern_takes_the_exact_path(tmp_path: Path) -> None:
    lines = enriched_lines(5)
    source = tmp_path / "part[1].tsv"
    source.write_text("\n".join(lines) + "\n")
    (tmp_path / "part1.tsv").write_text("not\tan\tevent\n")  # what a glob would also match
    result = _import(tmp_path, "data", source, fast=True)
    assert result["fast"] == [False]
    assert result["summary"] == (1, 5, 0)


def test_a_fast_import_killed_mid_file_stores_all_or_nothing(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from snowplow_data import write_enriched

    from tests.conftest import run_cli

    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    source = write_enriched(tmp_path / "big.tsv.gz", 40_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftline", "import", "snowplow", str(source),
         "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(3)  # interpreter start, then inside the file's one transaction
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def counts() -> tuple[int, int, int]:
        with DuckDBStore(data_dir) as store:
            return tuple(  # type: ignore[return-value]
                int(store.query_rows(f"SELECT count(*) FROM {t}")[0][0])
                for t in ("snowplow_events", "events", "snowplow_imports")
            )

    assert counts() in ((0, 0, 0), (40_000, 40_000, 1))
    run_cli("import", "snowplow", str(source), data_dir=data_dir)
    assert counts() == (40_000, 40_000, 1)


def _same_event(line: str, **values: str) -> str:
    """``line`` with other values, the same event id and times (a resent event)."""
    fields = line.split("\t")
    for name, value in values.items():
        fields[INDEX[name]] = value
    return "\t".join(fields)


def test_a_file_that_repeats_an_event_keeps_its_later_line(tmp_path: Path) -> None:
    lines = _mixed()
    resent = _same_event(lines[1], page_title="second copy")
    content = [*lines, resent]
    source = tmp_path / "resent.tsv.gz"
    source.write_bytes(gzip.compress(("\n".join(content) + "\n").encode()))
    fast = _import(tmp_path, "fast", source, fast=True)
    exact = _import(tmp_path, "exact", source, fast=False)
    assert fast["fast"] == [True]
    for key in ("snowplow_events", "events", "imports"):
        assert fast[key] == exact[key], key
    assert len(fast["events"]) == len(lines)
    event_id = lines[1].split("\t")[INDEX["event_id"]]
    [props] = [e[9] for e in fast["events"] if e[6] == event_id]
    assert props["page_title"] == "second copy"


def test_a_second_file_replaces_the_rows_it_repeats(tmp_path: Path) -> None:
    lines = _mixed()
    first, second = tmp_path / "a.tsv.gz", tmp_path / "b.tsv.gz"
    first.write_bytes(gzip.compress(("\n".join(lines[:10]) + "\n").encode()))
    changed = [_same_event(line, page_title="again") for line in lines[5:10]]
    second.write_bytes(gzip.compress(("\n".join([*changed, *lines[10:]]) + "\n").encode()))
    results = {}
    for fast in (True, False):
        store = DuckDBStore(tmp_path / f"data-{fast}")
        store.create_project("default")
        writer = GroupCommitWriter(store)
        try:
            for source in (first, second):
                import_files(store, writer, str(source), 1, fast=fast)
            results[fast] = _snapshot(store)
        finally:
            writer.close()
            store.close()
    fast_rows, exact_rows = results[True], results[False]
    for key in ("snowplow_events", "events"):
        assert fast_rows[key] == exact_rows[key], key
    assert len(fast_rows["snowplow_events"]) == len(fast_rows["events"]) == len(lines)
    titles = [e[9].get("page_title") for e in fast_rows["events"]]
    assert titles.count("again") == 5


def test_two_files_in_one_commit_store_what_the_exact_path_stores(tmp_path: Path) -> None:
    from driftline.snowplow.events import EVENTS_SQL
    from driftline.store.snowplow_file import AppendEnrichedFile

    lines = _mixed()
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    first.write_text("\n".join(lines[:9]) + "\n")
    second.write_text("\n".join(lines[6:]) + "\n")
    store = DuckDBStore(tmp_path / "fast")
    store.create_project("default")
    try:
        ops = [
            AppendEnrichedFile(str(f), EVENTS_SQL, project_id=1, gzip=False, imports=[])
            for f in (first, second)
        ]
        store.apply(ops)  # the second op finds rows of this commit's stamp already written
        fast = _snapshot(store)
    finally:
        store.close()
    store = DuckDBStore(tmp_path / "exact")
    store.create_project("default")
    writer = GroupCommitWriter(store)
    try:
        for source in (first, second):
            import_files(store, writer, str(source), 1, fast=False)
        exact = _snapshot(store)
    finally:
        writer.close()
        store.close()
    assert len(fast["events"]) == len(lines)
    assert fast["snowplow_events"] == exact["snowplow_events"]
    assert fast["events"] == exact["events"]


def test_ua_parser_fields_become_properties_with_the_os_name_as_fallback(tmp_path: Path) -> None:
    ua = "iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0"
    derived = json.dumps(
        {
            "schema": _CONTEXTS,
            "data": [
                {"schema": "iglu:com.acme/other/jsonschema/1-0-0", "data": {"osFamily": "no"}},
                {"schema": ua, "data": {"useragentFamily": "Firefox", "osFamily": None}},
            ],
        }
    )
    lines = enriched_lines(2, seed=5)
    content = [
        _set(lines[0], derived_contexts=derived, os_name="Linux"),
        _set(lines[1], derived_contexts="", os_name="BeOS"),
    ]
    source = tmp_path / "ua.tsv"
    source.write_text("\n".join(content) + "\n")
    fast = _import(tmp_path, "fast", source, fast=True)
    exact = _import(tmp_path, "exact", source, fast=False)
    assert fast["fast"] == [True]
    assert fast["events"] == exact["events"]
    props = sorted((e[9] for e in fast["events"]), key=lambda p: p["$os"])
    assert [p["$os"] for p in props] == ["BeOS", "Linux"]
    assert props[1]["$browser"] == "Firefox"
    assert "$device" not in props[1] and "$browser" not in props[0]


def test_context_entities_without_a_schema_are_left_out_of_the_properties(
    tmp_path: Path,
) -> None:
    lines = enriched_lines(3, seed=9)
    entities = [{"data": {"a": 1}}, 5, {"schema": None, "data": {"b": 2}}]
    content = [
        _set(lines[0], contexts=json.dumps({"schema": _CONTEXTS, "data": entities})),
        _set(lines[1], contexts=json.dumps({"schema": _CONTEXTS, "data": entities[1:2]})),
        lines[2],
    ]
    source = tmp_path / "entities.tsv.gz"
    source.write_bytes(gzip.compress(("\n".join(content) + "\n").encode()))
    fast = _import(tmp_path, "fast", source, fast=True)
    exact = _import(tmp_path, "exact", source, fast=False)
    assert fast["summary"] == exact["summary"] == (1, 3, 0)
    for key in ("snowplow_events", "events"):
        assert fast[key] == exact[key], key
    odd = [e[9] for e in fast["events"] if e[6] != lines[2].split("\t")[INDEX["event_id"]]]
    assert len(odd) == 2
    assert not [k for p in odd for k in p if k.startswith("contexts_")]


def test_self_describing_data_comes_first_without_nulls_and_the_fields_win(
    tmp_path: Path,
) -> None:
    def unstruct(data: dict[str, Any]) -> str:
        inner = {"schema": "iglu:com.acme/signup/jsonschema/1-0-0", "data": data}
        return json.dumps({"schema": _UNSTRUCT, "data": inner})

    lines = enriched_lines(3, seed=11)
    plain = {"plan": "pro", "seats": 12.50, "gone": None, "deep": {"a": None, "b": [None]}}
    clashing = {"plan": "team", "app_id": "mine", "contexts_x": 1}
    field_only = {"plan": "solo", "app_id": "mine"}  # clashes with a field, not a context
    content = [
        _set(lines[0], unstruct_event=unstruct(plain), event="unstruct", app_id="shop"),
        _set(lines[1], unstruct_event=unstruct(clashing), event="unstruct", app_id="shop"),
        _set(lines[2], unstruct_event=unstruct(field_only), event="unstruct", app_id="shop"),
    ]
    source = tmp_path / "signup.tsv"
    source.write_text("\n".join(content) + "\n")
    fast = _import(tmp_path, "fast", source, fast=True)
    exact = _import(tmp_path, "exact", source, fast=False)
    assert fast["events"] == exact["events"]
    by_plan = {e[9]["plan"]: e[9] for e in fast["events"]}
    first = by_plan["pro"]
    assert list(first)[:3] == ["plan", "seats", "deep"]
    assert first["seats"] == 12.5 and first["deep"] == {"b": [None]} and "gone" not in first
    assert first["app_id"] == "shop"
    assert by_plan["team"]["app_id"] == "shop" and by_plan["team"]["contexts_x"] == 1
    # as the store reads them: each key once, the field's value for a clashing key
    with DuckDBStore(tmp_path / "fast") as store:
        rows = store.query_rows(
            """SELECT properties->>'app_id', len(json_keys(properties)),
                      len(list_distinct(json_keys(properties)))
               FROM events ORDER BY properties->>'plan'"""
        )
    assert [r[0] for r in rows] == ["shop", "shop", "shop"]
    assert all(r[1] == r[2] for r in rows)


def test_bucket_objects_take_the_fast_path_and_store_what_the_exact_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: str
) -> None:
    """An object in S3 (moto's server) is copied into memory and read by the store whole, as
    a local file is; one with a bad line falls back to the exact path, with its bad rows."""
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("s3fs")
    endpoint = moto_server
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="enriched")
    lines = _mixed()
    broken = [*lines[:2], "only\tthree\tfields", *lines[2:4]]
    s3.put_object(Bucket="enriched", Key="good/a.gz",
                  Body=gzip.compress(("\n".join(lines) + "\n").encode()))  # fmt: skip
    s3.put_object(Bucket="enriched", Key="good/b.tsv", Body=("\n".join(broken) + "\n").encode())
    fast = _import(tmp_path, "fast", "s3://enriched/good/", fast=True)  # type: ignore[arg-type]
    exact = _import(tmp_path, "exact", "s3://enriched/good/", fast=False)  # type: ignore[arg-type]
    assert (fast["fast"], exact["fast"]) == ([True, False], [False, False])
    assert fast["summary"] == exact["summary"] == (2, len(lines) + 4, 1)
    for key in ("snowplow_events", "events", "bad_rows", "imports"):
        assert fast[key] == exact[key], key
