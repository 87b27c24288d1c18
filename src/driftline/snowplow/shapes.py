"""Straight-line code per shape: functions compiled for one sequence of names.

Tracker events come in a few shapes — the same parameter names in the same order, hence the
same enriched field names — again and again. For those, the collector runs Python written
for the shape (no loop, no look-up of what to do with each name), which on Python 3.11 is
quicker than any loop over a plan. A shape gets its function once it has been seen
``after`` times, so that requests with ever new orders of names (a client's choice) make the
collector compile nothing; until then, and for the shapes never compiled, the caller runs
its general code, which gives the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

F = TypeVar("F")

#: a shape is compiled at its 64th sighting: ~0.5 ms to compile, ~1 µs saved per event
COMPILE_AFTER = 64


class PerShape(Generic[F]):
    """The functions ``build(names)`` gives, per sequence of names, once it has been seen
    ``after`` times. Hot paths read :attr:`ready` first: ``s.ready.get(n) or s.get(n)``."""

    def __init__(
        self, build: Callable[[tuple[str, ...]], F], after: int = COMPILE_AFTER, size: int = 4096
    ) -> None:
        self.build = build
        self.after = after
        self.size = size
        #: the compiled functions by shape
        self.ready: dict[tuple[str, ...], F] = {}
        self._seen: dict[tuple[str, ...], int] = {}

    def get(self, names: tuple[str, ...]) -> F | None:
        """The function for ``names``, built now if the shape has been seen often enough;
        None before (then the caller's general code runs)."""
        function = self.ready.get(names)
        if function is None:
            seen = self._seen.get(names, 0) + 1
            if seen < self.after:
                if len(self._seen) >= self.size:
                    self._seen.clear()
                self._seen[names] = seen
                return None
            self._seen.pop(names, None)
            if len(self.ready) >= self.size:
                self.ready.clear()
            function = self.ready[names] = self.build(names)
        return function


def compile_function(lines: list[str], scope: dict[str, Any], label: str) -> Any:
    """The function the source ``lines`` define (the first line is its ``def``), with the
    globals ``scope``; ``label`` names it in tracebacks."""
    name = lines[0].removeprefix("def ").split("(")[0]
    namespace = dict(scope)
    exec(compile("\n".join(lines) + "\n", f"<driftline {label}>", "exec"), namespace)
    return namespace[name]
