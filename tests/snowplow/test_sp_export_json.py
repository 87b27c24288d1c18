"""`export snowplow --shape json`: the store renders the Analytics SDK JSON of each stored
event, and it is what the SDK conversion of the same event's enriched TSV line gives — the
same members with the same values, in the same order — for odd documents as well."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from snowplow_data import enriched_lines

from driftline.server import ops
from driftline.snowplow.importer import import_files
from driftline.snowplow.sdk_json import to_sdk_json
from driftline.store import DuckDBStore, GroupCommitWriter
from tests.snowplow.test_sp_import_fast import _CONTEXTS, _UNSTRUCT, _mixed, _set

_ITEM = "iglu:com.acme/Web-Page.Item/jsonschema/1-0-0"


def _contexts(*entities: Any) -> str:
    return json.dumps({"schema": _CONTEXTS, "data": list(entities)})


def _unstruct(inner: Any) -> str:
    return json.dumps({"schema": _UNSTRUCT, "data": inner})


_ODD: list[dict[str, str]] = [
    # entities without a schema of four parts, or not objects, are left out
    {"contexts": _contexts({"data": {"a": 1}}, 3, {"schema": 5, "data": 1},
                           {"schema": ["a/b/c/1-0-0"]}, {"schema": _ITEM, "data": {"k": "v"}})},
    # one schema in both columns: one list, where `contexts` has it; a derived-only key after
    {"contexts": _contexts({"schema": _ITEM, "data": 1}),
     "derived_contexts": _contexts({"schema": _ITEM, "data": 2},
                                   {"schema": "iglu:x.y/Z/jsonschema/3-0-0", "data": None})},
    {"contexts": _contexts({"schema": "a/b/c/2-1-0"}),
     "derived_contexts": _contexts({"schema": "iglu:a/b/c/d/e", "data": 1})},
    {"contexts": json.dumps({"schema": _CONTEXTS, "data": {"a": 1}})},
    {"contexts": json.dumps({"schema": _CONTEXTS})},
    {"unstruct_event": _unstruct({"data": {"x": 1}}), "event": "unstruct"},
    {"unstruct_event": _unstruct({"schema": "iglu:com.acme/ev/jsonschema/1-0-0"})},
    {"unstruct_event": _unstruct({"schema": 7, "data": 1})},
    {"unstruct_event": _unstruct("text")},
    {"unstruct_event": _unstruct({"schema": "iglu:com.acme/ev/jsonschema/1-0-0",
                                  "data": [1, {"a": None}, "é\u2028\\n"]})},
    {"se_value": "1E+5", "tr_total": "-0.010", "ti_price": "1e-7", "tr_tax": "0"},
    {"page_title": 'ctl \x01\x1f "q" \\ / é 𝄞', "user_id": "ü"},
    {"geo_latitude": "1e21", "geo_longitude": "-0.0"},
    {"geo_latitude": "12.5", "geo_longitude": ""},
    {"br_features_pdf": "1", "br_features_java": "0", "dvce_ismobile": "1"},
    {"true_tstamp": "2020-01-01 00:00:00.000", "refr_dvce_tstamp": "1999-12-31 23:59:59.999"},
]  # fmt: skip


def _lines() -> list[str]:
    base = enriched_lines(len(_ODD), seed=5)
    odd = [_set(base[i], **values) for i, values in enumerate(_ODD)]
    return _mixed() + odd + enriched_lines(40, seed=11)


@pytest.fixture
def exported(tmp_path: Path) -> Iterator[dict[str, list[str]]]:
    """Every stored event as TSV and as JSON, in export order (pages of 7)."""
    (tmp_path / "a.tsv").write_text("\n".join(_lines()) + "\n")
    with DuckDBStore(tmp_path / "data") as store:
        store.create_project("default")
        writer = GroupCommitWriter(store)
        try:
            summary = import_files(store, writer, str(tmp_path / "a.tsv"), 1)
            assert summary.bad_rows == 0 and summary.events == len(_lines())
            ctx = ops.Context(store, writer)
            out: dict[str, list[str]] = {}
            for shape in ("tsv", "json"):
                items, after = [], None
                while True:
                    args = {"project_id": 1, "limit": 7, "after": after, "shape": shape}
                    page = ops.run("snowplow.export", ctx, args)
                    items += page["items"]
                    after = page["after"]
                    if after is None:
                        break
                out[shape] = items
            yield out
        finally:
            writer.close()


def test_each_object_is_the_sdk_conversion_of_its_line(exported: dict[str, list[str]]) -> None:
    assert len(exported["json"]) == len(exported["tsv"]) == len(_lines())
    for line, text in zip(exported["tsv"], exported["json"], strict=True):
        expected, got = to_sdk_json(line), orjson.loads(text)
        assert got == expected, line
        assert list(got) == list(expected), line  # the same member order


def test_what_a_reader_of_the_json_sees(exported: dict[str, list[str]]) -> None:
    docs = [orjson.loads(text) for text in exported["json"]]
    by_title = {d.get("page_title"): d for d in docs}
    # decimals are numbers, written with the scale they were stored with
    money = next(t for t in exported["json"] if '"tr_total":10.00' in t)
    assert '"se_value":2.50' in money and orjson.loads(money)["tr_total"] == 10.0
    # one schema in both contexts columns: one list, contexts' entities first
    merged = [d for d in docs if d.get("contexts_com_acme_web_page_item_1") == [1, 2]]
    assert len(merged) == 1 and merged[0]["contexts_x_y_z_3"] == [None]
    keys = list(merged[0])
    assert keys.index("contexts_com_acme_web_page_item_1") < keys.index("useragent")
    assert keys.index("contexts_x_y_z_3") > keys.index("dvce_sent_tstamp")
    # entities without a usable schema are left out, the others kept
    assert any(d.get("contexts_com_acme_web_page_item_1") == [{"k": "v"}] for d in docs)
    assert 'ctl \x01\x1f "q" \\ / é 𝄞' in by_title
    assert any(d.get("geo_location") == "1e+21,-0.0" for d in docs)
    assert all(isinstance(d["collector_tstamp"], str) and d["collector_tstamp"][-1] == "Z"
               for d in docs)  # fmt: skip
