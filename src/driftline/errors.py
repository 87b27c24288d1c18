"""Error hierarchy.

Every error a user can see derives from :class:`DriftlineError` and carries a message that
says what was wrong and what to do. Errors are split by whether retrying can help
(:class:`TransientError`) or not (:class:`TerminalError`). ``status`` is the HTTP status an
API answers with when the error reaches a route.
"""

from __future__ import annotations


class DriftlineError(Exception):
    """Root of every error driftline raises on purpose."""

    status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class TransientError(DriftlineError):
    """Retrying later may succeed: network trouble, a busy lock, back-pressure."""

    status = 503


class TerminalError(DriftlineError):
    """Retrying will not help until something is changed: bad input, bad credentials."""

    status = 400


class InvalidInput(TerminalError):
    """The caller sent something malformed; ``field`` names the offending field."""

    status = 400


class NotFound(TerminalError):
    status = 404


class AlreadyExists(TerminalError):
    status = 409


class InUse(TerminalError):
    """The thing cannot be removed or changed while something else depends on it."""

    status = 409


class Unauthorized(TerminalError):
    status = 401


class Forbidden(TerminalError):
    status = 403


class PayloadTooLarge(TerminalError):
    status = 413


class Backpressure(TransientError):
    """The single writer is behind; the caller should retry after ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreBusy(TransientError):
    """Another process owns the data directory."""

    status = 503
