"""`driftline import snowplow` on input that is not what it should be: binary files, lines
that are not UTF-8, buckets and streams without credentials, a region or a network. Each is
one line that says what to do, never a traceback, and no valid line is lost."""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snowplow_data import enriched_lines

from driftline.remote import explain
from driftline.snowplow.importer import _ValidUtf8
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    return lines[-1]


def test_a_binary_file_stops_the_import_with_its_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    src = tmp_path / "enriched"
    src.mkdir()
    (src / "a.tsv").write_text("\n".join(enriched_lines(5)) + "\n")
    (src / "b.duckdb").write_bytes(b"\x00\x01DUCK" + bytes(4096))
    (src / "c.tsv.gz").write_bytes(gzip.compress(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    proc = run_cli("import", "snowplow", str(src), data_dir=data_dir, check=False)
    line = _one_error_line(proc)
    assert "b.duckdb: binary data, not a text file of enriched events" in line
    assert "move it out of the way" in line
    (src / "b.duckdb").unlink()
    proc = run_cli("import", "snowplow", str(src), data_dir=data_dir, check=False)
    assert "c.tsv.gz: binary data" in _one_error_line(proc)  # also inside gzip
    (src / "c.tsv.gz").unlink()
    out = run_cli("import", "snowplow", str(src), "--format", "json", data_dir=data_dir)
    summary = json.loads(out.stdout)[0]
    assert summary["events"] == 0 and summary["skipped"] == 1  # a.tsv went in at the first run


@pytest.mark.parametrize("compress", [False, True])
def test_lines_that_are_not_utf8_lose_nothing_valid(tmp_path: Path, compress: bool) -> None:
    """A byte sequence that is not UTF-8 reads as U+FFFD, as Snowplow's JVM loaders read it:
    a line with all 131 fields is an event with that character, a line without them a bad row,
    and the rest of the file goes in. Before, the whole file was refused."""
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    good = [line.encode() for line in enriched_lines(4)]
    fields = good[1].split(b"\t")
    fields[30] = b"Caf\xe9 \xff titles"  # page_title, Latin-1 and a stray byte
    content = b"\n".join([good[0], b"\t".join(fields), b"short\xcf\tline", good[2], good[3]])
    name = "mixed.tsv.gz" if compress else "mixed.tsv"
    (tmp_path / name).write_bytes(gzip.compress(content + b"\n") if compress else content + b"\n")
    out = run_cli("import", "snowplow", str(tmp_path / name), "--format", "json", data_dir=data_dir)
    summary = json.loads(out.stdout)[0]
    assert (summary["events"], summary["bad_rows"]) == (4, 1)
    from driftline.store import DuckDBStore

    with DuckDBStore(data_dir) as store:
        titles = {r[0] for r in store.query_rows("SELECT page_title FROM snowplow_events")}
        bad = store.query_rows("SELECT payload FROM bad_rows")
    assert "Caf\ufffd \ufffd titles" in titles
    assert json.loads(bad[0][0])["data"]["payload"] == "short\ufffd\tline"


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([b"a", b"\n", b"\t", "é".encode(), "€".encode(), "😀".encode(),
                         b"\xc3", b"\xe2\x82", b"\xf0\x9f", b"\xff", b"\xc0\x80", b"\x80"]),
        max_size=40,
    ).map(b"".join),
    size=st.integers(1, 9),
)  # fmt: skip
def test_the_utf8_reader_reads_as_python_decodes_with_replacement(data: bytes, size: int) -> None:
    """Whatever the blocks cut (a character split between two reads, invalid bytes at either
    end), the bytes read are those of Python's own decoding with U+FFFD."""
    reader = _ValidUtf8(io.BytesIO(data))
    out = b""
    while block := reader.read(size):
        out += block
    assert out == data.decode("utf-8", "replace").encode()


