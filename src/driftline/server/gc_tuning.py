"""Python's cyclic garbage collector, tuned for a long-running ingestion server.

Every tracker request allocates a few hundred short-lived containers (parameter dicts, field
dicts, rows). With the default thresholds (700, 10, 10) the collector runs a young-generation
pass every few events and, often enough, a full pass over every object the server holds
(the web framework, pyarrow, the UA regexes...): about a tenth of the server's CPU under
collector load. :func:`tune_for_serving` moves everything loaded at startup out of the
collector's reach (``gc.freeze``) and makes passes rarer; reference counting still frees
almost everything at once, the cyclic collector only finds cycles.
"""

from __future__ import annotations

import gc

#: young generation: a pass every 50,000 net allocations of containers instead of 700
THRESHOLDS = (50_000, 20, 100)


def tune_for_serving() -> None:
    """Freeze the objects alive now (loaded modules, the app) and raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
