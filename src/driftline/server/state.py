"""What a running server holds: settings, the store, its writer, metrics, the admin token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driftline.config import Settings
from driftline.server.metrics import Metrics
from driftline.store import DuckDBStore, GroupCommitWriter


@dataclass
class ServerState:
    settings: Settings
    store: DuckDBStore
    writer: GroupCommitWriter
    metrics: Metrics
    admin_token: str
    #: the Snowplow collector's worker processes, once started (driftline.snowplow.workers)
    snowplow_workers: Any = None
