"""Event fingerprint (``event_fingerprint_config`` 1-0-1): a hash of the event's tracker
parameters sorted by name, each written as ``name \\x1f value \\x1f``, leaving out
``excludeParameters``. ``hashAlgorithm``: MD5 (default), SHA1, SHA256, SHA384, SHA512."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from driftline.errors import TerminalError
from driftline.snowplow.transform import EnrichingEvent

ALGORITHMS = {
    "MD5": "md5",
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA384": "sha384",
    "SHA512": "sha512",
}


class EventFingerprint:
    SCHEMA_NAME = "event_fingerprint_config"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        algorithm = str(parameters.get("hashAlgorithm", "MD5")).upper()
        if algorithm not in ALGORITHMS:
            raise TerminalError(
                f"event_fingerprint_config: hashAlgorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}"
            )
        self.algorithm = ALGORITHMS[algorithm]
        self.exclude = frozenset(parameters.get("excludeParameters", ["eid", "nuid", "stm", "cv"]))

    def apply(self, ev: EnrichingEvent) -> str | None:
        text = "".join(
            f"{k}\x1f{v}\x1f" for k, v in sorted(ev.params.items()) if k not in self.exclude
        )
        ev.fields["event_fingerprint"] = hashlib.new(self.algorithm, text.encode()).hexdigest()
        return None
