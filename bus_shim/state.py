"""On-disk record of apply requests, so a duplicate delivery is not applied twice.

Only ``apply`` requests are recorded, because plan, status and verify change
nothing and simply run again on every delivery, which also gives them a fresh
response when a correlation id is reused.

Two apply requests are the same request when they have the same correlation id
and the same payload (the request key of ``RequestEvent.request_key``). The
Events API event id is stored for diagnostics but is not part of the match.
So an event id reused for another operation or payload is a new request, and
a request published again under a new event id is a duplicate.

A record counts for ``window_seconds`` after it was last written. A duplicate
within that window gets the stored response. After it, the same request runs
again, which is safe because an apply converges on the desired state.

Claiming a request and recording its response are separate SQLite
transactions. The claim inserts a ``pending`` row under the unique request
key before the apply runs, so of several workers sharing one directory
exactly one runs the request. The others see the pending row and wait for
its response (see ``ClaimState``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .envelope import log_value

logger = logging.getLogger(__name__)

DATABASE_FILE = "handled.sqlite3"
BUSY_TIMEOUT_SECONDS = 10.0
SCHEMA = """
DROP TABLE IF EXISTS handled;
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_key TEXT NOT NULL UNIQUE,
    operation TEXT NOT NULL,
    event_id TEXT,
    correlation_id TEXT,
    owner TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    response TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StateError(Exception):
    """The state directory or its database cannot be opened or written."""


class ClaimState(Enum):
    """Result of ``HandledStore.claim``.

    CLAIMED: this worker must run the request and then call ``finish``.
    DONE: the request ran within the window; ``Claim.response`` is its response.
    PENDING: another live worker is running it; call ``claim`` again later.
    LOST: this worker ran it before, but failed to record the response.
    """

    CLAIMED = "claimed"
    DONE = "done"
    PENDING = "pending"
    LOST = "lost"


@dataclass(frozen=True)
class Claim:
    """Outcome of one claim: its state, and the stored response or the owner."""

    state: ClaimState
    response: dict[str, Any] | None = None
    owner: str | None = None


def process_owner() -> str:
    """Return ``<host>:<pid>:<random>``, unique to this process run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_alive(owner: str) -> bool:
    """Return False only for an owner on this host whose process has exited.

    An owner on another host cannot be checked and counts as alive, and so
    does one whose process id has been reused by another process.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # The same process id in a new process run, such as pid 1 in a restarted
    # container, is a previous run of this worker that no longer exists.
    return int(pid_text) != os.getpid()


