"""A count and its noun agree: messages said "stored 1 events", "1 of 1 records stored" and
"1 tables and views readable"."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import run_cli


def test_one_of_a_thing_is_said_in_the_singular(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    one = tmp_path / "one.ndjson"
    one.write_text(
        json.dumps({"event": "E", "properties": {"time": 1_735_689_600, "distinct_id": "u"}})
        + "\n{not json\n"
    )
    proc = run_cli("import", "events", str(one), data_dir=data, check=False)
    assert f"stored 1 event from {one}" in proc.stderr, proc.stderr
    assert "1 of 2 records stored into project 1" in proc.stderr
    assert "error: 1 invalid record; the valid records were stored" in proc.stderr

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    run_cli("warehouse", "add", "shop", f"sqlite:///{db}", data_dir=data)
    tested = run_cli("warehouse", "test", "shop", data_dir=data)
    assert "1 table or view readable" in tested.stdout + tested.stderr

    with sqlite3.connect(db) as conn:  # and two in the plural
        conn.execute("CREATE VIEW recent AS SELECT * FROM orders")
    tested = run_cli("warehouse", "test", "shop", data_dir=data)
    assert "2 tables and views readable" in tested.stdout + tested.stderr
