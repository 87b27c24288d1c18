"""Steps into a bucket: gzip NDJSON parts, then the ``complete`` markers.

Order within a step, each a crash point the engine can be killed at:
files (``between_files`` after the first), stale parts of an earlier attempt removed,
``before_marker``, the markers. The engine moves the watermark only after all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from driftline.pipelines.destinations import Bucket
from driftline.pipelines.encode import FORMATS, Plan, gzip_bytes, lines_bytes, write_event_parts
from driftline.pipelines.layout import MARKER, SUFFIX, Clock, data_root, part_name
from driftline.pipelines.spec import DataKind
from driftline.pipelines.steps import Outcome, Step

Crash = Callable[[str], None]


class BucketExport:
    def __init__(
        self,
        bucket: Bucket,
        *,
        group_rows: int = 1_000_000,
        part_rows: int = 250_000,
        threads: int = 2,
    ) -> None:
        self.bucket = bucket
        self.group_rows = group_rows
        self.part_rows = part_rows
        self.threads = threads

    def write_events(
        self,
        store: Any,
        clock: Clock,
        project_id: int,
        step: Step,
        plan: Plan,
        crash: Crash,
        on_rows: Callable[[int], None] | None = None,
    ) -> Outcome:
        root = data_root(project_id, DataKind.EVENTS)
        result = write_event_parts(
            store,
            clock,
            step.selection(project_id),
            plan,
            key=step.key,
            root=root,
            put=self.bucket.put,
            group_rows=self.group_rows,
            part_rows=self.part_rows,
            threads=self.threads,
            after_first=lambda: crash("between_files"),
            on_group=on_rows,
            fmt=FORMATS[getattr(self.bucket, "format", "json")],
        )
        written = {f.path.rsplit("/", 1)[-1] for f in result.files}
        partitions = sorted({f.partition for f in result.files})
        if step.attempts > 1:
            # an earlier attempt may have written parts this one did not (events deleted since)
            for partition in sorted(set(partitions) | set(step.planned)):
                stale = [
                    f"{root}/{partition}/{name}"
                    for name in self.bucket.list(f"{root}/{partition}")
                    if name.startswith(step.key + "-") and name not in written
                ]
                self.bucket.delete(stale)
        crash("before_marker")
        for partition in partitions:
            self.bucket.put(f"{root}/{partition}/{MARKER}", b"")
        return Outcome(
            rows=result.rows,
            files=len(result.files),
            bytes=result.bytes,
            partitions=partitions,
        )

    def write_snapshot(
        self,
        data: DataKind,
        project_id: int,
        step: Step,
        lines: pa.Table,
        previous: list[str],
        crash: Crash,
    ) -> Outcome:
        """A full snapshot of people or identity mappings; older snapshots removed after."""
        root = data_root(project_id, data)
        column = (
            lines.column("line").combine_chunks() if lines.num_rows else pa.array([], pa.string())
        )
        names: list[str] = []
        total = 0
        for index, offset in enumerate(range(0, max(len(column), 1), self.part_rows)):
            chunk = column.slice(offset, self.part_rows)
            body = gzip_bytes([lines_bytes(chunk)])
            name = part_name(step.key, index)
            self.bucket.put(f"{root}/{name}", body)
            names.append(name)
            total += len(body)
            if index == 0:
                crash("between_files")
        crash("before_marker")
        self.bucket.put(f"{root}/{MARKER}", b"")
        keep = set(names)
        stale = [
            f"{root}/{n}" for n in self.bucket.list(root) if n.endswith(SUFFIX) and n not in keep
        ]
        stale += [f"{root}/{n}" for n in previous if n not in keep]
        self.bucket.delete(sorted(set(stale)))
        return Outcome(
            rows=len(column),
            files=len(names),
            bytes=total,
            partitions=[""],
            detail={"names": names},
        )
