"""Fixtures for pipeline tests: event data, and the real servers destinations talk to
(moto's S3 server, the GCS emulator, Azurite, PostgreSQL), each on a free loopback port."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from driftline.model import EVENT_SCHEMA

AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

PROPERTIES = """to_json({
    'time': epoch_ms(t) // 1000, 'distinct_id': uid, '$insert_id': iid, 'token': 'secret-token',
    'plan': (['free','team','business'])[1 + (i % 3)],
    'price': round((i * 37 % 20000) / 100.0, 2),
    'items': (i % 5)::INTEGER,
    '$browser': (['Chrome','Firefox','Safari'])[1 + (i % 3)]
})"""


def make_events(
    n: int,
    start: dt.datetime,
    span: dt.timedelta,
    *,
    seed: int = 0,
    project_id: int = 1,
    extra_properties: str | None = None,
) -> pa.Table:
    """``n`` events spread over [start, start + span), ids unique per ``seed``."""
    span_ms = int(span.total_seconds() * 1000)
    start_ms = int(start.replace(tzinfo=dt.UTC).timestamp() * 1000)
    props = PROPERTIES if extra_properties is None else extra_properties
    conn = duckdb.connect()
    table = conn.sql(
        f"""
        WITH base AS (
          SELECT i,
            make_timestamp_ms(({start_ms} + ((i * 7919 + {seed} * 13) % {n}) * ({span_ms} // {n}) + (i * 31) % greatest({span_ms} // {n}, 1))::BIGINT) AS t,
            'user-' || (i % 97) AS uid,
            'dev-' || (i % 131) AS did,
            's{seed}-' || i AS iid
          FROM range({n}) r(i)
        )
        SELECT {project_id}::INTEGER AS project_id,
          (['Sign Up','Log In','View Page','Purchase'])[1 + (i % 4)] AS event,
          t AS time,
          CASE WHEN i % 5 = 0 THEN '$device:' || did ELSE uid END AS distinct_id,
          did AS device_id,
          CASE WHEN i % 5 = 0 THEN NULL ELSE uid END AS user_id,
          iid AS insert_id,
          {props}::VARCHAR AS properties,
          'import' AS origin, NULL::VARCHAR AS origin_key
        FROM base
        """
    ).to_arrow_table()
    conn.close()
    return table.cast(EVENT_SCHEMA)


@pytest.fixture
def day() -> dt.datetime:
    """Yesterday 00:00 UTC: a whole day of event time that has already closed."""
    today = (
        dt.datetime.now(dt.UTC)
        .replace(tzinfo=None)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    return today - dt.timedelta(days=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


# ---------------------------------------------------------------------------- S3 (moto)
@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port  # the port the OS picked
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    return s3_endpoint


def new_s3_bucket(endpoint: str) -> str:
    import boto3

    name = f"dl-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    return name


# ---------------------------------------------------------------------------- GCS
@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    if not exe.exists():
        pytest.skip("gcp-storage-emulator is not installed (pip install gcp-storage-emulator)")
    port = free_port()
    log = tmp_path_factory.mktemp("gcs") / "gcs.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(exe), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def new_gcs_bucket(endpoint: str) -> str:
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    import gcsfs

    name = f"dl-{uuid.uuid4().hex[:12]}"
    fs = gcsfs.GCSFileSystem(
        endpoint_url=endpoint, token="anon", project="test", skip_instance_cache=True
    )
    fs.mkdir(name)
    return name


# ---------------------------------------------------------------------------- Azure
@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("azurite-blob")
    if exe is None:
        pytest.skip(
            "azurite is not installed (npm install -g azurite; see .ci/setup.d/50-pipelines.sh)"
        )
    port = free_port()
    location = tmp_path_factory.mktemp("azurite")
    with open(location / "azurite.log", "wb") as out:
        proc = subprocess.Popen(
            [
                exe,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                str(location),
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(port, proc)
        yield (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
    finally:
        proc.terminate()
        proc.wait(10)


def new_azure_container(connection_string: str) -> str:
    from azure.storage.blob import BlobServiceClient

    name = f"dl-{uuid.uuid4().hex[:12]}"
    BlobServiceClient.from_connection_string(connection_string).create_container(name)
    return name


# ---------------------------------------------------------------------------- PostgreSQL
PG_BASE = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    name = f"dl_pipelines_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not running at 127.0.0.1:5432 ({exc})")
    yield f"{PG_BASE}/{name}"
    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
