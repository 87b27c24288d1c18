"""Mixpanel-compatible ingestion: ``/track``, ``/import``, ``/engage``, ``/groups``,
``/lookup-tables``.

Request and response formats are Mixpanel's, so its SDKs work unchanged with ``api_host``
pointed here (``docs/ingest.md``). Routes parse the request, hand the records to the
ingestion engine and answer only after the data is committed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import time
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from driftline.errors import (
    Backpressure,
    DriftlineError,
    InvalidInput,
    PayloadTooLarge,
    TransientError,
    Unauthorized,
)
from driftline.ingest import payload
from driftline.ingest.events import TRACK_MAX_AGE_MS, EventOutcome, EventRequest
from driftline.ingest.lookup import MAX_LOOKUP_BYTES, LookupTableInvalid, parse_lookup_csv
from driftline.ingest.profiles import parse_updates
from driftline.server.auth import project_from_secret, state_of
from driftline.server.ingest_openapi import (
    ENGAGE_DOC,
    GROUPS_DOC,
    IMPORT_DOC,
    LOOKUP_DOC,
    TRACK_DOC,
    get_doc,
)
from driftline.server.services.ingest import engine_of
from driftline.store import ReplaceLookupTable
from driftline.store.ops import LookupLimitExceeded
from driftline.store.profile_ops import ApplyGroupUpdates, ApplyProfileUpdates

router = APIRouter(tags=["ingestion"])

GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")
_JSON = "application/json"
_TOO_MANY = "Project exceeded rate limits. Please retry the request with exponential backoff."


# --------------------------------------------------------------------------- helpers
def _cors(request: Request) -> dict[str, str]:
    """Browser SDKs send credentials (``withCredentials``): echo the origin, never ``*``."""
    origin = request.headers.get("origin")
    if not origin:
        return {"Access-Control-Allow-Origin": "*"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _endpoint(request: Request) -> str:
    host = request.headers.get("host") or (request.url.hostname or "")
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@functools.lru_cache(maxsize=4096)
def _ip_distinct_id(ip: str | None) -> str | None:
    """A stable distinct_id derived from the request's IP address (``ip=1``)."""
    if not ip:
        return None
    return hashlib.sha256(ip.encode()).hexdigest()[:32]


async def _body(request: Request, limit: int) -> payload.Body:
    return await payload.read_body(
        request.stream(),
        encoding=request.headers.get("content-encoding"),
        content_type=request.headers.get("content-type"),
        limit=limit,
    )


class _Params:
    """Query parameters, overridden by form fields of the same name (SDKs send both)."""

    def __init__(self, request: Request, form: dict[str, str] | None = None) -> None:
        self.values = dict(request.query_params)
        if form:
            self.values.update(form)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def flag(self, name: str) -> bool:
        return _flag(self.values.get(name))


def _track_records(body: payload.Body, params: _Params, limit: int) -> Any:
    data = params.get("data")
    if data is not None:
        return payload.json_docs(payload.decode_data(data), field="data", limit=limit)
    if body.data.strip():
        if body.content_type in ("", _JSON, "text/plain") or body.data.lstrip()[:1] in (
            b"[",
            b"{",
        ):
            return payload.body_records(body, limit=limit)
        return payload.json_docs(payload.decode_data(body.data), field="data", limit=limit)
    raise InvalidInput(
        "'data' is required: send the events as data=<JSON or base64 JSON>", field="data"
    )


def _records(records: Any, body: payload.Body) -> dict[str, Any]:
    """EventRequest fields for records as payload returns them: texts or parsed events."""
    if isinstance(records, list):
        return {"records": None, "docs": records, "body_bytes": len(body.data)}
    return {"records": records}


def _message(errors: list[Any], limit: int = 5) -> str:
    shown = "; ".join(f"record {e.index}: {e.message}" for e in errors[:limit])
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return shown + more


def _failed(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {"index": e.index, "insert_id": e.insert_id, "field": e.field, "message": e.message}
        for e in errors
    ]


