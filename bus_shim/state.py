"""On-disk record of handled requests, so a duplicate delivery is never run twice."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DATABASE_FILE = "handled.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS handled (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT,
    request_key TEXT,
    operation TEXT NOT NULL,
    correlation_id TEXT,
    response TEXT NOT NULL,
    handled_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handled_event_id ON handled (event_id);
CREATE INDEX IF NOT EXISTS handled_request_key ON handled (request_key);
"""


class StateError(Exception):
    """The state directory or its database cannot be opened or written."""


class HandledStore:
    """The most recent ``max_entries`` handled requests and their responses.

    Each record is written in one SQLite transaction, so it is either complete
    or absent after a crash. Several workers may share one directory because
    SQLite locks the file. The store is used from one thread only.
    """

    def __init__(self, directory: Path, max_entries: int) -> None:
        """Open or create the store in ``directory`` (mode 0700).

        Raises StateError when the directory or database cannot be used.
        """
        self.path = directory / DATABASE_FILE
        self.max_entries = max_entries
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._connection = sqlite3.connect(self.path, timeout=10.0)
            self._connection.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise StateError(
                f"Failed to open the state database {self.path}: {error}; set "
                "BUS_SHIM_STATE_DIR to a writable directory"
            ) from None

    def find(
        self, event_id: str | None, request_key: str | None
    ) -> dict[str, Any] | None:
        """Return the stored response of the same event or request, or None.

        A match on the event id or on the request key counts.
        """
        if event_id is None and request_key is None:
            return None
        try:
            row = self._connection.execute(
                "SELECT response FROM handled WHERE event_id = ? OR request_key = ? "
                "ORDER BY seq DESC LIMIT 1",
                (event_id, request_key),
            ).fetchone()
        except sqlite3.Error as error:
            logger.error("failed to read the state database %s: %s", self.path, error)
            return None
        if row is None:
            return None
        stored: dict[str, Any] = json.loads(row[0])
        return stored

    def record(
        self,
        operation: str,
        event_id: str | None,
        request_key: str | None,
        correlation_id: str | None,
        response: dict[str, Any],
    ) -> bool:
        """Store ``response`` and drop the oldest records beyond the limit.

        Returns False, after logging the error, when the write failed. The
        response is still published, but a later duplicate would run again.
        """
        try:
            with self._connection:
                cursor = self._connection.execute(
                    "INSERT INTO handled (event_id, request_key, operation, "
                    "correlation_id, response, handled_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        event_id,
                        request_key,
                        operation,
                        correlation_id,
                        json.dumps(response, separators=(",", ":")),
                        time.time(),
                    ),
                )
                self._connection.execute(
                    "DELETE FROM handled WHERE seq <= ?",
                    ((cursor.lastrowid or 0) - self.max_entries,),
                )
        except sqlite3.Error as error:
            logger.error(
                "failed to record %s request %s in %s: %s",
                operation,
                event_id or correlation_id,
                self.path,
                error,
            )
            return False
        return True

    def count(self) -> int:
        """Return the number of stored records."""
        row = self._connection.execute("SELECT COUNT(*) FROM handled").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()
