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
