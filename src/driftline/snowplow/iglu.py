"""Iglu: self-describing JSON, schema keys, and a resolver that finds and validates schemas.

A :class:`Resolver` looks schemas up, in order, in

1. the schemas that ship with driftline (the Snowplow protocol's own: ``payload_data``,
   ``contexts``, ``unstruct_event``, common events and entities);
2. local directories laid out as a static Iglu repository
   (``[schemas/]<vendor>/<name>/jsonschema/<version>``);
3. Iglu registries over HTTP: ``GET {uri}/schemas/<vendor>/<name>/<format>/<version>`` with
   an optional ``apikey`` header (an Iglu Server's ``uri`` ends in ``/api``).

Registries whose ``vendorPrefixes`` match the schema's vendor are tried first. Results are
cached, "not found" too; with ``cache_ttl`` set, entries are looked up again after that many
seconds. Snowplow's own resolver configuration file (``resolver-config`` JSON) can be loaded
with :meth:`Resolver.from_config`.

Validation is JSON Schema draft 4 (compiled once per schema with ``fastjsonschema``); errors
are reported in the shapes Snowplow's bad rows use (``ResolutionError`` with a
``lookupHistory``, ``ValidationError`` with ``dataReports``).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastjsonschema
import httpx
import orjson

_URI = re.compile(
    r"^iglu:([a-zA-Z0-9\-_.]+)/([a-zA-Z0-9\-_]+)/([a-zA-Z0-9\-_]+)/([1-9][0-9]*)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$"
)
_CRITERION = re.compile(
    r"^iglu:([a-zA-Z0-9\-_.]+)/([a-zA-Z0-9\-_]+)/([a-zA-Z0-9\-_]+)/([1-9][0-9]*|\*)-(0|[1-9][0-9]*|\*)-(0|[1-9][0-9]*|\*)$"
)
EMBEDDED = Path(__file__).parent / "schemas"
DRAFT4 = "http://json-schema.org/draft-04/schema#"


class IgluError(ValueError):
    """Data that is not self-describing JSON as Iglu defines it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SchemaKey:
    vendor: str
    name: str
    format: str
    model: int
    revision: int
    addition: int

    @classmethod
    def parse(cls, uri: object) -> SchemaKey:
        known = _KEYS.get(uri) if type(uri) is str else None
        if known is not None and cls is SchemaKey:
            return known
        if not isinstance(uri, str):
            raise IgluError("INVALID_IGLUURI", f"schema must be a string, not {type(uri).__name__}")
        m = _URI.match(uri)
        if m is None:
            if uri.startswith("iglu:") and uri.count("/") == 3:
                raise IgluError("INVALID_SCHEMAVER", f"Invalid schema version in {uri}")
            raise IgluError("INVALID_IGLUURI", f"Invalid Iglu URI: {uri}")
        v, n, f, a, b, c = m.groups()
        key = cls(v, n, f, int(a), int(b), int(c))
        if cls is SchemaKey:
            if len(_KEYS) >= 4096:
                _KEYS.clear()
            _KEYS[uri] = key
        return key

    @property
    def version(self) -> str:
        return f"{self.model}-{self.revision}-{self.addition}"

    @property
    def path(self) -> str:
        return f"{self.vendor}/{self.name}/{self.format}/{self.version}"

    @property
    def uri(self) -> str:
        return f"iglu:{self.path}"

    def __str__(self) -> str:
        return self.uri


#: schema keys by URI (the same few come in every request)
_KEYS: dict[str, SchemaKey] = {}


@dataclass(frozen=True)
class SchemaCriterion:
    """A key pattern such as ``iglu:com.acme/event/jsonschema/1-*-*``."""

    vendor: str
    name: str
    format: str
    model: int | None
    revision: int | None
    addition: int | None

    @classmethod
    def parse(cls, text: str) -> SchemaCriterion:
        m = _CRITERION.match(text)
        if m is None:
            raise IgluError("INVALID_CRITERION", f"Invalid schema criterion: {text}")
        v, n, f, *nums = m.groups()
        a, b, c = (None if x == "*" else int(x) for x in nums)
        return cls(v, n, f, a, b, c)

    def matches(self, key: SchemaKey) -> bool:
        return (
            (self.vendor, self.name, self.format) == (key.vendor, key.name, key.format)
            and self.model in (None, key.model)
            and self.revision in (None, key.revision)
            and self.addition in (None, key.addition)
        )

    def __str__(self) -> str:
        parts = ("*" if x is None else str(x) for x in (self.model, self.revision, self.addition))
        return f"iglu:{self.vendor}/{self.name}/{self.format}/{'-'.join(parts)}"


def self_describing(value: object) -> tuple[SchemaKey, Any]:
    """Split ``{"schema": ..., "data": ...}`` into its key and data, or raise IgluError."""
    if not isinstance(value, dict):
        raise IgluError("INVALID_DATA_PAYLOAD", "self-describing JSON must be an object")
    if "schema" not in value:
        raise IgluError("INVALID_DATA_PAYLOAD", "self-describing JSON has no schema field")
    if "data" not in value:
        raise IgluError("INVALID_DATA_PAYLOAD", "self-describing JSON has no data field")
    return SchemaKey.parse(value["schema"]), value["data"]


