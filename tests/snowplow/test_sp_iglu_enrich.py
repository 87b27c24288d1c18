"""Iglu resolution (embedded, local directory, HTTP registry with cache) and enrichments."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from sp_helpers import PAYLOAD_DATA, bad_rows, make_client, post

from driftline.snowplow import enrich
from driftline.snowplow.iglu import DirectoryRepository, HttpRepository, Resolver, SchemaKey
from driftline.snowplow.payload import CollectorPayload
from driftline.snowplow.sdk_json import shred_name, to_sdk_json
from driftline.snowplow.transform import map_parameters
from driftline.store import DuckDBStore

CHECKOUT = {
    "$schema": "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#",
    "self": {"vendor": "com.acme", "name": "checkout", "format": "jsonschema", "version": "1-0-0"},
    "type": "object",
    "properties": {"total": {"type": "number"}, "email": {"type": "string"}},
    "required": ["total"],
    "additionalProperties": False,
}


class _Iglu(BaseHTTPRequestHandler):
    schemas: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.schemas.get(self.path.removeprefix("/api/schemas/"))
        if self.headers.get("apikey") != "secret-key" or body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def iglu_server() -> Iterator[str]:
    _Iglu.schemas = {"com.acme/checkout/jsonschema/1-0-0": json.dumps(CHECKOUT).encode()}
    _Iglu.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Iglu)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def _ue(schema: str, data: object) -> str:
    return json.dumps(
        {
            "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
            "data": {"schema": schema, "data": data},
        }
    )


def test_http_registry_is_used_and_cached(iglu_server: str) -> None:
    resolver = Resolver([HttpRepository("acme", uri=iglu_server, apikey="secret-key")])
    key = SchemaKey.parse("iglu:com.acme/checkout/jsonschema/1-0-0")
    assert resolver.check(key, {"total": 3}) is None
    assert resolver.check(key, {"total": "x"})["error"] == "ValidationError"  # type: ignore[index]
    missing = SchemaKey.parse("iglu:com.acme/nothing/jsonschema/1-0-0")
    error = resolver.check(missing, {})
    assert error is not None and error["error"] == "ResolutionError"
    assert [a["errors"][0]["error"] for a in error["lookupHistory"]] == ["NotFound", "NotFound"]
    resolver.check(missing, {})
    assert _Iglu.hits == [
        "/api/schemas/com.acme/checkout/jsonschema/1-0-0",
        "/api/schemas/com.acme/nothing/jsonschema/1-0-0",
    ]


def test_collector_validates_against_a_configured_registry_and_directory(
    data_dir: Path, store: DuckDBStore, iglu_server: str, tmp_path: Path
) -> None:
    local = tmp_path / "iglu" / "schemas" / "com.acme" / "signup" / "jsonschema"
    local.mkdir(parents=True)
    (local / "1-0-0").write_text(
        json.dumps({**CHECKOUT, "self": {**CHECKOUT["self"], "name": "signup"}, "required": []})
    )
    config = f'[iglu]\nregistries = ["{iglu_server}"]\napikey = "secret-key"\nschema_dirs = ["{tmp_path / "iglu"}"]\n'
    base = {"tv": "py", "p": "srv", "e": "ue"}
    with make_client(data_dir, store, config) as c:
        r = post(
            c,
            [
                {**base, "ue_pr": _ue("iglu:com.acme/checkout/jsonschema/1-0-0", {"total": 10.5})},
                {**base, "ue_pr": _ue("iglu:com.acme/signup/jsonschema/1-0-0", {"email": "a@b"})},
                {**base, "ue_pr": _ue("iglu:com.acme/checkout/jsonschema/1-0-0", {"total": "ten"})},
                {**base, "ue_pr": _ue("iglu:com.acme/unknown/jsonschema/1-0-0", {})},
            ],
        )
        assert r.status_code == 200
    events = store.query_rows("SELECT event, properties->>'total' FROM events ORDER BY event")
    assert events == [("checkout", "10.5"), ("signup", None)]
    kinds = [k for k, _ in bad_rows(store)]
    assert kinds == ["schema_violations", "schema_violations"]


def test_directory_repository_layouts(tmp_path: Path) -> None:
    (tmp_path / "com.acme" / "x" / "jsonschema").mkdir(parents=True)
    (tmp_path / "com.acme" / "x" / "jsonschema" / "1-0-0").write_text(
        json.dumps({"type": "object"})
    )
    resolver = Resolver([DirectoryRepository("local", path=tmp_path)])
    assert resolver.check(SchemaKey.parse("iglu:com.acme/x/jsonschema/1-0-0"), {}) is None


def _enriched(enrichments: list[object], params: dict[str, str], **payload: object):  # type: ignore[no-untyped-def]
    p = CollectorPayload(
        "com.snowplowanalytics.snowplow",
        "tp2",
        None,
        None,
        None,
        ip_address="94.15.223.151",
        timestamp_ms=1_700_000_000_000,
        **payload,
    )  # type: ignore[arg-type]
    ev = map_parameters({"tv": "t", "p": "web", "e": "pv", **params}, p, 1_700_000_000_000)
    from driftline.snowplow.enrich.urls import set_url_fields

    set_url_fields(ev, "page_url", "page")
    set_url_fields(ev, "page_referrer", "refr")
    for e in enrichments:
        assert e.apply(ev) is None  # type: ignore[attr-defined]
    return ev


def test_enrichments_from_snowplow_config_files(tmp_path: Path) -> None:
    configs = {
        "anon_ip.json": {
            "schema": "iglu:com.snowplowanalytics.snowplow/anon_ip/jsonschema/1-0-1",
            "data": {
                "vendor": "com.snowplowanalytics.snowplow",
                "name": "anon_ip",
                "enabled": True,
                "parameters": {"anonOctets": 2},
            },
        },
        "pii.json": {
            "schema": "iglu:com.snowplowanalytics.snowplow.enrichments/pii_enrichment_config/jsonschema/2-0-0",
            "data": {
                "vendor": "com.snowplowanalytics.snowplow.enrichments",
                "name": "pii_enrichment_config",
                "enabled": True,
                "parameters": {
                    "pii": [
                        {"pojo": {"field": "user_id"}},
                        {
                            "json": {
                                "field": "unstruct_event",
                                "schemaCriterion": "iglu:com.acme/checkout/jsonschema/1-*-*",
                                "jsonPath": "$.email",
                            }
                        },
                    ],
                    "strategy": {"pseudonymize": {"hashFunction": "SHA-256", "salt": "pepper"}},
                },
            },
        },
        "fingerprint.json": {
            "schema": "iglu:com.snowplowanalytics.snowplow/event_fingerprint_config/jsonschema/1-0-1",
            "data": {
                "vendor": "com.snowplowanalytics.snowplow",
                "name": "event_fingerprint_config",
                "enabled": True,
                "parameters": {"excludeParameters": ["eid", "stm"], "hashAlgorithm": "MD5"},
            },
        },
        "cookies.json": {
            "schema": "iglu:com.snowplowanalytics.snowplow/cookie_extractor_config/jsonschema/1-0-0",
            "data": {
                "vendor": "com.snowplowanalytics.snowplow",
                "name": "cookie_extractor_config",
                "enabled": True,
                "parameters": {"cookies": ["_ga"]},
            },
        },
        "referer.json": {
            "schema": "iglu:com.snowplowanalytics.snowplow/referer_parser/jsonschema/2-0-0",
            "data": {
                "vendor": "com.snowplowanalytics.snowplow",
                "name": "referer_parser",
                "enabled": True,
                "parameters": {"internalDomains": ["blog.acme.com"], "database": "refs.json"},
            },
        },
        "campaign.json": {
            "schema": "iglu:com.snowplowanalytics.snowplow/campaign_attribution/jsonschema/1-0-1",
            "data": {
                "vendor": "com.snowplowanalytics.snowplow",
                "name": "campaign_attribution",
                "enabled": True,
                "parameters": {
                    "mapping": "static",
                    "fields": {"mktSource": ["src", "utm_source"], "mktMedium": ["utm_medium"]},
                    "mktClickId": {"acmeid": "Acme Ads"},
                },
            },
        },
        "off.json": {
            "schema": "iglu:com.snowplowanalytics.snowplow/ua_parser_config/jsonschema/1-0-1",
            "data": {
                "vendor": "com.snowplowanalytics.snowplow",
                "name": "ua_parser_config",
                "enabled": False,
                "parameters": {},
            },
        },
    }
    for name, doc in configs.items():
        (tmp_path / name).write_text(json.dumps(doc))
    (tmp_path / "refs.json").write_text(
        json.dumps({"search": {"AcmeFind": {"domains": ["find.acme.io"], "parameters": ["k"]}}})
    )
    enrichments = enrich.load_directory(tmp_path)
    assert [e.SCHEMA_NAME for e in enrichments] == [
        "referer_parser", "campaign_attribution", "event_fingerprint_config", "cookie_extractor_config", "anon_ip", "pii_enrichment_config",
    ]  # fmt: skip
    import hashlib

    ev = _enriched(
        enrichments,
        {"uid": "bob", "url": "https://shop.acme.com/?src=mail&utm_medium=e&acmeid=77", "refr": "https://find.acme.io/s?k=boots",
         "ue_pr": _ue("iglu:com.acme/checkout/jsonschema/1-0-0", {"total": 1, "email": "bob@acme.com"})},
        cookies={"_ga": "GA1.2.3", "other": "x"},
    )  # fmt: skip
    f = ev.fields
    assert f["user_ipaddress"] == "94.15.x.x"
    assert f["user_id"] == hashlib.sha256(b"bobpepper").hexdigest()
    assert (f["refr_medium"], f["refr_source"], f["refr_term"]) == ("search", "AcmeFind", "boots")
    assert (f["mkt_source"], f["mkt_medium"], f["mkt_clickid"], f["mkt_network"]) == (
        "mail",
        "e",
        "77",
        "Acme Ads",
    )
    assert f["event_fingerprint"] and len(f["event_fingerprint"]) == 32
    assert ev.derived == [
        {
            "schema": "iglu:org.ietf/http_cookie/jsonschema/1-0-0",
            "data": {"name": "_ga", "value": "GA1.2.3"},
        }
    ]
    internal = _enriched(
        enrichments, {"url": "https://shop.acme.com/", "refr": "https://blog.acme.com/post"}
    )
    assert internal.fields["refr_medium"] == "internal"


def test_pii_hashes_each_events_ua_context_once() -> None:
    """The UA parser gives events of one user agent the same (cached) context: PII hashing a
    property of it hashes each event's value once, not again at each event."""
    import hashlib

    enrichments = enrich.build(
        [
            {"schema": "iglu:com.snowplowanalytics.snowplow/ua_parser_config/jsonschema/1-0-1", "data": {}},
            {
                "schema": "iglu:com.snowplowanalytics.snowplow.enrichments/pii_enrichment_config/jsonschema/2-0-0",
                "data": {
                    "parameters": {
                        "pii": [
                            {
                                "json": {
                                    "field": "derived_contexts",
                                    "schemaCriterion": "iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-*",
                                    "jsonPath": "$.useragentFamily",
                                }
                            }
                        ],
                        "strategy": {"pseudonymize": {"hashFunction": "SHA-256", "salt": "s"}},
                    }
                },
            },
        ]
    )  # fmt: skip
    expected = hashlib.sha256(b"Chromes").hexdigest()
    for _ in range(3):
        ev = _enriched(enrichments, {}, useragent="Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
        assert [d["data"]["useragentFamily"] for d in ev.derived] == [expected]


def test_unknown_enrichment_is_refused_with_the_supported_list(tmp_path: Path) -> None:
    from driftline.errors import TerminalError

    (tmp_path / "weather.json").write_text(
        json.dumps(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow.enrichments/weather_enrichment_config/jsonschema/1-0-0",
                "data": {"enabled": True, "parameters": {}},
            }
        )
    )
    with pytest.raises(TerminalError, match="not supported by driftline; supported: anon_ip"):
        enrich.load_directory(tmp_path)


