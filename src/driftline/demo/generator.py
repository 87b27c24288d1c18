"""The demo dataset as a whole: size it, generate it, write it.

The same :class:`DemoSpec` (seed, event count, last day) always gives the same data, row
for row, ``$insert_id`` included. Loading it again therefore replaces the earlier copy
(the store deduplicates) instead of doubling it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.demo import catalog as cat
from driftline.demo.events import EventBuilder
from driftline.demo.population import Companies, People, Window, build_people
from driftline.demo.records import (
    GROUP_KEY,
    SKU_PROPERTY,
    SKU_TABLE_ID,
    SKU_TABLE_NAME,
    groups_table,
    profiles_table,
    skus_table,
)
from driftline.demo.sessions import Sessions, allocate_features, build_sessions
from driftline.errors import InvalidInput
from driftline.store import AppendEvents, ReplaceLookupTable, UpsertGroups, UpsertProfiles

#: Rows per event table handed to the writer.
BATCH_ROWS = 200_000
#: Feature events per signed-in session on average: sizes the number of users.
FEATURES_PER_SESSION = 4.0
PILOT_USERS = 2_000
MAX_EVENTS = 100_000_000

# Streams of random numbers, one per stage, so that a change in one stage does not shift
# the numbers another stage draws.
_PILOT, _PEOPLE, _FEATURES, _EVENTS = 1, 2, 3, 4


@dataclass(frozen=True)
class DemoSpec:
    events: int
    seed: int = 42
    last_day: dt.date = dt.date(2026, 1, 31)
    project_id: int = 1
    batch_rows: int = BATCH_ROWS

    def __post_init__(self) -> None:
        if not 1 <= self.events <= MAX_EVENTS:
            raise InvalidInput(f"events must be between 1 and {MAX_EVENTS:,}", field="events")
        if self.seed < 0:
            raise InvalidInput("seed must be a whole number ≥ 0", field="seed")

    def rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.events, *stream])


class DemoData:
    """A generated dataset: sessions sized to ``spec.events`` events, and the tables."""

    def __init__(self, spec: DemoSpec) -> None:
        self.spec = spec
        self.window = Window.for_events(spec.events, spec.last_day)
        self.people, self.companies, self.sessions = _fit(spec, self.window)
        self.builder = EventBuilder(self.people, self.window, spec.project_id, spec.seed)

    # ------------------------------------------------------------------ events
    def event_batches(self) -> Iterator[pa.Table]:
        """Event tables of about ``batch_rows`` rows, sessions in time order."""
        counts = self.sessions.event_counts()
        ends = np.cumsum(counts)
        total = min(int(ends[-1]) if len(ends) else 0, self.spec.events)
        cuts = np.searchsorted(ends, np.arange(self.spec.batch_rows, total, self.spec.batch_rows))
        bounds = np.unique(np.r_[0, cuts + 1, np.searchsorted(ends, total) + 1])
        emitted = 0
        for chunk, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            part = self.sessions.take(np.arange(lo, hi))
            table = self.builder.build(self.spec.rng(_EVENTS, chunk), part, self.companies.n)
            table = table.slice(0, total - emitted)
            emitted += table.num_rows
            if table.num_rows:
                yield table

    # ------------------------------------------------------------------ other tables
    @cached_property
    def _user_ids(self) -> pa.Array:
        return self.builder.user_ids(np.arange(self.people.n_users))

    @cached_property
    def _company_ids(self) -> pa.Array:
        return self.builder.company_ids(np.arange(self.companies.n), self.companies.n)

    def profiles(self) -> pa.Table:
        return profiles_table(
            self.spec.project_id,
            self.people,
            self.companies,
            self.sessions,
            self._user_ids,
            self._company_ids,
        )

    def groups(self) -> pa.Table:
        return groups_table(
            self.spec.project_id, self.people, self.companies, self.sessions, self._company_ids
        )

    def skus(self) -> pa.Table:
        return skus_table()

    def lookup_op(self) -> ReplaceLookupTable:
        return ReplaceLookupTable(
            self.spec.project_id, SKU_TABLE_ID, SKU_TABLE_NAME, SKU_PROPERTY, self.skus()
        )


def _build(
    spec: DemoSpec, window: Window, users: int, stream: int
) -> tuple[People, Companies, Sessions]:
    rng = spec.rng(stream, users)
    people, companies = build_people(rng, window, users)
    return people, companies, build_sessions(rng, people, window)


def _fit(spec: DemoSpec, window: Window) -> tuple[People, Companies, Sessions]:
    """Pick the number of users that gives about ``FEATURES_PER_SESSION`` feature events
    per session, then spread exactly the remaining budget over the sessions.

    A small pilot population tells how many sessions and events a user brings. When even
    the events other than feature use exceed the budget (a very small ``events``), the
    population shrinks; at a single user the time-ordered stream is cut at ``events``.
    """
    _, _, pilot = _build(spec, window, PILOT_USERS, _PILOT)
    per_user = (
        pilot.structural_events().sum() + FEATURES_PER_SESSION * pilot.signed_in.sum()
    ) / PILOT_USERS
    users = max(1, int(spec.events / per_user))
    while True:
        people, companies, sessions = _build(spec, window, users, _PEOPLE)
        structural = int(sessions.structural_events().sum())
        if structural <= spec.events or users == 1:
            break
        users = max(1, int(users * spec.events / structural * 0.9))
    allocate_features(spec.rng(_FEATURES), sessions, people, spec.events - structural)
    if structural > spec.events:
        keep = int(np.searchsorted(np.cumsum(sessions.event_counts()), spec.events)) + 1
        sessions = sessions.take(np.arange(min(keep, len(sessions.person))))
    return people, companies, sessions


def load_demo(writer: Any, spec: DemoSpec) -> dict[str, Any]:
    """Generate the dataset and write it through ``writer`` (a ``GroupCommitWriter``):
    events in batches (the next batch is generated while the previous one commits), then
    profiles, company groups and the SKU lookup table. Returns the summary
    ``driftline demo`` prints."""
    data = DemoData(spec)
    in_flight: deque[Future[Any]] = deque()
    events, first, last = 0, None, None
    for table in data.event_batches():
        times = table.column("time")
        lo, hi = pc.min_max(times).values()
        first = min(first, lo.as_py()) if first else lo.as_py()
        last = max(last, hi.as_py()) if last else hi.as_py()
        in_flight.append(writer.submit(AppendEvents(table), wait_for_room=True))
        events += table.num_rows
        while len(in_flight) > 1:
            in_flight.popleft().result()
    while in_flight:
        in_flight.popleft().result()
    profiles = data.profiles()
    for batch in profiles.to_batches(max_chunksize=spec.batch_rows):
        writer.write(UpsertProfiles(pa.Table.from_batches([batch])))
    groups = data.groups()
    writer.write(UpsertGroups(groups))
    writer.write(data.lookup_op())
    return {
        "events": events,
        "users": profiles.num_rows,
        "companies": groups.num_rows,
        "skus": len(cat.SKUS),
        "group_key": GROUP_KEY,
        "first_day": first.date().isoformat() if first else None,
        "last_day": last.date().isoformat() if last else None,
    }
