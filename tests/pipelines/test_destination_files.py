"""The destination contract on buckets: a local directory, moto's S3 server, the GCS
emulator and Azurite."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from .buckets import BucketContract
from .conftest import new_azure_container, new_gcs_bucket, new_s3_bucket


class TestLocalDirectory(BucketContract):
    @pytest.fixture
    def destination_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/export"

    @pytest.fixture
    def second_destination_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/export2"


class TestLocalDirectoryDaily(BucketContract):
    frequency = "daily"

    @pytest.fixture
    def destination_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/export"

    @pytest.fixture
    def second_destination_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/export2"


class TestLocalParquet(BucketContract):
    """``?format=parquet``: the same contract with Parquet parts."""

    @pytest.fixture
    def destination_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/export?format=parquet"

    @pytest.fixture
    def second_destination_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/export2?format=parquet"


@pytest.mark.e2e
class TestS3(BucketContract):
    @pytest.fixture
    def destination_url(self, s3_env: str) -> str:
        return f"s3://{new_s3_bucket(s3_env)}/exports"

    @pytest.fixture
    def second_destination_url(self, s3_env: str) -> str:
        return f"s3://{new_s3_bucket(s3_env)}/other/prefix"


@pytest.mark.e2e
class TestGCS(BucketContract):
    @pytest.fixture
    def destination_url(self, gcs_endpoint: str) -> str:
        q = urllib.parse.quote(gcs_endpoint, safe="")
        return f"gs://{new_gcs_bucket(gcs_endpoint)}/exports?endpoint_url={q}&project=test"

    @pytest.fixture
    def second_destination_url(self, gcs_endpoint: str) -> str:
        q = urllib.parse.quote(gcs_endpoint, safe="")
        return f"gs://{new_gcs_bucket(gcs_endpoint)}/b?endpoint_url={q}&project=test"


@pytest.mark.e2e
class TestAzure(BucketContract):
    @pytest.fixture
    def destination_url(self, azurite: str, monkeypatch: pytest.MonkeyPatch) -> str:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
        return f"az://{new_azure_container(azurite)}/exports"

    @pytest.fixture
    def second_destination_url(self, azurite: str) -> str:
        return f"az://{new_azure_container(azurite)}/b"