def test_sdk_json_shape() -> None:
    assert (
        shred_name("contexts", "iglu:org.w3/PerformanceTiming/jsonschema/1-0-0")
        == "contexts_org_w3_performance_timing_1"
    )
    assert (
        shred_name("contexts", "iglu:nl.basjes/yauaa_context/jsonschema/1-0-4")
        == "contexts_nl_basjes_yauaa_context_1"
    )
    assert (
        shred_name("unstruct_event", "iglu:com.urbanairship.connect/OPEN/jsonschema/1-0-0")
        == "unstruct_event_com_urbanairship_connect_open_1"
    )
    from snowplow_data import enriched_lines

    line = enriched_lines(3)[2]
    doc = to_sdk_json(line)
    assert doc["unstruct_event_com_snowplowanalytics_snowplow_link_click_1"]["elementId"] == "cta"
    assert doc["br_cookies"] is True and doc["dvce_screenwidth"] == 2560
    assert doc["collector_tstamp"].endswith("Z") and "T" in doc["collector_tstamp"]
    assert isinstance(doc["contexts_com_snowplowanalytics_snowplow_web_page_1"], list)
    assert "geo_country" not in doc
    with pytest.raises(ValueError, match="Expected 131 fields, received 2 fields"):
        to_sdk_json("a\tb")


