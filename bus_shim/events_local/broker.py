"""In-memory fan-out of published events to broadcast and unicast streams.

Every open stream owns one Subscription with an asyncio queue. Broadcast
streams of a name each get every event. Unicast streams join a consumer group,
and each event goes to one consumer of every group subscribed to its name.
All state belongs to one Broker and lives on the event loop thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from .events import StoredEvent

logger = logging.getLogger(__name__)

DEFAULT_HISTORY_LIMIT = 10_000
DEFAULT_BACKLOG_LIMIT = 10_000
DEFAULT_QUEUE_LIMIT = 10_000
# Log the first dropped event and then every Nth, so a stuck group cannot
# flood the log.
DROP_LOG_INTERVAL = 1_000


class Subscription:
    """One open stream: its queue of events not yet written and its state."""

    def __init__(
        self,
        stream_id: int,
        name: str,
        delivery: str,
        group: str | None,
        consumer: str | None,
        identity_id: str,
        queue_limit: int,
    ) -> None:
        self.stream_id = stream_id
        self.name = name
        self.delivery = delivery
        self.group = group
        self.consumer = consumer
        self.identity_id = identity_id
        self.queue_limit = queue_limit
        self.closed = False
        # None marks the end of the stream. The queue itself is unbounded so
        # that the marker always fits, and offer() enforces queue_limit.
        self._queue: asyncio.Queue[StoredEvent | None] = asyncio.Queue()
        self._unsent: list[StoredEvent] = []

    def offer(self, event: StoredEvent) -> bool:
        """Queue ``event`` and return True, or return False if closed or full."""
        if self.closed or self._queue.qsize() >= self.queue_limit:
            return False
        self._queue.put_nowait(event)
        return True

    def close(self) -> None:
        """End the stream after the event being written, if any."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    async def next_event(self) -> StoredEvent | None:
        """Wait for the next event to write, or return None once closed."""
        if self.closed:
            return None
        event = await self._queue.get()
        if event is not None and self.closed:
            # close() ran while this task was waking up, so the event was never
            # written and must go back to the group.
            self._unsent.append(event)
            return None
        return event

    def drain(self) -> list[StoredEvent]:
        """Remove and return the events that were queued but never written."""
        events = self._unsent
        self._unsent = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is not None:
                events.append(event)
        return events

    def describe(self) -> dict[str, object]:
        """Return a JSON-ready summary of the stream for the control endpoint."""
        return {
            "stream": self.stream_id,
            "name": self.name,
            "delivery": self.delivery,
            "group": self.group,
            "consumer": self.consumer,
            "identity_id": self.identity_id,
            "queued": self._queue.qsize(),
        }


@dataclass
class ConsumerGroup:
    """Unicast consumers of one name and group, served round robin."""

    name: str
    group: str
    backlog_limit: int
    consumers: list[Subscription] = field(default_factory=list)
    backlog: deque[StoredEvent] = field(default_factory=deque)
    next_index: int = 0
    dropped: int = 0

    def dispatch(self, event: StoredEvent) -> None:
        """Give ``event`` to the next consumer that accepts it, else backlog it."""
        count = len(self.consumers)
        for step in range(count):
            index = (self.next_index + step) % count
            if self.consumers[index].offer(event):
                self.next_index = (index + 1) % count
                return
        self._append_backlog(event)

    def requeue(self, events: Iterable[StoredEvent]) -> None:
        """Dispatch again events that a departed consumer never wrote."""
        pending = list(events)
        if not self.consumers:
            # Put them ahead of newer backlog so that the next consumer
            # receives them in the original order.
            self.backlog.extendleft(reversed(pending))
            self._trim_backlog()
            return
        for event in pending:
            self.dispatch(event)

    def attach(self, consumer: Subscription) -> int:
        """Add ``consumer``, move the backlog to its queue and return the count."""
        self.consumers.append(consumer)
        moved = 0
        while self.backlog and consumer.offer(self.backlog[0]):
            self.backlog.popleft()
            moved += 1
        return moved

    def detach(self, consumer: Subscription) -> None:
        """Remove ``consumer`` and keep the round robin on the next one."""
        if consumer not in self.consumers:
            return
        index = self.consumers.index(consumer)
        del self.consumers[index]
        if index < self.next_index:
            self.next_index -= 1
        if self.consumers:
            self.next_index %= len(self.consumers)
        else:
            self.next_index = 0

    def _append_backlog(self, event: StoredEvent) -> None:
        self.backlog.append(event)
        self._trim_backlog()

    def _trim_backlog(self) -> None:
        while len(self.backlog) > self.backlog_limit:
            dropped = self.backlog.popleft()
            self.dropped += 1
            if self.dropped % DROP_LOG_INTERVAL == 1:
                logger.warning(
                    "backlog of group %s for %s is full at %d events, so the "
                    "oldest event %s was dropped (%d dropped so far); start a "
                    "consumer for the group",
                    self.group,
                    self.name,
                    self.backlog_limit,
                    dropped.envelope["id"],
                    self.dropped,
                )


