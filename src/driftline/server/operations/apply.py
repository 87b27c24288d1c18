"""``driftline apply FILE.toml``: declare warehouses, syncs and pipelines in one file.

Each top-level table of the file (``[warehouses.NAME]``, ``[syncs.NAME]``, ...) is handed
to the operation ``apply.<section>`` that its area registers, so new areas extend the file
format by adding one operation. Sections are applied in dependency order (warehouses
before the syncs that read them); applying the same file twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from driftline.errors import InvalidInput
from driftline.server import ops
from driftline.server.ops import Context, operation

ORDER = ("projects", "warehouses", "syncs", "destinations", "pipelines")


@operation("apply")
def apply_file(
    ctx: Context, doc: dict[str, Any], project: str | None = None, check: bool = True
) -> dict[str, Any]:
    ops._load()
    known = sorted(name.removeprefix("apply.") for name in ops._OPS if name.startswith("apply."))
    unknown = [s for s in doc if s not in known]
    if unknown:
        raise InvalidInput(
            f"unknown section [{unknown[0]}]; sections are: {', '.join(known)}", field=unknown[0]
        )
    results: dict[str, Any] = {}
    rank = {s: i for i, s in enumerate(ORDER)}
    for section in sorted(doc, key=lambda s: (rank.get(s, len(ORDER)), s)):
        items = doc[section]
        if not isinstance(items, dict):
            raise InvalidInput(
                f"[{section}] must hold named tables, e.g. [{section}.NAME]", field=section
            )
        results[section] = ops.run(
            f"apply.{section}", ctx, {"items": items, "project": project, "check": check}
        )
    return results
