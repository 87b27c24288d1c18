"""The ingestion engine inside `driftline serve`: the event micro-batcher and the GeoIP
database, opened with the server and closed (after flushing) before the store closes."""

from __future__ import annotations

from typing import Any

from driftline.ingest.events import EventIngestor
from driftline.ingest.geo import GeoLocator, open_locator
from driftline.ingest.hotshard import HotShards

_ATTR = "ingest_engine"


class IngestEngine:
    def __init__(self, state: Any) -> None:
        self.geo: GeoLocator | None = open_locator(state.settings.geoip_database)
        self.hot = HotShards(state.settings.hot_shard_limit)
        if self.hot.limit > 0:
            self.hot.seed(state.store.query_rows(HotShards.seed_sql()))
        self.events = EventIngestor(state.store, state.writer, self.geo, hot=self.hot)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.events.close()
        if self.geo is not None:
            self.geo.close()


def create(state: Any) -> IngestEngine:
    engine = IngestEngine(state)
    setattr(state, _ATTR, engine)
    return engine


def engine_of(state: Any) -> IngestEngine:
    """The running server's ingestion engine."""
    return getattr(state, _ATTR)  # type: ignore[no-any-return]
