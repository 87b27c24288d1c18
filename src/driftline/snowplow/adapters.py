"""Adapters: one collector payload → the tracker-protocol events it carries.

* ``com.snowplowanalytics.snowplow/tp1`` (``GET /i``): one event from the query string.
* ``com.snowplowanalytics.snowplow/tp2``: a ``payload_data`` body (POST) or the query string
  (GET). Query-string parameters are merged into every event and win.
* ``r/tp2`` (redirects): a ``uri_redirect`` event for the ``u`` parameter.
* ``com.snowplowanalytics.iglu/v1``: one self-describing event, from ``schema`` and the other
  query parameters (GET) or a self-describing JSON body (POST).

Every event of a POST body is checked on its own against ``payload_data`` (string values,
known parameters, ``tv``/``p``/``e`` present): a bad one becomes a
``tracker_protocol_violations`` bad row and the valid events of the same request are kept.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from driftline.snowplow import badrows
from driftline.snowplow.badrows import BadRow
from driftline.snowplow.iglu import IgluError, Resolver, SchemaCriterion, SchemaKey, self_describing
from driftline.snowplow.payload import CollectorPayload

JSON_CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
)
PAYLOAD_DATA = SchemaCriterion.parse(
    "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-*"
)
UNSTRUCT_SCHEMA = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
CONTEXTS_SCHEMA = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
REDIRECT_SCHEMA = "iglu:com.snowplowanalytics.snowplow/uri_redirect/jsonschema/1-0-0"


@dataclass
class Adapted:
    events: list[dict[str, str]] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


def query_params(querystring: str | None) -> dict[str, str]:
    """Query-string parameters; a repeated name keeps its last value."""
    if not querystring:
        return {}
    return dict(parse_qsl(querystring, keep_blank_values=True))


def adapt(payload: CollectorPayload, resolver: Resolver) -> Adapted:
    api = (payload.vendor, payload.version)
    if api == ("com.snowplowanalytics.snowplow", "tp2"):
        return _tp2(payload, resolver)
    if api == ("com.snowplowanalytics.snowplow", "tp1"):
        return _tp1(payload)
    if api == ("r", "tp2"):
        return _redirect(payload)
    if api == ("com.snowplowanalytics.iglu", "v1"):
        return _iglu(payload)
    return _fail(
        payload,
        [
            {
                "field": "vendor/version",
                "value": f"{payload.vendor}/{payload.version}",
                "expectation": "vendor/version combination is not supported",
            }
        ],
    )


def _fail(payload: CollectorPayload, messages: list[dict[str, Any]]) -> Adapted:
    return Adapted(
        bad=[badrows.tracker_protocol(payload.vendor, payload.version, messages, payload.as_json())]
    )


def _tp1(payload: CollectorPayload) -> Adapted:
    params = query_params(payload.querystring)
    if not params:
        return _fail(
            payload,
            [{"field": "querystring", "expectation": "empty querystring: no event to process"}],
        )
    return Adapted(events=[params])


def _tp2(payload: CollectorPayload, resolver: Resolver) -> Adapted:
    qs = query_params(payload.querystring)
    body, ctype = payload.body, payload.content_type
    if body is None or body == "":
        if ctype is not None and body is None:
            return _fail(payload, [_ctype_message(ctype, "no body")])
        if not qs:
            return _fail(
                payload,
                [
                    {
                        "field": "body",
                        "expectation": "empty body: not a valid tracker protocol event",
                    },
                    {
                        "field": "querystring",
                        "expectation": "empty querystring: not a valid tracker protocol event",
                    },
                ],
            )
        return Adapted(events=[qs])
    if ctype is None or ctype not in JSON_CONTENT_TYPES:
        return _fail(payload, [_ctype_message(ctype, None)])
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _fail(
            payload, [{"field": "body", "value": body[:10_000], "error": f"invalid json: {exc}"}]
        )
    try:
        key, data = self_describing(document)
    except IgluError as exc:
        return _fail(payload, [{"json": document, "error": exc.code, "message": exc.message}])
    if not PAYLOAD_DATA.matches(key):
        return _fail(payload, [{"schemaKey": key.uri, "schemaCriterion": str(PAYLOAD_DATA)}])
    if not isinstance(data, list) or not data:
        error = resolver.check(key, data) or {"error": "ValidationError", "dataReports": []}
        return _fail(payload, [{"schemaKey": key.uri, "error": error}])
    out = Adapted()
    fast = _fast_check(resolver, key)
    for index, event in enumerate(data):
        if fast is not None and fast(event):
            out.events.append({**event, **qs} if qs else event)
            continue
        error = resolver.check(key, [event])
        if error is None:
            out.events.append({**event, **qs} if qs else event)
            continue
        if error.get("error") == "ValidationError":
            for report in error["dataReports"]:
                report["path"] = report["path"].replace("$[0]", f"$[{index}]", 1)
                report["message"] = report["message"].replace("$[0]", f"$[{index}]", 1)
        bad_payload = payload.as_json()
        bad_payload["body"] = orjson.dumps({"schema": key.uri, "data": [event]}).decode()
        out.bad.append(
            badrows.tracker_protocol(
                payload.vendor,
                payload.version,
                [{"schemaKey": key.uri, "error": error}],
                bad_payload,
            )
        )
    return out


def _fast_check(resolver: Resolver, key: SchemaKey) -> Callable[[Any], bool] | None:
    """A quick test equivalent to the schema's ``items`` for the usual payload_data shape
    (string properties, required names, no others); None when the schema is another shape.
    Events it does not pass go through full validation, which words the error."""
    cached = _FAST.get(key)
    if cached is not None or key in _FAST:
        return cached
    schema = resolver.schema(key)
    items = (schema or {}).get("items") or {}
    props = items.get("properties") or {}
    check: Callable[[Any], bool] | None = None
    if (
        items.get("type") == "object"
        and items.get("additionalProperties") is False
        and all(p == {"type": "string"} for p in props.values())
    ):
        allowed = frozenset(props)
        required = frozenset(items.get("required", ()))

        def check(event: Any) -> bool:
            if type(event) is not dict:
                return False
            keys = event.keys()
            return (
                keys <= allowed and required <= keys and _STR.issuperset(map(type, event.values()))
            )

    _FAST[key] = check
    return check


_FAST: dict[SchemaKey, Callable[[Any], bool] | None] = {}
_STR = frozenset([str])  # every value's type is str itself (no subclass)


def _ctype_message(ctype: str | None, why: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "field": "contentType",
        "expectation": f"expected one of {', '.join(JSON_CONTENT_TYPES)}",
    }
    if ctype is not None:
        message["value"] = ctype
    if why:
        message["expectation"] += f" ({why})"
    return message


def _redirect(payload: CollectorPayload) -> Adapted:
    qs = query_params(payload.querystring)
    target = qs.pop("u", None)
    if not target:
        return _fail(
            payload,
            [
                {
                    "field": "querystring",
                    "expectation": "missing `u` parameter: not a valid URI redirect",
                }
            ],
        )
    entity = {"schema": REDIRECT_SCHEMA, "data": {"uri": target}}
    event = dict(qs)
    if "e" not in event:
        event["e"] = "ue"
        event["ue_pr"] = orjson.dumps({"schema": UNSTRUCT_SCHEMA, "data": entity}).decode()
    else:
        existing: list[Any] = []
        raw = event.pop("co", None)
        encoded = event.pop("cx", None)
        try:
            if raw:
                existing = orjson.loads(raw).get("data", [])
            elif encoded:
                existing = orjson.loads(decode_base64(encoded)).get("data", [])
        except (orjson.JSONDecodeError, ValueError, AttributeError):
            return _fail(payload, [{"field": "co" if raw else "cx", "error": "invalid contexts"}])
        event["co"] = orjson.dumps(
            {"schema": CONTEXTS_SCHEMA, "data": [*existing, entity]}
        ).decode()
    event["tv"] = "r-tp2"
    event.setdefault("p", "web")
    return Adapted(events=[event])


def _iglu(payload: CollectorPayload) -> Adapted:
    qs = query_params(payload.querystring)
    schema = qs.pop("schema", None)
    if payload.body:
        try:
            document = orjson.loads(payload.body)
        except orjson.JSONDecodeError as exc:
            return _fail(payload, [{"field": "body", "error": f"invalid json: {exc}"}])
        entity = document if schema is None else {"schema": schema, "data": document}
    elif schema is not None:
        entity = {"schema": schema, "data": qs}
        qs = {}
    else:
        return _fail(
            payload,
            [
                {
                    "field": "schema",
                    "expectation": "schema parameter or self-describing JSON body required",
                }
            ],
        )
    event = {
        "e": "ue",
        "p": qs.pop("p", "app"),
        "tv": "com.snowplowanalytics.iglu-v1",
        "ue_pr": orjson.dumps({"schema": UNSTRUCT_SCHEMA, "data": entity}).decode(),
    }
    if "aid" in qs:
        event["aid"] = qs["aid"]
    return Adapted(events=[event])


def decode_base64(text: str) -> str:
    """URL-safe or standard base64, padding optional, to UTF-8 text (ValueError otherwise)."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    # what base64.b64decode(cleaned, validate=True) does, without its two Python calls; the
    # text itself (a2b_base64 takes ASCII text, and refuses other text with the message that
    # encoding it to ASCII first gave)
    try:
        raw = binascii.a2b_base64(cleaned, strict_mode=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid base64: {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"base64 does not decode to UTF-8 text: {exc}") from None
