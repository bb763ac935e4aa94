"""The on-disk record of handled requests."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bus_shim.state import HandledStore, StateError

RESPONSE = {"ok": True, "actions": ["discover-provider"], "changed": True}


def test_store_finds_by_event_id_or_key(tmp_path: Path) -> None:
    store = HandledStore(tmp_path / "state", 10)
    store.record("apply", "event-1", "key-1", "corr-1", RESPONSE)

    assert store.find("event-1", None) == RESPONSE
    assert store.find(None, "key-1") == RESPONSE
    assert store.find("event-2", "key-2") is None
    assert store.find(None, None) is None
    store.close()


def test_store_survives_reopen(tmp_path: Path) -> None:
    first = HandledStore(tmp_path, 10)
    first.record("apply", "event-1", "key-1", "corr-1", RESPONSE)
    first.close()

    second = HandledStore(tmp_path, 10)

    assert second.find("event-1", None) == RESPONSE
    second.close()


def test_store_keeps_only_newest_entries(tmp_path: Path) -> None:
    store = HandledStore(tmp_path, 3)
    for number in range(10):
        store.record("plan", f"event-{number}", None, f"c{number}", {"n": number})

    assert store.count() == 3
    assert store.find("event-6", None) is None
    assert store.find("event-9", None) == {"n": 9}
    store.close()


def test_store_file_modes(tmp_path: Path) -> None:
    store = HandledStore(tmp_path / "state", 3)

    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.close()


def test_store_unusable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(StateError, match="BUS_SHIM_STATE_DIR"):
        HandledStore(blocker / "state", 3)
