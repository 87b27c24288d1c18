"""Snowplow compatibility: the collector protocol, enrichment, Iglu, bad rows, the 131-field
enriched TSV format and imports of existing enriched data. See ``docs/snowplow.md``."""
