"""Network user ids and missing event ids: random version-4 UUIDs, never repeated, also not
by a forked child (it must not reuse its parent's buffered randomness)."""

from __future__ import annotations

import os
import uuid

from driftline.snowplow.ids import random_uuid


def test_random_uuids_are_distinct_version_4_uuids() -> None:
    ids = [random_uuid() for _ in range(5000)]  # more than one 4 KiB buffer
    assert len(set(ids)) == len(ids)
    for text in ids[:300] + ids[-300:]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    random_uuid()  # the buffer holds more ids now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, "".join(random_uuid() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode()
    os.close(read)
    parent = [random_uuid() for _ in range(10)]
    child_ids = [child[i : i + 36] for i in range(0, len(child), 36)]
    assert len(child_ids) == 10 and not set(child_ids) & set(parent)
