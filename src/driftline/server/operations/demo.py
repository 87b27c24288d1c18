"""Demo dataset (being written)."""

from __future__ import annotations

from typing import Any

from driftline.errors import TerminalError
from driftline.server.ops import Context, operation


@operation("demo.load")
def load_demo(
    ctx: Context, project_id: int, events: int, seed: int, end_date: str
) -> dict[str, Any]:
    raise TerminalError("the demo dataset is not available yet")
