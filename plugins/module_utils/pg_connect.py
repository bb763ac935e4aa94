"""PostgreSQL connections, with driver errors mapped to the contract's classes."""

from __future__ import annotations

import traceback
from typing import Any

from .errors import (
    Conflict,
    DatabaseError,
    Forbidden,
    OperationTimeout,
    ProviderError,
    Unauthorized,
    Unavailable,
)
from .redaction import Redactor

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.conninfo import conninfo_to_dict
except ImportError:  # pragma: no cover - exercised by ansible-test's import test
    PSYCOPG_IMPORT_ERROR: str | None = traceback.format_exc()
    psycopg = None  # type: ignore[assignment]
else:
    PSYCOPG_IMPORT_ERROR = None

APPLICATION_NAME = "busdk.database"
AUTH_FAILURES = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "pg_hba.conf rejects",
    "password is required",
    "no password supplied",
)
UNREACHABLE = (
    "connection refused",
    "could not translate host name",
    "timeout expired",
    "no route to host",
    "network is unreachable",
    "could not connect",
    "server closed the connection",
    "too many clients",
    "the database system is starting up",
    "the database system is shutting down",
)


def require_psycopg() -> None:
    """Raise ProviderError when psycopg 3 is not installed."""
    if PSYCOPG_IMPORT_ERROR is not None:
        raise ProviderError(
            "Failed to load the PostgreSQL provider: psycopg 3 is not installed "
            "in the Python that runs this code (pip install 'psycopg[binary]')"
        )


def parse_dsn(dsn: str, source: str, redactor: Redactor) -> dict[str, Any]:
    """Return the connection parameters of ``dsn``; raise Unauthorized if invalid."""
    require_psycopg()
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise Unauthorized(
            f"Invalid connection string in {source}: it is neither a "
            "postgresql:// URL nor key=value pairs"
        ) from None
    redactor.add(str(params.get("password") or ""))
    return dict(params)


def describe_target(params: dict[str, Any]) -> str:
    """Return ``host:port/dbname`` for messages, never credentials."""
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or 5432
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"


def _first_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:400]


def classify_connect_error(error: Exception, target: str) -> DatabaseError:
    """Map a failed connection attempt to the contract's error classes."""
    text = str(error).lower()
    detail = _first_line(error)
    if any(marker in text for marker in AUTH_FAILURES) or (
        "role" in text and "does not exist" in text
    ):
        return Unauthorized(
            f"Failed to connect to {target}: the server rejected the credentials",
            [detail],
        )
    if "permission denied for database" in text:
        return Forbidden(f"Failed to connect to {target}: permission denied", [detail])
    if "timeout expired" in text:
        return Unavailable(
            f"Failed to connect to {target}: connect timeout expired", [detail]
        )
    if any(marker in text for marker in UNREACHABLE):
        return Unavailable(
            f"Failed to connect to {target}: server unreachable", [detail]
        )
    if "database" in text and "does not exist" in text:
        return ProviderError(
            f"Failed to connect to {target}: database not found", [detail]
        )
    return Unavailable(f"Failed to connect to {target}", [detail])


def classify_query_error(error: Exception, doing: str) -> DatabaseError:
    """Map a failed statement to the contract's error classes."""
    detail = _first_line(error)
    if isinstance(error, pg_errors.InsufficientPrivilege):
        return Forbidden(
            f"Failed to {doing}: the admin role lacks a needed privilege", [detail]
        )
    if isinstance(
        error,
        (
            pg_errors.UniqueViolation,
            pg_errors.DuplicateObject,
            pg_errors.DuplicateDatabase,
        ),
    ):
        return Conflict(
            f"Failed to {doing}: the object was created at the same time by "
            "another session; run the apply again",
            [detail],
        )
    if isinstance(error, (pg_errors.QueryCanceled, pg_errors.LockNotAvailable)):
        return OperationTimeout(f"Failed to {doing}: timed out", [detail])
    if isinstance(error, psycopg.OperationalError):
        return Unavailable(f"Failed to {doing}: connection lost", [detail])
    return ProviderError(f"Failed to {doing}: {detail}")


def connect(
    params: dict[str, Any],
    *,
    connect_timeout: int,
    statement_timeout: int | None = None,
    dbname: str | None = None,
    autocommit: bool = False,
) -> Any:
    """Open a connection with the given parameters and optional database.

    Raises Unauthorized, Forbidden or Unavailable on failure.
    """
    require_psycopg()
    options = dict(params)
    if dbname is not None:
        options["dbname"] = dbname
    options["connect_timeout"] = str(connect_timeout)
    options.setdefault("application_name", APPLICATION_NAME)
    if statement_timeout is not None:
        extra = f"-c statement_timeout={statement_timeout * 1000}"
        options["options"] = f"{options.get('options', '')} {extra}".strip()
    try:
        return psycopg.connect(autocommit=autocommit, **options)
    except psycopg.Error as error:
        raise classify_connect_error(error, describe_target(options)) from None