class _TrackReply:
    """Answers in /track's styles: ``1``/``0``, verbose JSON, a GIF pixel or JSONP."""

    def __init__(self, request: Request, params: _Params, *, cors: bool = True) -> None:
        self.request = request
        self.cors = cors
        self.verbose = params.flag("verbose")
        self.img = params.flag("img")
        callback = params.get("callback")
        self.callback = callback if callback and _CALLBACK.fullmatch(callback) else None
        self.bad_callback = bool(callback) and self.callback is None
        if self.bad_callback:
            self.verbose = True  # no function to call: explain in JSON

    def __call__(
        self,
        ok: bool,
        error: str | None = None,
        *,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        code = status if status is not None else (200 if ok else 400)
        all_headers = {**(_cors(self.request) if self.cors else {}), **(headers or {})}
        if self.img:
            return Response(GIF, code, headers=all_headers, media_type="image/gif")
        if self.verbose:
            doc: dict[str, Any] = {"status": 1 if ok else 0, "error": error}
            doc.update(extra or {})
            text = orjson.dumps(doc).decode()
            media = _JSON
        else:
            text = "1" if ok else "0"
            media = "text/plain"
        if self.callback:
            return Response(
                f"{self.callback}({text})", code, headers=all_headers, media_type="text/javascript"
            )
        return Response(text, code, headers=all_headers, media_type=media)

    def error(self, exc: DriftlineError) -> Response:
        headers: dict[str, str] = {}
        status = exc.status
        if isinstance(exc, Backpressure):
            headers["Retry-After"] = str(exc.retry_after)
        elif isinstance(exc, TransientError):
            status = 503
        message = exc.message
        if exc.field and exc.field not in message:
            message = f"{exc.field}: {message}"
        return self(False, message, status=status, headers=headers)


async def _run_events(request: Request, req: EventRequest) -> EventOutcome:
    """Validate, enrich and commit; returns after the commit."""
    engine = engine_of(state_of(request))
    return await engine.events.submit_async(req)


# --------------------------------------------------------------------------- /track
@router.get("/track", **get_doc(TRACK_DOC))
@router.post("/track", **TRACK_DOC)
@router.api_route("/track/", methods=["GET", "POST"], include_in_schema=False)
async def track(request: Request) -> Response:
    """Track events (Mixpanel's ``/track``)."""
    settings = state_of(request).settings
    params = _Params(request)
    reply = _TrackReply(request, params)
    received_ms = int(time.time() * 1000)
    try:
        body = await _body(request, settings.max_request_bytes)
        if body.is_form:
            params = _Params(request, payload.form_fields(body.data))
            reply = _TrackReply(request, params)
        if reply.bad_callback:
            raise InvalidInput("'callback' must be a JavaScript function name", field="callback")
        records = _track_records(body, params, settings.max_events_per_request)
        use_ip = params.flag("ip")
        ip = _client_ip(request)
        req = EventRequest(
            **_records(records, body),
            origin="track",
            insert_id="random",
            endpoint=_endpoint(request),
            received_ms=received_ms,
            drop_before_ms=received_ms - TRACK_MAX_AGE_MS,
            fallback_distinct_id=_ip_distinct_id(ip) if use_ip else None,
            time_optional=True,
            geo_ip=ip if use_ip else None,
        )
        outcome = await _run_events(request, req)
    except DriftlineError as exc:
        return reply.error(exc)
    if outcome.accepted or outcome.dropped:
        error = _message(outcome.errors) if outcome.errors else None
        extra = {"failed_records": _failed(outcome.errors)} if outcome.errors else None
        return reply(True, error, extra=extra)
    return reply(False, _message(outcome.errors), extra={"failed_records": _failed(outcome.errors)})


# --------------------------------------------------------------------------- /import
def _import_json(code: int, **fields: Any) -> Response:
    statuses = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        413: "Request Entity Too Large",
        429: "Too Many Requests",
        503: "Service Unavailable",
    }
    doc = {"code": code, **fields, "status": statuses.get(code, "Error")}
    return Response(orjson.dumps(doc), code, media_type=_JSON)


def _import_error(exc: DriftlineError) -> Response:
    if isinstance(exc, Backpressure):
        response = _import_json(429, error=_TOO_MANY)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Unauthorized):
        return _import_json(401, error="Invalid credentials")
    if isinstance(exc, PayloadTooLarge):
        return _import_json(413, error=exc.message)
    if isinstance(exc, TransientError):
        return _import_json(503, error=exc.message)
    message = exc.message
    if exc.field and exc.field not in message:
        message = f"{exc.field}: {message}"
    return _import_json(exc.status if 400 <= exc.status < 500 else 400, error=message)


