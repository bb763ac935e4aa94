"""The on-disk record of apply requests."""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bus_shim.state import ClaimState, HandledStore, StateError

RESPONSE = {"ok": True, "actions": ["discover-provider"], "changed": True}
WINDOW = 600.0


class Clock:
    """A settable time source for the window tests."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def open_store(directory: Path, owner: str, clock: Clock | None = None) -> HandledStore:
    return HandledStore(directory, 10, WINDOW, owner=owner, clock=clock or Clock())


def test_claim_then_duplicate_gets_response(tmp_path: Path) -> None:
    store = open_store(tmp_path, "host:1:a")

    first = store.claim("key-1", "event-1", "corr-1")
    store.finish("key-1", "corr-1", RESPONSE)
    again = store.claim("key-1", "event-2", "corr-1")

    assert first.state is ClaimState.CLAIMED
    assert again.state is ClaimState.DONE
    assert again.response == RESPONSE
    assert store.claim("key-2", "event-1", "corr-2").state is ClaimState.CLAIMED
    store.close()


def test_store_survives_reopen(tmp_path: Path) -> None:
    clock = Clock()
    first = open_store(tmp_path, "host:1:a", clock)
    first.claim("key-1", "event-1", "corr-1")
    first.finish("key-1", "corr-1", RESPONSE)
    first.close()

    second = open_store(tmp_path, "host:2:b", clock)

    assert second.claim("key-1", "event-1", "corr-1").response == RESPONSE
    second.close()


def test_record_expires_after_window(tmp_path: Path) -> None:
    clock = Clock()
    store = open_store(tmp_path, "host:1:a", clock)
    store.claim("key-1", "event-1", "corr-1")
    store.finish("key-1", "corr-1", RESPONSE)

    clock.now += WINDOW - 1
    inside = store.claim("key-1", "event-1", "corr-1")
    clock.now += 2
    after = store.claim("key-1", "event-1", "corr-1")

    assert inside.state is ClaimState.DONE
    assert after.state is ClaimState.CLAIMED
    store.close()


def test_store_keeps_only_newest_entries(tmp_path: Path) -> None:
    store = HandledStore(tmp_path, 3, WINDOW, owner="host:1:a")
    for number in range(10):
        store.claim(f"key-{number}", None, f"c{number}")
        store.finish(f"key-{number}", f"c{number}", {"n": number})

    assert store.count() == 3
    assert store.claim("key-9", None, "c9").response == {"n": 9}
    assert store.claim("key-6", None, "c6").state is ClaimState.CLAIMED
    store.close()


def test_second_worker_sees_pending_claim(tmp_path: Path) -> None:
    # The parent of this test process is the live owner of the first claim.
    host = socket.gethostname()
    clock = Clock()
    first = open_store(tmp_path, f"{host}:{os.getppid()}:first", clock)
    second = open_store(tmp_path, f"{host}:{os.getpid()}:second", clock)

    claimed = first.claim("key-1", "event-1", "corr-1")
    pending = second.claim("key-1", "event-2", "corr-1")
    first.finish("key-1", "corr-1", RESPONSE)
    done = second.claim("key-1", "event-2", "corr-1")

    assert claimed.state is ClaimState.CLAIMED
    assert pending.state is ClaimState.PENDING
    assert pending.owner == first.owner
    assert done.state is ClaimState.DONE
    assert done.response == RESPONSE
    first.close()
    second.close()


def test_claim_of_exited_worker_taken_over(tmp_path: Path) -> None:
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = socket.gethostname()
    clock = Clock()
    crashed = open_store(tmp_path, f"{host}:{exited.stdout.strip()}:old", clock)
    crashed.claim("key-1", "event-1", "corr-1")
    successor = open_store(tmp_path, f"{host}:{os.getpid()}:new", clock)

    assert successor.claim("key-1", "event-1", "corr-1").state is ClaimState.CLAIMED
    crashed.close()
    successor.close()


def test_claim_of_previous_run_taken_over(tmp_path: Path) -> None:
    # A restarted container gives the new worker the process id of the old one.
    host, clock = socket.gethostname(), Clock()
    previous = open_store(tmp_path, f"{host}:{os.getpid()}:previous", clock)
    previous.claim("key-1", "event-1", "corr-1")
    current = open_store(tmp_path, f"{host}:{os.getpid()}:current", clock)

    assert current.claim("key-1", "event-1", "corr-1").state is ClaimState.CLAIMED
    previous.close()
    current.close()


def test_finish_after_expired_claim_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host, clock = socket.gethostname(), Clock()
    slow = open_store(tmp_path, f"{host}:{os.getppid()}:slow", clock)
    slow.claim("key-1", "event-1", "corr-1")
    clock.now += WINDOW + 1
    other = open_store(tmp_path, f"{host}:{os.getpid()}:other", clock)

    assert other.claim("key-1", "event-1", "corr-1").state is ClaimState.CLAIMED
    with caplog.at_level(logging.WARNING, logger="bus_shim.state"):
        assert slow.finish("key-1", "corr-1", RESPONSE) is True

    assert "expired before it finished" in caplog.text
    assert "BUS_SHIM_DEDUP_WINDOW" in caplog.text
    assert other.claim("key-1", "event-1", "corr-1").state is ClaimState.LOST
    slow.close()
    other.close()


def test_own_unfinished_claim_is_lost(tmp_path: Path) -> None:
    store = open_store(tmp_path, "host:1:a")
    store.claim("key-1", "event-1", "corr-1")

    assert store.claim("key-1", "event-1", "corr-1").state is ClaimState.LOST
    store.close()


def test_claim_write_failure_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path, "host:1:a")
    store._connection.execute("PRAGMA query_only = ON")

    with (
        caplog.at_level(logging.ERROR, logger="bus_shim.state"),
        pytest.raises(StateError, match="Failed to record the request"),
    ):
        store.claim("key-1", "event-1", "forged\nINFO fake line")

    assert "readonly" in caplog.text
    assert "\nINFO fake line" not in caplog.text
    assert 'correlation_id="forged\\nINFO fake line"' in caplog.text
    store.close()


def test_finish_write_failure_returns_false(tmp_path: Path) -> None:
    store = open_store(tmp_path, "host:1:a")
    store.claim("key-1", "event-1", "corr-1")
    store._connection.execute("PRAGMA query_only = ON")

    assert store.finish("key-1", "corr-1", RESPONSE) is False
    store._connection.execute("PRAGMA query_only = OFF")
    assert store.claim("key-1", "event-1", "corr-1").state is ClaimState.LOST
    store.close()


def test_store_file_modes(tmp_path: Path) -> None:
    store = HandledStore(tmp_path / "state", 3, WINDOW)

    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.close()


def test_store_unusable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(StateError, match="BUS_SHIM_STATE_DIR"):
        HandledStore(blocker / "state", 3, WINDOW)
