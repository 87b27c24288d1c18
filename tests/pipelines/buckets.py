"""Contract helpers for bucket destinations: read every exported file back."""

from __future__ import annotations

import gzip
import json

from driftline.pipelines.destinations import open_destination

from .contract import DestinationContract, Record


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
            assert name.endswith(".json.gz"), f"unexpected object {path}"
            data_dirs.add(partition)
            for line in gzip.decompress(bucket.read(path)).splitlines():
                doc = json.loads(line)
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
