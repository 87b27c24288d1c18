"""A steady /import load for the kill test, run as its own process.

Usage: python import_load.py URL SECRET ACK_FILE [FIRST_BATCH] [BATCHES]

Sends batches of 200 events whose ``$insert_id`` is ``b<batch>-<i>``. After each 200 it
appends the batch number to ACK_FILE (flushed and fsynced), so the file lists exactly the
batches the server acknowledged. Stops at the first failure (the server was killed).
"""

from __future__ import annotations

import os
import sys

import httpx

BATCH = 200


def batch(n: int) -> list[dict[str, object]]:
    # the same batch number always gives the same events, as a client's retry resends them
    at = 1_767_225_600 + n  # 2026-01-01 plus n seconds
    return [
        {
            "event": "Load",
            "properties": {
                "time": at,
                "distinct_id": f"user-{i % 17}",
                "$insert_id": f"b{n}-{i}",
                "batch": n,
            },
        }
        for i in range(BATCH)
    ]


def main() -> int:
    url, secret, ack_file = sys.argv[1:4]
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 10_000
    with httpx.Client(auth=(secret, ""), timeout=30) as client, open(ack_file, "a") as acks:
        for n in range(first, first + count):
            try:
                r = client.post(f"{url}/import?strict=1", json=batch(n))
            except httpx.HTTPError:
                return 0
            if r.status_code != 200:
                print(f"batch {n}: {r.status_code} {r.text}", file=sys.stderr)
                return 0 if r.status_code >= 500 else 1
            acks.write(f"{n}\n")
            acks.flush()
            os.fsync(acks.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
