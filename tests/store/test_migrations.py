"""A store written by an earlier driftline opens with its data intact and the newest schema."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from driftline.store import STORE_FILE, DuckDBStore
from driftline.store.schema import LATEST_VERSION, MIGRATIONS


def test_a_version_6_store_keeps_its_events_and_stores_texts_with_zstd(tmp_path: Path) -> None:
    # the store as driftline wrote it before migration 7, with events in it
    conn = duckdb.connect(str(tmp_path / STORE_FILE))
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
    )
    for migration in MIGRATIONS:
        if migration.version > 6:
            break
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_version VALUES (?, ?, ?)",
            [migration.version, migration.description, dt.datetime(2026, 1, 1)],
        )
    conn.execute("INSERT INTO projects (id, name, token, secret) VALUES (1, 'p', 't', 's')")
    conn.execute(
        """INSERT INTO events
           SELECT 1, 'E', TIMESTAMP '2026-01-01' + to_seconds(i), 'u' || (i % 7), NULL, 'u' || (i % 7),
                  'id-' || i, '{"n":' || i || ',"plan":"pro"}', 'import', 'k-' || i, TIMESTAMP '2026-01-02'
           FROM range(150000) t(i)"""
    )
    conn.close()

    with DuckDBStore(tmp_path) as store:
        assert store.schema_version() == LATEST_VERSION >= 7
        assert store.query_rows(
            "SELECT count(*), count(DISTINCT insert_id), sum(CAST(properties->>'n' AS BIGINT)) FROM events_resolved"
        )[0] == (150_000, 150_000, sum(range(150_000)))
        store.query_rows("CHECKPOINT")
        kinds = {
            (r[0], r[1])
            for r in store.query_rows(
                """SELECT DISTINCT column_name, compression FROM pragma_storage_info('events')
                   WHERE column_name IN ('properties', 'insert_id', 'origin_key', 'distinct_id', 'user_id')
                     AND segment_type IN ('JSON', 'VARCHAR')"""
            )
        }
        assert store.query_rows("SELECT min(origin_key) FROM events")[0][0] == "k-0"
    assert kinds == {
        (column, "ZSTD")
        for column in ("properties", "insert_id", "origin_key", "distinct_id", "user_id")
    }
