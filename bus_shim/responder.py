"""Run each request once and publish its response within the size limit.

Apply requests go through the handled-request record (see ``bus_shim.state``)
before they run. Plan, status and verify change nothing and run on every
delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from .backoff import Backoff
from .envelope import (
    RequestEvent,
    error_response,
    log_value,
    rejection,
    response_event,
)
from .events_client import EventsClient, PublishTooLarge
from .response_limit import (
    MIN_RESPONSE_BYTES,
    bounded_response_event,
    encode_event,
    shortened_response,
)
from .state import Claim, ClaimState, HandledStore, StateError
from .worker_config import WorkerConfig

logger = logging.getLogger(__name__)

Handler = Callable[..., dict[str, Any]]
# How often a worker waiting for another worker's run of the same apply
# request reads the record again.
CLAIM_POLL_SECONDS = 0.2


def outcome_of(response: dict[str, Any]) -> str:
    """Return the ``outcome`` log value of a response that ran."""
    return "ok" if response.get("ok") else str(response.get("error_class"))


class Responder:
    """Produces the response to each request and publishes it."""

    def __init__(
        self, config: WorkerConfig, handler: Handler, store: HandledStore
    ) -> None:
        self.config = config
        self.handler = handler
        self.store = store

    async def respond(
        self,
        executor: ThreadPoolExecutor,
        event: RequestEvent,
        stopping: asyncio.Event,
    ) -> tuple[dict[str, Any] | None, str]:
        """Return the response to ``event`` and the outcome to log.

        The response is None when the worker stopped while another worker was
        running the same apply request, because that worker publishes the response.
        """
        if event.operation != "apply" or event.problem is not None:
            response = await self._run(executor, event)
            return response, outcome_of(response)
        request_key = event.request_key()
        if request_key is None:
            invalid = replace(
                event, problem="Invalid event: the payload is nested too deeply"
            )
            return rejection(invalid), "bad_request"

        try:
            claim = await self._claim(event, request_key, stopping)
        except StateError as error:
            diagnostic = (
                f"The apply request did not run. {error}. Every apply request is "
                "recorded before it runs, so that a duplicate is never applied "
                "twice. Make the state database writable and send the request again."
            )
            return error_response(event, "provider_error", diagnostic), "provider_error"
        if claim is None:
            return None, "unanswered"
        if claim.state is ClaimState.DONE:
            assert claim.response is not None
            return claim.response, "duplicate"
        if claim.state is ClaimState.LOST:
            diagnostic = (
                "The apply request was not run again: this worker ran it before "
                f"but failed to record its response in {self.store.path}. Check "
                "the worker log, and send the request with a new correlation id "
                "to run it again."
            )
            return error_response(event, "provider_error", diagnostic), "duplicate"

        response = await self._run(executor, event)
        self.store.finish(request_key, event.correlation_id, response)
        return response, outcome_of(response)

    async def _claim(
        self, event: RequestEvent, request_key: str, stopping: asyncio.Event
    ) -> Claim | None:
        """Claim the request, waiting while another live worker runs it.

        Returns None when the worker stops while waiting. Raises StateError
        when the record cannot be written.
        """
        waiting = False
        while True:
            claim = self.store.claim(request_key, event.event_id, event.correlation_id)
            if claim.state is not ClaimState.PENDING:
                return claim
            if not waiting:
                waiting = True
                logger.info(
                    "event=%s event_id=%s correlation_id=%s: waiting for worker %s, "
                    "which is running the same apply request",
                    event.name,
                    log_value(event.event_id),
                    log_value(event.correlation_id),
                    claim.owner,
                )
            if stopping.is_set():
                logger.warning(
                    "event=%s correlation_id=%s: stopping before worker %s finished "
                    "the same apply request; that worker publishes the response",
                    event.name,
                    log_value(event.correlation_id),
                    claim.owner,
                )
                return None
            await asyncio.sleep(CLAIM_POLL_SECONDS)

    async def _run(
        self, executor: ThreadPoolExecutor, event: RequestEvent
    ) -> dict[str, Any]:
        if event.problem is not None:
            return rejection(event)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            executor, self.handler, event.operation, event.payload, self.config.settings
        )

    def _backoff(self) -> Backoff:
        retry = self.config.retry
        return Backoff(retry.min_seconds, retry.max_seconds)

    async def publish(
        self, client: EventsClient, event: RequestEvent, response: dict[str, Any]
    ) -> str | None:
        """Publish the response event and return the id the Events API gave it.

        A response above BUS_SHIM_MAX_RESPONSE_BYTES is shortened first, and
        one the Events API rejects as too large is shortened to
        MIN_RESPONSE_BYTES and published again. Returns None, after logging,
        when the response could not be published. Raises PublishRejected for
        a rejected token.
        """
        assert event.correlation_id is not None
        operation, correlation_id = event.operation, event.correlation_id
        limit = self.config.max_response_bytes
        body, full_size = bounded_response_event(
            operation, correlation_id, response, limit
        )
        if full_size is not None:
            logger.warning(
                "event=%s correlation_id=%s: the response event is %d bytes, above "
                "BUS_SHIM_MAX_RESPONSE_BYTES %d, so a shortened response is "
                "published",
                event.name,
                log_value(correlation_id),
                full_size,
                limit,
            )
        try:
            return await client.publish(body, self._backoff())
        except PublishTooLarge as error:
            logger.warning(
                "event=%s correlation_id=%s: %s; publishing a response shortened to "
                "%d bytes",
                event.name,
                log_value(correlation_id),
                error,
                MIN_RESPONSE_BYTES,
            )
        full_size = len(
            encode_event(response_event(operation, correlation_id, response))
        )
        short = shortened_response(
            operation, correlation_id, response, full_size, MIN_RESPONSE_BYTES
        )
        try:
            return await client.publish(
                response_event(operation, correlation_id, short), self._backoff()
            )
        except PublishTooLarge as error:
            logger.error(
                "event=%s correlation_id=%s: %s, even shortened; the request is left "
                "unanswered",
                event.name,
                log_value(correlation_id),
                error,
            )
            return None
