"""How a command reaches the store: in-process, or through the server that owns it.

While `driftline serve` runs on a data directory, it owns the store; other commands find its
address in ``server.json`` and go through its HTTP API with the directory's admin token.
With no server they open the store themselves. Either way a command gets a
:class:`Session` with the same methods, and the user never sees a lock error.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa

from driftline.config import Settings, load_settings
from driftline.datadir import DataDir
from driftline.errors import (
    AlreadyExists,
    Backpressure,
    DriftlineError,
    InvalidInput,
    NotFound,
    StoreBusy,
    TerminalError,
    TransientError,
    Unauthorized,
)
from driftline.ingest.importer import BulkRefused, BulkSink
from driftline.model import Project, WriteResult
from driftline.server import ops
from driftline.store import AppendEvents, AppendEventStream, GroupCommitWriter, InsertEventsQuery

if TYPE_CHECKING:
    import httpx  # only a command that talks to a server needs it: imported there


class Session(Protocol):
    remote: bool

    def op(self, op_name: str, /, **args: Any) -> Any: ...
    def project(self, ref: str | None) -> Project: ...
    def write_events(self, table: pa.Table) -> WriteResult: ...
    def write_event_stream(self, tables: Iterator[pa.Table]) -> WriteResult: ...
    @property
    def bulk_sink(self) -> BulkSink | None: ...
    def export(self, project: Project, params: dict[str, str]) -> Iterator[bytes]: ...


class LocalSession:
    remote = False

    def __init__(self, ctx: ops.Context) -> None:
        self.ctx = ctx

    def op(self, op_name: str, /, **args: Any) -> Any:
        return ops.run(op_name, self.ctx, args)

    def project(self, ref: str | None) -> Project:
        return self.ctx.store.get_project(ref)

    def write_events(self, table: pa.Table) -> WriteResult:
        result: WriteResult = self.ctx.writer.write(AppendEvents(table))
        return result

    def write_event_stream(self, tables: Iterator[pa.Table]) -> WriteResult:
        """All of ``tables`` in one commit, written while the next ones are being read."""
        result: WriteResult = self.ctx.writer.write(AppendEventStream(tables))
        return result

    @property
    def bulk_sink(self) -> BulkSink | None:
        """The store reads files itself here (see :mod:`driftline.ingest.bulk`)."""
        return self._write_event_query

    def _write_event_query(
        self, sql: str, params: dict[str, Any], progress: Callable[[float], None]
    ) -> WriteResult:
        future = self.ctx.writer.submit(InsertEventsQuery(sql, params), wait_for_room=True)
        while not future.done():
            with contextlib.suppress(TimeoutError):
                future.exception(timeout=0.25)
            done = self.ctx.store.write_progress()
            if done is not None and not future.done():
                progress(done)
        try:
            result: WriteResult = future.result()
        except duckdb.Error as exc:
            raise BulkRefused(str(exc).splitlines()[0] if str(exc) else "") from None
        return result

    def export(self, project: Project, params: dict[str, str]) -> Iterator[bytes]:
        from driftline.query.export import export_events, parse_date

        return export_events(
            self.ctx.store,
            project,
            parse_date(params["from_date"], "from_date"),
            parse_date(params["to_date"], "to_date"),
            time_in_ms=params.get("time_in_ms") == "true",
        )


_STATUS_ERRORS: dict[int, type[DriftlineError]] = {
    400: InvalidInput,
    401: Unauthorized,
    404: NotFound,
    409: AlreadyExists,
    429: Backpressure,
}


class RemoteSession:
    remote = True

    def __init__(self, url: str, token: str) -> None:
        import httpx

        self.url = url
        self.client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(600.0, connect=5.0),
        )

    def close(self) -> None:
        self.client.close()

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        field = None
        try:
            body = response.json()
            message, field = str(body.get("error")), body.get("field")
        except (ValueError, AttributeError):
            message = response.text[:200]
        cls = _STATUS_ERRORS.get(
            response.status_code, TransientError if response.status_code >= 500 else TerminalError
        )
        error = cls(message)
        error.field = field if isinstance(field, str) else None
        raise error

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            return self._check(self.client.request(method, path, **kwargs))
        except httpx.TransportError as exc:
            raise TransientError(
                f"lost the server at {self.url} ({exc}); is `driftline serve` still running?"
            ) from None

    def op(self, op_name: str, /, **args: Any) -> Any:
        return self._request("POST", f"/api/v1/_cli/ops/{op_name}", json=args).json()

    def project(self, ref: str | None) -> Project:
        data = self.op("project.get", ref=ref)
        return Project(data["id"], data["name"], data["token"], data["secret"], data["timezone"])

    def write_events(self, table: pa.Table) -> WriteResult:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        project_id = table.column("project_id")[0].as_py() if table.num_rows else 0
        body = self._request(
            "POST",
            "/api/v1/_cli/events",
            params={"project_id": str(project_id)},
            content=sink.getvalue(),
            headers={"Content-Type": "application/vnd.apache.arrow.stream"},
        ).json()
        return WriteResult(rows=body["rows"], stored=body["stored"], replaced=body["replaced"])

    #: the server may not see the client's files: every file takes the exact path
    bulk_sink: BulkSink | None = None

    def write_event_stream(self, tables: Iterator[pa.Table]) -> WriteResult:
        """One request (and commit) per table: the server's writer is shared."""
        total = WriteResult()
        for table in tables:
            result = self.write_events(table)
            total.rows += result.rows
            total.stored += result.stored
            total.replaced += result.replaced
        return total

    def export(self, project: Project, params: dict[str, str]) -> Iterator[bytes]:
        import httpx

        query = dict(params, project_id=str(project.id))
        try:
            with self.client.stream("GET", "/api/2.0/export", params=query) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check(response)
                yield from response.iter_bytes()
        except httpx.TransportError as exc:
            raise TransientError(f"lost the server at {self.url} ({exc})") from None


class Runtime:
    """Settings plus the way to a store for one command."""

    def __init__(self, data_dir: Path, *, require_init: bool = True, **settings: Any) -> None:
        self.settings: Settings = load_settings(data_dir=data_dir, **settings)
        self.data_dir = DataDir(self.settings.data_dir)
        self.require_init = require_init

    @contextlib.contextmanager
    def session(self, wait_seconds: float = 30.0) -> Iterator[Session]:
        deadline = time.monotonic() + wait_seconds
        while True:
            server = self.data_dir.running_server()
            if server is not None:
                remote = RemoteSession(server.url, self.data_dir.admin_token())
                try:
                    yield remote
                finally:
                    remote.close()
                return
            if self.require_init and not self.data_dir.exists():
                raise TerminalError(
                    f"no driftline data directory at {self.data_dir.path}; run `driftline init` first "
                    "(or pass --data-dir)"
                )
            try:
                store = self.data_dir.open_store(self.settings, wait_seconds=0)
            except StoreBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.3)
                continue
            writer = GroupCommitWriter(
                store,
                max_pending_rows=self.settings.writer_max_pending_rows,
                max_batch_rows=self.settings.writer_max_batch_rows,
            )
            try:
                yield LocalSession(ops.Context(store, writer))
            finally:
                writer.close()
                store.close()
            return
