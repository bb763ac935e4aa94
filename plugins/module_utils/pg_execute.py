"""Carrying out planned PostgreSQL changes, one transaction per scope."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .changes import Change
from .errors import DatabaseError, ProviderError
from .pg_connect import classify_query_error, connect
from .pg_plan import AUTOCOMMIT, CLUSTER, FILES, PASSWORDS
from .pg_secrets import DSN_DIRECTORY_MODE, write_file_atomically


class _SqlUnit:
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def run(self, change: Change) -> None:
        statement = change.step[1]
        try:
            self.connection.execute(statement)
        except Exception as error:
            doing = f"{change.action.replace('-', ' ')} {change.target}"
            raise classify_query_error(error, doing) from None


class _FileUnit:
    def run(self, change: Change) -> None:
        kind, path, *rest = change.step
        try:
            if kind == "mkdir":
                os.makedirs(path, mode=DSN_DIRECTORY_MODE, exist_ok=True)
                os.chmod(path, DSN_DIRECTORY_MODE)
            elif kind == "chmod":
                os.chmod(path, rest[0])
            elif kind == "write":
                write_file_atomically(path, rest[0])
            else:
                raise AssertionError(f"unknown file step {kind}")
        except OSError as error:
            raise ProviderError(
                f"Failed to {change.action.replace('-', ' ')} {path}: {error.strerror}"
            ) from None


class PostgresBackend:
    """Execution units for the planned changes of one request.

    ``cluster`` and ``passwords`` changes each share one transaction on the
    admin connection,
    ``autocommit`` changes (CREATE DATABASE) run outside any transaction, each
    ``database:<name>`` scope is one transaction on a connection to that
    database, and ``files`` writes DSN files.
    """

    def __init__(
        self,
        admin_connection: Any,
        admin_params: dict[str, Any],
        timeouts: tuple[int, int],
    ) -> None:
        self.admin_connection = admin_connection
        self.admin_params = admin_params
        self.connect_timeout, self.statement_timeout = timeouts

    @contextmanager
    def unit(self, scope: str) -> Iterator[Any]:
        """Open the unit for ``scope``; commit on success, roll back on error."""
        if scope == FILES:
            yield _FileUnit()
            return
        if scope == AUTOCOMMIT:
            # The admin connection is in autocommit mode outside transaction().
            yield _SqlUnit(self.admin_connection)
            return
        if scope in (CLUSTER, PASSWORDS):
            with self._transaction(self.admin_connection, scope) as unit:
                yield unit
            return

        database = scope.split(":", 1)[1]
        connection = connect(
            self.admin_params,
            dbname=database,
            connect_timeout=self.connect_timeout,
            statement_timeout=self.statement_timeout,
            autocommit=True,
        )
        try:
            with self._transaction(connection, scope) as unit:
                yield unit
        finally:
            connection.close()

    @contextmanager
    def _transaction(self, connection: Any, scope: str) -> Iterator[_SqlUnit]:
        try:
            with connection.transaction():
                yield _SqlUnit(connection)
        except DatabaseError:
            raise
        except Exception as error:
            raise classify_query_error(error, f"commit the {scope} changes") from None
