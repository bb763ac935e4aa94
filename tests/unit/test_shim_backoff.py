"""Reconnect delays: bounded, growing and jittered."""

from __future__ import annotations

import random

from bus_shim.backoff import Backoff


def test_backoff_stays_within_bounds() -> None:
    backoff = Backoff(1.0, 30.0, random_source=random.Random(7))

    delays = [backoff.next_delay() for _ in range(50)]

    assert all(1.0 <= delay <= 30.0 for delay in delays)
    assert max(delays[-10:]) >= 15.0


def test_backoff_grows_then_caps() -> None:
    backoff = Backoff(1.0, 30.0, random_source=random.Random(1))

    delays = [backoff.next_delay() for _ in range(8)]

    assert delays[0] <= 1.0
    assert 2.0 <= delays[2] <= 4.0
    assert 15.0 <= delays[7] <= 30.0


def test_backoff_reset_starts_over() -> None:
    backoff = Backoff(0.5, 8.0, random_source=random.Random(3))
    for _ in range(6):
        backoff.next_delay()

    backoff.reset()

    assert backoff.attempt == 0
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_varies() -> None:
    delays = {
        Backoff(1.0, 30.0, attempt=4, random_source=random.Random(seed)).next_delay()
        for seed in range(20)
    }

    assert len(delays) > 10


def test_backoff_huge_attempt() -> None:
    backoff = Backoff(1.0, 30.0, attempt=10_000)

    assert 15.0 <= backoff.next_delay() <= 30.0
