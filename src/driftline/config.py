"""Settings: explicit argument, then ``DRIFTLINE_*`` environment, then ``driftline.toml``,
then defaults.

``driftline.toml`` is looked up in the data directory first, then in the working directory.
Values of the form ``${NAME}`` are replaced from the environment when they are used (see
:func:`resolve_env_refs`), so secrets never need to be written into the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from driftline.errors import InvalidInput, TerminalError

DEFAULT_DATA_DIR = ".driftline"
DEFAULT_PORT = 8710

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the ``[driftline]`` table (or the top level) of ``driftline.toml``."""

    def __init__(self, settings_cls: type[BaseSettings], data_dir: str | None) -> None:
        super().__init__(settings_cls)
        self._values = _read_toml(data_dir)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._values.items() if k in self.settings_cls.model_fields}


def _read_toml(data_dir: str | None) -> dict[str, Any]:
    candidates = []
    base = data_dir or os.environ.get("DRIFTLINE_DATA_DIR") or DEFAULT_DATA_DIR
    candidates.append(Path(base) / "driftline.toml")
    candidates.append(Path("driftline.toml"))
    for path in candidates:
        if path.is_file():
            try:
                doc = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise TerminalError(f"{path}: not valid TOML ({exc})") from exc
            table = doc.get("driftline", doc)
            return {k: v for k, v in table.items() if not isinstance(v, dict | list)}
    return {}


class Settings(BaseSettings):
    """Every setting driftline reads. Each has a one-line description."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLINE_", extra="ignore")

    data_dir: Path = Field(
        Path(DEFAULT_DATA_DIR), description="Directory holding the store and server state."
    )
    host: str = Field("127.0.0.1", description="Address `driftline serve` listens on.")
    port: int = Field(DEFAULT_PORT, description="Port `driftline serve` listens on.")
    max_request_bytes: int = Field(
        10 * 1024 * 1024, description="Largest uncompressed request body accepted (413 above)."
    )
    max_events_per_request: int = Field(
        2000, description="Most events one ingestion request may carry."
    )
    hot_shard_limit: int = Field(
        200_000,
        description="Events per distinct_id and event date before further ones are stored as "
        "$hotshard_events (Mixpanel's hot-shard rule); 0 turns it off.",
    )
    lookup_max_rows: int = Field(
        5_000_000, description="Most lookup-table rows a project may hold, all tables together."
    )
    lookup_replacements_per_day: int = Field(
        100, description="Lookup-table replacements a project may make in a rolling 24 hours."
    )
    writer_max_pending_rows: int = Field(
        400_000, description="Rows waiting for the writer before ingestion answers 429."
    )
    writer_max_batch_rows: int = Field(
        200_000, description="Most rows the writer commits in one group commit."
    )
    import_batch_rows: int = Field(
        1_000_000,
        description="Rows per commit for `driftline import` (larger commits write faster).",
    )
    import_chunk_rows: int = Field(
        250_000, description="Rows read and validated at a time by `driftline import`."
    )
    duckdb_threads: int = Field(2, description="Threads the embedded DuckDB store may use.")
    duckdb_memory_limit: str = Field(
        "4GB", description="Memory DuckDB may use before spilling to disk."
    )
    geoip_database: Path | None = Field(
        None, description="MaxMind-format (.mmdb) database for IP geolocation."
    )
    log_level: str = Field("info", description="Log level of `driftline serve`.")
    collector_workers: int | None = Field(
        None,
        ge=0,
        description="Processes that parse and enrich Snowplow tracker requests beside the "
        "server (0: the server alone; default: one per CPU core, at most 4, none on one core, "
        "under `driftline serve`).",
    )
    snowplow_config: Path | None = Field(
        None,
        description="Snowplow collector/Iglu/enrichment settings (default: <data dir>/snowplow.toml).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        data_dir = None
        init_values = init_settings()
        if init_values.get("data_dir"):
            data_dir = str(init_values["data_dir"])
        return (init_settings, env_settings, _TomlSource(settings_cls, data_dir))


def load_settings(**overrides: Any) -> Settings:
    """Build settings with ``overrides`` (explicit arguments; ``None`` values are ignored).
    A value that does not validate (typically an environment variable) is a one-line
    error naming the variable."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = str(problem["loc"][0]) if problem.get("loc") else ""
        where = f"DRIFTLINE_{name.upper()}" if name not in overrides else name
        raise InvalidInput(
            f"setting {where}: {problem['msg']} (got {problem.get('input')!r})", field=where
        ) from None


#: set in `driftline serve` (:func:`mark_server_process`)
_SERVER_PID: int | None = None


def mark_server_process() -> None:
    """Called by `driftline serve`: ``${NAME}`` references and storage credentials are read
    from the server's own environment, so a message about a missing one says so. A user who
    exported it in another shell and ran a command that reached the server was otherwise told
    to set what they had just set."""
    global _SERVER_PID
    _SERVER_PID = os.getpid()


def server_environment_note(what: str = "it") -> str:
    """Inside `driftline serve`, what a message about a missing environment variable adds:
    whose environment was read and what to do; elsewhere nothing."""
    if _SERVER_PID is None:
        return ""
    return (
        f" in the environment of `driftline serve` (pid {_SERVER_PID}), which reads {what}:"
        f" set {what} where the server is started, then restart the server"
    )


def resolve_env_refs(text: str) -> str:
    """Replace ``${NAME}`` with the environment variable NAME; a missing one is an error."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise TerminalError(
                f"environment variable {name} is referenced as ${{{name}}} but is not set"
                + server_environment_note()
            )
        return os.environ[name]

    return _ENV_REF.sub(repl, text)


class PipelineSettings(BaseSettings):
    """Settings of the pipeline scheduler inside `driftline serve` (``DRIFTLINE_PIPELINE_*``)."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLINE_PIPELINE_", extra="ignore")

    scheduler: bool = Field(
        True, description="Run pipelines on their schedule inside `driftline serve`."
    )
    delay_seconds: int = Field(
        300, description="How long after a window closes its export starts (late commits settle)."
    )
    poll_seconds: float = Field(
        20.0, description="How often the scheduler looks for due pipelines."
    )
    max_parallel: int = Field(1, description="Pipeline steps running at once across all projects.")
    retry_base_seconds: float = Field(
        60.0, description="First retry delay after a failed step; doubles each time."
    )
    retry_max_seconds: float = Field(
        3600.0, description="Longest delay between retries of a failing step."
    )
