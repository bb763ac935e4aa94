"""Client-side checks against the Events API stand-in: streams open, responses sent."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import httpx

REQUEST_STREAM_COUNT = 4


class StackError(RuntimeError):
    """A process of the stack did not start, or did not become ready in time."""


class EventsProbe:
    """Polls a stand-in for open worker streams and stored response events.

    It keeps one httpx client, because each new client builds an SSL context,
    which costs tens of milliseconds per call.
    """

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
        )

    def __enter__(self) -> EventsProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections."""
        self.http.close()

    def read_responses(
        self, operation: str, correlation_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Return the stored response events of ``operation``, oldest first.

        Uses a replay stream that closes after the stored events, so it works
        only against a server that keeps history, such as the stand-in. With
        ``correlation_id`` only the responses to that request are returned.
        """
        params = {
            "name": f"bus.database.{operation}.response",
            "delivery": "broadcast",
            "replay": "true",
            "follow": "false",
        }
        response = self.http.get("/api/v1/events/stream", params=params)
        response.raise_for_status()
        lines = response.text.splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        if correlation_id is None:
            return events
        return [e for e in events if e.get("correlationId") == correlation_id]

    def wait_for_response(
        self, operation: str, correlation_id: str, timeout: float = 15.0
    ) -> dict[str, Any]:
        """Wait for the response event to ``correlation_id`` and return it.

        Raises StackError when none arrives within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.read_responses(operation, correlation_id)
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise StackError(
                    f"no bus.database.{operation}.response for {correlation_id!r} "
                    f"within {timeout} s"
                )
            time.sleep(0.02)

    def wait_for_worker(
        self,
        consumer: str,
        process: subprocess.Popen[bytes] | None = None,
        timeout: float = 20.0,
    ) -> None:
        """Wait until ``consumer`` has all its request streams open on the stand-in.

        Raises StackError when ``process`` exits first or the time runs out.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise StackError(f"the worker exited with status {process.returncode}")
            response = self.http.get("/api/v1/_local/streams", timeout=2.0)
            streams = response.json().get("streams", []) if response.is_success else []
            mine = [s for s in streams if s.get("consumer") == consumer]
            if len(mine) >= REQUEST_STREAM_COUNT:
                return
            time.sleep(0.02)
        raise StackError(
            f"the worker {consumer} did not open its streams in {timeout} s"
        )
