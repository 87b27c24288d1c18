"""A bucket URL → the fsspec protocol, the root path and the filesystem's options.

Endpoints and credentials come from the usual environment variables of each SDK
(``AWS_*``, ``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_*``) or from query parameters:

* ``s3://bucket/prefix?endpoint_url=http://host:port&region=eu-west-1&key=...&secret=...``
* ``gs://bucket/prefix?endpoint_url=http://host:port&project=...&token=anon``
* ``az://container/prefix?account_name=...&account_key=...&connection_string=...``

``?format=parquet`` writes event parts as Parquet (zstd) instead of gzip NDJSON.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from driftline.errors import InvalidInput

_PROTOCOLS = {"file": "file", "s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "az", "abfs": "az"}


@dataclass(frozen=True)
class BucketConfig:
    protocol: str
    root: str
    options: dict[str, Any] = field(default_factory=dict, repr=False)
    #: ``json`` (gzip NDJSON, Mixpanel's format) or ``parquet`` (zstd), from ``?format=``
    format: str = "json"


def parse_url(url: str) -> BucketConfig:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    protocol = _PROTOCOLS.get(scheme)
    if protocol is None:
        raise InvalidInput(f"not a bucket URL: {scheme}://", field="destination")
    query = dict(urllib.parse.parse_qsl(parts.query))
    fmt = query.get("format", "json")
    if fmt not in ("json", "parquet"):
        raise InvalidInput(
            f"?format={fmt!r}: use json (gzip NDJSON) or parquet", field="destination"
        )
    if protocol == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(
                "file:// URLs need an absolute path: file:///path/to/dir", field="destination"
            )
        root = os.path.abspath(urllib.parse.unquote(parts.path))
        return BucketConfig("file", root.rstrip("/") or "/", {"auto_mkdir": True}, fmt)
    if not parts.netloc:
        raise InvalidInput(
            f"{scheme}:// URL needs a bucket name: {scheme}://bucket/prefix", field="destination"
        )
    root = (parts.netloc + "/" + parts.path.strip("/")).rstrip("/")
    options: dict[str, Any] = {}
    if protocol == "s3":
        client: dict[str, Any] = {}
        endpoint = (
            query.get("endpoint_url")
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        if endpoint:
            client["endpoint_url"] = endpoint
        if query.get("region"):
            client["region_name"] = query["region"]
        if client:
            options["client_kwargs"] = client
        # no extra CRC32 of each body on either side: every part is one gzip member, which
        # carries the CRC32 of its content, and S3 checks the length of what it receives
        options["config_kwargs"] = {
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
        if query.get("key"):
            options["key"] = query["key"]
        if query.get("secret"):
            options["secret"] = query["secret"]
    elif protocol == "gcs":
        endpoint = query.get("endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST")
        if endpoint:
            options["endpoint_url"] = endpoint
            options.setdefault("token", "anon")
        if query.get("project"):
            options["project"] = query["project"]
        if query.get("token"):
            options["token"] = query["token"]
    else:
        for name in ("account_name", "account_key", "connection_string", "sas_token"):
            if query.get(name):
                options[name] = query[name]
        if not options and os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
            options["connection_string"] = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    return BucketConfig(protocol, root, options, fmt)
