"""Mirror's contract, walked against every source that runs here.

One walk per table type: initial load; insert, update, delete; a nullable column added (no
change); that column filled in on some rows (exactly those change); identical rows (they
collapse); the table dropped and recreated with its columns in another order (every row
deleted and inserted); a run SIGKILLed inside its store transaction, then run again. After
every step driftline holds exactly what the table holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftline.model import SyncMode, TableType
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync import catalog, engine
from driftline.sync.spec import SyncSpec

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)
COLS = [("id", "text"), ("user_id", "text"), ("kind", "text"), ("amount", "float"),
        ("created_at", "ts")]  # fmt: skip


def row(i: int, **over: Any) -> dict[str, Any]:
    r = {"id": f"e-{i}", "user_id": f"u{i % 3}", "kind": "Paid" if i % 2 else "Placed",
         "amount": i * 1.5, "created_at": T0 + dt.timedelta(minutes=i)}  # fmt: skip
    r.update(over)
    return r


class Table:
    """The warehouse table and, beside it, what it holds (the test's model of it)."""

    def __init__(self, wh: Any, name: str, columns: list[tuple[str, str]]) -> None:
        self.wh, self.name, self.columns = wh, name, list(columns)
        self.rows: list[dict[str, Any]] = []

    def create(self, rows: list[dict[str, Any]]) -> None:
        self.wh.create(self.name, self.columns)
        self.rows = []
        self.insert(rows)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            names = [c for c, _ in self.columns]
            self.wh.insert(self.name, names, [tuple(r.get(c) for c in names) for r in rows])
        self.rows += [dict(r) for r in rows]

    def update(self, key: str, value: Any, **changes: Any) -> None:
        sets = ", ".join(f"{self.wh.q(c)} = {self.wh.param}" for c in changes)
        self.wh.execute(
            f"UPDATE {self.wh.table_name(self.name)} SET {sets} WHERE {self.wh.q(key)} = {self.wh.param}",
            [tuple(self.wh.value(v) for v in [*changes.values(), value])],
        )
        for r in self.rows:
            if r[key] == value:
                r.update(changes)

    def delete(self, key: str, value: Any) -> None:
        self.wh.execute(
            f"DELETE FROM {self.wh.table_name(self.name)} WHERE {self.wh.q(key)} = {self.wh.param}",
            [(value,)],
        )
        self.rows = [r for r in self.rows if r[key] != value]

    def add_column(self, name: str, kind: str) -> None:
        self.wh.execute(
            f"ALTER TABLE {self.wh.table_name(self.name)} ADD COLUMN {self.wh.q(name)} {self.wh.types[kind]}"
        )
        self.columns.append((name, kind))
        if hasattr(self.wh, "_kinds"):
            self.wh._kinds[name] = kind


class MirrorContract:
    """Subclasses provide the ``wh`` fixture; ``prefix`` keeps their tables apart."""

    prefix = "dl_mirror_"

    @pytest.fixture
    def dl(self, wh: Any, tmp_path: Path) -> Iterator[Any]:
        data = tmp_path / "data"

        class Driftline:
            data_dir = data

            @contextlib.contextmanager
            def session(self) -> Iterator[tuple[DuckDBStore, GroupCommitWriter]]:
                store = DuckDBStore(data)
                writer = GroupCommitWriter(store)
                try:
                    yield store, writer
                finally:
                    writer.close()
                    store.close()

            def add(self, **spec: Any) -> None:
                with self.session() as (store, writer):
                    catalog.add_sync(store, writer, 1, SyncSpec(warehouse="wh", **spec))

            def run(self, name: str) -> dict[str, Any]:
                with self.session() as (store, writer):
                    out = engine.run_sync(store, writer, 1, name)
                assert out["status"] == "succeeded", out
                return out

            def preview(self, name: str) -> dict[str, Any]:
                with self.session() as (store, _):
                    return engine.preview_sync(engine.load_sync(store, 1, name), store=store)

            def rows(self, sql: str) -> list[tuple[Any, ...]]:
                with self.session() as (store, _):
                    return store.query_rows(sql)

        with DuckDBStore(data) as store:
            store.create_project("default")
        dl = Driftline()
        with dl.session() as (_, writer):
            catalog.add_warehouse(writer, 1, "wh", wh.url, replace=True)
        yield dl

    def ref(self, wh: Any, name: str) -> str:
        return wh.ref(self.prefix + name)

    # ------------------------------------------------------------------ what driftline holds
    @staticmethod
    def events(dl: Any, name: str) -> set[tuple[Any, ...]]:
        got = dl.rows(
            f"SELECT insert_id, event, user_id, time, properties FROM events WHERE origin = 'sync:{name}'"
        )
        out = set()
        for iid, event, uid, time_, props in got:
            p = json.loads(props)
            out.add((iid, event, uid, time_, float(p["amount"]), p.get("note")))
        assert len(out) == len(got), "an event is stored twice"
        return out

    @staticmethod
    def expected_events(table: Table) -> set[tuple[Any, ...]]:
        return {
            (r["id"], r["kind"], r["user_id"], r["created_at"], float(r["amount"]), r.get("note"))
            for r in table.rows
        }

    def events_spec(self, wh: Any, name: str) -> dict[str, Any]:
        return dict(
            name=name, table=self.ref(wh, name), type=TableType.EVENTS, mode=SyncMode.MIRROR,
            event_name_column="kind", time_column="created_at", user_id_column="user_id",
            insert_id_column="id",
        )  # fmt: skip

    # ------------------------------------------------------------------ the walk: events
    def test_mirror_events_walk(self, wh: Any, dl: Any) -> None:
        name = "mev"
        t = Table(wh, self.prefix + name, COLS)
        t.create([row(i) for i in range(1, 11)])
        dl.add(**self.events_spec(wh, name))

        def step(expect: tuple[int, int, int] | None = None) -> dict[str, Any]:
            out = dl.run(name)
            assert self.events(dl, name) == self.expected_events(t)
            if expect is not None:
                assert (out["inserted"], out["updated"], out["deleted"]) == expect, out
            return out

        first = step((10, 0, 0))
        assert first["rows_read"] == 10
        assert step((0, 0, 0))["rows_read"] == 0  # nothing changed, nothing fetched

        # insert, update (one a property, one the event time), delete
        t.insert([row(11), row(12)])
        t.update("id", "e-3", amount=99.0)
        t.update("id", "e-4", created_at=T0 + dt.timedelta(days=1))
        t.delete("id", "e-5")
        t.delete("id", "e-6")
        pending = dl.preview(name)["pending"]
        assert pending == {"inserts": 2, "updates": 2, "deletes": 2}
        assert step((2, 2, 2))["rows_read"] == 4  # only the changed rows travel

        # a nullable column: no checksum changes; filled on two rows: exactly those change
        t.add_column("note", "text")
        assert step((0, 0, 0))["rows_read"] == 0
        t.update("id", "e-7", note="vip")
        t.update("id", "e-8", note="late")
        assert step((0, 2, 0))["rows_read"] == 2

        # identical rows collapse: a copy of a stored row changes nothing, two copies of
        # a new row are one event
        t.insert([{**t.rows[0]}, row(20), row(20)])
        step((1, 0, 0))

        # dropped and recreated with the columns in another order: every row changes
        before = len(self.expected_events(t))
        t.columns = [COLS[4], COLS[0], COLS[3], COLS[1], COLS[2], ("note", "text")]
        t.create([r for r in t.rows if r["id"] != "e-1"] + [row(30)])
        out = step()
        after = len(self.expected_events(t))
        assert out["rows_read"] == len(t.rows)  # read whole: most rows changed
        assert out["inserted"] + out["updated"] == after
        assert out["deleted"] + out["updated"] == before

        # killed inside its store transaction, then run again
        t.update("id", "e-9", amount=-9.0)
        t.delete("id", "e-10")
        t.insert([row(40)])
        stored = self.events(dl, name)
        self.kill_mid_apply(dl, name)
        assert self.events(dl, name) == stored  # nothing of the killed run
        step((1, 1, 1))
        history = dl.rows(
            f"SELECT status, error FROM sync_runs WHERE sync_name = '{name}' ORDER BY started_at"
        )
        assert history[-2][0] == "failed" and "interrupted" in history[-2][1]

    # ------------------------------------------------------------------ keyed types
    def test_mirror_profiles_and_lookup(self, wh: Any, dl: Any) -> None:
        cols = [("uid", "text"), ("plan", "text"), ("seats", "int")]
        users = Table(wh, self.prefix + "musers", cols)
        users.create([{"uid": f"u{i}", "plan": "free", "seats": i} for i in range(1, 6)])
        dl.add(name="musers", table=self.ref(wh, "musers"), type=TableType.USER_PROFILES,
               mode=SyncMode.MIRROR, id_column="uid")  # fmt: skip
        skus = Table(wh, self.prefix + "mskus", cols)
        skus.create([{"uid": f"s{i}", "plan": "hat", "seats": i} for i in range(1, 4)])
        dl.add(name="mskus", table=self.ref(wh, "mskus"), type=TableType.LOOKUP_TABLE,
               mode=SyncMode.MIRROR, id_column="uid")  # fmt: skip

        def check() -> None:
            want_users = {r["uid"]: {"plan": r["plan"], "seats": r["seats"]} for r in users.rows}
            got = {
                k: json.loads(p) for k, p in dl.rows("SELECT distinct_id, properties FROM profiles")
            }
            assert got == {
                k: {a: b for a, b in v.items() if b is not None} for k, v in want_users.items()
            }
            want_skus = {r["uid"]: {"plan": r["plan"], "seats": r["seats"]} for r in skus.rows}
            got = {
                k: json.loads(p) for k, p in dl.rows("SELECT row_id, properties FROM lookup_rows")
            }
            assert got == {
                k: {a: b for a, b in v.items() if b is not None} for k, v in want_skus.items()
            }

        assert (dl.run("musers")["inserted"], dl.run("mskus")["inserted"]) == (5, 3)
        check()
        users.update("uid", "u2", plan="pro", seats=None)  # a value removed is removed
        users.delete("uid", "u3")
        users.insert([{"uid": "u9", "plan": "team", "seats": 9}])
        skus.delete("uid", "s1")
        skus.update("uid", "s2", plan="cap")
        out = dl.run("musers")
        assert (out["inserted"], out["updated"], out["deleted"]) == (1, 1, 1)
        out = dl.run("mskus")
        assert (out["inserted"], out["updated"], out["deleted"]) == (0, 1, 1)
        check()
        users.add_column("note", "text")
        assert dl.run("musers")["rows_read"] == 0
        users.update("uid", "u1", note="x")
        assert dl.run("musers")["updated"] == 1
        check_note = dict(dl.rows("SELECT distinct_id, properties->>'note' FROM profiles"))
        assert check_note["u1"] == "x" and check_note["u4"] is None

    # ------------------------------------------------------------------ kill
    @staticmethod
    def kill_mid_apply(dl: Any, name: str) -> None:
        """Run the sync in a subprocess whose store transaction stalls after the Mirror
        apply has done all its work, and SIGKILL it there."""
        script = textwrap.dedent(
            f"""
            import sys, time
            from pathlib import Path
            from driftline.store import DuckDBStore, GroupCommitWriter
            from driftline.store import mirror_ops
            from driftline.sync import engine

            real = mirror_ops.CommitMirrorRun.apply

            def stalled(self, conn, now):
                out = real(self, conn, now)
                print("applied", flush=True)
                time.sleep(120)
                return out

            mirror_ops.CommitMirrorRun.apply = stalled
            store = DuckDBStore(Path({str(dl.data_dir)!r}))
            engine.run_sync(store, GroupCommitWriter(store), 1, {name!r})
            """
        )
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        line = proc.stdout.readline()
        assert line.strip() == "applied", "the run never reached its store transaction"
        assert time.monotonic() < deadline
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
