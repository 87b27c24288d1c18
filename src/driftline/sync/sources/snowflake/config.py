"""Snowflake connection settings from the URL."""

from __future__ import annotations

from dataclasses import dataclass, field

from driftline.errors import InvalidInput
from driftline.sync import urls

#: query parameters passed to ``snowflake.connector.connect`` as they are
PASSTHROUGH = ("warehouse", "role", "authenticator", "host", "protocol", "private_key_file",
               "private_key_file_pwd", "token", "region")  # fmt: skip


@dataclass(frozen=True)
class SnowflakeConfig:
    account: str
    user: str
    password: str | None = field(repr=False)
    database: str | None
    schema: str | None
    extra: dict[str, str] = field(default_factory=dict, repr=False)
    port: int | None = None
    shown: str = ""

    @classmethod
    def from_url(cls, url: str) -> SnowflakeConfig:
        parsed = urls.parse(url)
        if not parsed.host or not parsed.user:
            raise InvalidInput(
                f"{urls.redact(url)}: give user and account, e.g. "
                "snowflake://loader:${SNOWFLAKE_PASSWORD}@myorg-myaccount/ANALYTICS/PUBLIC?warehouse=WH",
                field="url",
            )
        parts = parsed.path_parts
        extra = {k: v for k, v in parsed.params.items() if k in PASSTHROUGH}
        port = int(parsed.params["port"]) if parsed.params.get("port") else parsed.port
        return cls(
            parsed.host,
            parsed.user,
            parsed.password,
            parts[0] if parts else None,
            parts[1] if len(parts) > 1 else None,
            extra,
            port,
            urls.redact(url),
        )

    def connect_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {
            "account": self.account,
            "user": self.user,
            "application": "driftline",
            "login_timeout": 30,
            "network_timeout": 120,
            # driftline is self-hosted: no telemetry leaves the machine
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            **self.extra,
        }
        if self.password is not None:
            kwargs["password"] = self.password
        if self.database:
            kwargs["database"] = self.database
        if self.schema:
            kwargs["schema"] = self.schema
        if self.port:
            kwargs["port"] = self.port
        return kwargs

    def secrets(self) -> list[str]:
        found = [self.password] if self.password else []
        return found + [v for k, v in self.extra.items() if k in urls.SECRET_PARAMS and v]
