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
  of objects, the Analytics SDK's naming; an entity without a schema is left out). Contexts
  derived by enrichments are summarised by the Mixpanel names above (the UA parser's as
  ``$browser``, ``$os``...) and kept whole in ``snowplow_events``. Empty values are left out.
"""

from __future__ import annotations

from driftline.snowplow.mapping import (
    DECIMALS,
    FLOATS,
    INTS,
    MIXPANEL,
    SCREEN,
    TEXT,
    UA,
    UA_CONTEXT,
    ZERO,
)

# contexts_<vendor>_<name>_<model>; the CamelCase regex only runs on names that need it
_NAME = "replace(replace(split_part({s}, '/', 2), '.', '_'), '-', '_')"
_KEY = (
    "replace(replace(lower(split_part({s}, '/', 1)[6:]), '.', '_'), '-', '_') || '_' || "
    "(CASE WHEN regexp_matches(" + _NAME + ", '[A-Z]') THEN lower(regexp_replace(" + _NAME + ", "
    "'([^A-Z_])([A-Z])', '\\1_\\2', 'g')) ELSE " + _NAME + " END) || '_' || "
    "split_part(split_part({s}, '/', 4), '-', 1)"
)


#: the UA parser context's fields read into properties
_UA_FIELDS = [*UA.values(), "osFamily"]
#: the derived contexts as typed lists, read in one pass: each entity's schema and, for the
#: UA parser's, the fields above (as JSON, so that a value reads as it would with ``->>``)
_DERIVED = (
    '{"data": [{"schema": "VARCHAR", "data": {'
    + ", ".join(f'"{f}": "JSON"' for f in _UA_FIELDS)
    + "}}]}"
)


def _ua(field: str) -> str:
    return f"json_extract_string(ua.{field}, '$')"


def _member(key: str, expr: str) -> str:
    """SQL for one ``"key":value`` JSON member; NULL (left out) when the value is NULL."""
    return f"'\"{key}\":' || to_json({expr})"


def _fields() -> dict[str, str]:
    """The properties taken from atomic fields and the UA context: name -> SQL value."""
    fields = dict(MIXPANEL) | dict(SCREEN) | {k: _ua(v) for k, v in UA.items()}
    fields |= {
        "$os": f"coalesce({_ua('osFamily')}, os_name)",
        "mp_lib": "'Snowplow: ' || v_tracker",
        "snowplow_event": "event",
        "snowplow_event_id": "event_id",
    }
    fields |= {name: name for name in TEXT + INTS + FLOATS}
    return fields | {name: f"TRY_CAST({name} AS DOUBLE)" for name in DECIMALS}


def _members() -> str:
    """The fields' ``"key":value`` JSON members, as arguments of ``concat_ws``."""
    return ", ".join(_member(k, v) for k, v in _fields().items())


def _properties() -> str:
    # self-describing event properties first; the contexts and the fields above win on a
    # clash. Context keys (``contexts_...``) never clash with the fields' names and their
    # values are lists, so both are one JSON text built by concatenation (``own``: the
    # contexts' ``"key":[...]`` members, one context, the common case, written directly,
    # several through a map, then the fields'). Self-describing data without nulls (a JSON
    # merge leaves them out) goes first; only data with a key of its own that the fields or
    # contexts could also have pays for a merge of the whole text, which then decides.
    unstruct = "json_type(unstruct_event, '$.data.data') = 'OBJECT'"
    names = "[" + ", ".join(f"'{k}'" for k in _fields()) + "]"
    clash = (
        f"len(list_filter(json_keys(ud), lambda k: starts_with(k, 'contexts_') "
        f"OR list_contains({names}, k))) > 0"
    )
    return (
        f"CASE WHEN NOT {unstruct} THEN '{{' || own || '}}' "
        f"WHEN {clash} THEN json_merge_patch('{{}}', ud, ('{{' || own || '}}')::JSON)::VARCHAR "
        f"ELSE '{{' || concat_ws(',', nullif((json_merge_patch('{{}}', ud)::VARCHAR)[2:-2], ''), "
        f"nullif(own, '')) || '}}' END"
    )


def events_sql() -> str:
    """SELECT of EVENT_SCHEMA columns from the relation ``{enriched}``."""
    # each distinct context schema is named once, then looked up per entity
    key_s = _KEY.format(s="s")
    return f"""
    WITH src AS (
      SELECT *,
        coalesce(json_extract(contexts, '$.data[*]'), []::JSON[]) AS ents,
        coalesce(domain_userid,
                 nullif(network_userid, '{ZERO}')) AS dev
      FROM {{enriched}}
    ), schemas AS (
      SELECT DISTINCT unnest(list_transform(
          coalesce(json_extract(contexts, '$.data[*]'), []::JSON[]),
          lambda x: x->>'schema')) AS s
      FROM {{enriched}}
    ), names AS (
      SELECT map(list(s), list('contexts_' || {key_s})) AS m FROM schemas WHERE s IS NOT NULL
    ), keyed AS (
      SELECT src.*, list_transform(ents, lambda x: m[x->>'schema']) AS ks,
        list_filter(json_transform(derived_contexts, '{_DERIVED}').data,
          lambda x: starts_with(x.schema, '{UA_CONTEXT}'))[1].data AS ua
      FROM src, names
    ), shaped AS (
      SELECT *, CASE
        WHEN len(ents) = 1 AND ks[1] IS NOT NULL THEN
          to_json(ks[1]) || ':[' || coalesce((ents[1]->'data')::VARCHAR, 'null') || ']'
        WHEN len(ents) > 0 THEN nullif((to_json(map_from_entries(list_transform(
          list_distinct(ks), lambda k: {{'k': k, 'v': list_transform(
            list_filter(list_zip(ks, ents), lambda z: z[1] = k), lambda z: z[2]->'data')}})))
          ::VARCHAR)[2:-2], '')
        END AS ctx_members
      FROM keyed
    ), owned AS (
      SELECT *, json_extract(unstruct_event, '$.data.data') AS ud,
        concat_ws(',', ctx_members, {_members()}) AS own
      FROM shaped
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
      {_properties()} AS properties,
      'snowplow' AS origin,
      event_id AS origin_key
    FROM owned
    """


EVENTS_SQL = events_sql()
