"""`driftline import events` and `driftline export events` as a user runs them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


def write_ndjson(path: Path, n: int, start: int = 0, *, insert_ids: bool = True) -> Path:
    lines = []
    for i in range(start, start + n):
        props: dict[str, object] = {
            "time": 1_735_689_600 + i * 60,
            "distinct_id": f"u{i % 7}",
            "plan": ["free", "pro"][i % 2],
            "n": i,
        }
        if insert_ids:
            props["$insert_id"] = f"id-{i}"
        lines.append(json.dumps({"event": ["Sign Up", "Purchase"][i % 2], "properties": props}))
    path.write_text("\n".join(lines) + "\n")
    return path


def export_lines(data_dir: Path, *extra: str) -> list[dict[str, object]]:
    out = run_cli(
        "export", "events", "--from", "2024-12-01", "--to", "2025-12-31", *extra, data_dir=data_dir
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line]


@pytest.fixture
def initialised(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    out = run_cli("init", data_dir=data_dir).stdout
    assert "token:" in out and "secret:" in out
    return data_dir


def test_import_all_formats_and_gzip(initialised: Path, tmp_path: Path) -> None:
    nd = write_ndjson(tmp_path / "a.ndjson", 10)
    gz = tmp_path / "b.ndjson.gz"
    gz.write_bytes(gzip.compress(write_ndjson(tmp_path / "b.ndjson", 10, start=10).read_bytes()))
    arr = tmp_path / "c.json"
    arr.write_text(
        json.dumps(
            [
                json.loads(line)
                for line in write_ndjson(tmp_path / "c0", 5, start=20).read_text().splitlines()
            ]
        )
    )
    csv = tmp_path / "d.csv"
    csv.write_text(
        "event,time,distinct_id,$insert_id,amount\nPurchase,1735689600,u1,c-1,9.5\nRefund,1735689660123,u2,c-2,\n"
    )
    proc = run_cli("import", "events", str(nd), str(gz), str(arr), str(csv), data_dir=initialised)
    assert "27 of 27 records stored" in proc.stderr
    rows = export_lines(initialised)
    assert len(rows) == 27
    refund = next(r for r in rows if r["event"] == "Refund")
    assert refund["properties"]["time"] == 1_735_689_660  # type: ignore[index]
    purchase_csv = next(r for r in rows if r["properties"].get("$insert_id") == "c-1")  # type: ignore[union-attr]
    assert purchase_csv["properties"]["amount"] == 9.5  # type: ignore[index]


def test_reimport_never_doubles(initialised: Path, tmp_path: Path) -> None:
    with_ids = write_ndjson(tmp_path / "a.ndjson", 20)
    without_ids = write_ndjson(tmp_path / "b.ndjson", 20, start=100, insert_ids=False)
    for _ in range(2):
        run_cli("import", "events", str(with_ids), str(without_ids), data_dir=initialised)
    assert len(export_lines(initialised)) == 40


def test_invalid_lines_are_reported_and_valid_ones_stored(
    initialised: Path, tmp_path: Path
) -> None:
    path = write_ndjson(tmp_path / "a.ndjson", 5)
    text = path.read_text().splitlines()
    text.insert(2, '{"event": "x", "properties": {"time": "soon", "distinct_id": "u"}}')
    text.insert(4, "{broken")
    text.insert(1, "")
    path.write_text("\n".join(text) + "\n")
    proc = run_cli("import", "events", str(path), data_dir=initialised, check=False)
    assert proc.returncode == 1
    assert f"{path}:4: properties.time:" in proc.stderr  # line numbers count the blank line
    assert f"{path}:6: record: is not valid JSON" in proc.stderr
    assert "error: 2 invalid records; the valid records were stored" in proc.stderr
    assert len(export_lines(initialised)) == 5


def test_strict_stores_nothing_when_anything_is_invalid(initialised: Path, tmp_path: Path) -> None:
    good = write_ndjson(tmp_path / "good.ndjson", 5)
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"event": "x", "properties": {"distinct_id": "u"}}\n')
    proc = run_cli(
        "import", "events", "--strict", str(good), str(bad), data_dir=initialised, check=False
    )
    assert proc.returncode == 1
    assert f"{bad}:1: properties.time: 'properties.time' is required" in proc.stderr
    assert "nothing was stored (--strict)" in proc.stderr
    assert export_lines(initialised) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["import", "events", "/nonexistent/file.ndjson"],
            "error: /nonexistent/file.ndjson: no such file",
        ),
        (["import", "events", "--format", "xml", "FILE"], "error: unknown format 'xml'"),
        (["import", "events", "FILE.txt"], "cannot tell the format"),
        (
            ["import", "events", "FILE", "--project", "nope"],
            "error: no project 'nope'; projects are: 1 (default)",
        ),
        (
            ["export", "events", "--from", "2025-13-01", "--to", "2025-01-02"],
            "is not a date; use YYYY-MM-DD",
        ),
        (["export", "events", "--from", "2025-02-01", "--to", "2025-01-02"], "is before --from"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    initialised: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    sample = write_ndjson(tmp_path / "s.ndjson", 1)
    txt = tmp_path / "s.txt"
    txt.write_text(sample.read_text())
    args = [str(txt) if a == "FILE.txt" else str(sample) if a == "FILE" else a for a in args]
    proc = run_cli(*args, data_dir=initialised, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_commands_before_init_say_what_to_do(tmp_path: Path) -> None:
    proc = run_cli("project", "list", data_dir=tmp_path / "none", check=False)
    assert proc.returncode == 1
    assert "run `driftline init` first" in proc.stderr


def test_export_round_trip_reimports_to_the_same_counts(initialised: Path, tmp_path: Path) -> None:
    source = tmp_path / "src.ndjson"
    records = []
    for i in range(300):
        props: dict[str, object] = {
            "time": 1_735_689_600 + i * 3600,
            "$insert_id": f"r{i}",
            "k": i % 3,
        }
        if i % 3 == 0:
            props["$device_id"] = f"dev{i % 10}"  # anonymous
        elif i % 3 == 1:
            props |= {"$device_id": f"dev{i % 10}", "$user_id": f"user{i % 10}"}  # identified
        else:
            props["distinct_id"] = f"user{i % 10}"
        records.append(json.dumps({"event": f"E{i % 4}", "properties": props}))
    source.write_text("\n".join(records))
    run_cli("import", "events", str(source), data_dir=initialised)
    first = tmp_path / "export1.ndjson"
    run_cli(
        "export",
        "events",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-31",
        "--output",
        str(first),
        data_dir=initialised,
    )

    other = tmp_path / "other"
    run_cli("init", data_dir=other)
    run_cli("import", "events", str(first), data_dir=other)
    second = tmp_path / "export2.ndjson"
    run_cli(
        "export",
        "events",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-31",
        "--output",
        str(second),
        data_dir=other,
    )

    def summary(path: Path) -> list[tuple[object, ...]]:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return sorted(
            (
                r["event"],
                r["properties"]["time"],
                r["properties"]["distinct_id"],
                r["properties"]["$insert_id"],
                r["properties"].get("k"),
            )
            for r in rows
        )

    assert len(summary(first)) == 300
    assert summary(first) == summary(second)
    # identity merge: anonymous events are exported under the user their device later became
    exported = [json.loads(line) for line in first.read_text().splitlines()]
    anon = next(r for r in exported if r["properties"]["$insert_id"] == "r0")
    assert anon["properties"]["distinct_id"] == "user0"


def test_export_uses_the_project_timezone(tmp_path: Path) -> None:
    data_dir = tmp_path / "tz"
    run_cli("init", "--timezone", "America/New_York", data_dir=data_dir)
    path = tmp_path / "e.ndjson"
    # 2025-01-02T03:00Z is still Jan 1 in New York
    path.write_text(
        json.dumps(
            {
                "event": "late",
                "properties": {"time": 1_735_786_800, "distinct_id": "u", "$insert_id": "x"},
            }
        )
    )
    run_cli("import", "events", str(path), data_dir=data_dir)
    out = run_cli(
        "export", "events", "--from", "2025-01-01", "--to", "2025-01-01", data_dir=data_dir
    ).stdout
    assert json.loads(out)["event"] == "late"
    assert (
        run_cli(
            "export", "events", "--from", "2025-01-02", "--to", "2025-01-02", data_dir=data_dir
        ).stdout
        == ""
    )


def test_projects_from_the_cli(initialised: Path) -> None:
    run_cli("project", "create", "web", "--timezone", "Europe/Paris", data_dir=initialised)
    listed = json.loads(run_cli("project", "list", "--format", "json", data_dir=initialised).stdout)
    assert [(p["id"], p["name"], p["timezone"]) for p in listed] == [
        (1, "default", "UTC"),
        (2, "web", "Europe/Paris"),
    ]
    assert all("secret" not in p for p in listed)
    shown = json.loads(
        run_cli(
            "project", "list", "--show-secrets", "--format", "json", data_dir=initialised
        ).stdout
    )
    assert all(len(p["secret"]) == 32 for p in shown)
    dup = run_cli("project", "create", "web", data_dir=initialised, check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr


def test_an_export_to_a_file_says_how_many_events_it_wrote(
    initialised: Path, tmp_path: Path
) -> None:
    """`export events --output` printed nothing at all; `export snowplow` and `export
    bad-rows` say what they wrote."""
    run_cli("import", "events", str(write_ndjson(tmp_path / "a.ndjson", 25)), data_dir=initialised)
    target = tmp_path / "january.ndjson"
    proc = run_cli(
        "export", "events", "--from", "2025-01-01", "--to", "2025-01-31", "--output", str(target),
        data_dir=initialised,
    )  # fmt: skip
    assert proc.stderr.strip() == f"25 events written to {target}"
    assert len(target.read_text().splitlines()) == 25
