"""Mirror's pieces that need no walk: snapshot expiry, key lists with awkward values,
the checksum of trailing NULLs, and the run details a user sees."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from mirror_contract import COLS, MirrorContract, Table, row
from sqlglot import exp

from driftline.model import SyncMode, TableType
from driftline.sync import catalog
from driftline.sync.sources.base import Column, ColumnKind, TableRef, TableSchema
from driftline.sync.sources.checksums import in_list_sql, row_checksum


class TestOnDuckDB(MirrorContract):
    # the walks run in test_mirror_contract; here only the tests below
    test_mirror_events_walk = None  # type: ignore[assignment]
    test_mirror_profiles_and_lookup = None  # type: ignore[assignment]

    @pytest.fixture
    def wh(self, duckdb_wh: Any) -> Any:
        return duckdb_wh

    def test_expired_snapshot_starts_over_and_says_so(self, wh: Any, dl: Any) -> None:
        t = Table(wh, self.prefix + "old", COLS)
        t.create([row(i) for i in range(1, 6)])
        dl.add(**self.events_spec(wh, "old"))
        dl.run("old")
        with dl.session() as (store, _):
            state = json.loads(store.query_rows("SELECT state FROM syncs WHERE name = 'old'")[0][0])
        state["snapshot_at"] = (dt.datetime(2026, 1, 1)).isoformat()
        with dl.session() as (store, _):
            store._conn.execute(
                "UPDATE syncs SET state = ?::JSON WHERE name = 'old'", [json.dumps(state)]
            )
        t.update("id", "e-2", amount=7.0)
        t.delete("id", "e-3")
        out = dl.run("old")
        assert (out["inserted"], out["updated"], out["deleted"]) == (0, 1, 1)
        assert out["rows_read"] == 4  # the whole table was read
        assert self.events(dl, "old") == self.expected_events(t)
        with dl.session() as (store, _):
            listed = catalog.list_syncs(store, 1)[0]
        assert listed["mirror"]["path"] == "full"
        assert "older than 21 days" in listed["mirror"]["why"]
        assert listed["snapshot_at"] > "2026-01-02"

    def test_text_keys_with_quotes_and_backslashes(self, wh: Any, dl: Any) -> None:
        cols = [("k", "text"), ("v", "int")]
        t = Table(wh, self.prefix + "keys", cols)
        keys = ["plain", "it's", "back\\slash", "ünï", "a'b\\'c"]
        t.create([{"k": k, "v": i} for i, k in enumerate(keys)])
        dl.add(name="keys", table=self.ref(wh, "keys"), type=TableType.LOOKUP_TABLE,
               mode=SyncMode.MIRROR, id_column="k")  # fmt: skip
        dl.run("keys")
        for i, k in enumerate(keys):
            t.update("k", k, v=100 + i)
        out = dl.run("keys")
        assert (out["inserted"], out["updated"], out["deleted"]) == (0, 5, 0)
        got = {
            k: json.loads(p)["v"] for k, p in dl.rows("SELECT row_id, properties FROM lookup_rows")
        }
        assert got == {k: 100 + i for i, k in enumerate(keys)}

    def test_groups_and_profile_history(self, wh: Any, dl: Any) -> None:
        acc = Table(wh, self.prefix + "acc", [("account_id", "int"), ("name", "text")])
        acc.create([{"account_id": 10, "name": "Acme"}, {"account_id": 11, "name": "Globex"}])
        dl.add(name="acc", table=self.ref(wh, "acc"), type=TableType.GROUP_PROFILES,
               mode=SyncMode.MIRROR, id_column="account_id", group_key="company_id")  # fmt: skip
        hist = Table(wh, self.prefix + "hist", [("uid", "text"), ("plan", "text"), ("t", "ts")])
        t0 = dt.datetime(2026, 3, 1)
        hist.create([{"uid": "u1", "plan": "free", "t": t0}, {"uid": "u2", "plan": "team", "t": t0},
                     {"uid": "u1", "plan": "pro", "t": t0 + dt.timedelta(days=3)}])  # fmt: skip
        dl.add(name="hist", table=self.ref(wh, "hist"), type=TableType.USER_PROFILES,
               mode=SyncMode.MIRROR, id_column="uid", start_time_column="t")  # fmt: skip
        dl.run("acc")
        dl.run("hist")
        acc.update("account_id", 11, name="Globex Corp")
        acc.delete("account_id", 10)
        hist.delete("plan", "pro")  # u1's latest row gone: back to free
        out = dl.run("acc")
        assert (out["inserted"], out["updated"], out["deleted"]) == (0, 1, 1)
        dl.run("hist")
        groups = dl.rows("SELECT group_key, group_id, properties->>'name' FROM groups")
        assert groups == [("company_id", "11", "Globex Corp")]
        assert dict(dl.rows("SELECT distinct_id, properties->>'plan' FROM profiles")) == {
            "u1": "free", "u2": "team"
        }  # fmt: skip
        history = dl.rows(
            "SELECT distinct_id, properties->>'plan', valid_from, valid_to FROM profile_history ORDER BY 1"
        )
        assert history == [("u1", "free", t0, None), ("u2", "team", t0, None)]


def test_in_list_renders_values_safely() -> None:
    query = exp.select("a").from_(exp.table_("t", quoted=True))
    sql = in_list_sql(query, exp.column("k", quoted=True), ["x", "it's", 7], "postgres")
    assert sql == """SELECT a FROM "t" WHERE "k" IN ('x', 'it''s', 7)"""
    assert "WHERE FALSE" in in_list_sql(query, exp.column("k"), [], "postgres").upper()


def test_trailing_nulls_change_no_checksum(tmp_path: Path) -> None:
    import duckdb

    two = TableSchema(TableRef("t"), (Column("a", "int", ColumnKind.INTEGER),
                                      Column("b", "text", ColumnKind.STRING)))  # fmt: skip
    three = TableSchema(TableRef("t"), (*two.columns, Column("c", "text", ColumnKind.STRING)))
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t AS SELECT 1 AS a, NULL::VARCHAR AS b, NULL::VARCHAR AS c")

    def checksum(schema: TableSchema, where: str = "") -> str:
        sql = exp.select(row_checksum(schema)).from_("t").sql(dialect="duckdb")
        return str(conn.execute(sql + where).fetchone()[0])

    assert checksum(two) == checksum(three)
    conn.execute("UPDATE t SET c = 'x'")
    assert checksum(two) != checksum(three)
    conn.execute("UPDATE t SET c = NULL, b = ''")  # empty text is not NULL
    assert checksum(two) != checksum(TableSchema(TableRef("t"), two.columns[:1]))
