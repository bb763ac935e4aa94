"""HTTP client of the Bus Events API: request streams and response publishing."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from .backoff import Backoff
from .config import ConfigError
from .envelope import escape_controls, log_value
from .response_limit import encode_event
from .worker_config import TokenSource, describe_url

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
PUBLISH_TIMEOUT_SECONDS = 10.0
PUBLISH_ATTEMPTS = 5
# Statuses after which the same request may succeed later.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Detects a dead peer on an idle stream after about two minutes without
# treating a quiet stream as a failure: the Events API sends no heartbeat.
KEEPALIVE_OPTIONS = [
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    *(
        (socket.IPPROTO_TCP, getattr(socket, name), value)
        for name, value in (
            ("TCP_KEEPIDLE", 60),
            ("TCP_KEEPINTVL", 15),
            ("TCP_KEEPCNT", 4),
        )
        if hasattr(socket, name)
    ),
]


class StreamRejected(Exception):
    """The Events API refused the stream for a reason a retry cannot fix.

    ``status`` is the HTTP status, 401 or 403 for authentication and scope
    problems.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class PublishRejected(Exception):
    """The Events API refused the token or its scopes when publishing."""


class PublishTooLarge(Exception):
    """The Events API rejected the event with 413 because its body is too large."""


class RetryableStreamError(Exception):
    """The stream could not be opened now but may open later (5xx, 429).

    ``retry_after`` is the server's Retry-After in seconds, if it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _error_detail(response: httpx.Response) -> str:
    """Return the ``error``/``message`` fields of an error body, cut short.

    Control characters are escaped, because the text goes into log lines.
    """
    reason = response.reason_phrase or "no details"
    try:
        body = json.loads(response.content[:4096])
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return escape_controls(reason)
    if not isinstance(body, dict):
        return escape_controls(reason)
    parts = [str(body[key]) for key in ("error", "message") if body.get(key)]
    return escape_controls((": ".join(parts) or reason)[:300])


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _accepted_id(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    return str(body.get("id", "")) if isinstance(body, dict) else ""


class EventsClient:
    """Streams and publishes against one Events API with one token source."""

    def __init__(self, root_url: str, token: TokenSource) -> None:
        self.root_url = root_url.rstrip("/")
        self.token = token
        self._last_token: str | None = None
        transport = httpx.AsyncHTTPTransport(socket_options=KEEPALIVE_OPTIONS)
        self._client = httpx.AsyncClient(transport=transport, trust_env=False)

    def _headers(self) -> dict[str, str]:
        try:
            self._last_token = self.token.read()
        except ConfigError as error:
            if self._last_token is None:
                raise
            logger.warning("%s; using the token read before", error)
        return {"Authorization": f"Bearer {self._last_token}"}

    async def aclose(self) -> None:
        """Close every connection of the client."""
        await self._client.aclose()

    @asynccontextmanager
    async def stream(
        self, name: str, group: str, consumer: str
    ) -> AsyncIterator[httpx.Response]:
        """Open the unicast stream of ``name`` for ``consumer`` in ``group``.

        Yields the open response to read bytes from. Raises StreamRejected for
        401, 403 and other client errors, RetryableStreamError for 5xx, 408 and
        429, and httpx.TransportError for network failures.
        """
        params = {
            "name": name,
            "delivery": "unicast",
            "group": group,
            "consumer": consumer,
        }
        timeout = httpx.Timeout(CONNECT_TIMEOUT_SECONDS, read=None)
        url = f"{self.root_url}/api/v1/events/stream"
        async with self._client.stream(
            "GET", url, params=params, headers=self._headers(), timeout=timeout
        ) as response:
            if response.status_code != 200:
                await response.aread()
                self._raise_for_stream(response, name)
            yield response

    def _raise_for_stream(self, response: httpx.Response, name: str) -> None:
        status = response.status_code
        detail = _error_detail(response)
        where = f"the stream of {name} at {describe_url(self.root_url)}"
        if status in (401, 403):
            fix = (
                "check BUS_EVENTS_TOKEN or BUS_EVENTS_TOKEN_FILE"
                if status == 401
                else "give the token the events:listen or database:admin scope"
            )
            raise StreamRejected(
                f"Events API rejected {where} with HTTP {status} ({detail}); {fix}",
                status,
            )
        if status in RETRYABLE_STATUSES:
            raise RetryableStreamError(
                f"Events API returned HTTP {status} ({detail}) for {where}",
                _retry_after(response),
            )
        raise StreamRejected(
            f"Events API returned HTTP {status} ({detail}) for {where}; check "
            "BUS_EVENTS_API_BASE_URL and the group and consumer names",
            status,
        )

    async def publish(self, body: dict[str, Any], backoff: Backoff) -> str | None:
        """Publish one event, retrying network errors, 5xx and 429.

        Returns the event id the Events API assigned, or None after logging the
        error when the event could not be published. Raises PublishRejected on
        401 or 403, because every later response would fail the same way, and
        PublishTooLarge on 413, so the caller can publish a shorter event.
        """
        url = f"{self.root_url}/api/v1/events"
        content = encode_event(body)
        correlation_id = log_value(body.get("correlationId"))
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                response = await self._client.post(
                    url,
                    content=content,
                    headers={**self._headers(), "Content-Type": "application/json"},
                    timeout=PUBLISH_TIMEOUT_SECONDS,
                )
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {escape_controls(str(error))}"
                retry_after = None
            else:
                if response.is_success:
                    return _accepted_id(response)
                problem = f"HTTP {response.status_code} ({_error_detail(response)})"
                if response.status_code in (401, 403):
                    raise PublishRejected(
                        f"Events API rejected publishing {body.get('name')} with "
                        f"{problem}; check the token and its events:send or "
                        "database:* scopes"
                    )
                if response.status_code == 413:
                    raise PublishTooLarge(
                        f"Events API rejected the {len(content)}-byte event "
                        f"{body.get('name')} with {problem}"
                    )
                if response.status_code not in RETRYABLE_STATUSES:
                    logger.error(
                        "failed to publish %s correlation_id=%s: %s",
                        body.get("name"),
                        correlation_id,
                        problem,
                    )
                    return None
                retry_after = _retry_after(response)
            if attempt == PUBLISH_ATTEMPTS:
                break
            delay = max(
                backoff.next_delay(), min(retry_after or 0.0, backoff.max_seconds)
            )
            logger.warning(
                "failed to publish %s correlation_id=%s (attempt %d of %d): %s; "
                "retrying in %.1f s",
                body.get("name"),
                correlation_id,
                attempt,
                PUBLISH_ATTEMPTS,
                problem,
                delay,
            )
            await asyncio.sleep(delay)
        logger.error(
            "failed to publish %s correlation_id=%s after %d attempts: %s",
            body.get("name"),
            correlation_id,
            PUBLISH_ATTEMPTS,
            problem,
        )
        return None