# --------------------------------------------------------------------------- repositories
@dataclass
class Repository:
    """Where schemas come from: ``fetch`` gives the schema text, or None when not there."""

    name: str
    priority: int = 0
    vendor_prefixes: tuple[str, ...] = ()
    embedded: bool = True

    def fetch(self, key: SchemaKey) -> bytes | None:
        raise NotImplementedError

    def serves(self, vendor: str) -> bool:
        return any(vendor.startswith(p) for p in self.vendor_prefixes)


@dataclass
class DirectoryRepository(Repository):
    path: Path = EMBEDDED

    def fetch(self, key: SchemaKey) -> bytes | None:
        root = self.path / "schemas" if (self.path / "schemas").is_dir() else self.path
        for candidate in (root / key.path, root / (key.path + ".json")):
            if candidate.is_file():
                return candidate.read_bytes()
        return None


@dataclass
class HttpRepository(Repository):
    uri: str = ""
    apikey: str | None = None
    embedded: bool = False
    client: httpx.Client | None = None

    def fetch(self, key: SchemaKey) -> bytes | None:
        client = self.client or httpx.Client(timeout=httpx.Timeout(4.0, connect=1.0))
        self.client = client
        headers = {"apikey": self.apikey} if self.apikey else {}
        url = f"{self.uri.rstrip('/')}/schemas/{key.path}"
        response = client.get(url, headers=headers)
        if response.status_code == 404 or 400 <= response.status_code < 500:
            return None
        response.raise_for_status()
        return response.content


@dataclass
class _Cached:
    schema: dict[str, Any] | None
    at: float
    history: list[dict[str, Any]] = field(default_factory=list)
    validator: Callable[[Any], Any] | None = None


