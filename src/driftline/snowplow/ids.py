"""Random (version 4) UUIDs for network user ids and missing event ids, cheaply.

``uuid.uuid4()`` makes one ``getrandom`` system call per id; on a busy virtual machine that
call alone cost the collector more than the rest of a request's cookie handling. The
randomness is the same (``os.urandom``, the kernel's CSPRNG), read 4 KiB at a time.
"""

from __future__ import annotations

import os
import threading

_CHUNK = 16 * 256


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self) -> bytes:
        with self._lock:
            if self._at >= len(self._buffer):
                self._buffer, self._at = os.urandom(_CHUNK), 0
            at = self._at
            self._at = at + 16
            return self._buffer[at : at + 16]


_pool = _Pool()


def _reset() -> None:
    """A child process must not hand out the ids its parent has in its buffer."""
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_reset)


def random_uuid() -> str:
    """A random version-4 UUID as text (``xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx``)."""
    b = bytearray(_pool.take())
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
