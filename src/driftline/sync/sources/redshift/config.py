"""Redshift connection settings: PostgreSQL's, with Redshift's default port."""

from __future__ import annotations

from driftline.sync.sources.postgres.config import PostgresConfig


def redshift_config(url: str) -> PostgresConfig:
    return PostgresConfig.from_url(url, default_port=5439)
