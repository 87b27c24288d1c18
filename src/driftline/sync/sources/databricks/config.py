"""Databricks settings from the URL."""

from __future__ import annotations

from dataclasses import dataclass, field

from driftline.errors import InvalidInput
from driftline.sync import urls


@dataclass(frozen=True)
class DatabricksConfig:
    host: str
    http_path: str
    token: str | None = field(repr=False)
    catalog: str | None
    schema: str | None
    shown: str = ""

    @classmethod
    def from_url(cls, url: str) -> DatabricksConfig:
        parsed = urls.parse(url)
        if not parsed.host or not parsed.path:
            raise InvalidInput(
                f"{urls.redact(url)}: give host and HTTP path, e.g. databricks://token:${{DATABRICKS_TOKEN}}"
                "@adb-123.azuredatabricks.net/sql/1.0/warehouses/abc?catalog=main&schema=sales",
                field="url",
            )
        return cls(
            parsed.host,
            "/" + parsed.path.lstrip("/"),
            parsed.password or parsed.params.get("token"),
            parsed.params.get("catalog"),
            parsed.params.get("schema"),
            urls.redact(url),
        )

    def secrets(self) -> list[str]:
        return [self.token] if self.token else []
