"""The contract every warehouse source passes: one base class, one subclass per source.

A subclass provides the ``wh`` fixture (a :class:`~tests.sync.warehouses.Warehouse` bound
to a real server or file). Each test makes its own tables in it, syncs them into a fresh
store, and checks what a user would look at: events, profiles, groups, lookup rows,
history rows and errors.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from driftline.errors import DriftlineError, InvalidInput, NotFound, TerminalError
from driftline.model import SyncMode, TableType
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync import catalog, engine
from driftline.sync.spec import SyncSpec

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)
EVENT_COLUMNS = [
    ("id", "text"), ("user_id", "text"), ("kind", "text"), ("amount", "float"), ("qty", "int"),
    ("paid", "bool"), ("extra", "json"), ("created_at", "ts"), ("inserted_at", "ts"),
]  # fmt: skip


def order(i: int, inserted: dt.datetime, **over: Any) -> tuple[Any, ...]:
    row = {
        "id": f"o-{i}", "user_id": f"u{i % 3}", "kind": "Order Placed" if i % 2 else "Order Paid",
        "amount": i * 1.5, "qty": i, "paid": bool(i % 2), "extra": {"coupon": f"c{i}", "amount": -1},
        "created_at": T0 + dt.timedelta(minutes=i), "inserted_at": inserted,
    }  # fmt: skip
    row.update(over)
    return tuple(row[c] for c, _ in EVENT_COLUMNS)


class SourceContract:
    """Subclasses: ``wh`` fixture; ``prefix`` keeps their table names apart."""

    prefix = "dl_sync_c_"

    # ------------------------------------------------------------------ helpers
    @pytest.fixture
    def sync(self, wh: Any, store: DuckDBStore, writer: GroupCommitWriter) -> Any:
        catalog.add_warehouse(writer, 1, "wh", wh.url, replace=True)

        class Helper:
            def add(self, **spec: Any) -> dict[str, Any]:
                spec.setdefault("warehouse", "wh")
                return catalog.add_sync(store, writer, 1, SyncSpec(**spec))

            def run(self, name: str) -> dict[str, Any]:
                return engine.run_sync(store, writer, 1, name)

            def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
                return store.query_rows(sql, params or [])

        return Helper()

    def table(self, name: str) -> str:
        return self.prefix + name

    # ------------------------------------------------------------------ catalog
    def test_warehouse_test_lists_tables(self, wh: Any, sync: Any, store: DuckDBStore) -> None:
        wh.create(self.table("listed"), [("id", "int")], [(1,)])
        out = catalog.test_warehouse(store, 1, "wh")
        assert out["ok"]
        assert any(t.endswith(self.table("listed")) for t in out["tables"])

    def test_describe_gives_kinds(self, wh: Any) -> None:
        from driftline.sync.sources import open_source
        from driftline.sync.sources.base import TableRef

        wh.create(self.table("kinds"), EVENT_COLUMNS)
        source = open_source(wh.url)
        try:
            schema = source.describe(TableRef.parse(wh.ref(self.table("kinds"))))
        finally:
            source.close()
        kinds = {c.name.lower(): c.kind.value for c in schema.columns}
        assert kinds["id"] == "string"
        assert kinds["qty"] in ("integer", "decimal")
        assert kinds["amount"] == "float"
        assert kinds["created_at"] == "timestamp"
        assert list(kinds) == [c for c, _ in EVENT_COLUMNS]

    # ------------------------------------------------------------------ events, append
    def events_spec(self, name: str, **over: Any) -> dict[str, Any]:
        spec = dict(
            name=name, table=self.wh_ref(name), type=TableType.EVENTS, mode=SyncMode.APPEND,
            event_name_column="kind", time_column="created_at", user_id_column="user_id",
            insert_id_column="id", json_properties_column="extra", insert_time_column="inserted_at",
        )  # fmt: skip
        spec.update(over)
        return spec

    def wh_ref(self, name: str) -> str:
        return self._wh.ref(self.table(name))

    @pytest.fixture(autouse=True)
    def _bind(self, wh: Any) -> None:
        self._wh = wh

    def test_append_events_boundary_neither_lost_nor_doubled(self, wh: Any, sync: Any) -> None:
        t1 = T0 + dt.timedelta(hours=1)
        rows = [order(i, T0 + dt.timedelta(seconds=i)) for i in range(1, 4)]
        rows += [order(i, t1) for i in range(4, 6)]  # two rows on the watermark
        wh.create(self.table("ev"), EVENT_COLUMNS, rows)
        sync.add(**self.events_spec("ev"))
        first = sync.run("ev")
        assert (first["status"], first["rows_read"], first["inserted"]) == ("succeeded", 5, 5)
        # a late row written in the same instant as the watermark, and a newer one
        wh.insert(
            self.table("ev"),
            [c for c, _ in EVENT_COLUMNS],
            [order(6, t1), order(7, t1 + dt.timedelta(seconds=1))],
        )
        second = sync.run("ev")
        assert second["inserted"] == 2
        third = sync.run("ev")
        assert third["inserted"] == 0 and third["status"] == "succeeded"
        got = sync.rows(
            "SELECT insert_id, event, distinct_id, user_id, properties, origin, origin_key FROM events ORDER BY insert_id"
        )
        assert [r[0] for r in got] == [f"o-{i}" for i in range(1, 8)]
        props = json.loads(got[0][4])
        # other columns keep their types; the JSON column is flattened; table columns win
        assert props["amount"] == 1.5 and props["qty"] == 1 and props["coupon"] == "c1"
        assert props["paid"] in (True, 1)
        assert got[0][1] == "Order Placed" and got[0][2] == "u1" and got[0][5] == "sync:ev"
        assert got[0][6] == "o-1"

    def test_events_without_insert_id_get_a_stable_hash(self, wh: Any, sync: Any) -> None:
        wh.create(self.table("nohash"), EVENT_COLUMNS, [order(i, T0) for i in range(1, 4)])
        sync.add(
            **self.events_spec(
                "nohash", insert_id_column=None, mode=SyncMode.ONE_TIME, insert_time_column=None
            )
        )
        sync.run("nohash")
        ids = [r[0] for r in sync.rows("SELECT insert_id FROM events ORDER BY insert_id")]
        assert len(ids) == 3 and all(len(i) == 32 for i in ids)
        again = sync.run("nohash")
        assert again["status"] == "skipped"

    def test_a_key_twice_in_one_run_is_stored_once(self, wh: Any, sync: Any) -> None:
        """Two rows of the table that are one event (same event, user, time and insert id):
        the run succeeds and stores it once, as one of the two rows."""
        rows = [order(i, T0) for i in range(1, 6)] + [order(3, T0, amount=99.5)]
        wh.create(self.table("twice"), EVENT_COLUMNS, rows)
        sync.add(**self.events_spec("twice"))
        out = sync.run("twice")
        assert (out["status"], out["rows_read"], out["inserted"]) == ("succeeded", 6, 5)
        got = sync.rows("SELECT properties FROM events WHERE insert_id = 'o-3'")
        assert len(got) == 1 and json.loads(got[0][0])["amount"] in (4.5, 99.5)
        assert sync.run("twice")["inserted"] == 0

    def test_invalid_rows_are_rejected_and_the_rest_stored(self, wh: Any, sync: Any) -> None:
        rows = [order(1, T0), order(2, T0, created_at=None), order(3, T0, user_id="undefined")]
        wh.create(self.table("bad"), EVENT_COLUMNS, rows)
        sync.add(**self.events_spec("bad"))
        out = sync.run("bad")
        assert (out["inserted"], out["rejected"]) == (1, 2)

    # ------------------------------------------------------------------ profiles, groups, lookups
    def test_full_user_profiles_upsert(self, wh: Any, sync: Any) -> None:
        cols = [("uid", "text"), ("email", "text"), ("plan", "text"), ("seats", "int")]
        wh.create(
            self.table("users"), cols, [("u1", "a@x.io", "free", 1), ("u2", "b@x.io", "pro", 5)]
        )
        sync.add(
            name="users",
            table=self.wh_ref("users"),
            type=TableType.USER_PROFILES,
            mode=SyncMode.FULL,
            id_column="uid",
        )
        first = sync.run("users")
        assert (first["inserted"], first["updated"]) == (2, 0)
        wh.create(
            self.table("users"),
            cols,
            [("u1", "a@x.io", None, 2), ("u2", "b@x.io", "team", 5), ("u3", None, "free", 1)],
        )
        second = sync.run("users")
        assert (second["inserted"], second["updated"]) == (1, 2)
        profiles = {
            r[0]: json.loads(r[1])
            for r in sync.rows("SELECT distinct_id, properties FROM profiles")
        }
        assert profiles["u2"]["plan"] == "team"
        assert profiles["u1"] == {
            "email": "a@x.io",
            "plan": "free",
            "seats": 2,
        }  # NULL keeps the old value
        assert profiles["u3"] == {"plan": "free", "seats": 1}

    def test_group_profiles(self, wh: Any, sync: Any) -> None:
        wh.create(
            self.table("accounts"),
            [("account_id", "int"), ("name", "text")],
            [(10, "Acme"), (11, "Globex")],
        )
        sync.add(name="accounts", table=self.wh_ref("accounts"), type=TableType.GROUP_PROFILES,
                 mode=SyncMode.FULL, id_column="account_id", group_key="company_id")  # fmt: skip
        sync.run("accounts")
        got = sync.rows("SELECT group_key, group_id, properties FROM groups ORDER BY group_id")
        assert [(g, i, json.loads(p)["name"]) for g, i, p in got] == [
            ("company_id", "10", "Acme"), ("company_id", "11", "Globex")
        ]  # fmt: skip

    def test_lookup_table_replaced_whole(self, wh: Any, sync: Any) -> None:
        cols = [("sku", "text"), ("title", "text"), ("price", "float")]
        wh.create(self.table("skus"), cols, [("s1", "Hat", 9.5), ("s2", "Cap", 5.0)])
        sync.add(name="skus", table=self.wh_ref("skus"), type=TableType.LOOKUP_TABLE, mode=SyncMode.FULL,
                 id_column="sku", lookup_property="sku")  # fmt: skip
        sync.run("skus")
        wh.create(self.table("skus"), cols, [("s1", "Hat", 11.0), ("s3", "Bag", 30.0)])
        out = sync.run("skus")
        assert (out["inserted"], out["updated"], out["deleted"]) == (1, 1, 1)
        got = {
            r[0]: json.loads(r[1]) for r in sync.rows("SELECT row_id, properties FROM lookup_rows")
        }
        assert got == {"s1": {"title": "Hat", "price": 11.0}, "s3": {"title": "Bag", "price": 30.0}}
        assert sync.rows("SELECT property FROM lookup_tables") == [("sku",)]

    # ------------------------------------------------------------------ errors
    def test_missing_column_is_a_clear_error(self, wh: Any, sync: Any) -> None:
        wh.create(self.table("miss"), EVENT_COLUMNS)
        with pytest.raises(InvalidInput) as err:
            sync.add(**self.events_spec("miss", time_column="created"))
        assert 'column "created"' in str(err.value) and "created_at" in str(err.value)

    def test_time_column_that_is_not_a_time(self, wh: Any, sync: Any) -> None:
        wh.create(self.table("notime"), EVENT_COLUMNS)
        with pytest.raises(InvalidInput) as err:
            sync.add(**self.events_spec("notime", time_column="kind"))
        assert '"kind"' in str(err.value) and "timestamp" in str(err.value)

    def test_missing_table_is_terminal(self, wh: Any, sync: Any) -> None:
        with pytest.raises((NotFound, TerminalError)) as err:
            sync.add(**self.events_spec("absent"))
        assert isinstance(err.value, DriftlineError)
        assert "not found" in str(err.value) or "exist" in str(err.value).lower()

    def test_user_profile_history_table(self, wh: Any, sync: Any) -> None:
        cols = [("uid", "text"), ("plan", "text"), ("valid_from", "ts")]
        rows = [("u1", "free", T0), ("u1", "pro", T0 + dt.timedelta(days=3)), ("u2", "team", T0)]
        wh.create(self.table("hist"), cols, rows)
        sync.add(name="hist", table=self.wh_ref("hist"), type=TableType.USER_PROFILES, mode=SyncMode.FULL,
                 id_column="uid", start_time_column="valid_from")  # fmt: skip
        sync.run("hist")
        sync.run("hist")  # rebuilt, not doubled
        profiles = dict(sync.rows("SELECT distinct_id, properties->>'plan' FROM profiles"))
        assert profiles == {"u1": "pro", "u2": "team"}
        history = sync.rows(
            "SELECT distinct_id, properties->>'plan', valid_from, valid_to FROM profile_history ORDER BY 1, 3"
        )
        assert history == [
            ("u1", "free", T0, T0 + dt.timedelta(days=3)),
            ("u1", "pro", T0 + dt.timedelta(days=3), None),
            ("u2", "team", T0, None),
        ]
