"""The collector's fast paths give exactly what the straightforward code gives.

Parameter mapping, the field length check, ``event_row`` and ``enriched_table`` each have a
quick way for the usual event; here each is compared, on a few hundred varied tracker events
(valid and not), with the one-field-at-a-time code it stands for: the same fields in the same
order, the same errors, the same properties JSON, the same Arrow table.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import orjson
import pyarrow as pa
import pytest
from snowplow_data import LINK, varied_events

from driftline.snowplow import enrich, iglu, pipeline, rows, transform
from driftline.snowplow.fields import FIELD_KINDS, FIELDS, MAX_LENGTHS
from driftline.snowplow.iglu import IgluError, Resolver, SchemaError
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
from driftline.snowplow.payload import CollectorPayload
from driftline.snowplow.pipeline import Enricher
from driftline.snowplow.rows import _ARROW, enriched_table, event_row, self_describing
from driftline.snowplow.shapes import PerShape
from driftline.snowplow.transform import EnrichingEvent

PAYLOAD = CollectorPayload(
    "com.snowplowanalytics.snowplow", "tp2", None, None, None,
    ip_address="203.0.113.9", timestamp_ms=1_700_000_000_500,
    useragent="Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
    referer_uri="https://ref.example.com/a", network_userid="5d3c1f8e-0d55-4a11-9a3f-3f1c2b8e7a10",
)  # fmt: skip


@pytest.fixture(autouse=True, params=["compiled", "general"])
def shapes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test twice: with code compiled for every shape at its first sighting, and with
    none compiled (the general code the collector runs for shapes it has not seen often)."""
    after = 1 if request.param == "compiled" else 10**9
    for per_shape in (transform._FILLERS, pipeline._LIMITS, rows._ROW_PLANS):
        monkeypatch.setattr(per_shape, "after", after)
        monkeypatch.setattr(per_shape, "ready", {})
        monkeypatch.setattr(per_shape, "_seen", {})


