"""`driftline init`, `driftline serve` and `driftline demo`."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import secrets
import socket
import sys
import time
from typing import Annotated, Any

import typer

from driftline.cli.options import DEFAULT_DATA_DIR, DataDirOption, FormatOption, OutputFormat
from driftline.cli.render import plural, render_rows, stderr, stdout
from driftline.cli.runtime import Runtime
from driftline.config import DEFAULT_PORT, mark_server_process
from driftline.errors import TerminalError


def init(
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    timezone: Annotated[
        str, typer.Option("--timezone", "-z", help="Timezone of the default project.")
    ] = "UTC",
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Create the data directory and project 1 "default"; print its token and secret."""
    runtime = Runtime(data_dir, require_init=False)
    with runtime.session() as session:
        project, created = _ensure_default(session, timezone)
        server_url = getattr(session, "url", None) if session.remote else None
    if fmt is not OutputFormat.table:
        render_rows([project], fmt)
        return
    verb = "initialised" if created else "already initialised"
    stdout.print(f"{verb} {runtime.data_dir.path} · project {project['id']} ({project['name']})")
    stdout.print(f"  token:  {project['token']}")
    stdout.print(f"  secret: {project['secret']}")
    if server_url:
        stdout.print(
            f"a driftline server is already running at {server_url} on this data directory; "
            "other commands go through it (web UI: its address, log in with the secret)",
            markup=False,
        )
    else:
        stdout.print("next: `driftline serve` (add --demo for sample data)")


def _ensure_default(session: Any, timezone: str = "UTC") -> tuple[dict[str, Any], bool]:
    projects = session.op("project.list", show_secrets=True)
    if projects:
        return projects[0], False
    return session.op("project.create", name="default", timezone=timezone), True


def demo(
    events: Annotated[
        int,
        typer.Option("--events", "-n", min=1, max=100_000_000, help="How many events to generate."),
    ] = 200_000,
    seed: Annotated[
        int,
        typer.Option("--seed", help="Random seed; the same seed and end date give the same data."),
    ] = 42,
    end_date: Annotated[
        str | None,
        typer.Option(
            "--end-date", help="Last day of the data, YYYY-MM-DD (default: yesterday, UTC)."
        ),
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", help="Project id or name (default: the first project)."),
    ] = None,
) -> None:
    """Load a realistic SaaS dataset: sign-ups, logins, feature use, invites, upgrades and
    purchases; user profiles, company group profiles and a SKU lookup table."""
    end = _parse_end(end_date)
    runtime = Runtime(data_dir, require_init=False)
    with runtime.session() as session:
        _ensure_default(session)
        target = session.project(project)
        with stderr.status(
            f"generating {plural(events, 'demo event')} into project {target.id} ({target.name})"
        ):
            summary = session.op(
                "demo.load",
                project_id=target.id,
                events=events,
                seed=seed,
                end_date=end.isoformat(),
            )
    stderr.print(_demo_line(summary))


def _parse_end(value: str | None) -> dt.date:
    if value is None:  # whole days of data, none of it in the future
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise TerminalError(f"--end-date {value!r} is not a date; use YYYY-MM-DD") from None


