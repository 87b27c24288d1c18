"""The filter language: what parses, what a mistake says, and that nothing a user writes can
change the SQL around it."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.errors import InvalidInput
from driftline.query.filters import parse_filter, parse_property
from driftline.query.properties import PropertyRef
from driftline.query.segmentation import SegmentationSpec, segmentation
from driftline.store import DuckDBStore

from .conftest import load


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("plan", PropertyRef("event", "plan")),
        ('properties["Plan Type"]', PropertyRef("event", "Plan Type")),
        ("`Plan Type`", PropertyRef("event", "Plan Type")),
        ("$browser", PropertyRef("event", "$browser")),
        ("user.plan", PropertyRef("user", "plan")),
        ('user["$email"]', PropertyRef("user", "$email")),
        ("group.company_id.industry", PropertyRef("group", "industry", "company_id")),
        ('group["company_id"]["industry"]', PropertyRef("group", "industry", "company_id")),
        ("sku.category", PropertyRef("lookup", "category", "sku")),
    ],
)
def test_property_references(text: str, ref: PropertyRef) -> None:
    assert parse_property(text) == ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plan =", "where: expected a value"),
        ('plan = "pro" and', "where: expected a property name at position 17"),
        ("plan ~ 3", "where: unexpected character '~' at position 6"),
        ('plan in "a"', "where: expected a list"),
        ("(plan = 1", "where: expected ')'"),
        ("plan is", "where: expected 'set'"),
        ('"x" plan', "where: expected 'in' after a value"),
    ],
)
def test_mistakes_say_where(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_filter(text)
    assert str(err.value).startswith(message), str(err.value)


CASE = {
    "events": [
        {
            "e": "A",
            "t": "2025-01-01T01:00:00",
            "u": "u1",
            "p": {'it\'s "quoted"': "x'); DROP TABLE events; --"},
        },
        {"e": "A", "t": "2025-01-01T02:00:00", "u": "u2", "p": {"plan": "pro"}},
    ]
}


def count(store: DuckDBStore, where: str) -> int:
    project = store.get_project(1)
    spec = SegmentationSpec(event="A", from_date="2025-01-01", to_date="2025-01-01", where=where)
    return sum(segmentation(store, project, spec)["data"]["values"]["A"].values())


def test_names_and_values_with_quotes_are_data_not_sql(store: DuckDBStore) -> None:
    load(store, store.get_project(1), CASE)
    assert count(store, 'properties["it\'s \\"quoted\\""] = "x\'); DROP TABLE events; --"') == 1
    assert count(store, 'plan = "\'; SELECT 1; --"') == 0
    assert store.count_events(1) == 2


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(
            [
                "plan",
                "user.plan",
                "=",
                "!=",
                ">",
                "in",
                "(",
                ")",
                '"pro"',
                "3",
                "and",
                "or",
                "not",
                "is",
                "set",
                "contains",
                "between",
                ",",
                "[",
                "]",
                "time",
                '"2025-01-01"',
                "sku.category",
                "defined",
                "`a b`",
                "'x'",
            ]
        ),
        max_size=10,
    ).map(" ".join)
)
def test_any_token_soup_is_a_clean_error_or_a_query(store: DuckDBStore, text: Any) -> None:
    with contextlib.suppress(InvalidInput):
        count(store, text)
