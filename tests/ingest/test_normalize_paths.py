"""Differential test: the Python path for small batches stores exactly what the vectorized
DuckDB path stores, for any batch it accepts."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.ingest.normalize import normalize_records

NOW_MS = int(time.time() * 1000)

ids = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["u1", "$device:d1", "$device:", "d1", "null", "Anon", "UNDEFINED"]),
    st.text(max_size=12),
    st.integers(-5, 5),
)
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
times = st.one_of(
    st.none(),
    st.floats(min_value=1.0e9, max_value=NOW_MS / 1000 + 7200),
    st.integers(min_value=1_000_000_000, max_value=NOW_MS // 1000 + 7200),
    st.integers(min_value=30_000_000_000, max_value=NOW_MS + 7_200_000),
    st.floats(min_value=1.0e11, max_value=NOW_MS + 7_200_000.0),
    st.just(NOW_MS / 1000 - 0.0005),
    st.sampled_from([True, "1700000000", "2024-01-01T00:00:00Z", None]),
)


@st.composite
def record(draw: st.DrawFn) -> str:
    props: dict[str, Any] = draw(st.dictionaries(st.text(max_size=6), values, max_size=4))
    for name, strategy in (
        ("time", times),
        ("distinct_id", ids),
        ("$device_id", ids),
        ("$user_id", ids),
        (
            "$insert_id",
            st.one_of(
                st.none(),
                st.sampled_from(["a-1", "null", "bad id!", "x" * 37]),
                st.uuids().map(str),
            ),
        ),
        ("token", st.one_of(st.none(), st.text(max_size=4), st.integers(-9, 9))),
        ("ip", st.one_of(st.none(), st.just("203.0.113.1"), st.integers(-9, 9))),
    ):
        if draw(st.booleans()):
            props[name] = draw(strategy)
    doc: dict[str, Any] = {
        "event": draw(st.one_of(st.text(min_size=1, max_size=10), st.just(""), st.integers(-9, 9))),
        "properties": props,
    }
    return orjson.dumps(doc).decode()


def comparable(n: Any) -> tuple[Any, ...]:
    events = n.events.to_pylist()
    for e in events:
        e["properties"] = json.loads(e["properties"])
    return (events, n.indexes.to_pylist(), n.meta.to_pylist(), n.dropped.to_pylist())


@given(
    recs=st.lists(record(), min_size=1, max_size=8),
    policy=st.sampled_from(["require", "stable"]),
    over=st.sampled_from([None, '{"ip":null,"$mp_api_endpoint":"h","x":1}']),
    fallback=st.sampled_from([None, "ipid"]),
    default_time=st.booleans(),
    drop=st.booleans(),
)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_small_path_matches_vectorized_path(
    recs: list[str],
    policy: str,
    over: str | None,
    fallback: str | None,
    default_time: bool,
    drop: bool,
) -> None:
    n = len(recs)
    raw = pa.table(
        {
            "idx": pa.array(range(n), pa.int64()),
            "rec": pa.array(recs, pa.string()),
            "properties_over": pa.array([over] * n, pa.string()),
            "fallback_distinct_id": pa.array([fallback] * n, pa.string()),
            "default_time_ms": pa.array([NOW_MS if default_time else None] * n, pa.int64()),
            "drop_before_ms": pa.array([NOW_MS - 5 * 86_400_000 if drop else None] * n, pa.int64()),
        }
    )
    kw: dict[str, Any] = {"project_id": 1, "origin": "track", "insert_id": policy, "now_ms": NOW_MS}
    vectorized = normalize_records(raw, small_batch=0, **kw)
    either = normalize_records(raw, **kw)
    assert comparable(either) == comparable(vectorized)
    assert [(e.index, e.field) for e in either.errors] == [
        (e.index, e.field) for e in vectorized.errors
    ]
    # the same rules on records kept parsed (the HTTP path): same rows, or None
    from driftline.ingest.normalize_small import normalize_small_docs

    options = {
        "properties_over": over,
        "fallback_distinct_id": fallback,
        "default_time_ms": NOW_MS if default_time else None,
        "drop_before_ms": NOW_MS - 5 * 86_400_000 if drop else None,
        "policy": None,
    }
    parsed = normalize_small_docs([([orjson.loads(r) for r in recs], options)], **kw)
    if parsed is not None:
        events, meta, indexes, dropped = parsed
        assert not vectorized.errors
        assert comparable(type(vectorized)(events, [], indexes, meta, dropped)) == comparable(
            vectorized
        )


def test_typical_sdk_events_take_the_small_path() -> None:
    from driftline.ingest.normalize import _with_options
    from driftline.ingest.normalize_small import normalize_small

    recs = [
        orjson.dumps(
            {
                "event": "A",
                "properties": {
                    "time": NOW_MS / 1000,
                    "distinct_id": "$device:x",
                    "$device_id": "x",
                    "$insert_id": "i1",
                    "token": "t",
                },
            }
        ).decode(),
        orjson.dumps(
            {
                "event": "B",
                "properties": {
                    "time": NOW_MS,
                    "$user_id": "u",
                    "$device_id": "x",
                    "$insert_id": "i2",
                },
            }
        ).decode(),
    ]
    raw = _with_options(pa.table({"idx": pa.array([0, 1], pa.int64()), "rec": pa.array(recs)}))
    small = normalize_small(raw, project_id=1, origin="track", insert_id="require", now_ms=NOW_MS)
    assert small is not None
    events, meta, _, _ = small
    assert events.column("distinct_id").to_pylist() == ["$device:x", "u"]
    assert meta.column("token").to_pylist() == ["t", None]
