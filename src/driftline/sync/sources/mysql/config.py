"""MySQL / MariaDB connection settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from driftline.errors import InvalidInput
from driftline.sync import urls


@dataclass(frozen=True)
class MySQLConfig:
    host: str
    port: int
    database: str
    user: str
    password: str | None = field(repr=False)
    shown: str = ""

    @classmethod
    def from_url(cls, url: str) -> MySQLConfig:
        parsed = urls.parse(url)
        if not parsed.host or not parsed.path_parts:
            raise InvalidInput(
                f"{urls.redact(url)}: name the host and database, e.g. mysql://app@127.0.0.1:3306/shop",
                field="url",
            )
        return cls(
            parsed.host,
            parsed.port or 3306,
            parsed.path_parts[0],
            parsed.user or "root",
            parsed.password,
            urls.redact(url),
        )

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []
