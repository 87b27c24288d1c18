"""Helpers shared by the Snowplow tests."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from driftline.config import load_settings
from driftline.server import create_app
from driftline.store import DuckDBStore

PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
TP2 = "/com.snowplowanalytics.snowplow/tp2"
#: 2022-10-10 10:42:35.000 UTC
COLLECTOR_MS = 1_665_398_555_000


def make_client(data_dir: Path, store: DuckDBStore, config: str | None = None) -> TestClient:
    if config is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "snowplow.toml").write_text(config)
    app = create_app(load_settings(data_dir=data_dir), store=store)
    return TestClient(app)


def freeze(client: TestClient, ms: int = COLLECTOR_MS) -> None:
    from driftline.server.routes.collector import collector_of

    class _Req:
        app = client.app

    collector = collector_of(_Req())  # type: ignore[arg-type]
    collector.clock = lambda: ms


def post(client: TestClient, events: list[object], **kw: object):  # type: ignore[no-untyped-def]
    return client.post(TP2, json={"schema": PAYLOAD_DATA, "data": events}, **kw)  # type: ignore[arg-type]


def bad_rows(store: DuckDBStore) -> list[tuple[str, str]]:
    return [
        (k, p)
        for k, p in store.query_rows("SELECT kind, payload::VARCHAR FROM bad_rows ORDER BY rowid")
    ]
