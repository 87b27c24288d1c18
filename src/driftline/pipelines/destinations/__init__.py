"""Destinations: where pipelines write. One folder each, the same files in every folder:

* ``__init__.py`` — ``CAPABILITIES`` (data, read by the engine) and ``open(url)``;
* ``config.py`` — the destination URL parsed into a config (credentials kept out of repr);
* ``client.py`` — the only module that imports the vendor's SDK.

Two kinds, two small protocols: a :class:`Bucket` stores named blobs (the engine owns the
layout and the gzip NDJSON encoding); a :class:`Warehouse` loads Arrow batches into tables
in transactions, recording each step in an export log so that a step loads once.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal, Protocol, runtime_checkable

import pyarrow as pa

from driftline.config import resolve_env_refs
from driftline.errors import InvalidInput


@dataclass(frozen=True)
class Capabilities:
    name: str
    kind: Literal["bucket", "warehouse"]
    schemes: tuple[str, ...]
    #: sqlglot dialect of a warehouse's SQL
    dialect: str | None = None
    #: a failed load leaves nothing behind (one transaction per step)
    transactional: bool = True
    #: clause that partitions/clusters ``mp_master_event`` by event day, if any
    partitioning: str | None = None
    #: type used for JSON values (properties, conflicting columns)
    json_type: str = "JSON"
    #: function turning JSON text into the JSON type when moving staged rows, if needed
    json_parse: str | None = None
    #: statements run once after the tables exist (indexes); ``{table}`` and ``{event_date}``
    extra_ddl: tuple[str, ...] = ()
    #: ``ADD COLUMN IF NOT EXISTS`` is understood
    add_column_if_not_exists: bool = True
    #: rows are loaded into a stage table first and moved into ``mp_master_event`` in a
    #: short transaction (warehouses whose bulk load or DDL cannot run inside one)
    staged: bool = False
    #: string literals spell ``$`` as ``CHR(36)`` (session-variable syntax in some clients)
    spell_dollar: bool = False
    #: identifiers are folded to upper case (Snowflake), so users need not quote them
    uppercase: bool = False
    #: most property columns added to ``mp_master_event``; the rest stay in ``properties``
    max_columns: int = 400


@runtime_checkable
class Bucket(Protocol):
    capabilities: Capabilities
    root: str

    def check(self) -> None: ...
    def put(self, path: str, data: bytes) -> None: ...
    def list(self, directory: str) -> list[str]: ...
    def delete(self, paths: Iterable[str]) -> None: ...
    def read(self, path: str) -> bytes: ...
    def close(self) -> None: ...


@runtime_checkable
class Warehouse(Protocol):
    capabilities: Capabilities
    schema: str | None

    def check(self) -> None: ...
    def execute(self, sql: str) -> None: ...
    def query(self, sql: str) -> list[tuple[Any, ...]]: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def append(self, table: str, data: pa.Table, json_columns: list[str]) -> None: ...
    def close(self) -> None: ...


_SCHEMES = {
    "file": "files",
    "s3": "files",
    "gs": "files",
    "gcs": "files",
    "az": "files",
    "abfs": "files",
    "postgresql": "postgres",
    "postgres": "postgres",
    "redshift": "redshift",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
}

_SECRET_PARAMS = re.compile(r"(key|secret|token|password|sas|credential|connection_string)", re.I)


def module_for(url: str) -> Any:
    scheme = url.split("://", 1)[0].lower()
    name = _SCHEMES.get(scheme)
    if name is None:
        raise InvalidInput(
            f"destination scheme {scheme!r} is not supported; use one of: "
            + ", ".join(sorted(set(_SCHEMES))),
            field="destination",
        )
    return import_module(f"{__name__}.{name}")


def capabilities_for(url: str) -> Capabilities:
    caps: Capabilities = module_for(url).CAPABILITIES
    return caps


def open_destination(url: str) -> Bucket | Warehouse:
    """Open the destination a URL names; ``${ENV}`` references are resolved here, late."""
    module = module_for(url)
    dest: Bucket | Warehouse = module.open(resolve_env_refs(url))
    return dest


def redact(url: str) -> str:
    """The URL with its password and secret-looking query values replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    safe = [(k, "***" if _SECRET_PARAMS.search(k) else v) for k, v in query]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(safe, safe="*/:"), parts.fragment)
    )