@router.post("/import", **IMPORT_DOC)
@router.post("/import/", include_in_schema=False)
async def import_events(request: Request) -> Response:
    """Import events, historical or recent (Mixpanel's ``/import``)."""
    settings = state_of(request).settings
    received_ms = int(time.time() * 1000)
    form = False
    params = _Params(request)
    try:
        project = project_from_secret(request, allow_token=True)
        body = await _body(request, settings.max_request_bytes)
        limit = settings.max_events_per_request
        if body.is_form:
            form = True
            params = _Params(request, payload.form_fields(body.data))
            data = params.get("data")
            if data is None:
                raise InvalidInput("'data' is required in a form body", field="data")
            records = payload.json_docs(payload.decode_data(data), field="data", limit=limit)
        else:
            records = payload.body_records(body, limit=limit)
        strict = params.get("strict") in (None, "1", "true")
        ip = _client_ip(request)
        req = EventRequest(
            **_records(records, body),
            origin="import",
            insert_id="require" if strict else "stable",
            endpoint=_endpoint(request),
            project_id=project.id,
            received_ms=received_ms,
            fallback_distinct_id=_ip_distinct_id(ip),
            geo_ip=ip if params.flag("ip") else None,
            is_import=True,
        )
        outcome = await _run_events(request, req)
    except DriftlineError as exc:
        if form:
            return _TrackReply(request, params, cors=False).error(exc)
        return _import_error(exc)
    if form:
        reply = _TrackReply(request, params, cors=False)
        extra = {"failed_records": _failed(outcome.errors)} if outcome.errors else None
        if outcome.accepted or outcome.dropped:
            return reply(True, _message(outcome.errors) if outcome.errors else None, extra=extra)
        return reply(False, _message(outcome.errors), extra=extra)
    if outcome.errors and strict:
        return _import_json(
            400,
            error="some data points in the request failed validation",
            num_records_imported=outcome.accepted,
            failed_records=_failed(outcome.errors),
        )
    return _import_json(200, num_records_imported=outcome.accepted)


#: the hot routes, answered without FastAPI's routing (``driftline.server.direct``)
DIRECT_ROUTES = {
    **{(m, p): track for m in ("GET", "POST") for p in ("/track", "/track/")},
    **{("POST", p): import_events for p in ("/import", "/import/")},
}


# --------------------------------------------------------------------------- /engage, /groups
async def _profile_updates(request: Request, kind: str) -> Response:
    state = state_of(request)
    settings = state.settings
    params = _Params(request)
    reply = _TrackReply(request, params)
    try:
        body = await _body(request, settings.max_request_bytes)
        if body.is_form:
            params = _Params(request, payload.form_fields(body.data))
            reply = _TrackReply(request, params)
        if reply.bad_callback:
            raise InvalidInput("'callback' must be a JavaScript function name", field="callback")
        data = params.get("data")
        if data is not None:
            text = payload.decode_data(data)
        elif body.data.strip():
            text = (
                body.data
                if body.data.lstrip()[:1] in (b"[", b"{")
                else payload.decode_data(body.data)
            )
        else:
            raise InvalidInput("'data' is required: send the updates as data=<JSON>", field="data")
        docs = payload.json_documents(text, field="data")
        if not docs:
            raise InvalidInput("no updates in the request", field="data")
        if len(docs) > settings.max_events_per_request:
            raise InvalidInput(
                f"request has {len(docs)} updates; send at most "
                f"{settings.max_events_per_request} per request",
                field="data",
            )
        # /engage locates the request's address unless told not to (ip=0)
        use_ip = params.get("ip") not in ("0", "false") and kind == "user"
        engine = engine_of(state)
        parsed = parse_updates(
            docs,
            state.store.list_projects(),
            kind=kind,
            request_ip=_client_ip(request) if use_ip else None,
            geo=engine.geo,
        )
        futures = []
        for project_id, updates in parsed.by_project.items():
            if kind == "user":
                keep = state.store.get_project(project_id).keep_profile_history
                op: Any = ApplyProfileUpdates(project_id, updates, keep_history=keep)
            else:
                op = ApplyGroupUpdates(project_id, updates, origin="groups")
            futures.append(state.writer.submit(op))
        for future in futures:
            await asyncio.wrap_future(future)
    except DriftlineError as exc:
        return reply.error(exc)
    errors = [{"index": e.index, "field": e.field, "message": e.message} for e in parsed.errors]
    message = "; ".join(str(e) for e in parsed.errors[:5]) or None
    if parsed.valid:
        return reply(True, message, extra={"failed_records": errors} if errors else None)
    return reply(False, message, extra={"failed_records": errors})


