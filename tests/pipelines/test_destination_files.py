"""The destination contract on buckets: a local directory, moto's S3 server, the GCS
emulator and Azurite. Each class says how to make a fresh destination URL from a name."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from .buckets import BucketContract
from .conftest import new_azure_container, new_gcs_bucket, new_s3_bucket

UrlFor = Callable[[str], str]


class TestLocalDirectory(BucketContract):
    query = ""

    @pytest.fixture
    def url_for(self, tmp_path: Path) -> UrlFor:
        return lambda name: f"file://{tmp_path}/{name}{self.query}"


class TestLocalDirectoryDaily(TestLocalDirectory):
    frequency = "daily"


class TestLocalParquet(TestLocalDirectory):
    """``?format=parquet``: the same contract with Parquet parts."""

    query = "?format=parquet"


@pytest.mark.e2e
class TestS3(BucketContract):
    @pytest.fixture
    def url_for(self, s3_env: str) -> UrlFor:
        return lambda name: f"s3://{new_s3_bucket(s3_env)}/{name}/prefix"


@pytest.mark.e2e
class TestGCS(BucketContract):
    @pytest.fixture
    def url_for(self, gcs_endpoint: str) -> UrlFor:
        q = urllib.parse.quote(gcs_endpoint, safe="")
        return lambda name: (
            f"gs://{new_gcs_bucket(gcs_endpoint)}/{name}?endpoint_url={q}&project=test"
        )


@pytest.mark.e2e
class TestAzure(BucketContract):
    @pytest.fixture
    def url_for(self, azurite: str, monkeypatch: pytest.MonkeyPatch) -> UrlFor:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
        return lambda name: f"az://{new_azure_container(azurite)}/{name}"


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("s3://exports/x", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ("az://exports/x", "set AZURE_STORAGE_CONNECTION_STRING"),
    ],
)
def test_a_bucket_without_credentials_says_what_to_set(
    tmp_path: Path, destination: str, expected: str
) -> None:
    """`pipeline add` probes the bucket: with no credentials in the environment the error is
    one line that names the variables to set (Azure's client failed with an 'unexpected
    ValueError' before it could even start)."""
    import os

    from tests.conftest import run_cli

    pytest.importorskip("s3fs" if destination.startswith("s3") else "adlfs")
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_"))}
    env |= {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    env |= {"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}
    proc = run_cli(
        "pipeline", "add", "p", "--destination", destination, data_dir=data_dir, check=False,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: cannot ") and expected in line and "unexpected" not in line


def test_a_cloud_storage_endpoint_that_refuses_fails_at_once(tmp_path: Path) -> None:
    """gcsfs retries a refused connection for about a minute; `pipeline add` to a `gs://`
    endpoint that is not there says so in one line, well within the timeout below."""
    from tests.conftest import run_cli
    from tests.pipelines.conftest import free_port

    pytest.importorskip("gcsfs")
    port = free_port()  # nothing listens on it
    data_dir = tmp_path / "data"
    run_cli("init", data_dir=data_dir)
    destination = f"gs://exports/x?endpoint_url=http://127.0.0.1:{port}"
    proc = run_cli(
        "pipeline", "add", "p", "--destination", destination, data_dir=data_dir, check=False,
        timeout=30,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: gs://exports/x: cannot connect to http://127.0.0.1:{port}")
    assert "endpoint_url" in line
