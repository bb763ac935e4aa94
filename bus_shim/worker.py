"""The event worker: serves bus.database.* requests from the Bus Events API."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from busdk_database.models import OPERATIONS
from busdk_database.service import ConnectionReuse, handle

from .backoff import Backoff
from .config import ConfigError
from .envelope import (
    RequestEvent,
    log_value,
    parse_oversize_line,
    parse_request_line,
    request_name,
)
from .events_client import (
    EventsClient,
    PublishRejected,
    RetryableStreamError,
    StreamRejected,
)
from .ndjson import LineSplitter, OversizeLine
from .responder import Handler, Responder
from .state import HandledStore
from .worker_config import WorkerConfig, describe_url

logger = logging.getLogger(__name__)

# Lines read ahead of the request being handled, per stream. The reader stops
# reading while this many wait, so the Events API keeps the rest queued for
# other consumers, or for this one after a restart.
INBOX_LIMIT = 8
EXIT_OK = 0
EXIT_FATAL = 1
EXIT_FORCED = 130

Item = bytes | OversizeLine


class Inbox:
    """Lines read from one stream and not yet handled, with a soft limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self._space = asyncio.Event()

    def put_all(self, items: list[Item]) -> None:
        """Queue every item of one chunk, because the limit only pauses the reader."""
        for item in items:
            self._queue.put_nowait(item)

    def close(self) -> None:
        """Queue the end marker after the lines already queued."""
        self._queue.put_nowait(None)

    async def wait_for_space(self) -> None:
        """Wait until fewer than ``limit`` lines are queued."""
        while self._queue.qsize() >= self.limit:
            self._space.clear()
            await self._space.wait()

    async def get(self) -> Item | None:
        """Return the next line, or None once closed and drained."""
        item = await self._queue.get()
        self._space.set()
        return item