def test_post_payload_with_charset_upper_case(sp_client, store: DuckDBStore) -> None:
    r = sp_client.post(
        "/com.snowplowanalytics.snowplow/tp2",
        content=json.dumps({"schema": PAYLOAD_DATA, "data": [{"e": "pv", "tv": "t", "p": "web"}]}),
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert r.status_code == 200
    assert store.query_rows("SELECT count(*) FROM events") == [(1,)]


def test_ip_lookups_with_a_maxmind_database(
    data_dir: Path, store: DuckDBStore, tmp_path: Path
) -> None:
    mmdb_writer = pytest.importorskip("mmdb_writer")
    from netaddr import IPSet

    enrichments = tmp_path / "enrichments"
    enrichments.mkdir()
    writer = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoIP2-City", languages=["en"])
    city = {
        "country": {"iso_code": "GB"},
        "city": {"names": {"en": "London"}},
        "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
        "postal": {"code": "EC1A"},
        "location": {"latitude": 51.5142, "longitude": -0.0931, "time_zone": "Europe/London"},
    }
    writer.insert_network(IPSet(["203.0.113.0/24"]), city)
    writer.to_db_file(str(enrichments / "GeoLite2-City.mmdb"))
    config = {
        "schema": "iglu:com.snowplowanalytics.snowplow/ip_lookups/jsonschema/2-0-0",
        "data": {
            "name": "ip_lookups",
            "vendor": "com.snowplowanalytics.snowplow",
            "enabled": True,
            "parameters": {
                "geo": {"database": "GeoLite2-City.mmdb", "uri": "http://example.invalid/maxmind"}
            },
        },
    }
    (enrichments / "ip_lookups.json").write_text(json.dumps(config))
    with make_client(data_dir, store, f'[enrich]\nenrichments = "{enrichments}"\n') as c:
        post(c, [{"e": "pv", "tv": "t", "p": "web"}], headers={"X-Forwarded-For": "203.0.113.9"})
        post(c, [{"e": "pv", "tv": "t", "p": "web"}], headers={"X-Forwarded-For": "198.51.100.1"})
    rows = store.query_rows(
        """SELECT geo_country, geo_region, geo_city, geo_zipcode, geo_latitude, geo_longitude,
                  geo_region_name, geo_timezone FROM snowplow_events ORDER BY user_ipaddress DESC"""
    )
    assert rows[0] == ("GB", "ENG", "London", "EC1A", 51.5142, -0.0931, "England", "Europe/London")
    assert rows[1] == (None,) * 8
    sql = """SELECT properties::VARCHAR FROM events WHERE properties->>'$."$city"' = 'London'"""
    [(props,)] = store.query_rows(sql)
    assert json.loads(props)["mp_country_code"] == "GB"


def _currency_config(tmp_path: Path, **parameters: object) -> None:
    (tmp_path / "currency.json").write_text(
        json.dumps(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/currency_conversion_config/jsonschema/1-0-0",
                "data": {
                    "vendor": "com.snowplowanalytics.snowplow",
                    "name": "currency_conversion_config",
                    "enabled": True,
                    "parameters": {"baseCurrency": "EUR", "rateAt": "EOD_PRIOR", **parameters},
                },
            }
        )
    )


