"""The source contract, run against every source that can run on this machine."""

from __future__ import annotations

from typing import Any

import pytest
from sync_contract import SourceContract


class TestPostgres(SourceContract):
    @pytest.fixture
    def wh(self, postgres: Any) -> Any:
        return postgres


class TestRedshiftOverPostgresWire(SourceContract):
    """Redshift's read path (server-side cursor pages) against PostgreSQL's wire protocol."""

    @pytest.fixture
    def wh(self, pg_database: str) -> Any:
        from sync_warehouses import Postgres

        wh = Postgres(pg_database, scheme="redshift")
        wh.url = wh.url.replace(":5432/", ":5432/")
        yield wh
        wh.close()


class TestMariaDB(SourceContract):
    @pytest.fixture
    def wh(self, mariadb: Any) -> Any:
        return mariadb


class TestSQLite(SourceContract):
    @pytest.fixture
    def wh(self, sqlite_wh: Any) -> Any:
        return sqlite_wh


class TestDuckDB(SourceContract):
    @pytest.fixture
    def wh(self, duckdb_wh: Any) -> Any:
        return duckdb_wh


# fakesnow's own DuckDB calls warn about an Arrow copy; that is fakesnow's business
@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
@pytest.mark.e2e
class TestSnowflake(SourceContract):
    """The real snowflake-connector-python against fakesnow's server."""

    @pytest.fixture
    def wh(self, snowflake_wh: Any) -> Any:
        return snowflake_wh
