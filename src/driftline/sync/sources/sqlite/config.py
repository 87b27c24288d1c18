"""File-based warehouses (SQLite, DuckDB): the path in the URL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from driftline.errors import InvalidInput, TerminalError
from driftline.sync import urls


@dataclass(frozen=True)
class FileConfig:
    path: Path
    shown: str

    @classmethod
    def from_url(cls, url: str, scheme: str) -> FileConfig:
        text = urls.parse(url).scheme and url.split("://", 1)[1]
        from driftline.config import resolve_env_refs

        text = resolve_env_refs(text).split("?", 1)[0]
        if not text.startswith("/") or text in ("/", ""):
            raise InvalidInput(
                f"{urls.redact(url)}: give a file path, e.g. {scheme}:///data/app.db (relative) "
                f"or {scheme}:////srv/app.db (absolute)",
                field="url",
            )
        raw = text[1:]  # sqlite:///rel → rel ; sqlite:////abs → /abs
        if "\x00" in raw:
            raise InvalidInput(
                f"{urls.redact(url)}: a file path cannot hold a NUL character", field="url"
            )
        return cls(Path(raw), urls.redact(url))

    def kind(self) -> str | None:
        """``"dir"``, ``"file"``, or None when nothing is at the path; a path that cannot be
        looked at (a name too long, a folder without permission) says why."""
        try:
            if self.path.is_dir():
                return "dir"
            return "file" if self.path.is_file() else None
        except OSError as exc:
            raise TerminalError(f"{self.shown}: cannot open {self.path}: {exc.strerror}") from None
