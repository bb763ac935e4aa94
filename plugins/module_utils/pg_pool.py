"""Reuse of read-only PostgreSQL connections across requests of one process.

A long-running worker handles many plan and status requests. Opening a new
connection for each one (a backend process and a SCRAM exchange) costs more
than the catalog queries themselves. A ConnectionCache keeps a few idle
connections per server, database and credentials. It is owned by one worker
and passed to each request, so nothing is shared between unrelated callers.
Applies and verify checks never use it: an apply holds a session advisory lock,
and connectivity checks must open fresh connections.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .pg_connect import connect

MAX_IDLE_PER_KEY = 4
MAX_KEYS = 32


class ConnectionCache:
    """Idle autocommit connections keyed by connection parameters and database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()

    @staticmethod
    def _key(
        params: dict[str, Any], dbname: str | None, timeouts: tuple[int, int]
    ) -> tuple[Any, ...]:
        return (tuple(sorted((k, str(v)) for k, v in params.items())), dbname, timeouts)

    def _take(self, key: tuple[Any, ...]) -> Any | None:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                connection = idle.pop()
                if not connection.closed and not connection.broken:
                    return connection
                connection.close()
        return None

    def _give_back(self, key: tuple[Any, ...], connection: Any) -> None:
        evicted: list[Any] = []
        with self._lock:
            idle = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if len(idle) < MAX_IDLE_PER_KEY:
                idle.append(connection)
                connection = None
            while len(self._idle) > MAX_KEYS:
                evicted.extend(self._idle.popitem(last=False)[1])
        for stale in [connection, *evicted]:
            if stale is not None:
                stale.close()

    @contextmanager
    def connection(
        self,
        params: dict[str, Any],
        *,
        dbname: str | None,
        connect_timeout: int,
        statement_timeout: int,
    ) -> Iterator[Any]:
        """Yield an idle or new autocommit connection and keep it afterwards.

        A connection that raised, or is left inside a transaction, is closed
        instead of kept. Raises what ``connect`` raises.
        """
        key = self._key(params, dbname, (connect_timeout, statement_timeout))
        connection = self._take(key)
        if connection is None:
            connection = connect(
                params,
                dbname=dbname,
                connect_timeout=connect_timeout,
                statement_timeout=statement_timeout,
                autocommit=True,
            )
        try:
            yield connection
        except BaseException:
            connection.close()
            raise
        idle = connection.info.transaction_status.name == "IDLE"
        if idle and not connection.closed and not connection.broken:
            self._give_back(key, connection)
        else:
            connection.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


@contextmanager
def open_connection(
    params: dict[str, Any],
    *,
    dbname: str | None,
    connect_timeout: int,
    statement_timeout: int,
    cache: ConnectionCache | None,
) -> Iterator[Any]:
    """Yield an autocommit connection: from ``cache`` if given, else a new one.

    A new connection is closed on exit. Raises what ``connect`` raises.
    """
    if cache is not None:
        with cache.connection(
            params,
            dbname=dbname,
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
        ) as reused:
            yield reused
        return
    connection = connect(
        params,
        dbname=dbname,
        connect_timeout=connect_timeout,
        statement_timeout=statement_timeout,
        autocommit=True,
    )
    try:
        yield connection
    finally:
        connection.close()
