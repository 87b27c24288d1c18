"""Mirror's contract (:mod:`mirror_contract`) against every source that runs here."""

from __future__ import annotations

from typing import Any

import pytest
from mirror_contract import MirrorContract


class TestPostgres(MirrorContract):
    @pytest.fixture
    def wh(self, postgres: Any) -> Any:
        return postgres


class TestMariaDB(MirrorContract):
    @pytest.fixture
    def wh(self, mariadb: Any) -> Any:
        return mariadb


class TestSQLite(MirrorContract):
    @pytest.fixture
    def wh(self, sqlite_wh: Any) -> Any:
        return sqlite_wh


class TestDuckDB(MirrorContract):
    @pytest.fixture
    def wh(self, duckdb_wh: Any) -> Any:
        return duckdb_wh


@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
@pytest.mark.e2e
class TestSnowflake(MirrorContract):
    """The real snowflake-connector-python against fakesnow's server: the checksum path."""

    @pytest.fixture
    def wh(self, snowflake_wh: Any) -> Any:
        return snowflake_wh
