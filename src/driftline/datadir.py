"""The data directory: the store file, the admin token, and the running server's address.

``.driftline/`` (by default) holds ``store.duckdb``, ``admin.token`` (mode 0600; the bearer
token for the admin API and for CLI commands that reach a running server) and, while
``driftline serve`` runs, ``server.json`` with its address and process id.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from driftline.config import Settings
from driftline.errors import StoreBusy
from driftline.store import STORE_FILE, DuckDBStore

ADMIN_TOKEN_FILE = "admin.token"
SERVER_FILE = "server.json"


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int


class DataDir:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def store_path(self) -> Path:
        return self.path / STORE_FILE

    def exists(self) -> bool:
        return self.store_path.exists()

    # ------------------------------------------------------------------ admin token
    def admin_token(self) -> str:
        """The admin token, created on first use (readable by its owner only)."""
        file = self.path / ADMIN_TOKEN_FILE
        if file.exists():
            return file.read_text().strip()
        self.path.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token

    # ------------------------------------------------------------------ store
    def open_store(self, settings: Settings, *, wait_seconds: float = 10.0) -> DuckDBStore:
        """Open the store, waiting a little if another command is just finishing with it."""
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                return DuckDBStore(
                    self.path,
                    threads=settings.duckdb_threads,
                    memory_limit=settings.duckdb_memory_limit,
                )
            except StoreBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    # ------------------------------------------------------------------ running server
    def write_server_info(self, url: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / (SERVER_FILE + ".tmp")
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        tmp.replace(self.path / SERVER_FILE)

    def clear_server_info(self) -> None:
        file = self.path / SERVER_FILE
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, OSError):
            if json.loads(file.read_text()).get("pid") == os.getpid():
                file.unlink()

    def running_server(self) -> ServerInfo | None:
        """The server that owns this data directory, if one is up and answering."""
        file = self.path / SERVER_FILE
        try:
            info = json.loads(file.read_text())
            server = ServerInfo(str(info["url"]), int(info["pid"]))
        except (FileNotFoundError, json.JSONDecodeError, KeyError, ValueError, OSError):
            return None
        if not _pid_alive(server.pid):
            with contextlib.suppress(OSError):
                file.unlink()
            return None
        import httpx  # only when a server is recorded: most commands never need it

        try:
            httpx.get(server.url + "/healthz", timeout=5.0).raise_for_status()
        except httpx.HTTPError:
            return None
        return server


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