# --------------------------------------------------------------------------- resolver
class Resolver:
    """Finds schemas, caches them, validates self-describing data against them."""

    def __init__(
        self,
        repositories: Iterable[Repository] = (),
        *,
        cache_ttl: float | None = None,
        include_embedded: bool = True,
    ) -> None:
        repos = list(repositories)
        if include_embedded:
            repos.insert(0, DirectoryRepository("driftline embedded", priority=-1, path=EMBEDDED))
        self.repositories = repos
        self.cache_ttl = cache_ttl
        self._cache: dict[SchemaKey, _Cached] = {}
        self._by_uri: dict[str, tuple[SchemaKey, Callable[[Any], Any], float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: dict[str, Any], base: Path | None = None) -> Resolver:
        """A resolver from Snowplow's ``resolver-config`` self-describing JSON."""
        data = config.get("data", config)
        repos: list[Repository] = []
        for entry in data.get("repositories", []):
            conn = entry.get("connection", {})
            common = {
                "name": entry.get("name", "repository"),
                "priority": int(entry.get("priority", 0)),
                "vendor_prefixes": tuple(entry.get("vendorPrefixes", ())),
            }
            if "http" in conn:
                repos.append(
                    HttpRepository(
                        **common, uri=conn["http"]["uri"], apikey=conn["http"].get("apikey")
                    )
                )
            elif "embedded" in conn:
                path = Path(conn["embedded"]["path"].lstrip("/"))
                if base is not None and not path.is_absolute():
                    path = base / path
                repos.append(DirectoryRepository(**common, path=path))
        return cls(repos, cache_ttl=data.get("cacheTtl"))

    def _ordered(self, vendor: str) -> list[Repository]:
        return sorted(
            self.repositories,
            key=lambda r: (not r.serves(vendor), not r.embedded, r.priority),
        )

    def _lookup(self, key: SchemaKey) -> _Cached:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and (self.cache_ttl is None or now - hit.at < self.cache_ttl):
            return hit
        history: list[dict[str, Any]] = []
        found: dict[str, Any] | None = None
        for repo in self._ordered(key.vendor):
            try:
                raw = repo.fetch(key)
            except (httpx.HTTPError, OSError) as exc:
                history.append(_attempt(repo, "RepoFailure", str(exc)))
                continue
            if raw is None:
                history.append(_attempt(repo, "NotFound"))
                continue
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                history.append(_attempt(repo, "InvalidSchema", "schema is not JSON"))
                continue
            if not isinstance(parsed, dict):
                history.append(_attempt(repo, "InvalidSchema", "schema is not a JSON object"))
                continue
            found = parsed
            break
        entry = _Cached(found, now, history)
        with self._lock:
            self._cache[key] = entry
        return entry

    def schema(self, key: SchemaKey) -> dict[str, Any] | None:
        return self._lookup(key).schema

    def check(self, key: SchemaKey, data: Any) -> dict[str, Any] | None:
        """None when ``data`` is valid against ``key``; otherwise Snowplow's error object."""
        entry = self._lookup(key)
        if entry.schema is None:
            return {"error": "ResolutionError", "lookupHistory": entry.history}
        validator = entry.validator
        if validator is None:
            try:
                validator = entry.validator = _compile(entry.schema)
            except fastjsonschema.JsonSchemaDefinitionException as exc:
                return {"error": "InvalidSchema", "message": str(exc)}
        try:
            validator(data)
        except fastjsonschema.JsonSchemaValueException as exc:
            return {"error": "ValidationError", "dataReports": [_report(exc)]}
        return None

    def validate_sdj(self, value: object) -> tuple[SchemaKey, Any]:
        """Check self-describing ``value``; raise :class:`SchemaError` when it fails."""
        if type(value) is dict and "data" in value:
            known = self._by_uri.get(value.get("schema"))  # type: ignore[arg-type]
            if known is not None and (
                self.cache_ttl is None or time.monotonic() - known[2] < self.cache_ttl
            ):
                try:
                    known[1](value["data"])
                    return known[0], value["data"]
                except fastjsonschema.JsonSchemaValueException:
                    pass  # the slow path words the error
        key, data = self_describing(value)
        error = self.check(key, data)
        if error is not None:
            raise SchemaError(key, error)
        entry = self._cache.get(key)
        if entry is not None and entry.validator is not None and len(self._by_uri) < 10_000:
            assert entry.schema is not None  # a validator was compiled from it
            check = _wrapper_check(entry.schema, entry.validator) or entry.validator
            self._by_uri[key.uri] = (key, check, entry.at)
        return key, data


class SchemaError(ValueError):
    def __init__(self, key: SchemaKey, error: dict[str, Any]) -> None:
        super().__init__(f"{key}: {error.get('error')}")
        self.key = key
        self.error = error


def _attempt(repo: Repository, error: str, message: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"error": error}
    if message:
        err["message"] = message
    return {
        "repository": repo.name,
        "errors": [err],
        "attempts": 1,
        "lastAttempt": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def _compile(schema: dict[str, Any]) -> Callable[[Any], Any]:
    body = {k: v for k, v in schema.items() if k not in ("self", "$schema")}
    body["$schema"] = DRAFT4
    return fastjsonschema.compile(body, use_default=False)


_SELF_DESCRIBING = frozenset(("schema", "data"))
#: keywords that describe and do not constrain
_ANNOTATIONS = frozenset(("description", "title"))
#: keywords of a wrapper's entity whose checks depend only on the entity's keys and on each
#: property's own value
_ENTITY_WORDS = frozenset(("type", "properties", "required", "additionalProperties")) | _ANNOTATIONS


def _wrapper_check(
    schema: dict[str, Any], validator: Callable[[Any], Any]
) -> Callable[[Any], None] | None:
    """A quicker validator, for a schema that only checks self-describing wrappers — an
    object, or an array of objects, whose ``data`` may be anything (``contexts``,
    ``unstruct_event``): an entity with exactly the keys ``schema`` and ``data`` is valid
    when ``{"schema": <its schema>, "data": null}`` is, which ``validator`` decides once per
    distinct ``schema`` text. None for other schemas. Raises
    ``JsonSchemaValueException`` where it cannot tell (then the full validator words it)."""
    top = {k: v for k, v in schema.items() if k not in _ANNOTATIONS | {"self", "$schema"}}
    many = top.get("type") == "array" and set(top) == {"type", "items"}
    entity = top["items"] if many else top
    if not (
        isinstance(entity, dict)
        and set(entity) <= _ENTITY_WORDS
        and isinstance(entity.get("properties"), dict)
        and isinstance(entity["properties"].get("data"), dict)
        and set(entity["properties"]["data"]) <= _ANNOTATIONS
    ):
        return None
    valid: dict[str, bool] = {}

    def valid_schema(text: str) -> bool:
        known = valid.get(text)
        if known is None:
            sample: dict[str, Any] = {"schema": text, "data": None}
            try:
                validator([sample] if many else sample)
                known = True
            except fastjsonschema.JsonSchemaValueException:
                known = False
            if len(valid) >= 4096:
                valid.clear()
            valid[text] = known
        return known

    def plain(item: Any) -> bool:
        return (
            type(item) is dict
            and item.keys() == _SELF_DESCRIBING
            and type(item["schema"]) is str
            and valid_schema(item["schema"])
        )

    def check(data: Any) -> None:
        if not (type(data) is list and all(map(plain, data)) if many else plain(data)):
            raise fastjsonschema.JsonSchemaValueException("not a plain self-describing wrapper")

    return check


def _report(exc: fastjsonschema.JsonSchemaValueException) -> dict[str, Any]:
    path = "$" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in (exc.path or ["data"])[1:]
    )
    message = exc.message
    if message.startswith(exc.name or "data"):
        message = message[len(exc.name or "data") :].lstrip()
    return {
        "message": f"{path}: {message}",
        "path": path,
        "keyword": exc.rule,
        "targets": [exc.rule_definition] if isinstance(exc.rule_definition, str) else [],
    }
