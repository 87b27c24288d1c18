"""`driftline import snowplow az://...`: enriched files from Azure Blob Storage (Azurite),
incremental like the other sources."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from snowplow_data import enriched_lines

from tests.conftest import run_cli
from tests.pipelines.conftest import AZURITE_KEY, _wait_port, free_port


@pytest.fixture(scope="module")
def azurite_blob(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string for Azurite's blob service on a free loopback port."""
    exe = shutil.which("azurite-blob")
    if exe is None:
        pytest.skip(
            "azurite is not installed (npm install -g azurite; see .ci/setup.d/50-pipelines.sh)"
        )
    pytest.importorskip("adlfs")
    port = free_port()
    location = tmp_path_factory.mktemp("azurite-snowplow")
    with open(location / "azurite.log", "wb") as out:
        proc = subprocess.Popen(
            [exe, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
             str(location), "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_port(port, proc)
        yield (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.e2e
def test_import_from_azure_blob(tmp_path: Path, azurite_blob: str) -> None:
    from azure.storage.blob import BlobServiceClient

    lines = enriched_lines(30)
    service = BlobServiceClient.from_connection_string(azurite_blob)
    service.create_container("enriched")
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    service.get_blob_client("enriched", "good/run=1/part-0.gz").upload_blob(body)
    service.get_blob_client("enriched", "good/run=1/_SUCCESS").upload_blob(b"")
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite_blob}
    args = ("import", "snowplow", "az://enriched/good/", "--format", "json")
    first = json.loads(run_cli(*args, data_dir=data_dir, env=env).stdout)[0]
    assert first["events"] == 30 and first["files"] == 1
    again = json.loads(run_cli(*args, data_dir=data_dir, env=env).stdout)[0]
    assert again["skipped"] == 1 and again["events"] == 0
    # a new file in the same prefix is picked up, the old one is not read again
    service.get_blob_client("enriched", "good/run=2/part-0.gz").upload_blob(
        gzip.compress((lines[0] + "\n").encode())
    )
    third = json.loads(run_cli(*args, data_dir=data_dir, env=env).stdout)[0]
    assert third["files"] == 1 and third["skipped"] == 1 and third["events"] == 1
