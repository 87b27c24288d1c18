"""Enrich: collector payloads → enriched TSV lines and bad rows.

For each tracker-protocol event of a payload, in Snowplow Enrich's phases:

1. map the parameters to atomic fields and validate ``ue``/``co`` self-describing JSON
   through Iglu — any problem → ``schema_violations``;
2. split the page and referrer URLs, run the configured enrichments, fill
   ``event_vendor/name/format/version`` — any failure → ``enrichment_failures``;
3. validate derived contexts and the atomic field lengths → ``schema_violations``.

Events that pass become one 131-field TSV line each. Each event fails or passes alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftline.snowplow import badrows
from driftline.snowplow.adapters import adapt
from driftline.snowplow.badrows import BadRow
from driftline.snowplow.enrich import Enrichment
from driftline.snowplow.enrich.urls import set_url_fields
from driftline.snowplow.fields import FIELDS, MAX_LENGTHS
from driftline.snowplow.iglu import IgluError, Resolver, SchemaCriterion, SchemaError, SchemaKey
from driftline.snowplow.payload import CollectorPayload
from driftline.snowplow.shapes import PerShape, compile_function
from driftline.snowplow.transform import EnrichingEvent, atomic_error, map_parameters
from driftline.snowplow.tsv import contexts_json, to_line, unstruct_json

_NO_LIMIT = 1 << 62
UNSTRUCT_CRITERION = SchemaCriterion.parse(
    "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-*"
)
CONTEXTS_CRITERION = SchemaCriterion.parse(
    "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-*"
)


@dataclass
class Enriched:
    """The output for one or more payloads: good lines (with their app ids) and bad rows."""

    events: list[EnrichingEvent] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [to_line(ev.fields) for ev in self.events]

    @property
    def app_ids(self) -> list[str | None]:
        return [ev.fields.get("app_id") for ev in self.events]

    def extend(self, other: Enriched) -> None:
        self.events += other.events
        self.bad += other.bad


class Enricher:
    def __init__(
        self,
        resolver: Resolver,
        enrichments: Sequence[Enrichment] = (),
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.resolver = resolver
        self.enrichments = list(enrichments)
        #: milliseconds since the epoch, for etl_tstamp
        self.clock = clock or (lambda: int(time.time() * 1000))
        #: per wrapper criterion (by id), the last schema key that matched it
        self._matched: dict[int, SchemaKey] = {}

    def process(self, payload: CollectorPayload) -> Enriched:
        adapted = adapt(payload, self.resolver)
        out = Enriched(bad=adapted.bad)
        etl_ms = self.clock()
        for params in adapted.events:
            ev = self.enrich(params, payload, etl_ms)
            if isinstance(ev, BadRow):
                out.bad.append(ev)
            else:
                out.events.append(ev)
        return out

    def enrich(
        self, params: dict[str, str], payload: CollectorPayload, etl_ms: int
    ) -> EnrichingEvent | BadRow:
        ev = map_parameters(params, payload, etl_ms)
        self._validate_inputs(ev)
        if ev.errors:
            return self._bad("schema_violations", ev, ev.errors)
        failures = self._run_enrichments(ev)
        if failures:
            return self._bad("enrichment_failures", ev, failures)
        problems = self._validate_outputs(ev)
        if problems:
            return self._bad("schema_violations", ev, problems)
        f = ev.fields
        f["contexts"] = contexts_json(ev.contexts)
        f["unstruct_event"] = unstruct_json(ev.unstruct)
        f["derived_contexts"] = contexts_json(ev.derived)
        return ev

    # ----------------------------------------------------------------- phase 1
    def _validate_inputs(self, ev: EnrichingEvent) -> None:
        if ev.unstruct is not None:
            inner = self._unwrap(ev, ev.unstruct, UNSTRUCT_CRITERION)
            ev.unstruct = None
            if inner is not None:
                try:
                    key, _ = self.resolver.validate_sdj(inner)
                except IgluError as exc:
                    ev.errors.append({"json": inner, "error": exc.code, "message": exc.message})
                except SchemaError as exc:
                    ev.errors.append({"schemaKey": exc.key.uri, "error": exc.error})
                else:
                    ev.unstruct = inner
                    f = ev.fields
                    f["event_vendor"], f["event_name"] = key.vendor, key.name
                    f["event_format"], f["event_version"] = key.format, key.version
        if ev.contexts:
            wrapper = ev.contexts[0]
            ev.contexts = []
            entities = self._unwrap(ev, wrapper, CONTEXTS_CRITERION)
            if isinstance(entities, list):
                for entity in entities:
                    try:
                        self.resolver.validate_sdj(entity)
                    except IgluError as exc:
                        ev.errors.append(
                            {"json": entity, "error": exc.code, "message": exc.message}
                        )
                    except SchemaError as exc:
                        ev.errors.append({"schemaKey": exc.key.uri, "error": exc.error})
                ev.contexts = entities

    def _unwrap(self, ev: EnrichingEvent, wrapper: Any, criterion: SchemaCriterion) -> Any:
        try:
            key, data = self.resolver.validate_sdj(wrapper)
        except IgluError as exc:
            ev.errors.append({"json": wrapper, "error": exc.code, "message": exc.message})
            return None
        except SchemaError as exc:
            ev.errors.append({"schemaKey": exc.key.uri, "error": exc.error})
            return None
        if self._matched.get(id(criterion)) is not key:
            if not criterion.matches(key):
                ev.errors.append({"schemaKey": key.uri, "schemaCriterion": str(criterion)})
                return None
            # the resolver hands out the same key object for a known schema: the next
            # wrapper of that schema needs no comparison
            self._matched[id(criterion)] = key
        return data

    # ----------------------------------------------------------------- phase 2
    def _run_enrichments(self, ev: EnrichingEvent) -> list[dict[str, Any]]:
        failures: list[dict[str, Any]] = []
        for source, prefix in (("page_url", "page"), ("page_referrer", "refr")):
            error = set_url_fields(ev, source, prefix)
            if error:
                failures.append(
                    {
                        "enrichment": None,
                        "message": {
                            "field": source,
                            "value": ev.fields.get(source),
                            "expectation": error,
                        },
                    }
                )
        if ev.fields.get("event") == "unstruct" and ev.unstruct is None:
            failures.append(
                {
                    "enrichment": None,
                    "message": {
                        "error": "unstruct event without a self-describing event (ue_pr or ue_px)"
                    },
                }
            )
        if failures:
            return failures
        for enrichment in self.enrichments:
            try:
                error = enrichment.apply(ev)
            except Exception as exc:  # an enrichment's bug must fail the event, not the request
                error = f"{type(exc).__name__}: {exc}"
            if error:
                failures.append(
                    {
                        "enrichment": {"schemaKey": None, "identifier": enrichment.SCHEMA_NAME},
                        "message": {"error": error},
                    }
                )
        return failures

    # ----------------------------------------------------------------- phase 3
    def _validate_outputs(self, ev: EnrichingEvent) -> list[dict[str, Any]]:
        # Derived contexts come from driftline's own enrichments, which build them to their
        # schemas (see enrich/): they are not validated again here.
        f = ev.fields
        # first a quick check of only the fields that have a limit; a problem takes the loop
        # below, which words it
        ev.names = names = tuple(f)
        too_long = _LIMITS.ready.get(names) or _LIMITS.get(names) or _too_long
        if not too_long(f):
            return []
        return [
            atomic_error(name, value[:100], f"longer than {MAX_LENGTHS[name]} characters")
            for name, value in ev.fields.items()
            if value is not None and len(value) > MAX_LENGTHS.get(name, _NO_LIMIT)
        ]

    def _bad(self, kind: str, ev: EnrichingEvent, messages: list[dict[str, Any]]) -> BadRow:
        enriched = {name: ev.fields.get(name) for name in FIELDS}
        return badrows.enrich_failure(kind, messages, enriched, ev.payload.raw_json(ev.params))


def _too_long(f: dict[str, str | None]) -> bool:
    """Whether a field is longer than its limit (what the compiled checks do)."""
    for name, value in f.items():
        limit = MAX_LENGTHS.get(name)
        if limit is not None and value is not None and len(value) > limit:
            return True
    return False


def _length_check(names: tuple[str, ...]) -> Callable[[dict[str, str | None]], bool]:
    """:func:`_too_long` for fields set in the order ``names``: each field with a maximum
    length against it, in straight-line code. Only field names from
    :data:`~driftline.snowplow.fields.MAX_LENGTHS` go into the source, as literals."""
    lines = ["def too_long(f):"]
    for name in names:
        if name in MAX_LENGTHS:
            lines += [
                f"    v = f[{name!r}]",
                f"    if v is not None and len(v) > {MAX_LENGTHS[name]}:",
                "        return True",
            ]
    lines.append("    return False")
    check: Callable[[dict[str, str | None]], bool] = compile_function(lines, {}, "length check")
    return check


#: the compiled length checks, per sequence of field names
_LIMITS = PerShape(_length_check)
