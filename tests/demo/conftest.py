"""A store loaded once with a mid-sized demo dataset, shared by the shape tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.demo import DemoSpec, load_demo
from driftline.store import DuckDBStore, GroupCommitWriter

LAST_DAY = dt.date(2026, 3, 31)
SHAPE_EVENTS = 80_000


@pytest.fixture(scope="module")
def demo_summary_and_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, object], DuckDBStore]]:
    store = DuckDBStore(Path(tmp_path_factory.mktemp("demo")) / "data")
    store.create_project("default")
    writer = GroupCommitWriter(store)
    try:
        summary = load_demo(writer, DemoSpec(events=SHAPE_EVENTS, seed=7, last_day=LAST_DAY))
    finally:
        writer.close()
    yield summary, store
    store.close()


@pytest.fixture(scope="module")
def demo_store(demo_summary_and_store: tuple[dict[str, object], DuckDBStore]) -> DuckDBStore:
    return demo_summary_and_store[1]


@pytest.fixture(scope="module")
def demo_summary(
    demo_summary_and_store: tuple[dict[str, object], DuckDBStore],
) -> dict[str, object]:
    return demo_summary_and_store[0]
