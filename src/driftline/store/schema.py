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


_EVENTS_RESOLVED = """CREATE VIEW events_resolved AS
                SELECT e.*, coalesce(i.user_id, e.distinct_id) AS resolved_distinct_id
                FROM events e
                LEFT JOIN identities i
                  ON e.user_id IS NULL AND i.project_id = e.project_id AND i.device_id = e.device_id"""

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
            _EVENTS_RESOLVED,
        ),
    ),
    Migration(
        3,
        "snowplow: enriched events (131 fields), imported files, stream checkpoints",
        (
            # One row per enriched event, the 131 fields of Snowplow's enriched format in
            # their order; decimals stay text (the scale as written), JSON columns JSON.
            """CREATE TABLE snowplow_events (
                project_id INTEGER NOT NULL,
                app_id VARCHAR, platform VARCHAR, etl_tstamp TIMESTAMP,
                collector_tstamp TIMESTAMP, dvce_created_tstamp TIMESTAMP, event VARCHAR,
                event_id VARCHAR, txn_id INTEGER, name_tracker VARCHAR, v_tracker VARCHAR,
                v_collector VARCHAR, v_etl VARCHAR, user_id VARCHAR, user_ipaddress VARCHAR,
                user_fingerprint VARCHAR, domain_userid VARCHAR, domain_sessionidx INTEGER,
                network_userid VARCHAR, geo_country VARCHAR, geo_region VARCHAR,
                geo_city VARCHAR, geo_zipcode VARCHAR, geo_latitude DOUBLE,
                geo_longitude DOUBLE, geo_region_name VARCHAR, ip_isp VARCHAR,
                ip_organization VARCHAR, ip_domain VARCHAR, ip_netspeed VARCHAR,
                page_url VARCHAR, page_title VARCHAR, page_referrer VARCHAR,
                page_urlscheme VARCHAR, page_urlhost VARCHAR, page_urlport INTEGER,
                page_urlpath VARCHAR, page_urlquery VARCHAR, page_urlfragment VARCHAR,
                refr_urlscheme VARCHAR, refr_urlhost VARCHAR, refr_urlport INTEGER,
                refr_urlpath VARCHAR, refr_urlquery VARCHAR, refr_urlfragment VARCHAR,
                refr_medium VARCHAR, refr_source VARCHAR, refr_term VARCHAR,
                mkt_medium VARCHAR, mkt_source VARCHAR, mkt_term VARCHAR, mkt_content VARCHAR,
                mkt_campaign VARCHAR, contexts JSON, se_category VARCHAR, se_action VARCHAR,
                se_label VARCHAR, se_property VARCHAR, se_value VARCHAR, unstruct_event JSON,
                tr_orderid VARCHAR, tr_affiliation VARCHAR, tr_total VARCHAR, tr_tax VARCHAR,
                tr_shipping VARCHAR, tr_city VARCHAR, tr_state VARCHAR, tr_country VARCHAR,
                ti_orderid VARCHAR, ti_sku VARCHAR, ti_name VARCHAR, ti_category VARCHAR,
                ti_price VARCHAR, ti_quantity INTEGER, pp_xoffset_min INTEGER,
                pp_xoffset_max INTEGER, pp_yoffset_min INTEGER, pp_yoffset_max INTEGER,
                useragent VARCHAR, br_name VARCHAR, br_family VARCHAR, br_version VARCHAR,
                br_type VARCHAR, br_renderengine VARCHAR, br_lang VARCHAR,
                br_features_pdf BOOLEAN, br_features_flash BOOLEAN, br_features_java BOOLEAN,
                br_features_director BOOLEAN, br_features_quicktime BOOLEAN,
                br_features_realplayer BOOLEAN, br_features_windowsmedia BOOLEAN,
                br_features_gears BOOLEAN, br_features_silverlight BOOLEAN, br_cookies BOOLEAN,
                br_colordepth VARCHAR, br_viewwidth INTEGER, br_viewheight INTEGER,
                os_name VARCHAR, os_family VARCHAR, os_manufacturer VARCHAR,
                os_timezone VARCHAR, dvce_type VARCHAR, dvce_ismobile BOOLEAN,
                dvce_screenwidth INTEGER, dvce_screenheight INTEGER, doc_charset VARCHAR,
                doc_width INTEGER, doc_height INTEGER, tr_currency VARCHAR,
                tr_total_base VARCHAR, tr_tax_base VARCHAR, tr_shipping_base VARCHAR,
                ti_currency VARCHAR, ti_price_base VARCHAR, base_currency VARCHAR,
                geo_timezone VARCHAR, mkt_clickid VARCHAR, mkt_network VARCHAR,
                etl_tags VARCHAR, dvce_sent_tstamp TIMESTAMP, refr_domain_userid VARCHAR,
                refr_dvce_tstamp TIMESTAMP, derived_contexts JSON, domain_sessionid VARCHAR,
                derived_tstamp TIMESTAMP, event_vendor VARCHAR, event_name VARCHAR,
                event_format VARCHAR, event_version VARCHAR, event_fingerprint VARCHAR,
                true_tstamp TIMESTAMP,
                ingested_at TIMESTAMP NOT NULL
            )""",
            """CREATE TABLE snowplow_imports (
                project_id INTEGER NOT NULL,
                source VARCHAR NOT NULL,
                fingerprint VARCHAR NOT NULL,
                events BIGINT NOT NULL,
                bad_rows BIGINT NOT NULL,
                imported_at TIMESTAMP NOT NULL,
                PRIMARY KEY (project_id, source, fingerprint)
            )""",
            """CREATE TABLE snowplow_checkpoints (
                project_id INTEGER NOT NULL,
                stream VARCHAR NOT NULL,
                shard_id VARCHAR NOT NULL,
                sequence_number VARCHAR NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                PRIMARY KEY (project_id, stream, shard_id)
            )""",
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
    Migration(
        5,
        "lookup tables: a log of replacements, for the 100-per-24-hours limit",
        (
            """CREATE TABLE lookup_replacements (
                project_id INTEGER NOT NULL,
                table_id VARCHAR NOT NULL,
                replaced_at TIMESTAMP NOT NULL
            )""",
        ),
    ),
    Migration(
        6,
        "warehouse syncs: Mirror snapshots (row checksum and key of every row last synced)",
        (
            # one row per distinct warehouse row a Mirror sync has applied: its checksum
            # (computed in the warehouse) and its key as text (insert id / id column, or NULL)
            """CREATE TABLE sync_snapshots (
                project_id INTEGER NOT NULL,
                sync_name VARCHAR NOT NULL,
                row_key VARCHAR,
                checksum VARCHAR NOT NULL
            )""",
        ),
    ),
    Migration(
        7,
        "events: properties compressed with zstd (a smaller file and a cheaper insert)",
        (
            # JSON text compresses to about 60% of the size it takes by default, and writing it
            # costs a quarter less CPU; reading it back costs the same.
            "DROP VIEW events_resolved",
            """CREATE TABLE events_zstd (
                project_id INTEGER NOT NULL,
                event VARCHAR NOT NULL,
                time TIMESTAMP NOT NULL,
                distinct_id VARCHAR NOT NULL,
                device_id VARCHAR,
                user_id VARCHAR,
                insert_id VARCHAR NOT NULL,
                properties JSON USING COMPRESSION zstd,
                origin VARCHAR NOT NULL,
                origin_key VARCHAR,
                ingested_at TIMESTAMP NOT NULL
            )""",
            "INSERT INTO events_zstd SELECT * FROM events",
            "DROP TABLE events",
            "ALTER TABLE events_zstd RENAME TO events",
            _EVENTS_RESOLVED,
        ),
    ),
    Migration(
        8,
        "events: ids compressed with zstd (a cheaper insert, reports as fast)",
        (
            # Ids with many distinct values gain little from dictionary compression, whose
            # analysis still costs: zstd writes them in half the CPU (2M synced rows: the
            # insert 1.68 -> 1.13 CPU-s). Segmentation, funnels and retention over 10M
            # events run as fast as before; the file is ~8% larger (benchmarks/RESULTS.md).
            "DROP VIEW events_resolved",
            """CREATE TABLE events_ids (
                project_id INTEGER NOT NULL,
                event VARCHAR NOT NULL,
                time TIMESTAMP NOT NULL,
                distinct_id VARCHAR NOT NULL USING COMPRESSION zstd,
                device_id VARCHAR,
                user_id VARCHAR USING COMPRESSION zstd,
                insert_id VARCHAR NOT NULL USING COMPRESSION zstd,
                properties JSON USING COMPRESSION zstd,
                origin VARCHAR NOT NULL,
                origin_key VARCHAR USING COMPRESSION zstd,
                ingested_at TIMESTAMP NOT NULL
            )""",
            "INSERT INTO events_ids SELECT * FROM events",
            "DROP TABLE events",
            "ALTER TABLE events_ids RENAME TO events",
            _EVENTS_RESOLVED,
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