def _demo_line(summary: dict[str, Any]) -> str:
    return (
        f"demo data: {plural(summary['events'], 'event')}, "
        f"{plural(summary['users'], 'user profile')}, "
        f"{plural(summary['companies'], 'company', 'companies')}, {plural(summary['skus'], 'SKU')} "
        f"({summary['first_day']} to {summary['last_day']})"
    )


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help=f"Port to listen on (default {DEFAULT_PORT}; 0 picks a free one)."
        ),
    ] = None,
    with_demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo dataset first if the store has no events.")
    ] = False,
    demo_events: Annotated[int, typer.Option("--demo-events", help="Events for --demo.")] = 200_000,
    collector_workers: Annotated[
        int | None,
        typer.Option(
            "--collector-workers",
            min=0,
            help="Processes that parse and enrich Snowplow tracker requests beside the server "
            "(default: one per CPU core, at most 4, none on one core; 0: the server does it "
            "alone). Started at the first tracker request.",
        ),
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Run the server: ingestion, collector, query and admin APIs, the web UI and /metrics.

    Other driftline commands on the same data directory go through it while it runs.
    """
    import uvicorn

    from driftline.server import create_app

    runtime = Runtime(data_dir, require_init=False, host=host, port=port)
    settings = runtime.settings
    if collector_workers is not None:
        settings.collector_workers = collector_workers
    elif settings.collector_workers is None:
        from driftline.snowplow.workers import default_count

        settings.collector_workers = default_count()
    running = runtime.data_dir.running_server()
    if running is not None:
        raise TerminalError(
            f"a driftline server already serves {settings.data_dir} at {running.url} "
            f"(pid {running.pid}); other commands on this data directory go through it. "
            "Stop it first, or give this one another --data-dir"
        )
    _check_port(settings.host, settings.port)
    mark_server_process()
    store = runtime.data_dir.open_store(settings)
    try:
        from driftline.server import ops
        from driftline.store import GroupCommitWriter

        writer = GroupCommitWriter(store)
        try:
            ctx = ops.Context(store, writer)
            from driftline.cli.runtime import LocalSession

            project, _ = _ensure_default(LocalSession(ctx))
            if with_demo and store.count_events(project["id"]) == 0:
                with stderr.status(f"loading {plural(demo_events, 'demo event')}"):
                    summary = ops.run(
                        "demo.load",
                        ctx,
                        {
                            "project_id": project["id"],
                            "events": demo_events,
                            "seed": 42,
                            "end_date": _parse_end(None).isoformat(),
                        },
                    )
                stderr.print(_demo_line(summary))
        finally:
            writer.close()
        app = create_app(settings, store=store)
        app.state.web_login_once = (secrets.token_urlsafe(24), time.time())
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            force=True,  # the server's log, not the one-line records of other commands
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=30,
        )
        server = _Server(config, runtime, project, store)
        from driftline.server.gc_tuning import tune_for_serving

        tune_for_serving()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn stopped gracefully
            server.run()
    finally:
        runtime.data_dir.clear_server_info()
        store.close()
    # Everything is committed, checkpointed and closed. Leave without the interpreter's
    # teardown: objects frozen for the garbage collector (tune_for_serving) are never freed,
    # and DuckDB's bindings would print a notice about each of them at exit.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _check_port(host: str, port: int) -> None:
    """Listen on the address for a moment, before the store is opened: a port that another
    program holds was uvicorn's log line, a page of interpreter noise and exit status 3."""
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise TerminalError(f"cannot listen on {host}: {exc.strerror}; check --host") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise TerminalError(
                    f"port {port} on {host} is in use by another program; choose another with "
                    "--port (or DRIFTLINE_PORT), or stop that program"
                ) from None
            raise TerminalError(
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another --host or --port"
            ) from None


class _Server:
    """uvicorn's server, recording its address in the data directory once it listens and
    closing the store (checkpointed) when it stops."""

    def __new__(cls, config: Any, runtime: Runtime, project: dict[str, Any], store: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets)
                if self.should_exit or not self.servers:
                    return
                sock = self.servers[0].sockets[0]
                bound_host, bound_port = sock.getsockname()[:2]
                shown = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host
                url = f"http://{shown}:{bound_port}"
                runtime.data_dir.write_server_info(url)
                stderr.print(f"driftline is serving {url}  ·  data {runtime.data_dir.path}")
                stderr.print(
                    f"  project {project['id']} ({project['name']}) token {project['token']}"
                )
                stderr.print(
                    "  health: /healthz · metrics: /metrics · API docs: /api/docs · stop: Ctrl-C"
                )
                once = getattr(config.app.state, "web_login_once", None)
                stderr.print(f"  web UI: {url}/  (log in with the project secret)")
                if once:
                    stderr.print(f"  one-time login link: {url}/login?once={once[0]}")

            async def shutdown(self, sockets: Any = None) -> None:
                # uvicorn re-raises SIGTERM/SIGINT after this returns: release everything here.
                await super().shutdown(sockets)
                if not self.lifespan.shutdown_event.is_set():
                    # A second Ctrl-C makes uvicorn stop waiting for open connections, and
                    # also skip the app's shutdown: the collector workers, the exports and
                    # the writer would then be cancelled half-way. Only the wait is skipped.
                    stderr.print("stopping without waiting for open connections")
                    await self.lifespan.shutdown()
                runtime.data_dir.clear_server_info()
                store.close()

        return Server(config)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("serve")(serve)
    app.command("demo")(demo)