class Broker:
    """Event history, broadcast listeners and unicast consumer groups."""

    def __init__(
        self,
        *,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        backlog_limit: int = DEFAULT_BACKLOG_LIMIT,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
    ) -> None:
        self.history: deque[StoredEvent] = deque(maxlen=history_limit)
        self.backlog_limit = backlog_limit
        self.queue_limit = queue_limit
        self._listeners: dict[str, dict[int, Subscription]] = {}
        # Groups stay after their last consumer leaves, so that events
        # published meanwhile wait in the backlog for the next consumer.
        self._groups: dict[str, dict[str, ConsumerGroup]] = {}
        self._streams: dict[int, Subscription] = {}
        self._stream_ids = itertools.count(1)

    def publish(self, event: StoredEvent) -> None:
        """Store ``event`` in the history and deliver it to current streams."""
        self.history.append(event)
        for listener in list(self._listeners.get(event.name, {}).values()):
            if not listener.offer(event) and not listener.closed:
                logger.warning(
                    "closing broadcast stream %d for %s: %d events are queued "
                    "and not read",
                    listener.stream_id,
                    event.name,
                    listener.queue_limit,
                )
                listener.close()
        for group in self._groups.get(event.name, {}).values():
            group.dispatch(event)

    def replay(self, name: str) -> list[StoredEvent]:
        """Return the stored events named ``name``, oldest first."""
        return [event for event in self.history if event.name == name]

    def subscribe(
        self,
        name: str,
        delivery: str,
        identity_id: str,
        *,
        group: str = "default",
        consumer: str = "default",
    ) -> Subscription:
        """Open a stream subscription for ``name``.

        A unicast subscription joins ``group`` (created on first use) and
        receives the group's backlog at once.
        """
        stream_id = next(self._stream_ids)
        unicast = delivery == "unicast"
        subscription = Subscription(
            stream_id,
            name,
            delivery,
            group if unicast else None,
            consumer if unicast else None,
            identity_id,
            self.queue_limit,
        )
        self._streams[stream_id] = subscription
        if not unicast:
            self._listeners.setdefault(name, {})[stream_id] = subscription
            return subscription

        groups = self._groups.setdefault(name, {})
        if group not in groups:
            groups[group] = ConsumerGroup(name, group, self.backlog_limit)
        moved = groups[group].attach(subscription)
        if moved:
            logger.info(
                "delivering %d backlog events of group %s for %s to consumer %s",
                moved,
                group,
                name,
                consumer,
            )
        return subscription

    def unsubscribe(self, subscription: Subscription) -> int:
        """Remove a finished stream and return how many unwritten events requeued."""
        subscription.closed = True
        self._streams.pop(subscription.stream_id, None)
        if subscription.group is None:
            self._listeners.get(subscription.name, {}).pop(subscription.stream_id, None)
            return 0
        group = self._groups[subscription.name][subscription.group]
        unsent = subscription.drain()
        group.detach(subscription)
        group.requeue(unsent)
        return len(unsent)

    def close_all(self) -> int:
        """Close every open stream so that its client reads EOF; return the count."""
        streams = list(self._streams.values())
        for subscription in streams:
            subscription.close()
        return len(streams)

    def describe_streams(self) -> list[dict[str, object]]:
        """Return a summary of every open stream, oldest first."""
        return [stream.describe() for stream in self._streams.values()]
