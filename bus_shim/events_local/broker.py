"""In-memory fan-out of published events to broadcast and unicast streams.

Every open stream owns one Subscription with an asyncio queue. Broadcast
streams of a name each get every event. Unicast streams join a consumer group,
and each event goes to one consumer of every group subscribed to its name.

Unicast events published before any group ever subscribed to their name are
not lost: the first group that subscribes to the name gets the events of that
name still in the history, as if it had been there. This covers a worker that
reconnects after the stand-in restarted and a request was published meanwhile.
Later groups only get events published after they first subscribed.

Memory is bounded by count and by bytes of encoded event lines: the history
by ``history_limit`` and ``history_max_bytes``, each group backlog by
``backlog_limit`` and all backlogs together by ``backlog_max_bytes``, and each
stream's queue by ``queue_limit`` and ``queue_max_bytes``. The oldest events
are evicted first. All state belongs to one Broker and lives on the event loop
thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..envelope import log_value
from .events import StoredEvent

logger = logging.getLogger(__name__)

DEFAULT_HISTORY_LIMIT = 10_000
DEFAULT_BACKLOG_LIMIT = 10_000
DEFAULT_QUEUE_LIMIT = 10_000
DEFAULT_HISTORY_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_BACKLOG_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_QUEUE_MAX_BYTES = 16 * 1024 * 1024
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
        queue_max_bytes: int = DEFAULT_QUEUE_MAX_BYTES,
    ) -> None:
        self.stream_id = stream_id
        self.name = name
        self.delivery = delivery
        self.group = group
        self.consumer = consumer
        self.identity_id = identity_id
        self.queue_limit = queue_limit
        self.queue_max_bytes = queue_max_bytes
        self.closed = False
        self.queued_bytes = 0
        # None marks the end of the stream. The queue itself is unbounded so
        # that the marker always fits, and offer() enforces the limits.
        self._queue: asyncio.Queue[StoredEvent | None] = asyncio.Queue()
        self._unsent: list[StoredEvent] = []

    def offer(self, event: StoredEvent) -> bool:
        """Queue ``event`` and return True, or return False if closed or full.

        An empty queue takes any one event, however large.
        """
        if self.closed or self._queue.qsize() >= self.queue_limit:
            return False
        if self.queued_bytes and self.queued_bytes + event.size > self.queue_max_bytes:
            return False
        self._queue.put_nowait(event)
        self.queued_bytes += event.size
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
        if event is None:
            return None
        self.queued_bytes -= event.size
        if self.closed:
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
        self.queued_bytes = 0
        return events

    @property
    def queued_events(self) -> int:
        """The number of events queued and not yet written."""
        return self._queue.qsize()

    def describe(self) -> dict[str, object]:
        """Return a JSON-ready summary of the stream for the control endpoint."""
        return {
            "stream": self.stream_id,
            "name": self.name,
            "delivery": self.delivery,
            "group": self.group,
            "consumer": self.consumer,
            "identity_id": self.identity_id,
            "queued": self.queued_events,
        }


@dataclass
class BacklogBudget:
    """Bytes held by all group backlogs of one broker, and their maximum."""

    max_bytes: int
    used: int = 0
    dropped: int = 0


@dataclass
class ConsumerGroup:
    """Unicast consumers of one name and group, served round robin."""

    name: str
    group: str
    backlog_limit: int
    budget: BacklogBudget
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
        self.backlog.append(event)
        self.budget.used += event.size
        self._trim_backlog()

    def requeue(self, events: Iterable[StoredEvent]) -> None:
        """Dispatch again events that a departed consumer never wrote."""
        pending = list(events)
        if not self.consumers:
            # Put them ahead of newer backlog so that the next consumer
            # receives them in the original order.
            self.backlog.extendleft(reversed(pending))
            self.budget.used += sum(event.size for event in pending)
            self._trim_backlog()
            return
        for event in pending:
            self.dispatch(event)

    def attach(self, consumer: Subscription) -> int:
        """Add ``consumer``, move the backlog to its queue and return the count."""
        self.consumers.append(consumer)
        moved = 0
        while self.backlog and consumer.offer(self.backlog[0]):
            self.budget.used -= self.backlog.popleft().size
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

    def drop_oldest(self) -> StoredEvent:
        """Remove and return the first backlog event, which the caller logs."""
        dropped = self.backlog.popleft()
        self.budget.used -= dropped.size
        return dropped

    def _trim_backlog(self) -> None:
        while len(self.backlog) > self.backlog_limit:
            dropped = self.drop_oldest()
            self.dropped += 1
            if self.dropped % DROP_LOG_INTERVAL == 1:
                logger.warning(
                    "backlog of group %s for %s is full at %d events, so the "
                    "oldest event %s was dropped (%d dropped so far); start a "
                    "consumer for the group",
                    self.group,
                    self.name,
                    self.backlog_limit,
                    log_value(dropped.event_id),
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
        history_max_bytes: int = DEFAULT_HISTORY_MAX_BYTES,
        backlog_max_bytes: int = DEFAULT_BACKLOG_MAX_BYTES,
        queue_max_bytes: int = DEFAULT_QUEUE_MAX_BYTES,
    ) -> None:
        self.history: deque[StoredEvent] = deque()
        self.history_bytes = 0
        self.history_limit = history_limit
        self.history_max_bytes = history_max_bytes
        self.backlog_limit = backlog_limit
        self.backlog_budget = BacklogBudget(backlog_max_bytes)
        self.queue_limit = queue_limit
        self.queue_max_bytes = queue_max_bytes
        self._listeners: dict[str, dict[int, Subscription]] = {}
        # Groups stay after their last consumer leaves, so that events
        # published meanwhile wait in the backlog for the next consumer.
        self._groups: dict[str, dict[str, ConsumerGroup]] = {}
        self._streams: dict[int, Subscription] = {}
        self._stream_ids = itertools.count(1)

    def publish(self, event: StoredEvent) -> None:
        """Store ``event`` in the history and deliver it to current streams."""
        self._append_history(event)
        for listener in list(self._listeners.get(event.name, {}).values()):
            if not listener.offer(event) and not listener.closed:
                logger.warning(
                    "closing broadcast stream %d for %s: %d events (%d bytes) are "
                    "queued and not read",
                    listener.stream_id,
                    event.name,
                    listener.queued_events,
                    listener.queued_bytes,
                )
                listener.close()
        for group in self._groups.get(event.name, {}).values():
            group.dispatch(event)
        self._enforce_backlog_budget()

    def _append_history(self, event: StoredEvent) -> None:
        self.history.append(event)
        self.history_bytes += event.size
        while self.history and (
            len(self.history) > self.history_limit
            or self.history_bytes > self.history_max_bytes
        ):
            self.history_bytes -= self.history.popleft().size

    def _enforce_backlog_budget(self) -> None:
        """Drop the oldest backlog events of any group until all fit the budget."""
        budget = self.backlog_budget
        while budget.used > budget.max_bytes:
            groups = [
                group
                for by_group in self._groups.values()
                for group in by_group.values()
                if group.backlog
            ]
            if not groups:
                return
            oldest = min(groups, key=lambda group: group.backlog[0].seq)
            dropped = oldest.drop_oldest()
            budget.dropped += 1
            if budget.dropped % DROP_LOG_INTERVAL == 1:
                logger.warning(
                    "backlogs hold more than %d bytes, so the oldest event %s of "
                    "group %s for %s was dropped (%d dropped so far); start a "
                    "consumer for the group",
                    budget.max_bytes,
                    log_value(dropped.event_id),
                    oldest.group,
                    oldest.name,
                    budget.dropped,
                )

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
        receives the group's backlog at once. The first group of a name
        starts with the events of that name in the history.
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
            self.queue_max_bytes,
        )
        self._streams[stream_id] = subscription
        if not unicast:
            self._listeners.setdefault(name, {})[stream_id] = subscription
            return subscription

        first_group = name not in self._groups
        groups = self._groups.setdefault(name, {})
        if group not in groups:
            groups[group] = ConsumerGroup(
                name, group, self.backlog_limit, self.backlog_budget
            )
            if first_group:
                self._seed_from_history(groups[group])
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

    def _seed_from_history(self, group: ConsumerGroup) -> None:
        """Backlog the events published before any group subscribed to the name."""
        waiting = self.replay(group.name)
        if not waiting:
            return
        logger.info(
            "group %s is the first for %s, so it gets the %d events of that name "
            "published before",
            group.group,
            group.name,
            len(waiting),
        )
        group.requeue(waiting)
        self._enforce_backlog_budget()

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
        self._enforce_backlog_budget()
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
