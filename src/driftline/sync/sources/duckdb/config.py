"""DuckDB sources are files or folders: their settings are the path (see ``sqlite.config``)."""

from driftline.sync.sources.sqlite.config import FileConfig

__all__ = ["FileConfig"]
