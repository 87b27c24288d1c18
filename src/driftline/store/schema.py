"""Store schema and its forward migrations.

Each migration is applied once, in order, inside one transaction together with the row
that records it in ``schema_version``. A store written by a newer driftline (a version this
code does not know) is refused rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "events, profiles, groups, lookup rows, identities, bad rows and metadata",
        (
            """CREATE TABLE projects (
                id INTEGER PRIMARY KEY,
                name VARCHAR NOT NULL UNIQUE,
                token VARCHAR NOT NULL UNIQUE,
                secret VARCHAR NOT NULL UNIQUE,
                timezone VARCHAR NOT NULL DEFAULT 'UTC',
                keep_profile_history BOOLEAN NOT NULL DEFAULT FALSE,
                created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
            )""",
            # time: event time, UTC, millisecond precision. ingested_at: commit time, the export clock.
            """CREATE TABLE events (
                project_id INTEGER NOT NULL,
                event VARCHAR NOT NULL,
                time TIMESTAMP NOT NULL,
                distinct_id VARCHAR NOT NULL,
                device_id VARCHAR,
                user_id VARCHAR,
                insert_id VARCHAR NOT NULL,
                properties JSON,
                origin VARCHAR NOT NULL,
                origin_key VARCHAR,
                ingested_at TIMESTAMP NOT NULL
            )""",
            """CREATE TABLE identities (
                project_id INTEGER NOT NULL,
                device_id VARCHAR NOT NULL,
                user_id VARCHAR NOT NULL,
                first_seen TIMESTAMP NOT NULL,
                PRIMARY KEY (project_id, device_id)
            )""",
            """CREATE TABLE profiles (
                project_id INTEGER NOT NULL,
                distinct_id VARCHAR NOT NULL,
                properties JSON NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                origin VARCHAR,
                PRIMARY KEY (project_id, distinct_id)
            )""",
            """CREATE TABLE profile_history (
                project_id INTEGER NOT NULL,
                distinct_id VARCHAR NOT NULL,
                properties JSON NOT NULL,
                valid_from TIMESTAMP NOT NULL,
                valid_to TIMESTAMP,
                origin VARCHAR
            )""",
            """CREATE TABLE groups (
                project_id INTEGER NOT NULL,
                group_key VARCHAR NOT NULL,
                group_id VARCHAR NOT NULL,
                properties JSON NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                origin VARCHAR,
                PRIMARY KEY (project_id, group_key, group_id)
            )""",
            """CREATE TABLE lookup_tables (
                project_id INTEGER NOT NULL,
                id VARCHAR NOT NULL,
                name VARCHAR NOT NULL,
                property VARCHAR,
                updated_at TIMESTAMP NOT NULL,
                PRIMARY KEY (project_id, id)
            )""",
            """CREATE TABLE lookup_rows (
                project_id INTEGER NOT NULL,
                table_id VARCHAR NOT NULL,
                row_id VARCHAR NOT NULL,
                properties JSON NOT NULL,
                PRIMARY KEY (project_id, table_id, row_id)
            )""",
            """CREATE TABLE bad_rows (
                project_id INTEGER,
                received_at TIMESTAMP NOT NULL,
                kind VARCHAR NOT NULL,
                schema VARCHAR NOT NULL,
                payload JSON NOT NULL
            )""",
            """CREATE TABLE warehouses (
                project_id INTEGER NOT NULL,
                name VARCHAR NOT NULL,
                url VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
                PRIMARY KEY (project_id, name)
            )""",
            """CREATE TABLE syncs (
                project_id INTEGER NOT NULL,
                name VARCHAR NOT NULL,
                warehouse VARCHAR NOT NULL,
                spec JSON NOT NULL,
                state JSON,
                created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
                PRIMARY KEY (project_id, name)
            )""",
            """CREATE TABLE sync_runs (
                project_id INTEGER NOT NULL,
                sync_name VARCHAR NOT NULL,
                run_id VARCHAR NOT NULL,
                started_at TIMESTAMP NOT NULL,
                finished_at TIMESTAMP,
                status VARCHAR NOT NULL,
                error VARCHAR,
                rows_read BIGINT DEFAULT 0,
                inserted BIGINT DEFAULT 0,
                updated BIGINT DEFAULT 0,
                deleted BIGINT DEFAULT 0,
                bytes BIGINT DEFAULT 0,
                PRIMARY KEY (project_id, sync_name, run_id)
            )""",
            """CREATE TABLE pipelines (
                project_id INTEGER NOT NULL,
                name VARCHAR NOT NULL,
                spec JSON NOT NULL,
                state JSON,
                created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
                PRIMARY KEY (project_id, name)
            )""",
            """CREATE TABLE pipeline_runs (
                project_id INTEGER NOT NULL,
                pipeline_name VARCHAR NOT NULL,
                run_id VARCHAR NOT NULL,
                window_start TIMESTAMP,
                window_end TIMESTAMP,
                started_at TIMESTAMP NOT NULL,
                finished_at TIMESTAMP,
                status VARCHAR NOT NULL,
                error VARCHAR,
                events_in_store BIGINT,
                events_exported BIGINT,
                files JSON,
                PRIMARY KEY (project_id, pipeline_name, run_id)
            )""",
            # Readers see events with the device resolved to its user (simplified ID merge).
            """CREATE VIEW events_resolved AS
                SELECT e.*, coalesce(i.user_id, e.distinct_id) AS resolved_distinct_id
                FROM events e
                LEFT JOIN identities i
                  ON e.user_id IS NULL AND i.project_id = e.project_id AND i.device_id = e.device_id""",
        ),
    ),
    Migration(
        4,
        "warehouse syncs: Append boundary keys, rejected rows and mode in run history",
        (
            # keys of the rows that sit exactly on an Append sync's watermark: the next run
            # reads from the watermark on (inclusive) and drops these, so no row is lost or doubled
            """CREATE TABLE sync_boundary (
                project_id INTEGER NOT NULL,
                sync_name VARCHAR NOT NULL,
                row_key VARCHAR NOT NULL
            )""",
            "ALTER TABLE sync_runs ADD COLUMN rejected BIGINT DEFAULT 0",
            "ALTER TABLE sync_runs ADD COLUMN mode VARCHAR",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
