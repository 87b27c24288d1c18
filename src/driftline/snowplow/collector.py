"""The collector: Snowplow's HTTP endpoints as trackers expect them, independent of the web
framework. :meth:`Collector.handle` takes a request's parts and returns the response to give
and the write to commit first (events are acknowledged only after they are committed).

* ``GET|HEAD /i`` and ``GET /com.snowplowanalytics.snowplow/tp2``: a 1×1 GIF;
  ``POST /com.snowplowanalytics.snowplow/tp2``: ``ok`` (``text/plain``).
* ``/r/tp2``: 404 unless redirects are enabled, then 302 to ``u`` (400 for a domain not
  allowed).
* The ``sp`` cookie carries the network user id for 365 days; a ``nuid`` query parameter
  overrides it; ``SP-Anonymous`` requests get the all-zero id, no cookie, no IP.
* Bodies above 2 MiB get 413 and a ``size_violation`` bad row; a single event above 1 MiB
  becomes a ``size_violation`` bad row and the other events of the request are kept.
* Projects: a path prefixed with ``/t/<project token>`` goes to that project; otherwise the
  event's ``app_id`` mapped in ``[collector] app_ids``; otherwise ``[collector] project``
  (default: the first project). A token that opens no project is refused (401).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlsplit

import orjson
import pyarrow as pa

from driftline.errors import NotFound, Unauthorized
from driftline.model import Project
from driftline.snowplow import badrows
from driftline.snowplow.config import SnowplowConfig
from driftline.snowplow.events import EVENTS_SQL
from driftline.snowplow.ids import random_uuid
from driftline.snowplow.iglu import HttpRepository
from driftline.snowplow.payload import CollectorPayload
from driftline.snowplow.pipeline import Enriched, Enricher
from driftline.snowplow.rows import enriched_table, event_row, events_table
from driftline.store.snowplow import BAD_ROWS_SCHEMA, AppendEnriched

PIXEL = base64.b64decode("R0lGODlhAQABAPAAAP///wAAACH5BAUAAAAALAAAAAABAAEAAAICRAEAOw==")
ANONYMOUS_NUID = "00000000-0000-0000-0000-000000000000"
COLLECTOR_NAME = "driftline-collector"
#: a network user id the ``sp`` cookie can carry (RFC 6265's cookie-octets); any other
#: ``nuid`` stays out of the cookie (the event keeps it as sent): it could not be encoded
#: in the header, and ``;`` would add attributes
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,256}")
TP2 = "/com.snowplowanalytics.snowplow/tp2"


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes | None
    client_ip: str
    body_too_large: int | None = None  # the declared or seen size when over the limit

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        index = self.__dict__.get("_index")
        if index is None:  # built at the first look-up: a request is read many times
            index = {}
            for key, value in self.headers:
                index.setdefault(key.lower(), value)
            self.__dict__["_index"] = index
        return index.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes = b""
    media_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


#: one enriched event ready for the writer: (project id, the 131 fields, its ``events`` row)
Item = tuple[int, dict[str, str | None], tuple[object, ...]]


@dataclass
class Output:
    """What one request stores, in plain Python values: a collector worker process
    (:mod:`driftline.snowplow.workers`) sends it to the server, whose writer commits it."""

    items: list[Item]
    #: bad rows as (project id, kind, schema, JSON document)
    bad: list[tuple[int, str, str, str]]

    def op(self) -> AppendEnriched:
        return AppendEnriched(
            None,
            EVENTS_SQL,
            bad_rows=bad_table(self.bad),
            prepared=self.items,
            build=build_tables,
            sources=1,
        )


@dataclass
class Handled:
    response: Response
    output: Output | None = None
    events: int = 0
    bad_rows: int = 0

    @property
    def op(self) -> AppendEnriched | None:
        """The write to commit before answering (a new op at each access)."""
        return self.output.op() if self.output is not None else None


class Collector:
    def __init__(self, config: SnowplowConfig, projects: Callable[[], list[Project]]) -> None:
        self.config = config
        self.collector = config.collector
        self.clock: Callable[[], int] = lambda: int(time.time() * 1000)
        self.enricher = Enricher(config.resolver, config.enrichments, clock=lambda: self.clock())
        self._projects = projects
        #: enrichment may wait on the network (schemas from an Iglu registry over HTTP)
        self.network_io = any(isinstance(r, HttpRepository) for r in config.resolver.repositories)

    # ------------------------------------------------------------------ routing
    def resolve_path(self, path: str) -> tuple[Project | None, str]:
        """(project named by a token prefix, canonical path); NotFound for other paths."""
        project = None
        if path.startswith("/t/"):
            _, _, rest = path[3:].partition("/")
            token = path[3:].split("/", 1)[0]
            project = self._by_token(token)
            path = "/" + rest
        path = self.collector.paths.get(path, path)
        return project, path

    def _by_token(self, token: str) -> Project:
        for project in self._projects():
            if project.token == token:
                return project
        raise Unauthorized("unknown project token in the collector path")

    def _default_project(self) -> Project:
        projects = self._projects()
        if not projects:
            raise NotFound("no project exists yet; run `driftline init` first")
        ref = self.collector.project
        if ref is None:
            return projects[0]
        for project in projects:
            if str(project.id) == str(ref) or project.name == ref:
                return project
        raise NotFound(f"collector project {ref!r} (snowplow.toml) does not exist")

    def _app_projects(self) -> dict[str, int]:
        out: dict[str, int] = {}
        projects = self._projects()
        for app_id, ref in self.collector.app_ids.items():
            for project in projects:
                if str(project.id) == str(ref) or project.name == ref:
                    out[app_id] = project.id
        return out

    # ------------------------------------------------------------------ requests
    def preflight(self, request: Request) -> Response:
        return Response(
            200,
            headers=[
                ("Access-Control-Allow-Origin", _allow_origin(request)),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Allow-Headers", "Content-Type, SP-Anonymous"),
                ("Access-Control-Max-Age", str(self.collector.cors_max_age)),
            ],
        )

    def handle(self, request: Request, canonical: str, project: Project | None) -> Handled:
        anonymous = request.header("sp-anonymous") is not None
        cookies = _cookies(request)
        nuid = self._network_userid(request, anonymous, cookies)
        pixel = request.method in ("GET", "HEAD") and canonical != "/r/tp2"
        headers = self._response_headers(request, nuid, anonymous, pixel, cookies)
        payload = self._payload(request, canonical, nuid, anonymous, cookies)
        if request.body_too_large is not None:
            bad = badrows.size_violation(
                request.body_too_large,
                self.collector.max_body_bytes,
                (request.body or b"").decode("utf-8", "replace"),
                f"oversized collector payload: the body is larger than {self.collector.max_body_bytes} bytes",
            )
            op = self._op(Enriched(bad=[bad]), project, payload)
            return Handled(Response(413, b"Payload Too Large", "text/plain", headers), op, 0, 1)
        if canonical == "/r/tp2":
            redirect = self._redirect(request, headers)
            if redirect.status != 302:
                return Handled(redirect)
            enriched = self.enricher.process(payload)
            return Handled(
                redirect,
                self._op(enriched, project, payload),
                len(enriched.events),
                len(enriched.bad),
            )
        enriched = self._process(payload)
        op = self._op(enriched, project, payload)
        if pixel:
            headers.append(("Cache-Control", "no-cache, no-store, must-revalidate"))
            response = Response(
                200, PIXEL if request.method == "GET" else b"", "image/gif", headers
            )
        else:
            response = Response(200, b"ok", "text/plain", headers)
        return Handled(response, op, len(enriched.events), len(enriched.bad))

    def _process(self, payload: CollectorPayload) -> Enriched:
        """Enrich, first setting aside events too large to keep (size_violation)."""
        limit = self.collector.max_event_bytes
        if payload.body is None or len(payload.body) <= limit:
            return self.enricher.process(payload)
        try:
            document = orjson.loads(payload.body)
            events = document["data"]
            if not isinstance(events, list):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return self.enricher.process(payload)
        kept, bad = [], []
        for event in events:
            text = orjson.dumps(event).decode()
            if len(text) > limit:
                bad.append(
                    badrows.size_violation(
                        len(text),
                        limit,
                        text,
                        f"oversized event: one event is larger than {limit} bytes",
                    )
                )
            else:
                kept.append(event)
        out = Enriched(bad=bad)
        if kept:
            payload.body = orjson.dumps({**document, "data": kept}).decode()
            out.extend(self.enricher.process(payload))
        return out

    def _network_userid(self, request: Request, anonymous: bool, cookies: dict[str, str]) -> str:
        if anonymous:
            return ANONYMOUS_NUID
        for name, value in (
            parse_qsl(request.query, keep_blank_values=True) if request.query else ()
        ):
            if name == "nuid" and _COOKIE_VALUE.fullmatch(value):
                return value
        cookie = cookies.get(self.collector.cookie_name, "")
        if _COOKIE_VALUE.fullmatch(cookie):
            return cookie
        return random_uuid()

    def _response_headers(
        self, request: Request, nuid: str, anonymous: bool, pixel: bool, cookies: dict[str, str]
    ) -> list[tuple[str, str]]:
        headers = [
            ("Access-Control-Allow-Origin", _allow_origin(request)),
            ("Access-Control-Allow-Credentials", "true"),
        ]
        c = self.collector
        if not c.cookie_enabled:
            return headers
        if anonymous:
            if c.cookie_name in cookies:
                headers.append(("Set-Cookie", f"{c.cookie_name}=; Max-Age=0; Path=/"))
            return headers
        parts = [
            f"{c.cookie_name}={nuid}",
            f"Expires={_expires(c.cookie_expiration_days)}",
            "Path=/",
        ]
        domain = self._cookie_domain(request)
        if domain:
            parts.append(f"Domain={domain}")
        if c.cookie_same_site:
            parts.append(f"SameSite={c.cookie_same_site}")
        if c.cookie_secure:
            parts.append("Secure")
        if c.cookie_http_only:
            parts.append("HttpOnly")
        headers.append(("Set-Cookie", "; ".join(parts)))
        return headers

    def _cookie_domain(self, request: Request) -> str | None:
        origin = request.header("origin")
        hosts = []
        if origin:
            for item in origin.split():
                host = urlsplit(item).hostname
                if host:
                    hosts.append(host)
        for domain in self.collector.cookie_domains:
            d = domain.lstrip(".")
            if any(h == d or h.endswith("." + d) for h in hosts):
                return domain
        return self.collector.cookie_fallback_domain

    def _payload(
        self, request: Request, canonical: str, nuid: str, anonymous: bool, cookies: dict[str, str]
    ) -> CollectorPayload:
        segments = canonical.strip("/").split("/")
        vendor, version = (
            ("com.snowplowanalytics.snowplow", "tp1")
            if canonical in ("/i", "/ice.png")
            else segments
        )
        body = None
        if request.body:
            body = request.body.decode("utf-8", "replace")
        ctype = request.header("content-type")
        headers = [
            f"{k}: {v}"
            for k, v in request.headers
            if not (anonymous and k.lower() in ("x-forwarded-for", "x-real-ip", "cookie"))
        ]
        if ctype:
            headers.append(f"Content-Type: {ctype}")
        return CollectorPayload(
            vendor=vendor,
            version=version,
            querystring=request.query or None,
            body=body,
            content_type=ctype.lower() if ctype else None,
            ip_address="unknown" if anonymous else _client_ip(request),
            timestamp_ms=self.clock(),
            useragent=request.header("user-agent"),
            referer_uri=request.header("referer"),
            headers=headers,
            hostname=(request.header("host") or "").split(":")[0] or None,
            network_userid=nuid,
            collector=COLLECTOR_NAME,
            cookies=cookies,
        )

    def _redirect(self, request: Request, headers: list[tuple[str, str]]) -> Response:
        if not self.collector.redirects:
            return Response(404, b"redirects disabled", "text/plain")
        target = dict(parse_qsl(request.query, keep_blank_values=True)).get("u")
        if not target:
            return Response(400, b"missing u parameter", "text/plain")
        host = urlsplit(target).hostname
        allowed = self.collector.redirect_domains
        if urlsplit(target).scheme not in ("http", "https") or (allowed and host not in allowed):
            return Response(400, b"redirect target not allowed", "text/plain")
        return Response(302, b"", None, [*headers, ("Location", target)])

    # ------------------------------------------------------------------ output
    def _op(
        self, enriched: Enriched, project: Project | None, payload: CollectorPayload
    ) -> Output | None:
        if not enriched.events and not enriched.bad:
            return None
        default = (project or self._default_project()).id
        by_app = self._app_projects() if project is None and self.collector.app_ids else {}
        items: list[Item] = []
        for ev in enriched.events:
            pid = by_app.get(ev.fields.get("app_id") or "", default)
            row = event_row(
                pid,
                ev.fields,
                ev.unstruct,
                ev.contexts,
                ev.derived,
                ev.times_ms["derived_tstamp"],
                ev.names,
            )
            items.append((pid, ev.fields, row))
        bad = [(r.project_id or default, r.kind, r.schema, r.json()) for r in enriched.bad]
        return Output(items, bad)


def build_tables(
    items: list[tuple[int, dict[str, str | None], tuple[object, ...]]],
) -> tuple[pa.Table, pa.Table]:
    """(snowplow_events rows, events rows) for merged collector output."""
    return (
        enriched_table([i[0] for i in items], [i[1] for i in items]),
        events_table([i[2] for i in items]),
    )


def bad_table(rows: list[tuple[int, str, str, str]]) -> pa.Table | None:
    if not rows:
        return None
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(columns[0], pa.int32()), *(pa.array(c, pa.string()) for c in columns[1:])],
        schema=BAD_ROWS_SCHEMA,
    )


_EXPIRES: dict[tuple[int, int], str] = {}


def _expires(days: int) -> str:
    """The cookie's ``Expires`` date, ``days`` from now (an HTTP date: whole seconds),
    formatted once per second."""
    key = (int(time.time()), days)
    text = _EXPIRES.get(key)
    if text is None:
        moment = dt.datetime.fromtimestamp(key[0], dt.UTC) + dt.timedelta(days=days)
        _EXPIRES.clear()
        text = _EXPIRES[key] = format_datetime(moment, usegmt=True)
    return text


def _allow_origin(request: Request) -> str:
    origin = request.header("origin")
    if not origin:
        return "*"
    return origin.split()[0]


def _cookies(request: Request) -> dict[str, str]:
    raw = request.header("cookie")
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def _client_ip(request: Request) -> str:
    forwarded = request.header("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    fwd = request.header("forwarded")
    if fwd:
        for part in fwd.split(";"):
            part = part.strip()
            if part.lower().startswith("for="):
                return part[4:].strip('"').split(",")[0]
    return request.client_ip
