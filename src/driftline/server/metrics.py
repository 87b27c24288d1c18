"""Prometheus metrics: events stored, writer queue depth, request counts and latencies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()


class Metrics:
    """One registry per app, so that tests can run several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "driftline_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "driftline_http_request_duration_seconds",
            "Time from request to response, by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.rows_committed = Counter(
            "driftline_writer_rows_committed_total",
            "Rows committed by the store's single writer.",
            registry=self.registry,
        )
        self.commits = Counter(
            "driftline_writer_commits_total",
            "Group commits made by the store's single writer.",
            registry=self.registry,
        )
        self.queue_rows = Gauge(
            "driftline_writer_queue_rows",
            "Rows waiting for the writer.",
            registry=self.registry,
        )
        self.events_stored = Gauge(
            "driftline_events_stored",
            "Events in the store, all projects.",
            registry=self.registry,
        )
        self.live_load = Gauge(
            "driftline_store_live_load",
            "1 while live traffic keeps the store's DuckDB on one thread, else 0.",
            registry=self.registry,
        )

        self.collector_requests = Counter(
            "driftline_collector_requests_total",
            "Snowplow tracker requests enriched, by where: the server itself or a collector "
            "worker process.",
            ["by"],
            registry=self.registry,
        )
        self.collector_workers = Gauge(
            "driftline_collector_workers_ready",
            "Collector worker processes ready to enrich tracker requests.",
            registry=self.registry,
        )

    def on_commit(self, ops: int, rows: int) -> None:
        self.commits.inc()
        self.rows_committed.inc(rows)

    def bind(
        self,
        queue_rows: Callable[[], float],
        events_stored: Callable[[], float],
        live_load: Callable[[], float],
    ) -> None:
        self.queue_rows.set_function(queue_rows)
        self.events_stored.set_function(events_stored)
        self.live_load.set_function(live_load)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (not its raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(
                template, scope.get("method", ""), str(status["code"])
            ).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
