"""Consume an enriched-event Kinesis stream: ``kinesis://<stream>?region=...&endpoint_url=...``.

Each record holds one enriched TSV line (or several, newline-separated). Every shard is read
from its checkpoint (the last sequence number committed, kept in ``snowplow_checkpoints``)
or from the start of the stream (``TRIM_HORIZON``) the first time; each batch of records is
committed together with the shard's new checkpoint, so a run killed at any point resumes
where its last commit ended, and never skips or doubles a record. A run stops when every
shard is caught up. Needs ``boto3`` (``pip install 'driftline[s3]'``); credentials come from
the usual AWS environment variables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa

from driftline.errors import InvalidInput, TerminalError
from driftline.remote import explain
from driftline.snowplow.events import EVENTS_SQL
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.store.snowplow import LINES_SCHEMA, AppendEnriched


@dataclass
class StreamSummary:
    source: str
    shards: int = 0
    records: int = 0
    events: int = 0
    bad_rows: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "shards": self.shards,
            "records": self.records,
            "events": self.events,
            "bad_rows": self.bad_rows,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events / self.seconds) if self.seconds else 0,
        }


def _client(url: str) -> tuple[Any, str]:
    parts = urlsplit(url)
    stream = parts.netloc + parts.path.rstrip("/")
    if not stream:
        raise InvalidInput("kinesis:// URL needs a stream name: kinesis://STREAM", field="source")
    options = dict(parse_qsl(parts.query))
    try:
        import boto3
    except ImportError:
        raise TerminalError("reading Kinesis needs boto3: pip install 'driftline[s3]'") from None
    try:
        client = boto3.client(
            "kinesis",
            region_name=options.get("region") or None,
            endpoint_url=options.get("endpoint_url") or None,
        )
    except Exception as exc:  # no region, a malformed endpoint
        raise explain(exc, url) from None
    return client, stream


def import_stream(
    store: DuckDBStore,
    writer: GroupCommitWriter,
    url: str,
    project_id: int,
    *,
    limit: int = 10_000,
) -> StreamSummary:
    from botocore.exceptions import BotoCoreError, ClientError

    started = time.perf_counter()
    summary = StreamSummary(url)
    client, stream = _client(url)
    checkpoints = dict(
        store.query_rows(
            "SELECT shard_id, sequence_number FROM snowplow_checkpoints WHERE project_id = ? AND stream = ?",
            [project_id, stream],
        )
    )
    try:
        shards = client.list_shards(StreamName=stream)["Shards"]
        summary.shards = len(shards)
        for shard in shards:
            shard_id = shard["ShardId"]
            after = checkpoints.get(shard_id)
            kwargs: dict[str, Any] = {"StreamName": stream, "ShardId": shard_id}
            if after:
                kwargs.update(
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after
                )
            else:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            iterator = client.get_shard_iterator(**kwargs)["ShardIterator"]
            while iterator:
                response = client.get_records(ShardIterator=iterator, Limit=limit)
                records = response["Records"]
                iterator = response.get("NextShardIterator")
                if records:
                    lines = [
                        line
                        for r in records
                        for line in r["Data"].decode("utf-8", "replace").splitlines()
                        if line.strip()
                    ]
                    table = pa.Table.from_arrays(
                        [
                            pa.array([project_id] * len(lines), pa.int32()),
                            pa.array(lines, pa.string()),
                        ],
                        schema=LINES_SCHEMA,
                    )
                    checkpoint = [(project_id, stream, shard_id, records[-1]["SequenceNumber"])]
                    result = writer.write(AppendEnriched(table, EVENTS_SQL, checkpoints=checkpoint))
                    summary.records += len(records)
                    summary.events += result.stored
                    summary.bad_rows += result.extra.get("bad_rows", 0)
                if not records and response.get("MillisBehindLatest", 0) == 0:
                    break
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise InvalidInput(
                f"Kinesis stream {stream!r} does not exist", field="source"
            ) from None
        raise explain(exc, url) from None
    except BotoCoreError as exc:
        raise explain(exc, url) from None
    summary.seconds = time.perf_counter() - started
    return summary
