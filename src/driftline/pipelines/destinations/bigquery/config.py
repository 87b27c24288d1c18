"""``bigquery://project/dataset`` → project, dataset, location."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from driftline.errors import InvalidInput


@dataclass(frozen=True)
class BigQueryConfig:
    project: str
    dataset: str
    location: str | None = None


def parse_url(url: str) -> BigQueryConfig:
    parts = urllib.parse.urlsplit(url)
    dataset = parts.path.strip("/")
    if not parts.netloc or not dataset or "/" in dataset:
        raise InvalidInput(
            "a bigquery:// URL names a project and a dataset: bigquery://project/dataset",
            field="destination",
        )
    query = dict(urllib.parse.parse_qsl(parts.query))
    return BigQueryConfig(parts.netloc, dataset, query.get("location"))
