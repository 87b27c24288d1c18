"""BigQuery settings from the URL."""

from __future__ import annotations

from dataclasses import dataclass

from driftline.errors import InvalidInput
from driftline.sync import urls


@dataclass(frozen=True)
class BigQueryConfig:
    project: str
    dataset: str | None
    location: str | None = None
    credentials_path: str | None = None
    shown: str = ""

    @classmethod
    def from_url(cls, url: str) -> BigQueryConfig:
        parsed = urls.parse(url)
        if not parsed.host:
            raise InvalidInput(
                f"{urls.redact(url)}: give the project, e.g. bigquery://my-project/analytics",
                field="url",
            )
        parts = parsed.path_parts
        return cls(
            parsed.host,
            parts[0] if parts else None,
            parsed.params.get("location"),
            parsed.params.get("credentials_path"),
            urls.redact(url),
        )
