"""Connection settings for PostgreSQL (and Redshift, which speaks its wire protocol)."""

from __future__ import annotations

from dataclasses import dataclass, field

from driftline.errors import InvalidInput
from driftline.sync import urls


@dataclass(frozen=True)
class PostgresConfig:
    host: str
    port: int
    database: str
    user: str | None
    password: str | None = field(repr=False)
    schema: str | None
    options: dict[str, str] = field(default_factory=dict)
    shown: str = ""  # redacted URL, for messages

    @classmethod
    def from_url(cls, url: str, *, default_port: int = 5432) -> PostgresConfig:
        parsed = urls.parse(url)
        if not parsed.host:
            raise InvalidInput(
                f"{urls.redact(url)}: name the host, e.g. postgresql://user@127.0.0.1:5432/analytics",
                field="url",
            )
        params = dict(parsed.params)
        schema = params.pop("schema", None)
        database = parsed.path_parts[0] if parsed.path_parts else (parsed.user or "postgres")
        return cls(
            parsed.host,
            parsed.port or default_port,
            database,
            parsed.user,
            parsed.password,
            schema,
            params,
            urls.redact(url),
        )

    def conninfo(self) -> dict[str, object]:
        """Keyword arguments for ``psycopg.connect`` (never logged)."""
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "connect_timeout": int(self.options.get("connect_timeout", "10")),
            "application_name": "driftline",
        }
        if self.user:
            kwargs["user"] = self.user
        if self.password is not None:
            kwargs["password"] = self.password
        for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
            if key in self.options:
                kwargs[key] = self.options[key]
        return kwargs

    def uri(self) -> str:
        """A libpq URI for ADBC (never logged; error messages are scrubbed)."""
        from urllib.parse import quote, urlencode

        auth = ""
        if self.user:
            auth = quote(self.user, safe="")
            if self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        params = {
            k: self.options[k]
            for k in ("sslmode", "sslrootcert", "sslcert", "sslkey")
            if k in self.options
        }
        params.update({"application_name": "driftline", "options": "-c TimeZone=UTC",
                       "connect_timeout": self.options.get("connect_timeout", "10")})  # fmt: skip
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{auth}{host}:{self.port}/{quote(self.database, safe='')}?{urlencode(params, quote_via=quote)}"

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []
