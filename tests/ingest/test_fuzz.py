"""Fuzzing the ingestion routes: never a 5xx, every rejection a 4xx naming the field, and
nothing valid in a batch lost.

* schemathesis generates requests from the OpenAPI description of the routes;
* hypothesis wraps generated events in every encoding the SDKs use (form JSON, form base64,
  JSON body, NDJSON, gzip) and checks each record is either stored or reported.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from driftline.config import load_settings
from driftline.model import Project
from driftline.server import create_app
from driftline.store import DuckDBStore

INGEST_PATHS = r"^/(track|import|engage|groups|lookup-tables)"


@pytest.fixture
def fuzz_app(data_dir: Path, store: DuckDBStore) -> Iterator[tuple[Any, Project]]:
    app = create_app(load_settings(data_dir=data_dir), store=store)
    with TestClient(app):  # runs the lifespan: writer and ingestion engine
        yield app, store.get_project(1)


def test_openapi_fuzz_never_5xx(fuzz_app: tuple[Any, Project]) -> None:
    """Every ingestion operation of the OpenAPI schema, fuzzed by schemathesis."""
    app, project = fuzz_app
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(
        path_regex=INGEST_PATHS
    )
    auth = base64.b64encode(f"{project.secret}:".encode()).decode()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8  # track, import, engage, groups (GET/POST), lookup tables

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Basic {auth}"})
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (case.path, response.content[:500])
            if response.status_code >= 400:
                assert response.content.strip(), "an empty rejection"

        fuzz()


# --------------------------------------------------------------------------- hypothesis
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=300),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
times = st.one_of(
    st.floats(min_value=1.6e9, max_value=1.7e9),
    st.integers(min_value=1_600_000_000_000, max_value=1_700_000_000_000),
    json_values,
    st.just("2024-01-02T03:04:05Z"),
)


_ids = itertools.count()


@st.composite
def records(draw: st.DrawFn, token: str, index: int) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)  # not an event at all
    props: dict[str, Any] = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
    if draw(st.booleans()):
        props["time"] = draw(times)
    if draw(st.integers(0, 4)):
        props["distinct_id"] = draw(st.one_of(st.text(min_size=1, max_size=20), json_values))
    unique = f"fz{next(_ids)}"
    props["$insert_id"] = unique if draw(st.integers(0, 5)) else draw(json_values)
    props["token"] = token
    name = draw(st.one_of(st.text(min_size=1, max_size=300), json_values))
    return {"event": name, "properties": props}


@st.composite
def batches(draw: st.DrawFn, token: str) -> list[Any]:
    n = draw(st.integers(1, 6))
    return [draw(records(token, i)) for i in range(n)]


def encode(doc: Any, how: str, gz: bool) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(doc)
    if how == "form-json":
        body, ctype = "verbose=1&data=" + _quote(text), "application/x-www-form-urlencoded"
    elif how == "form-base64":
        body = "verbose=1&data=" + _quote(base64.b64encode(text.encode()).decode())
        ctype = "application/x-www-form-urlencoded"
    elif how == "ndjson":
        body, ctype = "\n".join(json.dumps(d) for d in doc), "application/x-ndjson"
    else:
        body, ctype = text, "application/json"
    raw = body.encode()
    headers = {"Content-Type": ctype}
    if gz:
        raw = gzip.compress(raw)
        headers["Content-Encoding"] = "gzip"
    return raw, headers


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


@given(data=st.data())
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_record_is_stored_or_reported(
    data: st.DataObject, fuzz_app: tuple[Any, Project]
) -> None:
    app, project = fuzz_app
    batch = data.draw(batches(project.token))
    how = data.draw(st.sampled_from(["form-json", "form-base64", "json", "ndjson"]))
    gz = data.draw(st.booleans())
    body, headers = encode(batch, how, gz)
    path = data.draw(st.sampled_from(["/import?strict=1", "/track?verbose=1"]))
    if path.startswith("/track") and how == "ndjson":
        how, (body, headers) = "json", encode(batch, "json", gz)
    client = TestClient(app)
    store: DuckDBStore = app.state.driftline.store
    before = store.count_events(project.id)
    r = client.post(path, content=body, headers=headers, auth=(project.secret, ""))
    assert r.status_code < 500, r.text
    after = store.count_events(project.id)
    assert r.headers["content-type"].startswith("application/json"), r.text
    doc = r.json()
    failed = doc.get("failed_records") or []
    assert all(f.get("field") and f.get("message") for f in failed)
    if "num_records_imported" in doc:  # /import's JSON answer
        assert doc["num_records_imported"] + len(failed) == len(batch)
        # each valid record stored (insert ids are unique: nothing deduplicated)
        assert after - before == doc["num_records_imported"]
    elif doc["status"] == 1:  # /track style: stored, or dropped for its age
        assert len(failed) < len(batch)
        assert after - before <= len(batch) - len(failed)
    else:
        assert after == before
        assert doc["error"]  # says why
        assert not failed or len(failed) == len(batch)