def _env(**extra: str) -> dict[str, str]:
    """The environment without any cloud credentials or settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR", "FSSPEC_"))
    }
    env.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    env.update(AWS_EC2_METADATA_DISABLED="true")
    return env | extra


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def test_s3_without_credentials_says_what_to_set(tmp_path: Path) -> None:
    pytest.importorskip("s3fs")
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    proc = run_cli(
        "import", "snowplow", "s3://enriched/good/", data_dir=data_dir, check=False,
        env=_env(AWS_ENDPOINT_URL_S3=endpoint),
    )  # fmt: skip
    line = _one_error_line(proc)
    assert line.startswith("error: s3://enriched/good/: no credentials were found")
    assert "AWS_ACCESS_KEY_ID" in line


def test_s3_endpoint_that_does_not_answer(tmp_path: Path) -> None:
    pytest.importorskip("s3fs")
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    env = _env(
        AWS_ENDPOINT_URL_S3=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
    )
    proc = run_cli("import", "snowplow", "s3://enriched/", data_dir=data_dir, check=False, env=env)
    line = _one_error_line(proc)
    assert "s3://enriched/: cannot connect" in line and "AWS_ENDPOINT_URL_S3" in line


def test_kinesis_without_a_region_or_credentials(tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    url = "kinesis://enriched-good"
    proc = run_cli("import", "snowplow", url, data_dir=data_dir, check=False, env=_env())
    line = _one_error_line(proc)
    assert "no AWS region" in line and "?region=" in line
    url += f"?region=eu-west-1&endpoint_url=http://127.0.0.1:{_closed_port()}"
    proc = run_cli("import", "snowplow", url, data_dir=data_dir, check=False, env=_env())
    line = _one_error_line(proc)
    assert "no credentials were found" in line and "AWS_ACCESS_KEY_ID" in line


def test_azure_without_credentials_says_what_to_set(tmp_path: Path) -> None:
    pytest.importorskip("adlfs")
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    proc = run_cli(
        "import", "snowplow", "az://enriched/good/", data_dir=data_dir, check=False, env=_env()
    )
    line = _one_error_line(proc)
    assert "az://enriched/good/: no credentials were found" in line
    assert "AZURE_STORAGE_CONNECTION_STRING" in line


def test_a_cloud_storage_endpoint_that_refuses_fails_at_once(tmp_path: Path) -> None:
    """gcsfs retries a refused connection for about a minute: the import finds it before
    gcsfs starts, in one line that names the setting, well within the timeout below."""
    from tests.pipelines.conftest import free_port

    pytest.importorskip("gcsfs")
    port = free_port()  # nothing listens on it
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    env = _env(STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{port}")
    proc = run_cli(
        "import", "snowplow", "gs://enriched/good/", data_dir=data_dir, check=False, env=env,
        timeout=30,
    )  # fmt: skip
    line = _one_error_line(proc)
    assert line.startswith(f"error: gs://enriched/good/: cannot connect to http://127.0.0.1:{port}")
    assert "STORAGE_EMULATOR_HOST" in line


def test_gcs_unreachable_is_one_line() -> None:
    """A connection that fails later, while gcsfs reads (after its retries, too long to wait
    for in a test run through the CLI): its real error is mapped here, and the CLI's log
    lines below."""
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp.client_reqrep import ConnectionKey

    key = ConnectionKey("127.0.0.1", 9, False, None, None, None, None)
    exc = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connect call failed"))
    error = explain(exc, "gs://b/x")
    assert error.message.startswith("gs://b/x: cannot connect (Cannot connect to host")
    assert "STORAGE_EMULATOR_HOST" in error.message and "\n" not in error.message


def test_library_log_records_reach_the_terminal_as_one_line_each() -> None:
    """What a storage library logs while it retries (with a traceback) shows as one line, and
    driftline's own warnings as ``warning: ...``; a library's warnings and info stay out."""
    code = """
import logging
from driftline.cli import _one_line_logging
_one_line_logging()
try:
    raise ConnectionError("Cannot connect to host 127.0.0.1:9\\nmore detail")
except ConnectionError:
    logging.getLogger("gcsfs.retry").exception("_request out of retries on exception")