def test_currency_conversion_from_a_local_rates_file(tmp_path: Path) -> None:
    from driftline.snowplow.badrows import BadRow
    from driftline.snowplow.pipeline import Enricher

    # the collector clock of these events: 2023-11-14 22:13:20 UTC → rates of 2023-11-13;
    # the file skips 2023-11-13, so the last day before it (2023-11-12) is used
    (tmp_path / "rates.json").write_text(
        json.dumps(
            {
                "base": "USD",
                "rates": {
                    "2023-11-10": {"EUR": 0.5, "GBP": 0.25},
                    "2023-11-12": {"EUR": 0.9, "GBP": 0.8},
                    "2023-11-14": {"EUR": 2, "GBP": 2},
                },
            }
        )
    )
    _currency_config(tmp_path, ratesFile="rates.json")
    enrichments = enrich.load_directory(tmp_path)
    tr = _enriched(
        enrichments,
        {"e": "tr", "tr_id": "o1", "tr_tt": "10.00", "tr_tx": "2", "tr_cu": "GBP"},
    )
    f = tr.fields
    # 10 GBP = 10 / 0.8 USD = 12.5 USD = 12.5 * 0.9 EUR
    assert (f["tr_total_base"], f["tr_tax_base"], f.get("tr_shipping_base")) == (
        "11.25",
        "2.25",
        None,
    )
    assert f["base_currency"] == "EUR"
    item = _enriched(enrichments, {"e": "ti", "ti_id": "o1", "ti_pr": "3", "ti_cu": "USD"})
    assert (item.fields["ti_price_base"], item.fields["base_currency"]) == ("2.70", "EUR")
    page = _enriched(enrichments, {"url": "https://shop.acme.com/"})
    assert page.fields.get("base_currency") is None
    # a currency the file does not know: an enrichment failure, not a silent gap
    payload = CollectorPayload(
        "com.snowplowanalytics.snowplow", "tp2", None, None, None,
        ip_address="94.15.223.151", timestamp_ms=1_700_000_000_000,
    )  # fmt: skip
    unknown = Enricher(Resolver(), enrichments).enrich(
        {"tv": "t", "p": "web", "e": "tr", "tr_id": "o2", "tr_tt": "1", "tr_cu": "JPY"},
        payload,
        1_700_000_000_000,
    )
    assert isinstance(unknown, BadRow) and unknown.kind == "enrichment_failures"
    assert "no JPY exchange rate for 2023-11-12 in rates.json" in unknown.json()


def test_currency_conversion_without_a_rates_file_is_refused(tmp_path: Path) -> None:
    from driftline.errors import TerminalError

    _currency_config(tmp_path, accountType="DEVELOPER", apiKey="k")
    with pytest.raises(TerminalError, match="needs a local rates file: set parameters"):
        enrich.load_directory(tmp_path)
