"""Warehouse URLs: parsing, ``${ENV}`` secrets, and the redacted form that is safe to show.

A URL is stored as the user wrote it (``postgresql://app:${PG_PASSWORD}@db/analytics``);
``${NAME}`` references are resolved from the environment only when a connection is opened,
and every place that shows a URL (listings, errors, history, API answers) shows
:func:`redact`'s form, with the password and secret-looking query parameters masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from driftline.config import resolve_env_refs
from driftline.errors import InvalidInput

MASK = "***"
#: query parameters that carry secrets in the URLs sources accept
SECRET_PARAMS = frozenset(
    {"password", "token", "access_token", "private_key", "private_key_file_pwd", "secret",
     "client_secret", "credentials", "credentials_base64", "passcode", "key"}
)  # fmt: skip


@dataclass(frozen=True)
class WarehouseUrl:
    scheme: str
    user: str | None
    password: str | None
    host: str | None
    port: int | None
    path: str  # without the leading "/" for network URLs; a file path for file URLs
    params: dict[str, str] = field(default_factory=dict)

    @property
    def path_parts(self) -> list[str]:
        return [p for p in self.path.split("/") if p]

    def secrets(self) -> list[str]:
        """The secret values in this URL (to scrub from driver messages)."""
        found = [self.password] if self.password else []
        found += [v for k, v in self.params.items() if k.lower() in SECRET_PARAMS and v]
        return found


def parse(url: str, *, resolve: bool = True) -> WarehouseUrl:
    """Split ``url``; with ``resolve``, ``${NAME}`` references are read from the environment.

    The URL is split first and each part resolved after, so a secret may hold any
    character (``:``, ``/``, ``@``...) without being URL-quoted."""
    refs: dict[str, str] = {}

    def hide(match: re.Match[str]) -> str:  # placeholders that survive URL splitting
        key = f"dlref{len(refs)}x"
        refs[key] = match.group(0)
        return key

    masked = _ENV_REF.sub(hide, url)
    try:
        parts = urlsplit(masked)
        port_text = parts.port
    except ValueError as exc:
        raise InvalidInput(
            f"warehouse URL {redact(url)} is not valid: {exc}", field="url"
        ) from None

    def value(text: str | None) -> str | None:
        if text is None:
            return None
        text = unquote(text)
        for key, ref in refs.items():
            text = text.replace(key, resolve_env_refs(ref) if resolve else ref)
        return text

    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidInput(
            f"warehouse URL {redact(url)} has no scheme; start it with postgresql://, mysql://, "
            "sqlite:///, duckdb:///, snowflake://, bigquery://, databricks:// or redshift://",
            field="url",
        )
    path = value(parts.path) or ""
    if parts.netloc and path.startswith("/"):
        path = path[1:]
    return WarehouseUrl(
        scheme,
        value(parts.username),
        value(parts.password),
        value(parts.hostname),
        port_text,
        path,
        {k: value(v) or "" for k, v in parse_qsl(parts.query, keep_blank_values=True)},
    )


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@?#:]*):([^/@?#]*)@")


def redact(url: str) -> str:
    """``url`` with its password and secret query parameters masked (``${ENV}`` refs kept)."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{_mask(m.group(3))}@", url)
    head, q, query = text.partition("?")
    if not q:
        return text
    pairs = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if eq and key.lower() in SECRET_PARAMS:
            value = _mask(value)
        pairs.append(f"{key}{eq}{value}")
    return head + "?" + "&".join(pairs)


def _mask(value: str) -> str:
    return value if value.startswith("${") and value.endswith("}") else MASK


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value (and its URL-quoted form) replaced by ``***``."""
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, MASK).replace(quote(secret, safe=""), MASK)
    return text