class Worker:
    """One worker instance: a unicast stream and a handler per operation.

    Every request gets one response event, errors included, unless it has no
    usable correlation id or publishing fails. An apply request already in the
    handled-request record gets the stored response again instead of running
    twice (see ``bus_shim.state``). Once the Events API rejects the token for
    publishing, the worker stops and runs no further request, and the log
    names each correlation id left unanswered.
    """

    def __init__(self, config: WorkerConfig, handler: Handler | None = None) -> None:
        """Open the handled-request record, or raise StateError if it is unusable.

        The default handler is the core's ``handle`` with a connection cache
        owned by this worker, so read-only requests reuse server connections.
        """
        self.config = config
        self.store = HandledStore(
            config.state_dir, config.state_max_entries, config.dedup_window_seconds
        )
        self.connections = ConnectionReuse()
        if handler is None:
            handler = functools.partial(handle, connections=self.connections)
        self.responder = Responder(config, handler, self.store)
        self.fatal_error: str | None = None
        self._publish_rejected = False
        self._stopping: asyncio.Event | None = None
        self._busy: set[str] = set()
        self._signals = 0

    def _stop(self, reason: str | None = None) -> None:
        if reason and self.fatal_error is None:
            self.fatal_error = reason
            logger.error("%s", reason)
        if self._stopping is not None:
            self._stopping.set()

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        self._signals += 1
        if self._signals > 1:
            logger.error(
                "received %s again: exiting without waiting for %d request(s) in "
                "flight",
                name,
                len(self._busy),
            )
            logging.shutdown()
            os._exit(EXIT_FORCED)
        logger.info(
            "received %s: taking no new events, finishing %d request(s) in flight",
            name,
            len(self._busy),
        )
        self._stop()

    async def run(self) -> int:
        """Serve until a stop signal or a fatal error, then return the exit status."""
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)

        config = self.config
        settings = config.settings
        logger.info(
            "worker starting: events API %s, group %s, consumer %s, deployments %s, "
            "real applies %s, state %s, dedup window %g s",
            describe_url(config.events_url),
            config.group,
            config.consumer,
            ",".join(settings.served_deployments or ["any"]),
            "enabled" if settings.allow_real_apply else "disabled",
            self.store.path,
            config.dedup_window_seconds,
        )
        client = EventsClient(config.events_url, config.token)
        executor = ThreadPoolExecutor(len(OPERATIONS), thread_name_prefix="bus-shim")
        inboxes = {operation: Inbox(INBOX_LIMIT) for operation in OPERATIONS}
        readers = [
            asyncio.create_task(self._read_stream(client, op, inboxes[op]))
            for op in OPERATIONS
        ]
        handlers = [
            asyncio.create_task(self._handle_inbox(client, executor, op, inboxes[op]))
            for op in OPERATIONS
        ]
        try:
            await self._stopping.wait()
        finally:
            # Closing the streams first lets the Events API keep new events
            # for other consumers while the requests already read finish.
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            for inbox in inboxes.values():
                inbox.close()
            await asyncio.gather(*handlers, return_exceptions=True)
            await client.aclose()
            executor.shutdown(wait=True)
            self.connections.close()
            self.store.close()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        logger.info("worker stopped")
        return EXIT_FATAL if self.fatal_error else EXIT_OK

    async def _read_stream(
        self, client: EventsClient, operation: str, inbox: Inbox
    ) -> None:
        name = request_name(operation)
        config = self.config
        backoff = Backoff(config.retry.min_seconds, config.retry.max_seconds)
        while True:
            retry_after = 0.0
            try:
                seconds = await self._follow(client, name, inbox, backoff)
                problem = f"stream ended by the server after {seconds:.0f} s"
            except StreamRejected as error:
                self._stop(str(error))
                return
            except ConfigError as error:
                self._stop(f"Stopping: {error}")
                return
            except RetryableStreamError as error:
                problem = str(error)
                retry_after = error.retry_after or 0.0
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {str(error) or 'no details'}"
            except Exception:
                logger.exception("unexpected error in the stream of %s", name)
                self._stop(f"Stopping: the stream reader of {name} failed")
                return

            if not config.retry.enabled:
                self._stop(
                    f"Stopping: {name}: {problem}, and BUS_EVENTS_LISTENER_RETRY is "
                    "false"
                )
                return
            delay = max(
                backoff.next_delay(), min(retry_after, config.retry.max_seconds)
            )
            logger.warning(
                "%s: %s; reconnecting in %.1f s (attempt %d)",
                name,
                problem,
                delay,
                backoff.attempt,
            )
            await asyncio.sleep(delay)

    async def _follow(
        self, client: EventsClient, name: str, inbox: Inbox, backoff: Backoff
    ) -> float:
        """Read one stream connection to its end and return how long it was open.

        The backoff starts again from its minimum once the stream delivers a
        line or has stayed open for the maximum delay, so a server that closes
        every stream at once is not reconnected to in a tight loop.
        """
        config = self.config
        splitter = LineSplitter(config.max_line_bytes)
        async with client.stream(name, config.group, config.consumer) as response:
            opened = time.monotonic()
            logger.info(
                "listening for %s (group %s, consumer %s)",
                name,
                config.group,
                config.consumer,
            )
            async for chunk in response.aiter_bytes():
                lines = splitter.feed(chunk)
                if lines or time.monotonic() - opened >= config.retry.max_seconds:
                    backoff.reset()
                inbox.put_all(lines)
                await inbox.wait_for_space()
        if splitter.pending_bytes:
            logger.warning(
                "%s: the stream ended inside a line; %d bytes dropped",
                name,
                splitter.pending_bytes,
            )
        seconds = time.monotonic() - opened
        if seconds >= config.retry.max_seconds:
            backoff.reset()
        return seconds

    async def _handle_inbox(
        self,
        client: EventsClient,
        executor: ThreadPoolExecutor,
        operation: str,
        inbox: Inbox,
    ) -> None:
        while True:
            item = await inbox.get()
            if item is None:
                return
            self._busy.add(operation)
            try:
                await self._handle_item(client, executor, operation, item)
            except Exception:
                logger.exception("failed to handle a %s event", request_name(operation))
            finally:
                self._busy.discard(operation)

    async def _handle_item(
        self,
        client: EventsClient,
        executor: ThreadPoolExecutor,
        operation: str,
        item: Item,
    ) -> None:
        started = time.monotonic()
        if isinstance(item, OversizeLine):
            event = parse_oversize_line(operation, item, self.config.max_line_bytes)
        else:
            event = parse_request_line(operation, item)
        if event.correlation_id is None:
            logger.warning(
                "event=%s event_id=%s correlation_id=- outcome=skipped size=%d "
                "detail=%s",
                event.name,
                log_value(event.event_id),
                event.size,
                log_value(event.problem or "no correlationId or correlation_id"),
            )
            return
        if self._publish_rejected:
            self._log_event(
                event,
                "unanswered",
                started,
                None,
                "not run, because the Events API rejected publishing",
            )
            return

        response, outcome = await self.responder.respond(
            executor, event, self._stopping_event()
        )
        published = None
        detail = None
        if response is not None:
            try:
                published = await self.responder.publish(client, event, response)
            except PublishRejected as error:
                # Without a usable token no response can be published, so stop
                # taking events and leave them to other consumers.
                self._publish_rejected = True
                logger.error(
                    "event=%s correlation_id=%s: the response was not published, so "
                    "the request is left unanswered",
                    event.name,
                    log_value(event.correlation_id),
                )
                self._stop(f"Stopping: {error}")
            diagnostics = response.get("diagnostics") or []
            if not response.get("ok") and diagnostics:
                detail = str(diagnostics[0])
        self._log_event(event, outcome, started, published, detail)

    def _stopping_event(self) -> asyncio.Event:
        assert self._stopping is not None
        return self._stopping

    def _log_event(
        self,
        event: RequestEvent,
        outcome: str,
        started: float,
        published: str | None,
        detail: str | None,
    ) -> None:
        """Log the one line per event that the README documents."""
        logger.info(
            "event=%s event_id=%s correlation_id=%s outcome=%s duration_ms=%.1f "
            "published=%s%s",
            event.name,
            log_value(event.event_id),
            log_value(event.correlation_id),
            outcome,
            (time.monotonic() - started) * 1000,
            "true" if published is not None else "false",
            f" detail={log_value(detail)}" if detail else "",
        )


def run_worker(config: WorkerConfig) -> int:
    """Run a worker until it stops and return the process exit status.

    Raises StateError when the handled-request record cannot be opened.
    """
    worker = Worker(config)
    return asyncio.run(worker.run())
