"""Run an iterator on a background thread, a few items ahead of its consumer.

Used where reading or rendering the next batch (a file chunk, a warehouse page, an export
part) should overlap with writing the current one. The heavy work inside the iterator
(pyarrow, DuckDB, a database driver, compression) releases the GIL, so both cores work.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")


def prefetch(
    items: Iterator[T], depth: int = 2, *, name: str = "driftline-prefetch"
) -> Generator[T, None, None]:
    """Yield ``items``, produced on a thread of its own up to ``depth`` ahead.

    An exception in the producer is raised in the consumer; a consumer that stops early
    stops the producer.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)
        finally:
            # a producer stopped early is closed here, on its own thread, so that what it
            # holds (a database cursor, a file) is released now and not whenever it is
            # collected
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
