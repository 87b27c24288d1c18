"""Contract helpers for bucket destinations: read every exported file back."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from driftline.pipelines.destinations import open_destination

from .conftest import make_events
from .contract import DestinationContract, Harness, Record, SimulatedKill


class BucketContract(DestinationContract):
    def exported(self, url: str, project_id: int) -> list[Record]:
        bucket = open_destination(url)
        root = f"{project_id}/mp_master_event"
        paths = bucket.walk(root)  # type: ignore[union-attr]
        records: list[Record] = []
        data_dirs = set()
        markers = set()
        for path in paths:
            directory, name = path.rsplit("/", 1)
            partition = directory[len(root) + 1 :]
            if name == "complete":
                markers.add(partition)
                continue
            data_dirs.add(partition)
            for doc in self.documents(name, bucket.read(path)):
                assert list(doc) == [
                    "event_name",
                    "time",
                    "distinct_id",
                    "device_id",
                    "user_id",
                    "insert_id",
                    "properties",
                ]
                records.append(
                    Record(
                        doc["insert_id"],
                        doc["event_name"],
                        partition,
                        doc["time"],
                        doc["properties"],
                    )
                )
        assert data_dirs <= markers, (
            f"partitions without a complete marker: {sorted(data_dirs - markers)}"
        )
        return records

    def documents(self, name: str, body: bytes) -> list[dict[str, object]]:
        if name.endswith(".parquet"):
            import io

            import pyarrow.parquet as pq

            rows = pq.read_table(io.BytesIO(body)).to_pylist()
            for row in rows:
                row["time"] = int(row["time"].replace(tzinfo=dt.UTC).timestamp())
                row["properties"] = json.loads(row["properties"])
            return rows
        assert name.endswith(".json.gz"), f"unexpected object {name}"
        return [json.loads(line) for line in gzip.decompress(body).splitlines()]

    def snapshot(self, url: str) -> dict[str, bytes]:
        bucket = open_destination(url)
        return {p: bucket.read(p) for p in bucket.walk("1/mp_master_event")}  # type: ignore[union-attr]

    def test_a_rerun_writes_the_same_bytes(
        self, harness: Harness, destination_url: str, day: dt.datetime
    ) -> None:
        self.add(harness, destination_url)
        harness.write(make_events(600, day, dt.timedelta(days=1), seed=1))
        with pytest.raises(SimulatedKill):
            harness.engine(crash_at="before_watermark").run(harness.project, "p")
        first = self.snapshot(destination_url)
        harness.engine().run(harness.project, "p")
        assert self.snapshot(destination_url) == first