@pytest.fixture
def fixed_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing event ids numbered instead of random, so that two runs compare."""
    numbers = itertools.count()
    monkeypatch.setattr(
        transform, "random_uuid", lambda: f"00000000-0000-4000-8000-{next(numbers):012d}"
    )


def _state(ev: EnrichingEvent) -> tuple[Any, ...]:
    return (list(ev.fields.items()), ev.errors, ev.unstruct, ev.contexts, list(ev.times_ms.items()))


#: values of every kind, valid and not, for parameters drawn at random
VALUES: list[Any] = [
    "", "x", "tab\there", "ctl\x01", "é ü", "0", "1", "2", "-1", " 12 ", "007", "1_000", "+5",
    "2147483647", "2147483648", "-2147483648", "2.50", "1e3", "NaN", "-Infinity", "abc",
    "1700000000123", "253402300799999", "253402300800000", "-62135596800001", "99999999999x1",
    "1280x720", "0099x0012", "12x", "x12", "1280x720\n", "١٢", 7, None, [], {"a": 1}, 1.5,
]  # fmt: skip


def random_parameters(n: int) -> list[dict[str, Any]]:
    """Parameters of random names (mapped, preset-overriding, repeated targets, unknown) in
    random order, with values of every kind (text only for those read outside the mapping
    tables, as the adapters give them)."""
    rng = random.Random(17)
    texts = [v for v in VALUES if isinstance(v, str)]
    names = [*transform._DISPATCH, "e", "p", "eid", "sid", "ip", "tnuid", "unknown"]
    out = []
    for _ in range(n):
        params = {
            name: rng.choice(VALUES if name in transform._DISPATCH else texts)
            for name in rng.sample(names, rng.randrange(1, 30))
        }
        if rng.random() < 0.6:  # mostly valid values, so that the quick way is taken too
            params = {k: v for k, v in params.items() if isinstance(v, str) and v in ("1", "x")}
        params |= {"e": "pv", "p": "web"} if rng.random() < 0.5 else {}
        out.append(params)
    return out


@pytest.mark.parametrize(
    "events", [varied_events(), random_parameters(3000)], ids=["varied", "random"]
)
def test_parameter_mapping_is_the_checked_loop(
    fixed_ids: None, monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]]
) -> None:
    fast = [transform.map_parameters(params, PAYLOAD, 1_700_000_001_000) for params in events]
    taken = [transform._mapped(p, PAYLOAD, 1) is not None for p in events]
    monkeypatch.setattr(transform, "_mapped", lambda *args: None)
    monkeypatch.setattr(transform, "random_uuid", _numbered())
    checked = [transform.map_parameters(params, PAYLOAD, 1_700_000_001_000) for params in events]
    assert [_state(ev) for ev in fast] == [_state(ev) for ev in checked]
    # both ways were compared: events mapped the quick way (when compiled), and events with
    # problems
    assert 0 < sum(taken) < len(events) or not transform._FILLERS.ready
    assert any(ev.errors for ev in checked)


def _numbered() -> Any:
    numbers = itertools.count()
    return lambda: f"00000000-0000-4000-8000-{next(numbers):012d}"


def _enriched(fixed_ids: None) -> list[EnrichingEvent]:
    enricher = Enricher(Resolver(), enrich.defaults())
    out = []
    for params in varied_events():
        ev = enricher.enrich(params, PAYLOAD, 1_700_000_001_000)
        if isinstance(ev, EnrichingEvent):
            out.append(ev)
    return out


def reference_length_problems(fields: dict[str, str | None]) -> list[dict[str, Any]]:
    return [
        transform.atomic_error(name, value[:100], f"longer than {MAX_LENGTHS[name]} characters")
        for name, value in fields.items()
        if value is not None and len(value) > MAX_LENGTHS.get(name, 1 << 62)
    ]


def test_length_check_is_the_exact_check(fixed_ids: None) -> None:
    enricher = Enricher(Resolver(), enrich.defaults())
    rng = random.Random(3)
    names = [*MAX_LENGTHS, "contexts", "unknown_field"]
    checked = 0
    for ev in _enriched(fixed_ids):
        for _ in range(3):
            fields = dict(ev.fields)
            for name in rng.sample(names, 3):
                limit = MAX_LENGTHS.get(name, 50)
                fields[name] = rng.choice([None, "x" * limit, "y" * (limit + 1), ""])
            ev.fields = fields
            expected = reference_length_problems(fields)
            assert enricher._validate_outputs(ev) == expected
            checked += bool(expected)
    assert checked > 0


def reference_event_row(
    project_id: int,
    f: dict[str, str | None],
    unstruct: Any,
    entities: list[Any],
    derived: list[Any],
    time_ms: int,
) -> tuple[Any, ...]:
    """``event_row`` one property at a time."""
    props, ua = self_describing(unstruct, entities, derived)
    for key, name in MIXPANEL.items():
        if f.get(name):
            props[key] = f[name]
    for key, name in SCREEN.items():
        if f.get(name):
            props[key] = int(f[name])  # type: ignore[arg-type]
    for key, ua_key in UA.items():
        if ua.get(ua_key):
            props[key] = ua[ua_key]
    os_name = ua.get("osFamily") or f.get("os_name")
    if os_name:
        props["$os"] = os_name
    if f.get("v_tracker"):
        props["mp_lib"] = "Snowplow: " + f["v_tracker"]  # type: ignore[operator]
    props["snowplow_event"] = f.get("event")
    props["snowplow_event_id"] = f.get("event_id")
    for name in TEXT:
        if f.get(name):
            props[name] = f[name]
    for name in INTS:
        if f.get(name):
            props[name] = int(f[name])  # type: ignore[arg-type]
    for name in FLOATS + DECIMALS:
        if f.get(name):
            props[name] = float(f[name])  # type: ignore[arg-type]
    event = f.get("event")
    event_name = (
        f.get("se_action")
        if event == "struct" and f.get("se_action")
        else (f.get("event_name") or event or "snowplow_event")
    )
    network = f.get("network_userid")
    device = f.get("domain_userid") or (network if network != ZERO else None)
    user = f.get("user_id")
    distinct = user or ("$device:" + (device or f.get("event_id") or "unknown"))
    props_json = orjson.dumps(props).decode()
    event_id = f.get("event_id")
    return (project_id, event_name, time_ms, distinct, device, user, event_id, props_json, "snowplow", event_id)  # fmt: skip


def test_event_row_is_the_property_by_property_mapping(fixed_ids: None) -> None:
    cases = []
    for ev in _enriched(fixed_ids):
        cases.append((ev.fields, ev.unstruct, ev.contexts, ev.derived))
    # self-describing data whose keys clash with the properties; geo and money fields
    clash = {"data": {"$current_url": "mine", "app_id": "mine", "snowplow_event": 1, "z": None}}
    ua = {"schema": UA_CONTEXT + "jsonschema/1-0-0", "data": {"useragentFamily": "", "osFamily": "Linux"}}  # fmt: skip
    fields = dict(cases[0][0]) | {"geo_latitude": "51.5", "tr_total": "2.50", "ti_quantity": "3"}
    cases += [
        (fields, clash, [], [ua]),
        (fields | {"network_userid": ZERO, "domain_userid": None, "v_tracker": ""}, None, [], []),
        (
            {"event": "struct", "se_action": ""},
            None,
            [{"schema": "iglu:com.acme/aThing/jsonschema/2-0-0", "data": {}}] * 2,
            [{"schema": "x"}],
        ),
        ({}, {"data": []}, [], []),
    ]
    for fields, unstruct, entities, derived in cases:
        args = (3, fields, unstruct, entities, derived, 1_700_000_000_000)
        assert event_row(*args) == reference_event_row(*args)  # type: ignore[arg-type]
    # as the collector calls it: with the names of the fields before the JSON fields
    for ev in _enriched(fixed_ids):
        args = (3, ev.fields, ev.unstruct, ev.contexts, ev.derived, 1_700_000_000_000)
        assert len(ev.names) + 3 == len(ev.fields)
        assert event_row(*args, ev.names) == reference_event_row(*args)


def reference_enriched_table(project_ids: list[int], rows: list[dict[str, str | None]]) -> pa.Table:
    """All 131 fields through one struct array, then cast."""
    struct = pa.array(rows, pa.struct([(name, pa.string()) for name in FIELDS]))
    arrays = [pa.array(project_ids, pa.int32())]
    for i, name in enumerate(FIELDS):
        column = struct.field(i)
        kind = FIELD_KINDS[name]
        if kind == "bool":
            column = column.cast(pa.int8()).cast(pa.bool_())
        elif kind not in ("str", "decimal", "json"):
            column = column.cast(_ARROW[kind])
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=["project_id", *FIELDS])


@pytest.mark.parametrize("size", [0, 1, 7, 500])
def test_enriched_table_is_the_full_struct_conversion(fixed_ids: None, size: int) -> None:
    rows = [ev.fields for ev in _enriched(fixed_ids)][:size]
    ids = [i % 3 for i in range(len(rows))]
    assert enriched_table(ids, rows).equals(reference_enriched_table(ids, rows))


WRAPPERS = [
    "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
    "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
]
PAGE = "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0"
#: entities and values in and around a wrapper's shape: every way to miss it
ENTITIES: list[Any] = [
    {"schema": PAGE, "data": {"id": "x"}}, {"schema": PAGE, "data": None},
    {"data": {}, "schema": LINK}, {"schema": "iglu:a.b/c/jsonschema/1-0-0", "data": [1]},
    {"schema": "iglu:a/b/c/1-0", "data": {}}, {"schema": "iglu:a/b/c/1-0-0\n", "data": {}},
    {"schema": "not iglu", "data": {}}, {"schema": 7, "data": {}}, {"schema": None, "data": {}},
    {"schema": PAGE}, {"data": {}}, {"schema": PAGE, "data": {}, "extra": 1}, {}, [], "text", 3,
    None, {"schema": "iglu:ü/b/jsonschema/1-0-0", "data": {}},
]  # fmt: skip


def _verdict(resolver: Resolver, value: Any) -> Any:
    try:
        key, data = resolver.validate_sdj(value)
    except (SchemaError, IgluError) as exc:
        return type(exc).__name__, str(exc), getattr(exc, "error", None)
    return key.uri, data


def test_quick_wrapper_check_gives_the_validators_verdicts() -> None:
    """The contexts and unstruct_event wrappers are checked by a quick structural check once
    their schemas are known; each verdict, and the error worded, is the full validator's."""
    values: list[Any] = []
    for uri in WRAPPERS:
        many = "contexts" in uri
        for i, entity in enumerate(ENTITIES):
            data = [ENTITIES[0], entity] if many and i % 2 else [entity] if many else entity
            values.append({"schema": uri, "data": data})
        values += [{"schema": uri, "data": other} for other in ([], {}, None, "x", ENTITIES[0:1])]
    quick = Resolver()
    for value in values * 2:  # the second time with the wrappers' schemas known
        reference = Resolver()  # knows nothing: every value through the full validator
        assert _verdict(quick, value) == _verdict(reference, value), value
    assert all(quick._by_uri[uri][1].__name__ == "check" for uri in WRAPPERS)


