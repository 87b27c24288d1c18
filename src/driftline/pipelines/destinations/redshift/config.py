"""Redshift URLs are PostgreSQL URLs on port 5439 by default (see ``postgres.config``)."""

from driftline.pipelines.destinations.postgres.config import PostgresConfig, parse_url

__all__ = ["PostgresConfig", "parse_url"]
