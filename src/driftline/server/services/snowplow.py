"""Checks ``snowplow.toml`` (collector, Iglu, enrichments) when `driftline serve` starts, so
that a mistake stops the server with a clear message instead of failing tracker requests;
stops the collector's worker processes when the server stops."""

from __future__ import annotations

import logging
from typing import Any

from driftline.snowplow import config as sp_config

log = logging.getLogger("driftline.snowplow")


class SnowplowConfigCheck:
    def __init__(self, state: Any) -> None:
        self.state = state

    async def start(self) -> None:
        settings = self.state.settings
        path = getattr(settings, "snowplow_config", None) or (
            settings.data_dir / sp_config.FILE_NAME
        )
        sp_config.load(path)  # raises TerminalError naming the file and the problem
        if path.is_file():
            log.info("snowplow collector configured from %s", path)

    async def stop(self) -> None:
        workers = getattr(self.state, "snowplow_workers", None)
        if workers is not None:
            await workers.close()


def create(state: Any) -> SnowplowConfigCheck:
    return SnowplowConfigCheck(state)
