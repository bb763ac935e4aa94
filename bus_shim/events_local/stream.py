"""The NDJSON streaming response of ``GET /api/v1/events/stream``."""

from __future__ import annotations

import asyncio
import logging

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .broker import Broker, Subscription
from .events import StoredEvent

logger = logging.getLogger(__name__)

NDJSON_MEDIA_TYPE = "application/x-ndjson"


class EventStreamResponse(Response):
    """Write replayed and then live events as NDJSON until the stream ends.

    The stream ends when the client disconnects, when the broker closes the
    subscription, or after the replay when ``subscription`` is None. It sends no
    heartbeat lines, so a concurrent task reads ``receive`` to notice a client
    that went away while the stream was idle.
    """

    media_type = NDJSON_MEDIA_TYPE

    def __init__(
        self,
        broker: Broker,
        replayed: list[StoredEvent],
        subscription: Subscription | None,
    ) -> None:
        self.broker = broker
        self.replayed = replayed
        self.subscription = subscription
        self.client_gone = False
        self.status_code = 200
        self.background = None
        # No body attribute, so init_headers adds no Content-Length and uvicorn
        # uses chunked transfer encoding.
        self.init_headers({"cache-control": "no-cache", "x-accel-buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the stream as an ASGI response."""
        watcher: asyncio.Task[None] | None = None
        requeued = 0
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            watcher = asyncio.create_task(self._watch_disconnect(receive))
            await self._write_events(send)
        finally:
            if watcher is not None:
                watcher.cancel()
            # The handler subscribed before this response ran, so every exit
            # path must unsubscribe, or a unicast group would keep routing
            # events to a consumer that is gone.
            if self.subscription is not None:
                requeued = self.broker.unsubscribe(self.subscription)
        self._log_end(requeued)
        if not self.client_gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _write_events(self, send: Send) -> None:
        for event in self.replayed:
            if self.client_gone:
                return
            await self._send_line(send, event)
        if self.subscription is None:
            return
        while True:
            live_event = await self.subscription.next_event()
            if live_event is None:
                return
            # NOTE: uvicorn (0.55) returns from send() without an error when
            # the connection dropped during the write. An event taken from the
            # queue in that moment is lost and not requeued.
            await self._send_line(send, live_event)

    @staticmethod
    async def _send_line(send: Send, event: StoredEvent) -> None:
        await send(
            {"type": "http.response.body", "body": event.line, "more_body": True}
        )

    async def _watch_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                if self.subscription is not None:
                    self.subscription.close()
                return

    def _log_end(self, requeued: int) -> None:
        subscription = self.subscription
        if subscription is None:
            logger.info("replay sent %d events and closed", len(self.replayed))
            return
        reason = "client disconnected" if self.client_gone else "closed by server"
        logger.info(
            "stream %d for %s closed (%s), %d unsent events requeued",
            subscription.stream_id,
            subscription.name,
            reason,
            requeued,
        )
