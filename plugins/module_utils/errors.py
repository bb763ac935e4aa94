"""Exception tree of the database core, one class per response error class."""

from __future__ import annotations

from typing import Any


class DatabaseError(Exception):
    """Base class: a request failed and nothing after the failure point ran.

    ``error_class`` is the value reported to callers. ``diagnostics`` contains extra
    human-readable lines; the exception message is always the first diagnostic.
    """

    error_class = "provider_error"

    def __init__(self, message: str, diagnostics: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics = list(diagnostics or [])
        # Changes committed before the failure, set by the executor.
        self.applied: list[Any] = []

    def all_diagnostics(self) -> list[str]:
        """Return the message followed by the extra diagnostics."""
        return [self.message, *self.diagnostics]


class BadRequest(DatabaseError):
    """The request is invalid: a missing, mistyped or unknown field or value."""

    error_class = "bad_request"


class Unauthorized(DatabaseError):
    """Admin credentials are missing, unreadable, too open or rejected."""

    error_class = "unauthorized"


class Forbidden(DatabaseError):
    """Policy or missing privileges do not allow the request."""

    error_class = "forbidden"


class Conflict(DatabaseError):
    """An object exists in a state that only a destructive step could fix."""

    error_class = "conflict"


class Unavailable(DatabaseError):
    """The database server cannot be reached."""

    error_class = "unavailable"


class OperationTimeout(DatabaseError):
    """The operation ran past its deadline."""

    error_class = "timeout"


class VerifyFailed(DatabaseError):
    """Verification ran and at least one check failed."""

    error_class = "verify_failed"


class ProviderError(DatabaseError):
    """Any other provider or driver failure."""

    error_class = "provider_error"


ERROR_CLASSES = (
    "bad_request",
    "unauthorized",
    "forbidden",
    "conflict",
    "unavailable",
    "timeout",
    "verify_failed",
    "provider_error",
)
