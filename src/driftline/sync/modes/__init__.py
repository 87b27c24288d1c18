"""Sync modes: what a run reads, what it drops, and the state it leaves for the next run.

Each mode is a small object the engine drives the same way (:class:`SyncModeRunner`); the
engine never branches on the mode's name. A mode that plans its own reads (Mirror: a
checksum scan, a diff, then a fetch of the changed rows) also has ``drive(...)``, which the
engine calls instead of its own read loop; it reads row checksums from sources that
implement :class:`~driftline.sync.sources.base.WarehouseChecksums`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pyarrow as pa

from driftline.errors import TerminalError
from driftline.model import SyncMode
from driftline.sync.mapping import Mapping
from driftline.sync.sources.base import ReadRequest


class SyncModeRunner(Protocol):
    """One run's view of its mode. Made fresh for every run by the mode's factory."""

    def skip_reason(self) -> str | None:
        """Why this run has nothing to do (a one-time sync that already ran), or None."""

    def request(self) -> ReadRequest:
        """What to read from the warehouse."""

    def accept(self, rows: pa.Table) -> pa.Table:
        """Drop rows the store already has (Append's boundary); note what the run saw."""

    # Optional: ``skip_sql(key, wm) -> (sql, params)``, the rows :meth:`accept` drops as a
    # SQL condition, which lets the store read and map a run in one statement.

    def new_state(self) -> dict[str, Any]:
        """The sync's state after this run commits (stored in the same transaction)."""

    def boundary(self) -> pa.Table | None:
        """Keys of the rows on the new watermark, or None when the mode keeps none."""


Factory = Callable[[Mapping, dict[str, Any], set[str]], SyncModeRunner]


def _modes() -> dict[SyncMode, Factory]:
    from driftline.sync.modes.append import AppendRun
    from driftline.sync.modes.full import FullRun
    from driftline.sync.modes.mirror import MirrorRun
    from driftline.sync.modes.one_time import OneTimeRun

    return {
        SyncMode.APPEND: AppendRun, SyncMode.FULL: FullRun, SyncMode.ONE_TIME: OneTimeRun,
        SyncMode.MIRROR: MirrorRun,
    }  # fmt: skip


def runner_for(mapping: Mapping, state: dict[str, Any], boundary: set[str]) -> SyncModeRunner:
    factory = _modes().get(mapping.spec.mode)
    if factory is None:
        raise TerminalError(
            f'sync "{mapping.spec.name}": mode {mapping.spec.mode.value} is not available in this '
            "version of driftline; use append, full or one-time"
        )
    return factory(mapping, state, boundary)


def available_modes() -> frozenset[SyncMode]:
    return frozenset(_modes())
