"""Event-time ranges as ``[start, end]`` pairs of ISO strings (``None``: unbounded), and
the chunking of a backfill into steps of bounded size along partition boundaries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from driftline.pipelines.layout import Clock
from driftline.pipelines.steps import from_iso, to_iso

_MIN = dt.datetime.min
_MAX = dt.datetime.max


def _lo(value: Any) -> dt.datetime:
    parsed = from_iso(value) if isinstance(value, str) or value is None else value
    return parsed if parsed is not None else _MIN


def _hi(value: Any) -> dt.datetime:
    parsed = from_iso(value) if isinstance(value, str) or value is None else value
    return parsed if parsed is not None else _MAX


def _out(lo: dt.datetime, hi: dt.datetime) -> list[str | None]:
    return [None if lo == _MIN else to_iso(lo), None if hi == _MAX else to_iso(hi)]


def merge_ranges(ranges: list[list[Any]]) -> list[list[str | None]]:
    spans = sorted((_lo(a), _hi(b)) for a, b in ranges)
    merged: list[list[dt.datetime]] = []
    for lo, hi in spans:
        if lo >= hi:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [_out(lo, hi) for lo, hi in merged]


def subtract_ranges(
    wanted: list[list[Any]], taken: list[list[Any]]
) -> list[tuple[dt.datetime | None, dt.datetime | None]]:
    """``wanted`` minus ``taken``, as (start, end) datetimes (``None``: unbounded)."""
    pieces = [(_lo(a), _hi(b)) for a, b in wanted]
    for a, b in taken:
        t_lo, t_hi = _lo(a), _hi(b)
        next_pieces = []
        for lo, hi in pieces:
            if t_hi <= lo or t_lo >= hi:
                next_pieces.append((lo, hi))
                continue
            if lo < t_lo:
                next_pieces.append((lo, t_lo))
            if t_hi < hi:
                next_pieces.append((t_hi, hi))
        pieces = next_pieces
    return [
        (None if lo == _MIN else lo, None if hi == _MAX else hi) for lo, hi in pieces if lo < hi
    ]


def plan_chunks(
    clock: Clock,
    counts: dict[str, int],
    chunk_rows: int,
    lo: dt.datetime | None,
    hi: dt.datetime | None,
) -> list[list[Any]]:
    """Consecutive partitions grouped into chunks of about ``chunk_rows`` events:
    ``[start, end, events]`` with bounds on partition boundaries, clipped to [lo, hi)."""
    chunks: list[list[Any]] = []
    current: list[Any] | None = None
    for partition in sorted(counts):
        p_lo, p_hi = clock.partition_range(partition)
        p_lo = max(p_lo, lo) if lo is not None else p_lo
        p_hi = min(p_hi, hi) if hi is not None else p_hi
        if current is not None and current[2] + counts[partition] > chunk_rows and current[2] > 0:
            chunks.append(current)
            current = None
        if current is None:
            current = [p_lo, p_hi, 0]
        current[1] = p_hi
        current[2] += counts[partition]
    if current is not None:
        chunks.append(current)
    return [[to_iso(a), to_iso(b), n] for a, b, n in chunks]
