"""The 131 fields of a Snowplow enriched event, in TSV order, with their value kinds.

Kinds decide how a field is read from TSV, stored and rendered as JSON:

* ``str`` – text; ``int`` – a whole number; ``double`` – a float (geo coordinates);
* ``decimal`` – a number kept as the text that was written (Enrich writes Java BigDecimals,
  whose scale matters: ``2.50`` stays ``2.50``);
* ``bool`` – ``1`` / ``0``; ``tstamp`` – ``yyyy-MM-dd HH:mm:ss.SSS`` in UTC;
* ``json`` – a self-describing JSON document (contexts, unstruct event, derived contexts).

Column 121 is named ``refr_dvce_tstamp`` as Enrich names it (the Python Analytics SDK and
the TSV header in Snowplow's docs call it ``refr_device_tstamp``; both are accepted where
names are read).
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["str", "int", "double", "decimal", "bool", "tstamp", "json"]

_SPEC = """
app_id str|platform str|etl_tstamp tstamp|collector_tstamp tstamp|dvce_created_tstamp tstamp|
event str|event_id str|txn_id int|name_tracker str|v_tracker str|v_collector str|v_etl str|
user_id str|user_ipaddress str|user_fingerprint str|domain_userid str|domain_sessionidx int|
network_userid str|geo_country str|geo_region str|geo_city str|geo_zipcode str|
geo_latitude double|geo_longitude double|geo_region_name str|ip_isp str|ip_organization str|
ip_domain str|ip_netspeed str|page_url str|page_title str|page_referrer str|page_urlscheme str|
page_urlhost str|page_urlport int|page_urlpath str|page_urlquery str|page_urlfragment str|
refr_urlscheme str|refr_urlhost str|refr_urlport int|refr_urlpath str|refr_urlquery str|
refr_urlfragment str|refr_medium str|refr_source str|refr_term str|mkt_medium str|
mkt_source str|mkt_term str|mkt_content str|mkt_campaign str|contexts json|se_category str|
se_action str|se_label str|se_property str|se_value decimal|unstruct_event json|tr_orderid str|
tr_affiliation str|tr_total decimal|tr_tax decimal|tr_shipping decimal|tr_city str|
tr_state str|tr_country str|ti_orderid str|ti_sku str|ti_name str|ti_category str|
ti_price decimal|ti_quantity int|pp_xoffset_min int|pp_xoffset_max int|pp_yoffset_min int|
pp_yoffset_max int|useragent str|br_name str|br_family str|br_version str|br_type str|
br_renderengine str|br_lang str|br_features_pdf bool|br_features_flash bool|
br_features_java bool|br_features_director bool|br_features_quicktime bool|
br_features_realplayer bool|br_features_windowsmedia bool|br_features_gears bool|
br_features_silverlight bool|br_cookies bool|br_colordepth str|br_viewwidth int|
br_viewheight int|os_name str|os_family str|os_manufacturer str|os_timezone str|dvce_type str|
dvce_ismobile bool|dvce_screenwidth int|dvce_screenheight int|doc_charset str|doc_width int|
doc_height int|tr_currency str|tr_total_base decimal|tr_tax_base decimal|
tr_shipping_base decimal|ti_currency str|ti_price_base decimal|base_currency str|
geo_timezone str|mkt_clickid str|mkt_network str|etl_tags str|dvce_sent_tstamp tstamp|
refr_domain_userid str|refr_dvce_tstamp tstamp|derived_contexts json|domain_sessionid str|
derived_tstamp tstamp|event_vendor str|event_name str|event_format str|event_version str|
event_fingerprint str|true_tstamp tstamp
"""

FIELD_KINDS: dict[str, Kind] = {}
for _item in _SPEC.replace("\n", "").split("|"):
    _name, _kind = _item.split()
    FIELD_KINDS[_name] = _kind  # type: ignore[assignment]

#: The 131 field names in TSV order.
FIELDS: tuple[str, ...] = tuple(FIELD_KINDS)
#: Position of each field in a TSV line.
INDEX: dict[str, int] = {name: i for i, name in enumerate(FIELDS)}
#: Other names accepted for a field when reading (the Python Analytics SDK's spelling).
ALIASES = {"refr_device_tstamp": "refr_dvce_tstamp"}

#: Maximum lengths from the atomic 1-0-0 schema that Enrich checks after enrichment.
MAX_LENGTHS: dict[str, int] = {
    "app_id": 255, "platform": 255, "event": 128, "event_id": 36, "name_tracker": 128,
    "v_tracker": 100, "v_collector": 100, "v_etl": 100, "user_id": 255, "user_ipaddress": 128,
    "user_fingerprint": 128, "domain_userid": 128, "network_userid": 128, "geo_country": 2,
    "geo_region": 3, "geo_city": 75, "geo_zipcode": 15, "geo_region_name": 100, "ip_isp": 100,
    "ip_organization": 128, "ip_domain": 128, "ip_netspeed": 100, "page_url": 4096,
    "page_title": 2000, "page_referrer": 4096, "page_urlscheme": 16, "page_urlhost": 255,
    "page_urlpath": 3000, "page_urlquery": 6000, "page_urlfragment": 3000,
    "refr_urlscheme": 16, "refr_urlhost": 255, "refr_urlpath": 6000, "refr_urlquery": 6000,
    "refr_urlfragment": 3000, "refr_medium": 25, "refr_source": 50, "refr_term": 255,
    "mkt_medium": 255, "mkt_source": 255, "mkt_term": 255, "mkt_content": 500,
    "mkt_campaign": 255, "se_category": 1000, "se_action": 1000, "se_label": 4096,
    "se_property": 1000, "tr_orderid": 255, "tr_affiliation": 255, "tr_city": 255,
    "tr_state": 255, "tr_country": 255, "ti_orderid": 255, "ti_sku": 255, "ti_name": 255,
    "ti_category": 255, "useragent": 1000, "br_name": 50, "br_family": 50, "br_version": 50,
    "br_type": 50, "br_renderengine": 50, "br_lang": 255, "br_colordepth": 12, "os_name": 50,
    "os_family": 50, "os_manufacturer": 50, "os_timezone": 255, "dvce_type": 50,
    "doc_charset": 128, "tr_currency": 3, "ti_currency": 3, "base_currency": 3,
    "geo_timezone": 64, "mkt_clickid": 128, "mkt_network": 64, "etl_tags": 500,
    "refr_domain_userid": 128, "domain_sessionid": 128, "event_vendor": 1000,
    "event_name": 1000, "event_format": 128, "event_version": 128, "event_fingerprint": 128,
}  # fmt: skip

assert len(FIELDS) == 131, len(FIELDS)