class HandledStore:
    """Apply requests claimed or handled within the window, and their responses.

    Rows older than ``window_seconds`` are deleted, and so are the oldest
    finished rows beyond ``max_entries``. The store is used from one thread.
    """

    def __init__(
        self,
        directory: Path,
        max_entries: int,
        window_seconds: float,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open or create the store in ``directory`` (mode 0700) and test a write.

        Raises StateError when the directory or database cannot be opened or
        written, for example on a read-only file system.
        """
        self.path = directory / DATABASE_FILE
        self.max_entries = max_entries
        self.window_seconds = window_seconds
        self.owner = owner or process_owner()
        self._clock = clock
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            # Autocommit mode, so that every transaction below starts with an
            # explicit BEGIN IMMEDIATE and takes the write lock at once.
            self._connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
            )
            self._connection.executescript(SCHEMA)
            with self._transaction():
                self._connection.execute(
                    "INSERT INTO meta (key, value) VALUES ('last_opened_by', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (self.owner,),
                )
        except (OSError, sqlite3.Error) as error:
            raise StateError(
                f"Failed to open the state database {self.path} for writing: "
                f"{error}; set BUS_SHIM_STATE_DIR to a directory the worker can "
                "write to"
            ) from None

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection)

    def claim(
        self, request_key: str, event_id: str | None, correlation_id: str | None
    ) -> Claim:
        """Claim the apply request ``request_key`` for this worker.

        Raises StateError, after logging it, when the database cannot be
        written. The caller must then not run the request.
        """
        now = self._clock()
        try:
            with self._transaction():
                connection = self._connection
                connection.execute(
                    "DELETE FROM requests WHERE updated_at < ?",
                    (now - self.window_seconds,),
                )
                row = connection.execute(
                    "SELECT state, owner, response FROM requests WHERE request_key = ?",
                    (request_key,),
                ).fetchone()
                if row is not None:
                    claim = self._existing(*row)
                    if claim is not None:
                        return claim
                    connection.execute(
                        "DELETE FROM requests WHERE request_key = ?", (request_key,)
                    )
                connection.execute(
                    "INSERT INTO requests (request_key, operation, event_id, "
                    "correlation_id, owner, state, updated_at) "
                    "VALUES (?, 'apply', ?, ?, ?, 'pending', ?)",
                    (request_key, event_id, correlation_id, self.owner, now),
                )
        except sqlite3.Error as error:
            logger.error(
                "failed to claim apply request event_id=%s correlation_id=%s in %s: %s",
                log_value(event_id),
                log_value(correlation_id),
                self.path,
                error,
            )
            raise StateError(
                f"Failed to record the request in the state database {self.path}: "
                f"{error}"
            ) from None
        return Claim(ClaimState.CLAIMED)

    def _existing(self, state: str, owner: str, response: str | None) -> Claim | None:
        """Return the claim an unexpired row gives, or None when it is abandoned."""
        if state == "done" and response is not None:
            stored: dict[str, Any] = json.loads(response)
            return Claim(ClaimState.DONE, response=stored)
        if owner == self.owner:
            return Claim(ClaimState.LOST, owner=owner)
        if _owner_alive(owner):
            return Claim(ClaimState.PENDING, owner=owner)
        logger.warning(
            "taking over an apply request that worker %s claimed but never "
            "finished: its process has exited",
            owner,
        )
        return None

    def finish(
        self,
        request_key: str,
        correlation_id: str | None,
        response: dict[str, Any],
    ) -> bool:
        """Store the response of a claimed request and drop the oldest rows.

        Returns False, after logging the error, when the write failed. The
        pending row then stays until the window ends, and a duplicate gets
        the LOST claim state.
        """
        try:
            with self._transaction():
                updated = self._connection.execute(
                    "UPDATE requests SET state = 'done', response = ?, "
                    "updated_at = ? WHERE request_key = ? AND owner = ?",
                    (
                        json.dumps(response, separators=(",", ":")),
                        self._clock(),
                        request_key,
                        self.owner,
                    ),
                ).rowcount
                if not updated:
                    logger.warning(
                        "the claim of apply request correlation_id=%s expired "
                        "before it finished, so its response is not recorded; "
                        "raise BUS_SHIM_DEDUP_WINDOW above the longest apply",
                        log_value(correlation_id),
                    )
                self._connection.execute(
                    "DELETE FROM requests WHERE state = 'done' AND seq NOT IN "
                    "(SELECT seq FROM requests WHERE state = 'done' "
                    "ORDER BY seq DESC LIMIT ?)",
                    (self.max_entries,),
                )
        except sqlite3.Error as error:
            logger.error(
                "failed to record the response to apply request correlation_id=%s "
                "in %s: %s; a duplicate of it will get an error response instead",
                log_value(correlation_id),
                self.path,
                error,
            )
            return False
        return True

    def count(self) -> int:
        """Return the number of stored rows, pending ones included."""
        row = self._connection.execute("SELECT COUNT(*) FROM requests").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` on entry, COMMIT on success and ROLLBACK on error."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if kind is not None:
            self._rollback()
            return
        try:
            self.connection.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if not self.connection.in_transaction:
            return
        try:
            self.connection.execute("ROLLBACK")
        except sqlite3.Error as error:
            logger.warning(
                "failed to roll back a state database transaction: %s", error
            )
