"""`driftline import snowplow`: enriched TSV files (plain, gzip, directories, S3) and a
Kinesis stream, incremental, with bad lines as bad rows."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from snowplow_data import enriched_lines

from tests.cli.test_export_progress import TERMINAL, _stdout_bytes
from tests.conftest import run_cli


@pytest.fixture
def lines() -> list[str]:
    return enriched_lines(30)


def _count(data_dir: Path, table: str) -> int:
    from driftline.store import DuckDBStore

    with DuckDBStore(data_dir) as store:
        return int(store.query_rows(f"SELECT count(*) FROM {table}")[0][0])


def test_import_plain_gzip_and_directory_incrementally(tmp_path: Path, lines: list[str]) -> None:
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    src = tmp_path / "enriched"
    (src / "2024").mkdir(parents=True)
    (src / "2024" / "part-0.tsv").write_text("\n".join(lines[:10]) + "\n")
    (src / "2024" / "part-1.tsv.gz").write_bytes(
        gzip.compress(("\n".join(lines[10:20]) + "\n").encode())
    )
    out = run_cli("import", "snowplow", str(src), "--format", "json", data_dir=data_dir).stdout
    summary = json.loads(out)[0]
    assert (summary["files"], summary["events"], summary["bad_rows"]) == (2, 20, 0)
    # new file: only it is read; the others are skipped
    (src / "2024" / "part-2.tsv").write_text("\n".join(lines[20:]) + "\n")
    summary = json.loads(
        run_cli("import", "snowplow", str(src), "--format", "json", data_dir=data_dir).stdout
    )[0]
    assert (summary["files"], summary["skipped"], summary["events"]) == (1, 2, 10)
    assert _count(data_dir, "events") == 30 and _count(data_dir, "snowplow_events") == 30
    # the stored rows export back to the same TSV lines, field for field
    exported = run_cli("export", "snowplow", data_dir=data_dir).stdout.splitlines()
    assert sorted(exported) == sorted(lines)


def test_reimport_of_a_changed_file_does_not_double_events(
    tmp_path: Path, lines: list[str]
) -> None:
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    f = tmp_path / "a.tsv"
    f.write_text("\n".join(lines[:5]) + "\n")
    run_cli("import", "snowplow", str(f), data_dir=data_dir)
    f.write_text("\n".join(lines[:8]) + "\n")  # appended to: a new fingerprint
    run_cli("import", "snowplow", str(f), data_dir=data_dir)
    assert _count(data_dir, "events") == 8 and _count(data_dir, "snowplow_events") == 8


def test_bad_lines_become_bad_rows_and_the_rest_is_kept(tmp_path: Path, lines: list[str]) -> None:
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    broken_ts = lines[1].split("\t")
    broken_ts[3] = "yesterday"
    content = [lines[0], "only\tthree\tfields", "\t".join(broken_ts), lines[2]]
    (tmp_path / "mixed.tsv").write_text("\n".join(content) + "\n")
    summary = json.loads(
        run_cli(
            "import", "snowplow", str(tmp_path / "mixed.tsv"), "--format", "json", data_dir=data_dir
        ).stdout
    )[0]
    assert (summary["events"], summary["bad_rows"]) == (2, 2)
    rows = [
        json.loads(x) for x in run_cli("export", "bad-rows", data_dir=data_dir).stdout.splitlines()
    ]
    assert {r["schema"] for r in rows} == {
        "iglu:com.snowplowanalytics.snowplow.badrows/loader_parsing_error/jsonschema/2-0-0"
    }
    messages = sorted(r["data"]["failure"]["errors"][0]["message"] for r in rows)
    assert messages[0] == "expected 131 tab-separated fields, got 3"
    assert messages[1] == "values that do not parse in: collector_tstamp"
    counts = json.loads(
        run_cli("export", "bad-rows", "--count", "--format", "json", data_dir=data_dir).stdout
    )
    assert counts[0]["kind"] == "loader_parsing_error" and counts[0]["count"] == 2


def test_missing_source_is_a_one_line_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    proc = run_cli("import", "snowplow", str(tmp_path / "nope"), data_dir=data_dir, check=False)
    assert proc.returncode != 0 and "no such file or directory" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_import_from_s3(tmp_path: Path, lines: list[str], moto_server: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket="enriched")
    s3.put_object(
        Bucket="enriched",
        Key="good/run=1/part-0.gz",
        Body=gzip.compress(("\n".join(lines) + "\n").encode()),
    )
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": moto_server, "AWS_ENDPOINT_URL": moto_server}
    out = run_cli(
        "import", "snowplow", "s3://enriched/good/", "--format", "json", data_dir=data_dir, env=env
    ).stdout
    assert json.loads(out)[0]["events"] == 30
    out = run_cli(
        "import", "snowplow", "s3://enriched/good/", "--format", "json", data_dir=data_dir, env=env
    ).stdout
    assert json.loads(out)[0]["skipped"] == 1 and json.loads(out)[0]["events"] == 0


@pytest.mark.e2e
def test_kinesis_stream_with_checkpoints(
    tmp_path: Path, lines: list[str], moto_server: str
) -> None:
    import boto3

    kinesis = boto3.client("kinesis", endpoint_url=moto_server, region_name="us-east-1")
    kinesis.create_stream(StreamName="enriched-good", ShardCount=2)
    for i, line in enumerate(lines[:20]):
        kinesis.put_record(StreamName="enriched-good", Data=line.encode(), PartitionKey=str(i))
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    url = f"kinesis://enriched-good?region=us-east-1&endpoint_url={moto_server}"
    first = json.loads(
        run_cli("import", "snowplow", url, "--format", "json", data_dir=data_dir).stdout
    )[0]
    assert first["events"] == 20 and first["shards"] == 2
    for i, line in enumerate(lines[20:]):
        kinesis.put_record(StreamName="enriched-good", Data=line.encode(), PartitionKey=str(i))
    second = json.loads(
        run_cli("import", "snowplow", url, "--format", "json", data_dir=data_dir).stdout
    )[0]
    assert second["events"] == 10  # continued from the checkpoints: nothing read twice
    assert _count(data_dir, "events") == 30 and _count(data_dir, "snowplow_checkpoints") == 2


@pytest.mark.slow
def test_import_killed_mid_run_and_rerun_stores_every_event_once(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from snowplow_data import write_enriched

    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        write_enriched(src / f"part-{i}.tsv", 6000, seed=i)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftline",
            "import",
            "snowplow",
            str(src),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(4)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_cli("import", "snowplow", str(src), data_dir=data_dir)
    assert _count(data_dir, "events") == 18000
    assert _count(data_dir, "snowplow_events") == 18000
    assert _count(data_dir, "(SELECT DISTINCT event_id FROM snowplow_events)") == 18000


@pytest.fixture
def gcs_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import socket
    import subprocess
    import sys
    import time

    # read when gcsfs is imported: without it gcsfs stalls on gRPC handshakes
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    pytest.importorskip("gcsfs")
    pytest.importorskip("gcp_storage_emulator")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
         "--port", str(port), "--in-memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.e2e
def test_import_from_gcs(
    tmp_path: Path, lines: list[str], gcs_emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {
        "STORAGE_EMULATOR_HOST": gcs_emulator,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",  # else gcsfs stalls on gRPC handshakes
        "FSSPEC_GS_TOKEN": "anon",
        "FSSPEC_GS_PROJECT": "test",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    env = {**os.environ, **settings}
    import gcsfs

    fs = gcsfs.GCSFileSystem(project="test", token="anon", endpoint_url=gcs_emulator)
    fs.mkdir("enriched")
    with fs.open("enriched/good/part-0.gz", "wb") as f:
        f.write(gzip.compress(("\n".join(lines) + "\n").encode()))
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    out = run_cli(
        "import", "snowplow", "gs://enriched/good/", "--format", "json", data_dir=data_dir, env=env
    )
    assert json.loads(out.stdout)[0]["events"] == 30
    out = run_cli(
        "import", "snowplow", "gs://enriched/good/", "--format", "json", data_dir=data_dir, env=env
    )
    assert json.loads(out.stdout)[0]["skipped"] == 1


def test_a_file_of_only_broken_lines(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    (tmp_path / "broken.tsv").write_text("a\tb\n")
    out = run_cli(
        "import", "snowplow", str(tmp_path / "broken.tsv"), "--format", "json", data_dir=data_dir
    )
    summary = json.loads(out.stdout)[0]
    assert (summary["events"], summary["bad_rows"], summary["files"]) == (0, 1, 1)


def test_export_snowplow_and_bad_rows_show_progress_on_a_terminal(tmp_path: Path) -> None:
    """They printed nothing until the end, however long the export took."""
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    tsv = tmp_path / "enriched.tsv"
    tsv.write_text("\n".join([*enriched_lines(12), "only\tthree\tfields"]) + "\n")
    run_cli("import", "snowplow", str(tsv), data_dir=data)

    for what, noun, count in (("snowplow", "enriched events", 12), ("bad-rows", "bad row", 1)):
        target = tmp_path / f"{what}.out"
        shown = run_cli("export", what, "-o", str(target), data_dir=data, env=TERMINAL)
        assert f"exporting to {target}" in shown.stderr, shown.stderr
        assert shown.stderr.rstrip().endswith(f"{count} {noun} written to {target}")
        assert len(target.read_text().splitlines()) == count
        data_bytes = target.read_bytes()
        assert _stdout_bytes("export", what, data_dir=data, env=TERMINAL) == data_bytes
        plain = run_cli("export", what, "-o", str(target), data_dir=data)
        assert plain.stderr.strip() == f"{count} {noun} written to {target}"