logging.getLogger("gcsfs").warning("Could not determine bucket type, falling back")
logging.getLogger("driftline.snowplow").warning("a warning of our own\\nsecond line")
logging.getLogger("driftline.snowplow").info("not shown")
"""
    env = {k: v for k, v in os.environ.items() if k != "DRIFTLINE_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert proc.stderr.splitlines() == [
        "error from gcsfs: _request out of retries on exception",
        "warning: a warning of our own",
    ]


def test_an_empty_source_or_a_url_without_a_bucket(tmp_path: Path) -> None:
    """Neither reads the current directory or a whole cloud account."""
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    proc = run_cli("import", "snowplow", "", data_dir=data_dir, check=False, cwd=tmp_path)
    assert proc.returncode == 2 and "SOURCE: empty" in proc.stderr, proc.stderr
    for url in ("s3://", "gs:///", "az://"):
        proc = run_cli("import", "snowplow", url, data_dir=data_dir, check=False, env=_env())
        line = _one_error_line(proc)
        assert f"{url} needs a bucket or container" in line


def test_an_unknown_bad_row_kind_lists_the_kinds(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    proc = run_cli(
        "export", "bad-rows", "--kind", "schema_violation", data_dir=data_dir, check=False
    )
    line = _one_error_line(proc)
    assert "--kind 'schema_violation': use one of" in line and "schema_violations" in line
    assert (
        run_cli("export", "bad-rows", "--kind", "schema_violations", data_dir=data_dir).stdout == ""
    )


def test_through_a_running_server_the_error_says_whose_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `driftline serve` running, the server reads the bucket, with its own environment:
    the one-line error says so, since setting the variables in this shell would not help."""
    pytest.importorskip("s3fs")
    from tests.conftest import start_server

    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in _env(AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{_closed_port()}").items():
        monkeypatch.setenv(key, value)
    server = start_server(data_dir, "--collector-workers", "0")
    try:
        proc = run_cli("import", "snowplow", "s3://enriched/x", data_dir=data_dir, check=False)
        line = _one_error_line(proc)
        assert "no credentials were found" in line
        assert line.endswith("(the running `driftline serve` reads the source, with the "
                             "environment it was started in)")  # fmt: skip
        proc = run_cli("import", "snowplow", "s3://", data_dir=data_dir, check=False)
        assert (
            _one_error_line(proc) == "error: s3:// needs a bucket or container: s3://bucket/prefix"
        )
    finally:
        server.stop()


def test_ctrl_c_stops_the_import_with_status_130_and_keeps_whole_files(tmp_path: Path) -> None:
    """Ctrl-C exits 130 with "interrupted" (it exited 0, silently: a script went on as if the
    import had finished). Each file is stored whole or not at all; the next run adds the
    rest. An export interrupted the same way leaves no partial file."""
    import signal
    import time

    from snowplow_data import write_enriched

    from driftline.store import DuckDBStore
    from tests.conftest import DRIFTLINE

    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    src = tmp_path / "enriched"
    src.mkdir()
    per_file = 40_000
    for i in range(4):
        write_enriched(src / f"part-{i}.tsv.gz", per_file, seed=i)
    proc = subprocess.Popen(
        [*DRIFTLINE, "import", "snowplow", str(src), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    assert proc.poll() is None, "the import ended before Ctrl-C: nothing was tested"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    with DuckDBStore(data_dir) as store:
        files = store.query_rows("SELECT count(*) FROM snowplow_imports")[0][0]
        events = store.query_rows("SELECT count(*) FROM events")[0][0]
    assert files < 4 and events == files * per_file
    run_cli("import", "snowplow", str(src), data_dir=data_dir)
    with DuckDBStore(data_dir) as store:
        assert store.query_rows("SELECT count(*) FROM events")[0][0] == 4 * per_file
        assert store.query_rows("SELECT count(DISTINCT event_id) FROM snowplow_events")[0][0] == (
            4 * per_file
        )

    # an export interrupted half-way leaves no file that looks complete, and the file that
    # was there before as it was
    target = tmp_path / "enriched-export.tsv"
    target.write_text("an earlier export\n")
    partial = tmp_path / "enriched-export.tsv.partial"
    proc = subprocess.Popen(
        [*DRIFTLINE, "export", "snowplow", "-o", str(target), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not partial.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the export ended before Ctrl-C: nothing was tested"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err
    assert target.read_text() == "an earlier export\n" and not partial.exists()
    out = run_cli("export", "snowplow", "-o", str(target), data_dir=data_dir)
    assert out.stderr.strip() == f"{4 * per_file:,} enriched events written to {target}"
    with target.open("rb") as exported:
        assert sum(1 for _ in exported) == 4 * per_file and not partial.exists()


def test_exports_page_by_key_every_row_once_ties_included(tmp_path: Path) -> None:
    """`export snowplow` and `export bad-rows` read page after page from a cursor: rows that
    tie on time and key (a line imported twice, bad rows of one commit) each come once, in
    the same order as in one page. Each page renders only its own rows."""
    from driftline.server import ops
    from driftline.store import DuckDBStore, GroupCommitWriter

    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    good = enriched_lines(7)
    bad = [f"broken\tline {i}" for i in range(8)]
    (tmp_path / "a.tsv").write_text("\n".join(good + good[:3] + bad) + "\n")
    run_cli("import", "snowplow", str(tmp_path / "a.tsv"), data_dir=data_dir)
    with DuckDBStore(data_dir) as store:
        writer = GroupCommitWriter(store)
        ctx = ops.Context(store, writer)
        try:
            for name, expected in (("snowplow.export", 10), ("snowplow.bad_rows.export", 8)):
                whole = ops.run(name, ctx, {"project_id": 1, "limit": 1000})
                assert whole["after"] is None and len(whole["items"]) == expected
                items, after, pages = [], None, 0
                while True:
                    page = ops.run(name, ctx, {"project_id": 1, "limit": 3, "after": after})
                    items += page["items"]
                    pages += 1
                    after = page["after"]
                    if after is None:
                        break
                assert items == whole["items"] and pages == expected // 3 + 1
        finally:
            writer.close()
    tsv = run_cli("export", "snowplow", data_dir=data_dir).stdout.splitlines()
    assert sorted(tsv) == sorted(good + good[:3])
