"""The event store: a small interface and its DuckDB implementation.

Nothing outside this package talks to the database file. Writers hand
:mod:`~driftline.store.ops` objects to the :class:`GroupCommitWriter`; readers call
:meth:`DuckDBStore.query` / :meth:`DuckDBStore.stream` with SQL built by the query engines.
"""

from driftline.store.duckdb_store import STORE_FILE, DuckDBStore
from driftline.store.ops import (
    AppendEvents,
    AppendEventStream,
    InsertEventsQuery,
    ReplaceLookupTable,
    UpsertGroups,
    UpsertProfiles,
    WriteOp,
)
from driftline.store.writer import GroupCommitWriter

__all__ = [
    "STORE_FILE",
    "AppendEventStream",
    "AppendEvents",
    "DuckDBStore",
    "GroupCommitWriter",
    "InsertEventsQuery",
    "ReplaceLookupTable",
    "UpsertGroups",
    "UpsertProfiles",
    "WriteOp",
]
