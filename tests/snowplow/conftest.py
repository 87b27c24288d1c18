"""Fixtures for the Snowplow tests: the collector in-process with a fixed clock."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from sp_helpers import freeze, make_client

from driftline.store import DuckDBStore


@pytest.fixture
def sp_client(data_dir: Path, store: DuckDBStore) -> Iterator[TestClient]:
    """The app in-process; its collector's clock reads 2022-10-10 10:42:35.000 UTC."""
    with make_client(data_dir, store) as c:
        c.get("/health")
        freeze(c)
        yield c


@pytest.fixture
def moto_server() -> Iterator[str]:
    """moto's S3/Kinesis server on a free loopback port, with test credentials set."""
    moto = pytest.importorskip("moto.server")
    server = moto.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its buckets and streams per process, across servers: start each test empty
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    ).close()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield f"http://{host}:{port}"
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()
