"""Small synchronous client of the stand-in for tests and demos.

It wraps ``httpx.Client`` with the publish and stream calls and the two test
affordances under ``/api/v1/_local/``. It works against any server with the
same routes, but ``list_streams`` and ``drop_streams`` exist only on the
stand-in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx

logger = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/events"
STREAM_PATH = "/api/v1/events/stream"
DEFAULT_TIMEOUT_SECONDS = 5.0


class EventStream:
    """Line reader over an open NDJSON stream response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next_line(self) -> str:
        """Wait for the next line; raise StopIteration at the end of the stream."""
        return next(self._lines)

    def next_envelope(self) -> dict[str, Any]:
        """Wait for the next line and decode it as an event envelope."""
        envelope: dict[str, Any] = json.loads(self.next_line())
        return envelope

    def remaining_lines(self) -> list[str]:
        """Read lines until the server ends the stream."""
        return list(self._lines)


class LocalEventsClient:
    """Client bound to one base URL and a default bearer token.

    Every read times out after ``timeout`` seconds, so a missing event raises
    ``httpx.ReadTimeout`` instead of hanging. Methods take ``token`` to use
    another token for one call.
    """

    def __init__(
        self, base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.token = token
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def __enter__(self) -> LocalEventsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connections."""
        self.http.close()

    def headers(self, token: str | None = None) -> dict[str, str]:
        """Return the Authorization header for ``token`` or the default token."""
        return {"Authorization": f"Bearer {token or self.token}"}

    def publish(
        self, name: str, *, token: str | None = None, **fields: Any
    ) -> httpx.Response:
        """POST one event with ``name`` and any other body ``fields``.

        Returns the response without checking its status.
        """
        body = {"name": name, **fields}
        return self.http.post(EVENTS_PATH, json=body, headers=self.headers(token))

    @contextlib.contextmanager
    def stream(
        self, name: str, *, token: str | None = None, **params: str
    ) -> Iterator[EventStream]:
        """Open a stream of ``name`` with query ``params`` until the block exits.

        Raises httpx.HTTPStatusError when the server does not return 200.
        """
        query = {"name": name, **params}
        with self.http.stream(
            "GET", STREAM_PATH, params=query, headers=self.headers(token)
        ) as response:
            if response.status_code != 200:
                response.read()
            response.raise_for_status()
            yield EventStream(response)

    def list_streams(self, name: str | None = None) -> list[dict[str, Any]]:
        """Return the stand-in's open streams, only those of ``name`` if given."""
        response = self.http.get("/api/v1/_local/streams", headers=self.headers())
        response.raise_for_status()
        streams: list[dict[str, Any]] = response.json()["streams"]
        return [s for s in streams if name is None or s["name"] == name]

    def wait_for_streams(
        self, name: str, count: int, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        """Wait until the stand-in has exactly ``count`` open streams of ``name``.

        Use it to publish only after a listener is connected. Raises
        TimeoutError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = len(self.list_streams(name))
            if found == count:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {count} open streams of {name!r} within "
                    f"{timeout} s, found {found}"
                )
            time.sleep(0.02)

    def drop_streams(self) -> int:
        """Close every open stream on the stand-in and return how many it closed."""
        response = self.http.post("/api/v1/_local/drop-streams", headers=self.headers())
        response.raise_for_status()
        return int(response.json()["closed"])
