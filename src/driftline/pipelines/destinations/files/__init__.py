"""Buckets through fsspec: local directories (``file://``), S3 and any S3 endpoint
(``s3://``), Google Cloud Storage (``gs://``) and Azure Blob Storage (``az://``)."""

from __future__ import annotations

from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.files.config import parse_url

CAPABILITIES = Capabilities(
    name="files", kind="bucket", schemes=("file", "s3", "gs", "gcs", "az", "abfs")
)


def open(url: str):  # type: ignore[no-untyped-def]
    from driftline.pipelines.destinations.files.client import FsspecBucket

    return FsspecBucket(parse_url(url), CAPABILITIES)
