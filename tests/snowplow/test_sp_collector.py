"""The collector's HTTP behaviour: endpoints, the sp cookie, CORS, bad input, projects."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sp_helpers import PAYLOAD_DATA, TP2, bad_rows, make_client, post

from driftline.store import DuckDBStore

PV = {"e": "pv", "tv": "js-3", "p": "web", "url": "https://example.com/"}


def _events(store: DuckDBStore, project_id: int = 1) -> list[tuple[str, ...]]:
    return store.query_rows(
        "SELECT event, distinct_id FROM events WHERE project_id = ? ORDER BY time", [project_id]
    )


def test_pixel_get_sets_the_sp_cookie(sp_client, store: DuckDBStore) -> None:
    r = sp_client.get("/i?e=pv&p=web&tv=no-js-0.1.0&url=http%3A%2F%2Fgithub.com&aid=docs")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/gif" and len(r.content) == 43
    assert r.headers["cache-control"] == "no-cache, no-store, must-revalidate"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("sp=") and "Path=/" in cookie
    assert "SameSite=None" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert "Expires=" in cookie
    nuid = cookie.split(";")[0][3:]
    [(net,)] = store.query_rows("SELECT network_userid FROM snowplow_events")
    assert net == nuid


def test_cookie_is_kept_and_nuid_overrides_it(sp_client, store: DuckDBStore) -> None:
    r = sp_client.get("/i?e=pv&p=web&tv=t", headers={"Cookie": "sp=abc-123"})
    assert r.headers["set-cookie"].startswith("sp=abc-123;")
    r = sp_client.get("/i?e=pv&p=web&tv=t&nuid=from-param", headers={"Cookie": "sp=abc-123"})
    assert r.headers["set-cookie"].startswith("sp=from-param;")
    ids = [
        r[0] for r in store.query_rows("SELECT network_userid FROM snowplow_events ORDER BY rowid")
    ]
    assert ids == ["abc-123", "from-param"]


@pytest.mark.parametrize("nuid", ["\U00047580x", "é", "x; Domain=evil.example", "a b", "\x7f"])
def test_a_nuid_no_cookie_can_carry_stays_out_of_it(
    sp_client, store: DuckDBStore, nuid: str
) -> None:
    """Non-Latin-1 characters were a 500 (the Set-Cookie header could not be encoded), and
    ``;`` added attributes to the cookie; such a nuid stays out of the cookie, and the event
    is stored."""
    r = sp_client.get("/i", params={"e": "pv", "p": "web", "tv": "t", "nuid": nuid})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("sp=") and "evil" not in cookie and nuid not in cookie
    assert store.query_rows("SELECT count(*) FROM snowplow_events") == [(1,)]
    quoted = sp_client.get("/i?e=pv&p=web&tv=t", headers={"Cookie": 'sp="a;Domain=evil"'})
    assert "evil" not in quoted.headers["set-cookie"]


def test_sp_anonymous_records_no_ip_and_sets_no_cookie(sp_client, store: DuckDBStore) -> None:
    r = post(sp_client, [PV], headers={"SP-Anonymous": "*", "X-Forwarded-For": "198.51.100.1"})
    assert r.status_code == 200 and "set-cookie" not in r.headers
    [(nuid, ip)] = store.query_rows("SELECT network_userid, user_ipaddress FROM snowplow_events")
    assert nuid == "00000000-0000-0000-0000-000000000000" and ip == "unknown"


def test_cookie_domain_follows_the_origin(data_dir, store: DuckDBStore) -> None:
    config = '[collector]\ncookie_domains = ["example.com", "acme.org"]\ncookie_fallback_domain = "fallback.net"\n'
    with make_client(data_dir, store, config) as c:
        r = post(c, [PV], headers={"Origin": "https://shop.acme.org"})
        assert "Domain=acme.org" in r.headers["set-cookie"]
        assert r.headers["access-control-allow-origin"] == "https://shop.acme.org"
        assert r.headers["access-control-allow-credentials"] == "true"
        r = post(c, [PV], headers={"Origin": "https://other.io"})
        assert "Domain=fallback.net" in r.headers["set-cookie"]


def test_options_preflight(sp_client) -> None:
    r = sp_client.options(
        TP2, headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"}
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["access-control-allow-headers"] == "Content-Type, SP-Anonymous"
    assert r.headers["access-control-allow-credentials"] == "true"


def test_health_and_redirects_disabled_by_default(sp_client, store: DuckDBStore) -> None:
    assert sp_client.get("/health").text == "ok"
    r = sp_client.get("/r/tp2?u=https%3A%2F%2Fexample.com", follow_redirects=False)
    assert r.status_code == 404
    assert store.query_rows("SELECT count(*) FROM snowplow_events") == [(0,)]


def test_redirects_when_enabled(data_dir, store: DuckDBStore) -> None:
    config = '[collector]\nredirects = true\nredirect_domains = ["example.com"]\n'
    with make_client(data_dir, store, config) as c:
        r = c.get("/r/tp2?u=https%3A%2F%2Fexample.com%2Fpage&aid=mail", follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] == "https://example.com/page"
        r = c.get("/r/tp2?u=https%3A%2F%2Fevil.test%2F", follow_redirects=False)
        assert r.status_code == 400
    [(event, name, ue)] = store.query_rows(
        "SELECT event, event_name, unstruct_event::VARCHAR FROM snowplow_events"
    )
    assert (event, name) == ("unstruct", "uri_redirect") and "https://example.com/page" in ue


def test_custom_path_alias(data_dir, store: DuckDBStore) -> None:
    config = '[collector]\npaths = { "/com.acme/track" = "/com.snowplowanalytics.snowplow/tp2" }\n'
    with make_client(data_dir, store, config) as c:
        r = c.post("/com.acme/track", json={"schema": PAYLOAD_DATA, "data": [PV]})
        assert r.status_code == 200 and r.text == "ok"
        assert c.get("/api/v1/unknown-thing").status_code == 404
    assert len(_events(store)) == 1


def test_unknown_vendor_is_an_adapter_failure(sp_client, store: DuckDBStore) -> None:
    r = sp_client.post("/com.acme/webhook", json={"x": 1})
    assert r.status_code == 200
    [(kind, payload)] = bad_rows(store)
    assert kind == "adapter_failures"
    doc = json.loads(payload)
    assert (
        doc["schema"]
        == "iglu:com.snowplowanalytics.snowplow.badrows/adapter_failures/jsonschema/1-0-0"
    )
    assert (
        doc["data"]["failure"]["messages"][0]["expectation"]
        == "vendor/version combination is not supported"
    )


def test_valid_events_of_a_post_are_kept_and_each_bad_one_is_a_bad_row(
    sp_client, store: DuckDBStore
) -> None:
    bad_base64 = {**PV, "cx": "!!!not base64!!!"}
    bad_json = {**PV, "co": "{not json"}
    not_string = {**PV, "vid": 3}
    unknown_param = {**PV, "bogus": "1"}
    bad_type = {**PV, "e": "zz"}
    bad_platform = {**PV, "p": "toaster"}
    bad_eid = {**PV, "eid": "not-a-uuid"}
    wrong_schema = {
        **PV,
        "e": "ue",
        "ue_pr": json.dumps(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                "data": {
                    "schema": "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                    "data": {"elementId": "x"},
                },
            }
        ),
    }
    unknown_schema = {
        **PV,
        "e": "ue",
        "ue_pr": json.dumps(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                "data": {"schema": "iglu:com.acme/nothing/jsonschema/1-0-0", "data": {}},
            }
        ),
    }
    good_se = {"e": "se", "tv": "py-1", "p": "srv", "se_ca": "shop", "se_ac": "checkout"}
    events = [
        PV,
        bad_base64,
        bad_json,
        not_string,
        unknown_param,
        bad_type,
        bad_platform,
        bad_eid,
        wrong_schema,
        unknown_schema,
        good_se,
    ]
    r = post(sp_client, events)
    assert r.status_code == 200 and r.text == "ok"
    assert sorted(e for e, _ in _events(store)) == ["checkout", "page_view"]
    kinds = [k for k, _ in bad_rows(store)]
    assert (
        kinds.count("tracker_protocol_violations") == 2
    )  # the non-string value, the unknown parameter
    assert kinds.count("schema_violations") == 7
    text = " ".join(p for _, p in bad_rows(store))
    assert "invalid base64" in text and "invalid json" in text
    assert "Not a valid event type" in text and "Not a valid platform" in text
    assert "ResolutionError" in text and "ValidationError" in text and "targetUrl" in text


def test_wrong_content_type_and_garbage(sp_client, store: DuckDBStore) -> None:
    r = sp_client.post(TP2, content=b"\x00\xffgarbage", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    r = sp_client.post(TP2, content=b"{garbage", headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    r = sp_client.post(TP2, json={"schema": "iglu:com.acme/other/jsonschema/1-0-0", "data": [PV]})
    r = sp_client.post(TP2, json={"schema": PAYLOAD_DATA, "data": []})
    r = sp_client.post(TP2, json=[1, 2])
    rows = bad_rows(store)
    assert [k for k, _ in rows] == ["tracker_protocol_violations"] * 5
    messages = [json.loads(p)["data"]["failure"]["messages"][0] for _, p in rows]
    assert messages[0]["field"] == "contentType" and messages[0]["value"] == "text/plain"
    assert "invalid json" in messages[1]["error"]
    assert messages[2]["schemaCriterion"].endswith("payload_data/jsonschema/1-0-*")
    assert _events(store) == []


def test_oversize_body_is_413_and_a_size_violation(sp_client, store: DuckDBStore) -> None:
    big = {**PV, "page": "x" * (2 * 1024 * 1024 + 10)}
    r = post(sp_client, [big])
    assert r.status_code == 413
    [(kind, payload)] = bad_rows(store)
    assert kind == "size_violation"
    failure = json.loads(payload)["data"]["failure"]
    assert (
        failure["maximumAllowedSizeBytes"] == 2 * 1024 * 1024
        and failure["actualSizeBytes"] > 2 * 1024 * 1024
    )


def test_one_oversize_event_does_not_lose_the_others(sp_client, store: DuckDBStore) -> None:
    r = post(sp_client, [PV, {**PV, "page": "y" * (1024 * 1024 + 5)}])
    assert r.status_code == 200
    assert len(_events(store)) == 1
    assert [k for k, _ in bad_rows(store)] == ["size_violation"]


def test_base64_with_and_without_padding_and_both_alphabets(sp_client, store: DuckDBStore) -> None:
    ue = json.dumps(
        {
            "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
            "data": {
                "schema": "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                "data": {"targetUrl": "https://ü.example/?a=b>>"},
            },
        },
        ensure_ascii=False,
    ).encode()
    variants = [
        base64.urlsafe_b64encode(ue).decode(),
        base64.urlsafe_b64encode(ue).decode().rstrip("="),
        base64.b64encode(ue).decode(),
    ]
    post(sp_client, [{**PV, "e": "ue", "ue_px": v} for v in variants])
    assert [e for e, _ in _events(store)] == ["link_click"] * 3
    assert bad_rows(store) == []


def test_query_string_parameters_override_body(sp_client, store: DuckDBStore) -> None:
    sp_client.post(
        TP2 + "?aid=from-qs", json={"schema": PAYLOAD_DATA, "data": [{**PV, "aid": "body"}]}
    )
    assert store.query_rows("SELECT app_id FROM snowplow_events") == [("from-qs",)]


def test_projects_by_token_path_and_app_id(data_dir, store: DuckDBStore) -> None:
    shop = store.create_project("shop")
    blog = store.create_project("blog")
    config = '[collector]\napp_ids = { "blog-site" = "blog" }\n'
    with make_client(data_dir, store, config) as c:
        assert (
            c.post(f"/t/{shop.token}{TP2}", json={"schema": PAYLOAD_DATA, "data": [PV]}).status_code
            == 200
        )
        assert c.get(f"/t/{shop.token}/i?e=pv&p=web&tv=t").status_code == 200
        assert (
            c.post(
                TP2,
                json={
                    "schema": PAYLOAD_DATA,
                    "data": [{**PV, "aid": "blog-site"}, {**PV, "aid": "x"}],
                },
            ).status_code
            == 200
        )
        r = c.post(f"/t/not-a-token{TP2}", json={"schema": PAYLOAD_DATA, "data": [PV]})
        assert r.status_code == 401
    assert len(_events(store, shop.id)) == 2
    assert len(_events(store, blog.id)) == 1
    assert len(_events(store, 1)) == 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(st.text(max_size=8), children, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps({"schema": PAYLOAD_DATA, "data": v}).encode()),
    ),
    query=st.one_of(
        st.text(max_size=40),
        st.dictionaries(  # tracker parameters, unencoded: the test quotes them
            st.sampled_from(["e", "p", "tv", "nuid", "eid", "dtm", "ue_px", "cx", "co"]),
            st.text(max_size=20),
            max_size=5,
        ).map(lambda params: "&".join(f"{k}={v}" for k, v in params.items())),
    ),
    ctype=st.sampled_from(
        ["application/json", "text/plain", "application/json; charset=UTF-8", ""]
    ),
)
def test_fuzz_never_answers_5xx(sp_client, body: bytes, query: str, ctype: str) -> None:
    from urllib.parse import quote

    headers = {"Content-Type": ctype} if ctype else {}
    r = sp_client.post(TP2 + "?" + quote(query, safe="=&"), content=body, headers=headers)
    assert r.status_code < 500
    r = sp_client.get("/i?" + quote(query, safe="=&"))
    assert r.status_code < 500


def test_head_and_legacy_pixel_paths_and_get_tp2(sp_client, store: DuckDBStore) -> None:
    r = sp_client.head("/i?e=pv&p=web&tv=t")
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif" and r.content == b""
    r = sp_client.get("/ice.png?e=pv&p=web&tv=t")
    assert r.status_code == 200 and len(r.content) == 43
    r = sp_client.get(TP2 + "?e=se&p=web&tv=t&se_ca=c&se_ac=a")
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    r = sp_client.get("/i")  # no parameters: a bad row, still a pixel
    assert r.status_code == 200
    assert sorted(e for e, _ in _events(store)) == ["a", "page_view", "page_view"]
    assert [k for k, _ in bad_rows(store)] == ["tracker_protocol_violations"]


def test_errors_on_the_trackers_paths_are_json_with_their_status(
    data_dir, store: DuckDBStore
) -> None:
    """The fixed collector paths are answered before FastAPI's router; a configuration
    problem is still a 4xx JSON error naming it, on every method, never a 500."""
    with make_client(data_dir, store, '[collector]\nproject = "nope"\n') as c:
        for method, path in (("POST", TP2), ("GET", "/i"), ("GET", TP2)):
            r = c.request(method, path, json={"schema": PAYLOAD_DATA, "data": [PV]})
            assert r.status_code == 404, (method, path, r.text)
            body = r.json()
            assert body["status"] == 404 and "collector project 'nope'" in body["error"]
    assert _events(store) == []