@pytest.mark.parametrize(
    "change",
    [
        {"minItems": 1},
        {"items": {"type": "object", "properties": {"schema": {}, "data": {"type": "object"}}}},
        {"items": {"properties": {"schema": {}, "data": {}}, "anyOf": [{"required": ["x"]}]}},
        {"items": {"properties": {"schema": {}}}},
        {"items": [{"properties": {"schema": {}, "data": {}}}]},
    ],
)
def test_quick_wrapper_check_only_for_plain_wrapper_schemas(change: dict[str, Any]) -> None:
    plain = {"type": "array", "items": {"properties": {"schema": {}, "data": {}}}}
    assert iglu._wrapper_check(plain, lambda data: None) is not None
    assert iglu._wrapper_check(plain | change, lambda data: None) is None


def test_a_shape_is_compiled_once_seen_often() -> None:
    """Code is compiled for a sequence of names at its ``after``-th sighting; names in ever
    new orders (a client's choice) compile nothing."""
    built: list[tuple[str, ...]] = []
    per_shape = PerShape(lambda names: built.append(names) or len(built), after=3, size=100)
    assert [per_shape.get(("a", "b")) for _ in range(4)] == [None, None, 1, 1]
    for order in itertools.islice(itertools.permutations("abcdefg"), 500):
        assert per_shape.get(order) is None
    assert built == [("a", "b")] and per_shape.ready == {("a", "b"): 1}
