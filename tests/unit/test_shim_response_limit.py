"""Response events kept under the Events API's maximum body size."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bus_shim.response_limit import (
    MIN_RESPONSE_BYTES,
    bounded_response_event,
    encode_event,
)


def plan_response(databases: int) -> dict[str, Any]:
    changes = [
        {"kind": "create-database", "name": f"db_{n}", "sql": "x" * 200}
        for n in range(databases)
    ]
    return {
        "ok": True,
        "error_class": None,
        "deployment_id": "example-dev",
        "provider": "postgres",
        "dry_run": True,
        "changed": False,
        "actions": [f"create-database:db_{n}" for n in range(databases)],
        "changes": changes,
        "resources": {"databases": [f"db_{n}" for n in range(databases)]},
        "diagnostics": ["Plan: 1 change", *(f"line {n}" for n in range(50))],
        "duration_ms": 12.5,
    }


def test_small_response_unchanged() -> None:
    response = plan_response(3)

    body, full_size = bounded_response_event("plan", "c-1", response, 65536)

    assert full_size is None
    assert body["payload"] == {**response, "correlation_id": "c-1"}


def test_large_response_shortened() -> None:
    response = plan_response(2000)

    body, full_size = bounded_response_event("plan", "c-1", response, 32768)

    payload = body["payload"]
    assert full_size is not None
    assert full_size > 32768
    assert len(encode_event(body)) <= 32768
    assert body["correlationId"] == "c-1"
    assert payload["correlation_id"] == "c-1"
    assert payload["ok"] is True
    assert payload["error_class"] is None
    assert payload["deployment_id"] == "example-dev"
    assert "changes" not in payload
    assert 0 < len(payload["actions"]) < 2000
    assert payload["actions"] == response["actions"][: len(payload["actions"])]
    note = payload["diagnostics"][-1]
    omitted = 2000 - len(payload["actions"])
    assert f"Omitted {omitted} of 2000 actions" in note
    assert "changes" in note
    assert f"{full_size} bytes" in note


def test_error_response_keeps_class_at_minimum() -> None:
    response = {
        "ok": False,
        "error_class": "conflict",
        "deployment_id": "d",
        "provider": "postgres",
        "actions": [f"a{n}" for n in range(5000)],
        "diagnostics": [
            f"Database db_{n} is owned by someone else" for n in range(5000)
        ],
    }

    body, full_size = bounded_response_event(
        "apply", "c-2", response, MIN_RESPONSE_BYTES
    )

    payload = body["payload"]
    assert full_size is not None
    assert len(encode_event(body)) <= MIN_RESPONSE_BYTES
    assert payload["ok"] is False
    assert payload["error_class"] == "conflict"
    assert payload["diagnostics"][0] == response["diagnostics"][0]
    assert "Omitted 5000 of 5000 actions" in payload["diagnostics"][-1]
    assert "diagnostics" in payload["diagnostics"][-1]


@pytest.mark.parametrize("text", ["é" * 400_000, "\u2028" * 100_000])
def test_size_counts_utf8_bytes(text: str) -> None:
    response = {"ok": True, "actions": [], "diagnostics": [text]}

    body, full_size = bounded_response_event("status", "c-3", response, 65536)

    assert full_size is not None
    assert len(encode_event(body)) <= 65536
    assert json.loads(encode_event(body))["payload"]["ok"] is True
