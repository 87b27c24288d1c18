"""Write a Mixpanel-shaped NDJSON file of N events for the import benchmarks.

Usage: python benchmarks/make_events_file.py OUT.ndjson [--events 1000000] [--seed 7]

Each line: {"event", "properties": {"time" (seconds), "distinct_id", "$insert_id", six more
properties of mixed types}} — about 300 bytes, like SDK traffic. Built with DuckDB's COPY so
that making the file is not the slow part of a benchmark.
"""

from __future__ import annotations

import argparse

import duckdb


def make_events_file(path: str, events: int, seed: int = 7) -> None:
    conn = duckdb.connect()
    conn.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    conn.execute(
        f"""
        COPY (
          SELECT
            (['Sign Up','Log In','View Page','Search','Add To Cart','Purchase','Invite Sent','Upgrade Plan'])[1 + (i % 8)] AS event,
            {{
              'time': 1735689600 + (i * 7919) % 7776000,
              'distinct_id': 'user-' || (i * 31 % 100000),
              '$insert_id': md5(CAST(i AS VARCHAR))[1:32],
              'plan': (['free','team','business'])[1 + (i % 3)],
              'country': (['US','DE','FR','GB','IN','BR','JP'])[1 + (i % 7)],
              'price': round(random() * 200, 2),
              'items': (i % 5)::INTEGER,
              '$browser': (['Chrome','Firefox','Safari','Edge'])[1 + (i % 4)],
              '$current_url': 'https://app.example.com/p/' || (i % 977)
            }} AS properties
          FROM range({events}) t(i)
        ) TO '{path}' (FORMAT JSON)
        """
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    make_events_file(args.out, args.events, args.seed)