@router.get("/engage", **get_doc(ENGAGE_DOC))
@router.post("/engage", **ENGAGE_DOC)
@router.api_route("/engage/", methods=["GET", "POST"], include_in_schema=False)
async def engage(request: Request) -> Response:
    """Update user profiles (Mixpanel's ``/engage``)."""
    return await _profile_updates(request, "user")


@router.get("/groups", **get_doc(GROUPS_DOC))
@router.post("/groups", **GROUPS_DOC)
@router.api_route("/groups/", methods=["GET", "POST"], include_in_schema=False)
async def groups(request: Request) -> Response:
    """Update group profiles (Mixpanel's ``/groups``)."""
    return await _profile_updates(request, "group")


async def preflight(request: Request) -> Response:
    """CORS preflight for the ingestion routes (browsers sending JSON bodies)."""
    return Response(
        status_code=204,
        headers={
            **_cors(request),
            "Access-Control-Allow-Methods": "GET, POST, PUT, OPTIONS",
            "Access-Control-Allow-Headers": request.headers.get(
                "access-control-request-headers", "Content-Type, Content-Encoding"
            ),
            "Access-Control-Max-Age": "86400",
        },
    )


# browsers call the token-authenticated routes only; /import and lookup tables take the
# project secret, which never belongs in a web page
for _path in ("/track", "/track/", "/engage", "/engage/", "/groups", "/groups/"):
    router.add_api_route(_path, preflight, methods=["OPTIONS"], include_in_schema=False)


# --------------------------------------------------------------------------- lookup tables
def _lookup_json(code: int, **fields: Any) -> Response:
    return _import_json(code, **fields)


@router.put("/lookup-tables/{table_id}", **LOOKUP_DOC)
async def replace_lookup_table(request: Request, table_id: str) -> Response:
    """Replace a lookup table with a CSV, whole or not at all."""
    state = state_of(request)
    try:
        project = project_from_secret(request)
        if not table_id.strip() or len(table_id) > 255:
            raise InvalidInput("the table id must be 1 to 255 characters", field="id")
        body = await _body(request, MAX_LOOKUP_BYTES)
        rows = await asyncio.to_thread(parse_lookup_csv, body.data)
        existing = state.store.query_rows(
            "SELECT name, property FROM lookup_tables WHERE project_id = ? AND id = ?",
            [project.id, table_id],
        )
        q = request.query_params
        name = q.get("name") or (existing[0][0] if existing else table_id)
        prop = q.get("property") or (existing[0][1] if existing else None)
        op = ReplaceLookupTable(
            project.id,
            table_id,
            name,
            prop,
            rows,
            max_rows=state.settings.lookup_max_rows,
            max_per_day=state.settings.lookup_replacements_per_day,
        )
        await asyncio.wrap_future(state.writer.submit(op))
    except LookupLimitExceeded as exc:
        response = _import_json(exc.status, error=exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except LookupTableInvalid as exc:
        return _lookup_json(
            400,
            error=exc.message,
            failed_records=[{"index": e.index, "message": e.message} for e in exc.errors],
        )
    except DriftlineError as exc:
        return _import_error(exc)
    return _lookup_json(200)


@router.get("/lookup-tables", tags=["ingestion"])
async def list_lookup_tables(request: Request) -> Response:
    """The project's lookup tables: ``{"results": [{"id", "name"}]}``."""
    try:
        project = project_from_secret(request)
    except DriftlineError as exc:
        return _import_error(exc)
    rows = state_of(request).store.query_rows(
        "SELECT id, name, property FROM lookup_tables WHERE project_id = ? ORDER BY name",
        [project.id],
    )
    results = [{"id": r[0], "name": r[1], "property": r[2]} for r in rows]
    return _lookup_json(200, results=results)
