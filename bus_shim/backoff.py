"""Bounded exponential backoff with jitter for reconnects and publish retries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that double from ``min_seconds`` up to ``max_seconds``.

    Each delay is drawn uniformly from the upper half of the current step
    ("equal jitter"), so many workers that lost the same server do not
    reconnect in lockstep, and no delay is shorter than ``min_seconds``.
    Each reconnect loop owns one instance.
    """

    min_seconds: float
    max_seconds: float
    attempt: int = 0
    random_source: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """Return the delay before the next attempt and count the attempt."""
        step = min(self.max_seconds, self.min_seconds * 2.0 ** min(self.attempt, 32))
        self.attempt += 1
        delay = self.random_source.uniform(step / 2.0, step)
        return max(self.min_seconds, delay)

    def reset(self) -> None:
        """Start again from ``min_seconds`` after a success."""
        self.attempt = 0
