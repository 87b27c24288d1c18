"""Event validation and identity rules, record by record, as Mixpanel applies them."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.ingest.normalize import normalize_records

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def run(
    records: list[object], policy: str = "require"
) -> tuple[list[dict[str, object]], list[tuple[int, str, str]]]:
    recs = [r if isinstance(r, str) else json.dumps(r) for r in records]
    raw = pa.table(
        {"idx": pa.array(range(len(recs)), pa.int64()), "rec": pa.array(recs, pa.string())}
    )
    out = normalize_records(raw, project_id=7, origin="import", insert_id=policy, now_ms=NOW_MS)  # type: ignore[arg-type]
    return out.events.to_pylist(), [(e.index, e.field, e.message) for e in out.errors]


def ev(**props: object) -> dict[str, object]:
    base: dict[str, object] = {"time": 1_700_000_000, "distinct_id": "u1", "$insert_id": "abc-1"}
    base.update(props)
    return {"event": "Purchase", "properties": {k: v for k, v in base.items() if v is not ...}}


@pytest.mark.parametrize(
    ("time_value", "expected_ms"),
    [
        (1_700_000_000, 1_700_000_000_000),  # seconds
        (1_700_000_000.25, 1_700_000_000_250),  # float seconds, as the SDKs send
        (1_700_000_000_123, 1_700_000_000_123),  # milliseconds
        ("1700000000", 1_700_000_000_000),  # numeric string
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),  # ISO-8601
        ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
    ],
)
def test_time_forms(time_value: object, expected_ms: int) -> None:
    rows, errors = run([ev(time=time_value)])
    assert errors == []
    assert int(rows[0]["time"].timestamp() * 1000) == expected_ms  # type: ignore[attr-defined]


def test_near_future_is_clamped_far_future_rejected() -> None:
    rows, errors = run([ev(time=(NOW_MS + 600_000) / 1000), ev(time=(NOW_MS + 7_200_000) / 1000)])
    assert int(rows[0]["time"].timestamp() * 1000) == NOW_MS  # type: ignore[attr-defined]
    assert errors == [
        (
            1,
            "properties.time",
            "'properties.time' is invalid: must not be more than 1 hour in the future",
        )
    ]


@pytest.mark.parametrize(
    ("record", "field", "fragment"),
    [
        ("{not json", "record", "not valid JSON"),
        (
            {"properties": {"time": 1_700_000_000, "distinct_id": "u"}},
            "event",
            "'event' is required",
        ),
        ({"event": "", "properties": {"time": 1_700_000_000}}, "event", "non-empty string"),
        ({"event": 5, "properties": {"time": 1_700_000_000}}, "event", "non-empty string"),
        ({"event": "x"}, "properties", "'properties' is required"),
        ({"event": "x", "properties": [1]}, "properties", "must be an object"),
        (ev(time=...), "properties.time", "'properties.time' is required"),
        (ev(time="yesterday"), "properties.time", "seconds since epoch"),
        (ev(time=86_400), "properties.time", "after 1971-01-01"),
        (ev(distinct_id=...), "properties.distinct_id", "is required"),
        (ev(distinct_id="undefined"), "properties.distinct_id", "not a valid identifier"),
        (ev(distinct_id="NULL"), "properties.distinct_id", "not a valid identifier"),
        (ev(distinct_id={"a": 1}), "properties.distinct_id", "must be a string"),
        (ev(**{"$insert_id": "has space"}), "properties.$insert_id", "alphanumeric"),
        (ev(**{"$insert_id": "x" * 37}), "properties.$insert_id", "at most 36"),
        (ev(**{"$insert_id": "anonymous"}), "properties.$insert_id", "not a valid identifier"),
        (ev(**{"$insert_id": ...}), "properties.$insert_id", "is required"),
        (
            {
                "event": "x",
                "properties": {f"p{i}": i for i in range(260)}
                | {"time": 1_700_000_000, "distinct_id": "u", "$insert_id": "a"},
            },
            "properties",
            "fewer than 255",
        ),
        (ev(blob="x" * 1_000_001), "record", "larger than 1 MB"),
    ],
)
def test_each_rule_names_its_field(record: object, field: str, fragment: str) -> None:
    good = ev(**{"$insert_id": "good-1"})
    rows, errors = run([good, record, good | {"event": "Other"}])
    assert [r["event"] for r in rows] == ["Purchase", "Other"]  # the valid ones survive
    assert len(errors) == 1
    index, got_field, message = errors[0]
    assert (index, got_field) == (1, field)
    assert fragment in message


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"distinct_id": "alice"}, ("alice", None, "alice")),
        ({"distinct_id": "$device:d1"}, ("$device:d1", "d1", None)),
        ({"$device_id": "d1", "distinct_id": ...}, ("$device:d1", "d1", None)),
        (
            {"$device_id": "d1", "$user_id": "alice", "distinct_id": "$device:d1"},
            ("alice", "d1", "alice"),
        ),
        ({"$user_id": "alice", "distinct_id": "someone-else"}, ("alice", None, "alice")),
        # older SDKs: distinct_id equal to the device id is the device, not a user
        ({"$device_id": "d1", "distinct_id": "d1"}, ("$device:d1", "d1", None)),
        ({"distinct_id": 42}, ("42", None, "42")),
        ({"distinct_id": ""}, ("", None, None)),
    ],
)
def test_simplified_id_merge(props: dict[str, object], expected: tuple[object, ...]) -> None:
    rows, errors = run([ev(**props)])
    assert errors == []
    assert (rows[0]["distinct_id"], rows[0]["device_id"], rows[0]["user_id"]) == expected


def test_insert_id_policies() -> None:
    record = ev(**{"$insert_id": ...})
    stable_a, _ = run([record], "stable")
    stable_b, _ = run([record], "stable")
    assert stable_a[0]["insert_id"] == stable_b[0]["insert_id"]  # re-import never doubles
    random_a, _ = run([record, record], "random")
    assert random_a[0]["insert_id"] != random_a[1]["insert_id"]
    assert all(len(str(r["insert_id"])) <= 36 for r in stable_a + random_a)


def test_rows_carry_project_origin_and_properties() -> None:
    rows, _ = run([ev(plan="pro", token="tok")])
    row = rows[0]
    assert row["project_id"] == 7 and row["origin"] == "import" and row["insert_id"] == "abc-1"
    assert json.loads(str(row["properties"]))["plan"] == "pro"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
reserved = st.fixed_dictionaries(
    {},
    optional={
        "time": st.one_of(
            st.integers(-(10**15), 10**15), st.floats(allow_nan=False), st.text(max_size=25)
        ),
        "distinct_id": json_values,
        "$insert_id": json_values,
        "$device_id": st.text(max_size=10),
        "$user_id": st.text(max_size=10),
    },
)
records = st.one_of(
    st.builds(
        lambda e, r, extra: json.dumps({"event": e, "properties": {**extra, **r}}),
        json_values,
        reserved,
        st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    ),
    st.text(max_size=40),
    json_values.map(json.dumps),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(records, min_size=1, max_size=12))
def test_any_input_is_either_stored_or_reported_exactly_once(recs: list[str]) -> None:
    raw = pa.table(
        {"idx": pa.array(range(len(recs)), pa.int64()), "rec": pa.array(recs, pa.string())}
    )
    out = normalize_records(raw, project_id=1, origin="import", insert_id="stable", now_ms=NOW_MS)
    good = out.indexes.to_pylist()
    bad = [e.index for e in out.errors]
    assert sorted(good + bad) == list(range(len(recs)))
    for row in out.events.to_pylist():
        assert row["event"] and row["insert_id"] and row["distinct_id"] is not None
        assert isinstance(json.loads(row["properties"]), dict)
    assert all(e.field and e.message for e in out.errors)


def test_every_invalid_id_is_refused_in_any_case_by_both_paths() -> None:
    from driftline.model import INVALID_IDS

    records: list[object] = []
    for value in INVALID_IDS:
        for form in (value, value.upper()):
            records.append(ev(distinct_id=form, **{"$insert_id": f"i{len(records)}"}))
            if all(c.isalnum() or c == "-" for c in form):
                records.append(ev(**{"$insert_id": form}))
    # near misses are ordinary ids
    near = ["00000000-0000-0000-0000-000000000001", "nulls", "anon1", "-2", "a|null|b", "unknownn"]
    records += [ev(distinct_id=v, **{"$insert_id": f"n{i}"}) for i, v in enumerate(near)]
    recs = [json.dumps(r) for r in records]
    raw = pa.table({"idx": pa.array(range(len(recs)), pa.int64()), "rec": pa.array(recs)})
    for small_batch in (0, 10_000):  # the SQL validation, then the in-Python one
        out = normalize_records(
            raw, project_id=7, origin="import", now_ms=NOW_MS, small_batch=small_batch
        )
        assert all("not a valid identifier" in e.message for e in out.errors)
        assert len(out.errors) == len(records) - len(near)
        assert sorted(out.events.column("distinct_id").to_pylist()) == sorted(near)
