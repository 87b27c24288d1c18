"""One-Time: load the table once; later runs have nothing to do."""

from __future__ import annotations

from typing import Any

from driftline.sync.modes.full import FullRun


class OneTimeRun(FullRun):
    def skip_reason(self) -> str | None:
        if self.state.get("completed"):
            return (
                f"one-time sync already loaded the table on {self.state.get('last_loaded_at', '?')}; "
                "add a new sync to load it again"
            )
        return None

    def new_state(self) -> dict[str, Any]:
        return {**super().new_state(), "completed": True}
