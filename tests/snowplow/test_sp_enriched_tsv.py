"""The enriched TSV driftline writes for a known tracker request, field by field."""

from __future__ import annotations

import base64
import json

from sp_helpers import post

from driftline.snowplow.export import enriched_lines
from driftline.snowplow.fields import FIELDS
from driftline.store import DuckDBStore

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
WEB_PAGE = {
    "schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
    "data": {"id": "2ec13853-4a4a-4b4b-8c8c-0123456789ab"},
}
EVENT = {
    "e": "pv",
    "url": "https://snowplow.io/shop?utm_source=news&utm_medium=email&utm_campaign=fall&gclid=g1#top",
    "page": "Shop\ttitle",
    "refr": "https://www.google.com/search?q=snow+boots",
    "eid": "2EC13853-aaaa-4bbb-8ccc-0123456789AB",
    "tv": "js-3.5.0",
    "tna": "biz1",
    "aid": "website",
    "p": "web",
    "cookie": "1",
    "cs": "UTF-8",
    "lang": "en-GB",
    "res": "3440x1440",
    "cd": "30",
    "tz": "Europe/London",
    "dtm": "1665398554084",
    "stm": "1665398554184",
    "vp": "693x1302",
    "ds": "678x8188",
    "vid": "29",
    "sid": "be9520e7-1111-4222-8333-444455556666",
    "duid": "85094061-aaaa-bbbb-cccc-ddddeeeeffff",
    "uid": "alice@example.com",
    "f_pdf": "0",
    "cx": base64.urlsafe_b64encode(
        json.dumps(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
                "data": [WEB_PAGE],
            }
        ).encode()
    )
    .decode()
    .rstrip("="),
}
CONTEXTS = (
    '{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1","data":'
    '[{"schema":"iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",'
    '"data":{"id":"2ec13853-4a4a-4b4b-8c8c-0123456789ab"}}]}'
)
UA_CONTEXT = (
    '{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1","data":'
    '[{"schema":"iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0","data":'
    '{"useragentFamily":"Chrome","useragentMajor":"120","useragentMinor":"0","useragentPatch":"0",'
    '"useragentVersion":"Chrome 120.0.0","osFamily":"Mac OS X","osMajor":"10","osMinor":"15",'
    '"osPatch":"7","osPatchMinor":null,"osVersion":"Mac OS X 10.15.7","deviceFamily":"Mac"}}]}'
)
EXPECTED = {
    "app_id": "website",
    "platform": "web",
    "etl_tstamp": "2022-10-10 10:42:35.000",
    "collector_tstamp": "2022-10-10 10:42:35.000",
    "dvce_created_tstamp": "2022-10-10 10:42:34.084",
    "event": "page_view",
    "event_id": "2ec13853-aaaa-4bbb-8ccc-0123456789ab",
    "name_tracker": "biz1",
    "v_tracker": "js-3.5.0",
    "v_collector": "driftline-collector",
    "v_etl": "driftline-enrich",
    "user_id": "alice@example.com",
    "user_ipaddress": "203.0.113.7",
    "domain_userid": "85094061-aaaa-bbbb-cccc-ddddeeeeffff",
    "domain_sessionidx": "29",
    "network_userid": "7b5e4f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "page_url": EVENT["url"],
    "page_title": "Shop    title",
    "page_referrer": "https://www.google.com/search?q=snow+boots",
    "page_urlscheme": "https",
    "page_urlhost": "snowplow.io",
    "page_urlport": "443",
    "page_urlpath": "/shop",
    "page_urlquery": "utm_source=news&utm_medium=email&utm_campaign=fall&gclid=g1",
    "page_urlfragment": "top",
    "refr_urlscheme": "https",
    "refr_urlhost": "www.google.com",
    "refr_urlport": "443",
    "refr_urlpath": "/search",
    "refr_urlquery": "q=snow+boots",
    "refr_medium": "search",
    "refr_source": "Google",
    "refr_term": "snow boots",
    "mkt_medium": "email",
    "mkt_source": "news",
    "mkt_campaign": "fall",
    "contexts": CONTEXTS,
    "useragent": UA,
    "br_lang": "en-GB",
    "br_features_pdf": "0",
    "br_cookies": "1",
    "br_colordepth": "30",
    "br_viewwidth": "693",
    "br_viewheight": "1302",
    "os_timezone": "Europe/London",
    "dvce_screenwidth": "3440",
    "dvce_screenheight": "1440",
    "doc_charset": "UTF-8",
    "doc_width": "678",
    "doc_height": "8188",
    "mkt_clickid": "g1",
    "mkt_network": "Google",
    "dvce_sent_tstamp": "2022-10-10 10:42:34.184",
    "derived_contexts": UA_CONTEXT,
    "domain_sessionid": "be9520e7-1111-4222-8333-444455556666",
    "derived_tstamp": "2022-10-10 10:42:34.900",
    "event_vendor": "com.snowplowanalytics.snowplow",
    "event_name": "page_view",
    "event_format": "jsonschema",
    "event_version": "1-0-0",
}


def test_known_request_gives_the_expected_131_fields(sp_client, store: DuckDBStore) -> None:
    response = post(
        sp_client,
        [EVENT],
        headers={
            "User-Agent": UA,
            "X-Forwarded-For": "203.0.113.7, 10.0.0.1",
            "Cookie": "sp=7b5e4f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            "Content-Type": "application/json; charset=utf-8",
        },
    )
    assert response.status_code == 200 and response.text == "ok"
    [line] = list(enriched_lines(store, 1))
    values = line.split("\t")
    assert len(values) == 131
    for index, name in enumerate(FIELDS):
        assert values[index] == EXPECTED.get(name, ""), f"field {index} {name}"


def test_event_lands_in_events_with_the_documented_mapping(sp_client, store: DuckDBStore) -> None:
    post(sp_client, [EVENT], headers={"User-Agent": UA})
    [(event, time, distinct_id, device_id, user_id, insert_id, origin, props)] = store.query_rows(
        "SELECT event, time::VARCHAR, distinct_id, device_id, user_id, insert_id, origin, properties::VARCHAR FROM events"
    )
    assert (event, time, distinct_id, device_id, user_id, insert_id, origin) == (
        "page_view",
        "2022-10-10 10:42:34.9",
        "alice@example.com",
        "85094061-aaaa-bbbb-cccc-ddddeeeeffff",
        "alice@example.com",
        "2ec13853-aaaa-4bbb-8ccc-0123456789ab",
        "snowplow",
    )
    properties = json.loads(props)
    assert properties["$current_url"] == EVENT["url"]
    assert properties["$browser"] == "Chrome" and properties["$os"] == "Mac OS X"
    assert (
        properties["utm_campaign"] == "fall" and properties["mp_country_code"]
        if "mp_country_code" in properties
        else True
    )
    assert properties["contexts_com_snowplowanalytics_snowplow_web_page_1"] == [WEB_PAGE["data"]]
    assert properties["$referring_domain"] == "www.google.com"
