"""The generator on its own: exact sizes, determinism, well-formed rows."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from driftline.demo import DemoData, DemoSpec
from driftline.demo.catalog import SKUS
from driftline.errors import InvalidInput
from driftline.model import EVENT_SCHEMA, RESERVED_EVENT_PROPERTIES

LAST_DAY = dt.date(2026, 3, 31)


def events_of(spec: DemoSpec) -> pa.Table:
    return pa.concat_tables(DemoData(spec).event_batches())


def test_same_seed_count_and_day_give_identical_data() -> None:
    spec = DemoSpec(events=20_000, seed=11, last_day=LAST_DAY, batch_rows=7_000)
    first, second = DemoData(spec), DemoData(spec)
    assert pa.concat_tables(first.event_batches()).equals(pa.concat_tables(second.event_batches()))
    assert first.profiles().equals(second.profiles())
    assert first.groups().equals(second.groups())


def test_another_seed_or_day_gives_other_data() -> None:
    base = events_of(DemoSpec(events=5_000, seed=1, last_day=LAST_DAY))
    reseeded = events_of(DemoSpec(events=5_000, seed=2, last_day=LAST_DAY))
    moved = events_of(DemoSpec(events=5_000, seed=1, last_day=LAST_DAY + dt.timedelta(days=1)))
    assert not base.column("insert_id").equals(reseeded.column("insert_id"))
    assert pc.max(moved.column("time")).as_py().date() == LAST_DAY + dt.timedelta(days=1)
    assert pc.max(base.column("time")).as_py().date() == LAST_DAY


@pytest.mark.parametrize("events", [1, 7, 150, 2_345, 60_001])
def test_exactly_the_requested_number_of_events(events: int) -> None:
    table = events_of(DemoSpec(events=events, last_day=LAST_DAY, batch_rows=25_000))
    assert table.num_rows == events
    assert table.schema == EVENT_SCHEMA


def test_batches_stay_near_the_batch_size() -> None:
    sizes = [
        t.num_rows for t in DemoData(DemoSpec(events=50_000, batch_rows=10_000)).event_batches()
    ]
    assert sum(sizes) == 50_000
    assert max(sizes) < 10_500
    assert len(sizes) == 5


def test_rows_are_well_formed_events() -> None:
    table = events_of(DemoSpec(events=30_000, last_day=LAST_DAY))
    rows = table.to_pylist()
    assert len({r["insert_id"] for r in rows}) == len(rows)
    for row in rows:
        props = json.loads(row["properties"])
        assert not set(props) & set(RESERVED_EVENT_PROPERTIES)
        assert {"$browser", "$os", "$city", "mp_country_code", "mp_lib"} <= set(props)
        if row["user_id"] is None:
            assert row["distinct_id"] == f"$device:{row['device_id']}"
            assert "plan" not in props
        else:
            assert row["distinct_id"] == row["user_id"]
            assert row["device_id"]
            assert props["plan"] in ("free", "team", "business", "enterprise")
            assert props["company_id"].startswith("c")
        if row["event"] == "Purchase":
            assert props["sku"] in {s.id for s in SKUS}
            assert props["amount"] == props["price"] * props["quantity"]
        if row["event"] == "Sign Up":
            assert row["device_id"] and row["user_id"]
    times = pc.cast(table.column("time"), pa.int64())
    first = dt.datetime.combine(LAST_DAY - dt.timedelta(days=89), dt.time(), dt.UTC)
    end = dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(), dt.UTC)
    assert pc.min(times).as_py() >= first.timestamp() * 1000
    assert pc.max(times).as_py() < end.timestamp() * 1000


def test_profiles_groups_and_skus_are_json_objects() -> None:
    data = DemoData(DemoSpec(events=10_000, last_day=LAST_DAY))
    profiles = [json.loads(p) for p in data.profiles().column("properties").to_pylist()]
    assert {"$name", "$email", "plan", "country", "company_id", "$created"} <= set(profiles[0])
    assert len({p["$email"] for p in profiles}) == len(profiles)
    groups = [json.loads(g) for g in data.groups().column("properties").to_pylist()]
    assert {"$name", "industry", "employees", "plan"} <= set(groups[0])
    assert sum(g["users"] for g in groups) == len(profiles)
    skus = data.skus().to_pylist()
    assert [s["row_id"] for s in skus] == [s.id for s in SKUS]
    assert {"name", "category", "price"} <= set(json.loads(skus[0]["properties"]))


def test_a_million_events_span_ninety_days_and_more_spread_wider() -> None:
    assert DemoData(DemoSpec(events=10, last_day=LAST_DAY)).window.days == 90
    from driftline.demo.population import Window

    assert Window.for_events(1_000_000, LAST_DAY).days == 90
    assert Window.for_events(50_000_000, LAST_DAY).days > 90


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"events": 0}, "events"), ({"events": 10, "seed": -3}, "seed")]
)
def test_bad_spec_names_the_field(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        DemoSpec(**kwargs)
    assert err.value.field == field
