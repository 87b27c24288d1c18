"""PII pseudonymisation (``pii_enrichment_config`` 2-0-x): hash chosen fields in place.

``pii`` lists ``{"pojo": {"field": "user_id"}}`` (an atomic field) and
``{"json": {"field": "unstruct_event" | "contexts" | "derived_contexts", "schemaCriterion":
"iglu:com.acme/signup/jsonschema/1-*-*", "jsonPath": "$.email"}}`` (a property of matching
self-describing data; ``$.a.b`` and ``$.['a','b']`` paths). ``strategy.pseudonymize``:
``hashFunction`` (MD5, SHA-1, SHA-256, SHA-384, SHA-512) and ``salt``; the hash is the hex
digest of the value followed by the salt.
"""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any

from driftline.errors import TerminalError
from driftline.snowplow.iglu import IgluError, SchemaCriterion, SchemaKey
from driftline.snowplow.transform import EnrichingEvent

HASHES = {
    "MD2": "md5",
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
POJO_FIELDS = frozenset(
    [
        "user_id",
        "user_ipaddress",
        "user_fingerprint",
        "domain_userid",
        "network_userid",
        "ip_organization",
        "ip_domain",
        "tr_city",
        "tr_state",
        "tr_country",
        "ti_name",
        "se_category",
        "se_action",
        "se_label",
        "se_property",
        "mkt_term",
        "mkt_content",
        "se_value",
        "page_url",
        "page_referrer",
        "refr_domain_userid",
    ]
)
_PATH = re.compile(r"^\$((?:\.[A-Za-z0-9_\-]+)+|\.\[(?:'[^']+'(?:,\s*)?)+\])$")


def _parse_path(path: str) -> list[list[str]]:
    """``$.a.b`` → [["a", "b"]]; ``$.['a','b']`` → [["a"], ["b"]]."""
    if not _PATH.match(path):
        raise TerminalError(
            f"pii_enrichment_config: jsonPath {path!r} is not supported (use $.a.b or $.['a','b'])"
        )
    if path.startswith("$.["):
        return [[name] for name in re.findall(r"'([^']+)'", path)]
    return [path[2:].split(".")]


class PiiPseudonymizer:
    SCHEMA_NAME = "pii_enrichment_config"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        strategy = (parameters.get("strategy") or {}).get("pseudonymize") or {}
        name = str(strategy.get("hashFunction", "SHA-256")).upper()
        if name not in HASHES:
            raise TerminalError(
                f"pii_enrichment_config: hashFunction {name!r} is not one of {', '.join(HASHES)}"
            )
        self.algorithm = HASHES[name]
        self.salt = str(strategy.get("salt", ""))
        self.pojo: list[str] = []
        self.json: list[tuple[str, SchemaCriterion, list[list[str]]]] = []
        for entry in parameters.get("pii", []):
            if "pojo" in entry:
                field = entry["pojo"]["field"]
                if field not in POJO_FIELDS:
                    raise TerminalError(
                        f"pii_enrichment_config: field {field!r} cannot be pseudonymised"
                    )
                self.pojo.append(field)
            elif "json" in entry:
                spec = entry["json"]
                self.json.append(
                    (
                        spec["field"],
                        SchemaCriterion.parse(spec["schemaCriterion"]),
                        _parse_path(spec["jsonPath"]),
                    )
                )

    def hash(self, value: str) -> str:
        return hashlib.new(self.algorithm, (value + self.salt).encode()).hexdigest()

    def apply(self, ev: EnrichingEvent) -> str | None:
        for field in self.pojo:
            value = ev.fields.get(field)
            if value:
                ev.fields[field] = self.hash(value)
        for field, criterion, paths in self.json:
            targets = self._targets(ev, field)
            for i, entity in enumerate(targets):
                try:
                    key = SchemaKey.parse(entity.get("schema"))
                except IgluError:
                    continue
                if criterion.matches(key) and isinstance(entity.get("data"), dict):
                    if field == "derived_contexts":
                        # an enrichment may give the same context to many events (the UA
                        # parser's are cached): this event's is hashed in a copy
                        entity = targets[i] = copy.deepcopy(entity)
                    for path in paths:
                        self._hash_path(entity["data"], path)
        return None

    def _targets(self, ev: EnrichingEvent, field: str) -> list[dict[str, Any]]:
        if field == "unstruct_event":
            return [ev.unstruct] if isinstance(ev.unstruct, dict) else []
        if field == "contexts":
            return [e for e in ev.contexts if isinstance(e, dict)]
        if field == "derived_contexts":
            return ev.derived
        return []

    def _hash_path(self, data: dict[str, Any], path: list[str]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), str | int | float):
            node[path[-1]] = self.hash(str(node[path[-1]]))
