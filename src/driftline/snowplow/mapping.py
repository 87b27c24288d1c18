"""Enriched event → driftline event: the property names, in one place.

Both builders of driftline events read these lists: :mod:`driftline.snowplow.events` (SQL
over typed enriched rows, for imports) and :mod:`driftline.snowplow.rows` (Arrow columns,
for the collector). A test checks that both give the same events.

* ``MIXPANEL``: text fields under the names Mixpanel's own Snowplow forwarding uses;
* ``SCREEN``: whole-number fields under Mixpanel names;
* ``UA``: fields of the UA parser's derived context (``$os`` falls back to ``os_name``);
* ``TEXT`` / ``INTS`` / ``FLOATS``: fields kept under their Snowplow names;
* ``DECIMALS``: money and values, stored as the text Enrich wrote, properties as numbers.

Empty values are left out.
"""

from __future__ import annotations

#: the all-zero network user id of anonymous tracking: not a device id
ZERO = "00000000-0000-0000-0000-000000000000"
UA_CONTEXT = "iglu:com.snowplowanalytics.snowplow/ua_parser_context/"

MIXPANEL = {
    "$current_url": "page_url",
    "$referrer": "page_referrer",
    "$referring_domain": "refr_urlhost",
    "$city": "geo_city",
    "$region": "geo_region",
    "mp_country_code": "geo_country",
    "$lib_version": "v_tracker",
    "utm_source": "mkt_source",
    "utm_medium": "mkt_medium",
    "utm_campaign": "mkt_campaign",
    "utm_content": "mkt_content",
    "utm_term": "mkt_term",
}
SCREEN = {"$screen_width": "dvce_screenwidth", "$screen_height": "dvce_screenheight"}
UA = {
    "$browser": "useragentFamily",
    "$browser_version": "useragentVersion",
    "$device": "deviceFamily",
}

TEXT = [
    "app_id", "platform", "page_title", "page_urlhost", "page_urlpath", "page_urlquery",
    "page_urlfragment", "refr_urlpath", "refr_medium", "refr_source", "refr_term",
    "mkt_clickid", "mkt_network", "geo_zipcode", "geo_region_name", "geo_timezone", "ip_isp",
    "ip_organization", "ip_domain", "ip_netspeed", "domain_sessionid", "network_userid",
    "se_category", "se_label", "se_property", "tr_orderid", "tr_affiliation", "tr_city",
    "tr_state", "tr_country", "tr_currency", "ti_orderid", "ti_sku", "ti_name", "ti_category",
    "ti_currency", "br_lang", "os_timezone", "doc_charset", "event_vendor", "event_version",
    "name_tracker",
]  # fmt: skip
INTS = [
    "domain_sessionidx", "ti_quantity", "br_viewwidth", "br_viewheight", "pp_xoffset_min",
    "pp_xoffset_max", "pp_yoffset_min", "pp_yoffset_max",
]  # fmt: skip
FLOATS = ["geo_latitude", "geo_longitude"]
DECIMALS = ["se_value", "tr_total", "tr_tax", "tr_shipping", "ti_price"]
