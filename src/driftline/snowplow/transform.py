"""Tracker-protocol parameters → enriched-event fields, as Snowplow Enrich maps them.

:func:`map_parameters` fills the atomic fields of one event from its parameters and the
collector payload, checking every value (event type, platform, ids, timestamps, sizes,
booleans, numbers, base64 and JSON of ``ue_px``/``cx``). Every problem is collected; the
caller turns a non-empty list into a ``schema_violations`` bad row.

Field values are kept as the text the TSV line will hold (see :mod:`driftline.snowplow.tsv`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from driftline.snowplow.adapters import decode_base64
from driftline.snowplow.ids import random_uuid
from driftline.snowplow.payload import CollectorPayload
from driftline.snowplow.shapes import PerShape, compile_function
from driftline.snowplow.tsv import format_tstamp, tsv_safe

EVENT_TYPES = {
    "se": "struct",
    "ev": "struct",
    "ue": "unstruct",
    "ad": "ad_impression",
    "tr": "transaction",
    "ti": "transaction_item",
    "pv": "page_view",
    "pp": "page_ping",
}
PLATFORMS = frozenset(["web", "iot", "app", "mob", "pc", "cnsl", "tv", "srv", "headset"])
ATOMIC = "iglu:com.snowplowanalytics.snowplow/atomic/jsonschema/1-0-0"
SCHEMA_OF_EVENT = {
    "page_view": ("com.snowplowanalytics.snowplow", "page_view", "jsonschema", "1-0-0"),
    "page_ping": ("com.snowplowanalytics.snowplow", "page_ping", "jsonschema", "1-0-0"),
    "transaction": ("com.snowplowanalytics.snowplow", "transaction", "jsonschema", "1-0-0"),
    "transaction_item": (
        "com.snowplowanalytics.snowplow",
        "transaction_item",
        "jsonschema",
        "1-0-0",
    ),
    "struct": ("com.google.analytics", "event", "jsonschema", "1-0-0"),
    "ad_impression": ("com.snowplowanalytics.snowplow", "ad_impression", "jsonschema", "1-0-0"),
}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DIMS = re.compile(r"^(\d+)x(\d+)$")
_INT_MAX = 2**31 - 1
_MAX_MS = 253_402_300_799_999  # 9999-12-31 23:59:59.999

# parameter → field for plain strings
_STRINGS = {
    "aid": "app_id", "uid": "user_id", "duid": "domain_userid", "fp": "user_fingerprint",
    "tna": "name_tracker", "tv": "v_tracker", "cv": "v_collector", "lang": "br_lang",
    "cd": "br_colordepth", "tz": "os_timezone", "refr": "page_referrer", "page": "page_title",
    "cs": "doc_charset", "se_ca": "se_category", "se_ac": "se_action", "se_la": "se_label",
    "se_pr": "se_property", "ev_ca": "se_category", "ev_ac": "se_action", "ev_la": "se_label",
    "ev_pr": "se_property", "tr_id": "tr_orderid", "tr_af": "tr_affiliation",
    "tr_ci": "tr_city", "tr_st": "tr_state", "tr_co": "tr_country", "tr_cu": "tr_currency",
    "ti_id": "ti_orderid", "ti_sk": "ti_sku", "ti_nm": "ti_name", "ti_na": "ti_name",
    "ti_ca": "ti_category", "ti_cu": "ti_currency", "nuid": "network_userid", "ua": "useragent",
    "url": "page_url",
}  # fmt: skip
_INTS = {
    "tid": "txn_id", "vid": "domain_sessionidx", "ti_qu": "ti_quantity",
    "pp_mix": "pp_xoffset_min", "pp_max": "pp_xoffset_max", "pp_miy": "pp_yoffset_min",
    "pp_may": "pp_yoffset_max",
}  # fmt: skip
_DECIMALS = {
    "se_va": "se_value", "ev_va": "se_value", "tr_tt": "tr_total", "tr_tx": "tr_tax",
    "tr_sh": "tr_shipping", "ti_pr": "ti_price",
}  # fmt: skip
_BOOLS = {
    "f_pdf": "br_features_pdf", "f_fla": "br_features_flash", "f_java": "br_features_java",
    "f_dir": "br_features_director", "f_qt": "br_features_quicktime",
    "f_realp": "br_features_realplayer", "f_wma": "br_features_windowsmedia",
    "f_gears": "br_features_gears", "f_ag": "br_features_silverlight", "cookie": "br_cookies",
}  # fmt: skip
_TSTAMPS = {"dtm": "dvce_created_tstamp", "stm": "dvce_sent_tstamp", "ttm": "true_tstamp"}
_DIMENSIONS = {
    "res": ("dvce_screenwidth", "dvce_screenheight"),
    "vp": ("br_viewwidth", "br_viewheight"),
    "ds": ("doc_width", "doc_height"),
}

#: parameter → (kind of conversion, target field)
_DISPATCH: dict[str, tuple[int, str]] = {
    **{k: (0, v) for k, v in _STRINGS.items()},
    **{k: (1, v) for k, v in _INTS.items()},
    **{k: (2, v) for k, v in _DECIMALS.items()},
    **{k: (3, v) for k, v in _BOOLS.items()},
    **{k: (4, v) for k, v in _TSTAMPS.items()},
    **{k: (5, k) for k in _DIMENSIONS},
}


@dataclass(slots=True)
class EnrichingEvent:
    """One event on its way through enrichment."""

    params: dict[str, str]
    payload: CollectorPayload
    fields: dict[str, str | None] = field(default_factory=dict)
    unstruct: dict[str, Any] | None = None  # the inner self-describing event
    contexts: list[Any] = field(default_factory=list)
    derived: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    times_ms: dict[str, int] = field(default_factory=dict)
    #: the names of ``fields`` once enriched and checked (before the JSON fields are set)
    names: tuple[str, ...] = ()

    def error(self, name: str, value: str | None, expectation: str) -> None:
        self.errors.append(atomic_error(name, value, expectation))


def atomic_error(name: str, value: str | None, expectation: str) -> dict[str, Any]:
    """An atomic-field problem in the schema_violations message shape."""
    path = f"$.{name}"
    return {
        "schemaKey": ATOMIC,
        "error": {
            "error": "ValidationError",
            "dataReports": [
                {
                    "message": f"{path}: {expectation}"
                    + (f" (got {value!r})" if value is not None else ""),
                    "path": path,
                    "keyword": "type",
                    "targets": [],
                }
            ],
        },
    }


#: fields every event gets before its parameters are read, in this order
_PRESET = (
    "v_collector", "v_etl", "etl_tstamp", "collector_tstamp", "network_userid",
    "user_ipaddress", "useragent",
)  # fmt: skip
_SCHEMA_FIELDS = ("event_vendor", "event_name", "event_format", "event_version")
#: event type code → the fields it sets (``event`` and, for Snowplow's own, its schema)
_EVENT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    code: (("event", kind), *zip(_SCHEMA_FIELDS, SCHEMA_OF_EVENT.get(kind, ()), strict=False))
    for code, kind in EVENT_TYPES.items()
}


def _filler_source(names: tuple[str, ...]) -> list[str]:
    """The lines of Python of what :func:`_fill` does with parameters of these names, in this
    order, when every value is valid: ``fill(params, preset, collector_ms)`` → (fields,
    times_ms), the fields built in one dict display in the order :func:`_fill` first sets
    them (the preset fields, then each field at its first parameter); None as soon as a
    value is not valid (then :func:`_fill` words the problems). Straight-line code: on
    Python 3.11 quicker than a loop over a plan. Only names from the parameter tables above
    go into the source, as literals."""
    order = dict.fromkeys(_PRESET)
    for name in names:
        entry = _DISPATCH.get(name)
        if entry is not None:
            code, target = entry
            for set_field in _DIMENSIONS[name] if code == 5 else (target,):
                order.setdefault(set_field)
    var = {name: f"f{i}" for i, name in enumerate(order)}
    lines = [
        "def fill(p, preset, collector_ms):",
        f"    {', '.join(var[n] for n in _PRESET)} = preset",
    ]
    times: list[tuple[str, str]] = []
    for name in names:
        entry = _DISPATCH.get(name)
        if entry is None:
            continue
        code, target = entry
        lines += [f"    v = p[{name!r}]", "    if type(v) is not str:", "        return None"]
        if code == 0:
            f = var[target]
            lines.append(f"    {f} = (v if v.isprintable() else tsv_safe(v)) if v else None")
        elif code == 3:
            lines += [
                "    if v != '0' and v != '1':",
                "        return None",
                f"    {var[target]} = v",
            ]
        elif code == 4:
            t = f"t{len(times)}"
            times.append((target, t))
            lines += [f"    {t} = _ms(v)", f"    if {t} is None:", "        return None"]
            lines.append(f"    {var[target]} = format_tstamp({t})")
        else:
            convert = {1: "_int_text", 2: "_decimal_text", 5: "_dims"}[code]
            lines += [f"    v = {convert}(v)", "    if v is None:", "        return None"]
            if code == 5:
                lines.append(f"    {', '.join(var[d] for d in _DIMENSIONS[name])} = v")
            else:
                lines.append(f"    {var[target]} = v")
    fields = ", ".join(f"{name!r}: {v}" for name, v in var.items())
    stamps = "".join(f", {target!r}: {t}" for target, t in times)
    lines.append(f"    return {{{fields}}}, {{'collector_tstamp': collector_ms{stamps}}}")
    return lines


#: ``fill(params, preset values, collector ms)`` → (fields, times_ms), or None
Filler = Callable[
    [dict[str, str], tuple[Any, ...], int], tuple[dict[str, str | None], dict[str, int]] | None
]


def _filler(names: tuple[str, ...]) -> Filler:
    scope = {
        "tsv_safe": tsv_safe, "format_tstamp": format_tstamp, "_ms": _ms,
        "_int_text": _int_text, "_decimal_text": _decimal_text, "_dims": _dims,
    }  # fmt: skip
    fill: Filler = compile_function(_filler_source(names), scope, "parameter filler")
    return fill


#: the compiled fillers, per sequence of parameter names
_FILLERS = PerShape(_filler)

_INT_TEXTS: dict[str, str] = {}
_DECIMAL_TEXTS: dict[str, str] = {}
_DIMS_SEEN: dict[str, tuple[str, str]] = {}
_REPEATED_TSTAMPS: dict[int, str] = {}


def _remember(cache: dict[str, Any], key: str, value: Any) -> Any:
    if len(cache) >= 4096:
        cache.clear()
    cache[key] = value
    return value


def _int_text(value: str) -> str | None:
    """A whole number within 32 bits as Enrich writes it, or None."""
    text = _INT_TEXTS.get(value)
    if text is None:
        try:
            number = int(value)
        except ValueError:
            return None
        if abs(number) > _INT_MAX:
            return None
        text = _remember(_INT_TEXTS, value, str(number))
    return text


def _decimal_text(value: str) -> str | None:
    """A finite decimal number as Enrich writes it, or None."""
    text = _DECIMAL_TEXTS.get(value)
    if text is None:
        try:
            decimal = Decimal(value.strip())
        except InvalidOperation:
            return None
        if not decimal.is_finite():
            return None
        text = _remember(_DECIMAL_TEXTS, value, str(decimal))
    return text


def _ms(value: str) -> int | None:
    """Milliseconds since the epoch up to the end of year 9999, or None."""
    try:
        ms = int(value)
    except ValueError:
        return None
    return ms if 0 <= ms <= _MAX_MS else None


def _dims(value: str) -> tuple[str, str] | None:
    """(width, height) of ``WIDTHxHEIGHT``, each within 32 bits, or None."""
    dims = _DIMS_SEEN.get(value)
    if dims is None:
        m = _DIMS.match(value)
        if not (m and int(m.group(1)) <= _INT_MAX and int(m.group(2)) <= _INT_MAX):
            return None
        dims = _remember(_DIMS_SEEN, value, (str(int(m.group(1))), str(int(m.group(2)))))
    return dims


def map_parameters(
    params: dict[str, str], payload: CollectorPayload, etl_ms: int
) -> EnrichingEvent:
    ev = _mapped(params, payload, etl_ms)
    if ev is None:
        ev = _preset(params, payload, etl_ms)
        _fill(ev)
    f = ev.fields
    set_event = _EVENT_FIELDS.get(params.get("e") or "")
    if set_event is None:
        ev.error("event", params.get("e"), "Not a valid event type")
    else:
        f.update(set_event)
    _platform(ev)
    _ids(ev)
    _ip(ev)
    if "ue_pr" in params or "ue_px" in params:
        ev.unstruct = _json_param(ev, "ue_pr", "ue_px", "unstruct_event")
    if "co" in params or "cx" in params:
        value = _json_param(ev, "co", "cx", "contexts")
        if value is not None:
            ev.contexts = [value]  # validated (wrapper and entities) by the pipeline
    if params.get("tnuid"):
        f["network_userid"] = tsv_safe(params["tnuid"])
    if not f.get("page_url") and payload.referer_uri:
        f["page_url"] = tsv_safe(payload.referer_uri)
    derive_tstamp(ev)
    return ev


def _preset_values(payload: CollectorPayload, etl_ms: int) -> tuple[str | None, ...]:
    """The values of the ``_PRESET`` fields, set by the collector and Enrich itself;
    parameters may override them."""
    return (
        payload.collector,
        "driftline-enrich",
        _format_repeated(etl_ms),
        _format_repeated(payload.timestamp_ms),
        payload.network_userid,
        payload.ip_address,
        tsv_safe(payload.useragent) if payload.useragent else None,
    )


def _preset(params: dict[str, str], payload: CollectorPayload, etl_ms: int) -> EnrichingEvent:
    """The event with only the preset fields, for :func:`_fill`."""
    fields = dict(zip(_PRESET, _preset_values(payload, etl_ms), strict=True))
    return EnrichingEvent(
        params, payload, fields, times_ms={"collector_tstamp": payload.timestamp_ms}
    )


def _mapped(
    params: dict[str, str], payload: CollectorPayload, etl_ms: int
) -> EnrichingEvent | None:
    """The event with its parameters mapped by the filler compiled for their names; None
    when a value is not valid, or when no filler is compiled for them."""
    names = tuple(params)
    fill = _FILLERS.ready.get(names) or _FILLERS.get(names)
    if fill is None:  # a shape not compiled (yet)
        return None
    out = fill(params, _preset_values(payload, etl_ms), payload.timestamp_ms)
    if out is None:
        return None
    return EnrichingEvent(params, payload, out[0], times_ms=out[1])


def _format_repeated(ms: int) -> str:
    """:func:`format_tstamp` for the ETL and collector times, which all events of a payload
    (and of requests in the same millisecond) share: remembered per value."""
    text = _REPEATED_TSTAMPS.get(ms)
    if text is None:
        if len(_REPEATED_TSTAMPS) >= 1024:
            _REPEATED_TSTAMPS.clear()
        text = _REPEATED_TSTAMPS[ms] = format_tstamp(ms)
    return text


def _fill(ev: EnrichingEvent) -> None:
    """Fields from the parameters, every value checked, every problem recorded."""
    f = ev.fields
    dispatch = _DISPATCH
    for name, value in ev.params.items():
        entry = dispatch.get(name)
        if entry is None:
            continue
        code, target = entry
        if type(value) is not str:
            ev.error(name, None, "value is not a string")
        elif code == 0:
            f[target] = (value if value.isprintable() else tsv_safe(value)) if value else None
        elif code == 1:
            _int(ev, name, value, target)
        elif code == 2:
            _decimal(ev, name, value, target)
        elif code == 3:
            if value in ("0", "1"):
                f[target] = value
            else:
                ev.error(target, value, "cannot be converted to a boolean-like 1 or 0")
        elif code == 4:
            _tstamp(ev, name, value, target)
        else:
            m = _DIMS.match(value)
            w, h = _DIMENSIONS[name]
            if m and int(m.group(1)) <= _INT_MAX and int(m.group(2)) <= _INT_MAX:
                f[w], f[h] = str(int(m.group(1))), str(int(m.group(2)))
            else:
                ev.error(w, value, f"{name} does not match WIDTHxHEIGHT")


def _int(ev: EnrichingEvent, name: str, value: str, target: str) -> None:
    try:
        number = int(value)
        if abs(number) > _INT_MAX:
            raise ValueError
        ev.fields[target] = str(number)
    except ValueError:
        ev.error(target, value, "cannot be converted to an integer")


def _decimal(ev: EnrichingEvent, name: str, value: str, target: str) -> None:
    try:
        number = Decimal(value.strip())
        if not number.is_finite():
            raise InvalidOperation
        ev.fields[target] = str(number)
    except InvalidOperation:
        ev.error(target, value, "cannot be converted to a decimal number")


def _tstamp(ev: EnrichingEvent, name: str, value: str, target: str) -> None:
    try:
        ms = int(value)
        if not -62_135_596_800_000 <= ms <= _MAX_MS:
            raise ValueError
    except ValueError:
        ev.error(target, value, "not a valid timestamp in milliseconds (year 0-9999)")
        return
    if ms < 0:
        ev.error(target, value, "timestamps before 1970 are not accepted")
        return
    ev.fields[target] = format_tstamp(ms)
    ev.times_ms[target] = ms


def _platform(ev: EnrichingEvent) -> None:
    value = ev.params.get("p")
    if value not in PLATFORMS:
        ev.error("platform", value, "Not a valid platform")
    else:
        ev.fields["platform"] = value


def _ids(ev: EnrichingEvent) -> None:
    eid = ev.params.get("eid")
    if eid is None:
        ev.fields["event_id"] = random_uuid()
    elif _UUID.match(eid):
        ev.fields["event_id"] = eid.lower()
    else:
        ev.error("event_id", eid, "not a valid UUID")
    sid = ev.params.get("sid")
    if sid is not None:
        if _UUID.match(sid):
            ev.fields["domain_sessionid"] = sid.lower()
        else:
            ev.error("domain_sessionid", sid, "not a valid UUID")


def _ip(ev: EnrichingEvent) -> None:
    ip = ev.params.get("ip")
    if ip:
        ev.fields["user_ipaddress"] = tsv_safe(ip.split(",")[0].strip())


def _json_param(ev: EnrichingEvent, plain: str, encoded: str, target: str) -> Any:
    if plain in ev.params:
        text, source = ev.params[plain], plain
    else:
        source = encoded
        try:
            text = decode_base64(ev.params[encoded])
        except ValueError as exc:
            ev.errors.append(
                {"field": encoded, "value": ev.params[encoded][:1000], "error": str(exc)}
            )
            return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        ev.errors.append({"field": source, "value": text[:1000], "error": f"invalid json: {exc}"})
        return None


def derive_tstamp(ev: EnrichingEvent) -> None:
    """``derived_tstamp``: the true timestamp if sent, else the collector time corrected for
    the device's clock (collector − (sent − created)) when both device times are there."""
    t = ev.times_ms
    if "true_tstamp" in t:
        ev.fields["derived_tstamp"] = ev.fields["true_tstamp"]
        t["derived_tstamp"] = t["true_tstamp"]
        return
    collector = t["collector_tstamp"]
    created, sent = t.get("dvce_created_tstamp"), t.get("dvce_sent_tstamp")
    if created is not None and sent is not None and created < sent:
        t["derived_tstamp"] = max(collector - (sent - created), 0)
        ev.fields["derived_tstamp"] = format_tstamp(t["derived_tstamp"])
    else:
        t["derived_tstamp"] = collector
        ev.fields["derived_tstamp"] = ev.fields["collector_tstamp"]
