"""Enriched Snowplow events → driftline events (the mapping Snowplow's own Mixpanel
forwarding uses), as one SQL statement over a batch of typed enriched rows.

* ``event``: ``se_action`` for structured events, else ``event_name`` (``page_view``,
  ``link_click``, the self-describing event's name...), else ``event``.
* ``time``: ``derived_tstamp`` (else ``collector_tstamp``), to the millisecond.
* ``user_id`` = ``user_id``; ``device_id`` = ``domain_userid``, else ``network_userid``
  (the all-zero id of anonymous tracking does not count); ``distinct_id`` follows
  driftline's rule: the user id, else ``$device:<device_id>``.
* ``$insert_id`` = ``event_id``, so the same Snowplow event never counts twice.
* properties: Mixpanel's names where Mixpanel has one (``$current_url``, ``$referrer``,
  ``$referring_domain``, ``$city``, ``$region``, ``mp_country_code``, ``$browser``,
  ``$browser_version``, ``$os``, ``$device``, ``$screen_width``/``height``, ``$lib_version``,
  ``mp_lib``, ``utm_*``), the Snowplow field names for the rest of the page, referrer,
  campaign, geo and session fields, each self-describing event's own properties at the top
  level, and every context the tracker sent as ``contexts_<vendor>_<name>_<model>`` (a list
  of objects, the Analytics SDK's naming). Contexts derived by enrichments are summarised by
  the Mixpanel names above (the UA parser's as ``$browser``, ``$os``...) and kept whole in
  ``snowplow_events``. Empty values are left out.
"""

from __future__ import annotations

# contexts_<vendor>_<name>_<model>; the CamelCase regex only runs on names that need it
_NAME = "replace(replace(split_part({s}, '/', 2), '.', '_'), '-', '_')"
_KEY = (
    "replace(replace(lower(split_part({s}, '/', 1)[6:]), '.', '_'), '-', '_') || '_' || "
    "(CASE WHEN regexp_matches(" + _NAME + ", '[A-Z]') THEN lower(regexp_replace(" + _NAME + ", "
    "'([^A-Z_])([A-Z])', '\\1_\\2', 'g')) ELSE " + _NAME + " END) || '_' || "
    "split_part(split_part({s}, '/', 4), '-', 1)"
)
UA_CONTEXT = "iglu:com.snowplowanalytics.snowplow/ua_parser_context/"

_PLAIN = [
    "app_id",
    "platform",
    "page_title",
    "page_urlhost",
    "page_urlpath",
    "page_urlquery",
    "page_urlfragment",
    "refr_urlpath",
    "refr_medium",
    "refr_source",
    "refr_term",
    "mkt_clickid",
    "mkt_network",
    "geo_zipcode",
    "geo_region_name",
    "geo_latitude",
    "geo_longitude",
    "geo_timezone",
    "ip_isp",
    "ip_organization",
    "ip_domain",
    "ip_netspeed",
    "domain_sessionid",
    "domain_sessionidx",
    "network_userid",
    "se_category",
    "se_label",
    "se_property",
    "tr_orderid",
    "tr_affiliation",
    "tr_city",
    "tr_state",
    "tr_country",
    "tr_currency",
    "ti_orderid",
    "ti_sku",
    "ti_name",
    "ti_category",
    "ti_quantity",
    "ti_currency",
    "br_lang",
    "br_viewwidth",
    "br_viewheight",
    "os_timezone",
    "doc_charset",
    "event_vendor",
    "event_version",
    "name_tracker",
    "pp_xoffset_min",
    "pp_xoffset_max",
    "pp_yoffset_min",
    "pp_yoffset_max",
]
_NUMBERS = ["se_value", "tr_total", "tr_tax", "tr_shipping", "ti_price"]
_MIXPANEL = {
    "$current_url": "page_url",
    "$referrer": "page_referrer",
    "$referring_domain": "refr_urlhost",
    "$city": "geo_city",
    "$region": "geo_region",
    "mp_country_code": "geo_country",
    "$screen_width": "dvce_screenwidth",
    "$screen_height": "dvce_screenheight",
    "$lib_version": "v_tracker",
    "utm_source": "mkt_source",
    "utm_medium": "mkt_medium",
    "utm_campaign": "mkt_campaign",
    "utm_content": "mkt_content",
    "utm_term": "mkt_term",
    "$browser": "ua->>'useragentFamily'",
    "$browser_version": "ua->>'useragentVersion'",
    "$os": "coalesce(ua->>'osFamily', os_name)",
    "$device": "ua->>'deviceFamily'",
    "mp_lib": "'Snowplow: ' || v_tracker",
    "snowplow_event": "event",
    "snowplow_event_id": "event_id",
}


def _properties() -> str:
    pairs = [f"'{k}', {v}" for k, v in _MIXPANEL.items()]
    pairs += [f"'{name}', {name}" for name in _PLAIN]
    pairs += [f"'{name}', TRY_CAST({name} AS DOUBLE)" for name in _NUMBERS]
    base = f"json_object({', '.join(pairs)})"
    # self-describing event properties first; the fields above win on a clash
    return (
        "json_merge_patch('{}', "
        "CASE WHEN json_type(unstruct_event, '$.data.data') = 'OBJECT' "
        "THEN json_extract(unstruct_event, '$.data.data') ELSE '{}'::JSON END, "
        "coalesce(ctx_obj, '{}'::JSON), "
        f"{base})"
    )


def events_sql() -> str:
    """SELECT of EVENT_SCHEMA columns from the relation ``{enriched}``."""
    key = _KEY.format(s="x->>'schema'")
    return f"""
    WITH src AS (
      SELECT *,
        coalesce(json_extract(contexts, '$.data[*]'), []::JSON[]) AS ents,
        coalesce(json_extract(derived_contexts, '$.data[*]'), []::JSON[]) AS derived,
        coalesce(domain_userid,
                 nullif(network_userid, '00000000-0000-0000-0000-000000000000')) AS dev
      FROM {{enriched}}
    ), keyed AS (
      SELECT *, list_transform(ents, lambda x: 'contexts_' || {key}) AS ks,
        list_filter(derived, lambda x: starts_with(x->>'schema', '{UA_CONTEXT}'))[1]->'data' AS ua
      FROM src
    ), shaped AS (
      SELECT *, CASE WHEN len(ents) > 0 THEN to_json(map_from_entries(list_transform(
          list_distinct(ks), lambda k: {{'k': k, 'v': list_transform(
            list_filter(list_zip(ks, ents), lambda z: z[1] = k), lambda z: z[2]->'data')}})))
        END AS ctx_obj
      FROM keyed
    )
    SELECT
      project_id::INTEGER AS project_id,
      CASE WHEN event = 'struct' AND coalesce(se_action, '') <> '' THEN se_action
           ELSE coalesce(nullif(event_name, ''), nullif(event, ''), 'snowplow_event') END AS event,
      date_trunc('millisecond', coalesce(derived_tstamp, collector_tstamp))::TIMESTAMP_MS AS time,
      coalesce(user_id, '$device:' || dev, '$device:' || event_id, '$device:unknown') AS distinct_id,
      dev AS device_id,
      user_id,
      coalesce(event_id, md5(concat_ws('|', collector_tstamp, network_userid, event_fingerprint))) AS insert_id,
      {_properties()}::VARCHAR AS properties,
      'snowplow' AS origin,
      event_id AS origin_key
    FROM shaped
    """


EVENTS_SQL = events_sql()
