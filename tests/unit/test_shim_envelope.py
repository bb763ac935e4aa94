"""Reading request envelopes and building response events."""

from __future__ import annotations

import json

import pytest

from bus_shim.envelope import (
    escape_controls,
    log_value,
    parse_oversize_line,
    parse_request_line,
    rejection,
    response_event,
)
from bus_shim.ndjson import OversizeLine

PAYLOAD = {"deployment_id": "example-dev", "provider": "postgres", "databases": ["x"]}


def line(**envelope: object) -> bytes:
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        ({"correlationId": "camel", "payload": PAYLOAD}, "camel"),
        ({"correlation_id": "snake", "payload": PAYLOAD}, "snake"),
        ({"payload": {**PAYLOAD, "correlation_id": "inner"}}, "inner"),
        (
            {"correlationId": "same", "payload": {**PAYLOAD, "correlation_id": "same"}},
            "same",
        ),
        ({"correlationId": None, "payload": PAYLOAD}, None),
        ({"correlationId": 7, "payload": PAYLOAD}, None),
        ({"correlationId": "x" * 201, "payload": PAYLOAD}, None),
    ],
)
def test_parse_correlation_spellings(envelope: dict, expected: str | None) -> None:
    event = parse_request_line("plan", line(id="e1", **envelope))

    assert event.correlation_id == expected
    assert event.problem is None
    assert event.event_id == "e1"


def test_parse_correlation_mismatch_is_a_problem() -> None:
    event = parse_request_line(
        "plan",
        line(correlationId="a", payload={**PAYLOAD, "correlation_id": "b"}),
    )

    assert event.correlation_id == "a"
    assert event.problem is not None
    assert "differs" in event.problem


def test_parse_wrong_event_name_is_a_problem() -> None:
    event = parse_request_line(
        "plan", line(name="bus.database.apply.request", correlationId="c")
    )

    assert event.problem is not None
    assert "bus.database.plan.request" in event.problem


@pytest.mark.parametrize(
    ("raw", "event_id", "correlation_id"),
    [
        (b"garbage", None, None),
        (b'{"id":"e9","correlationId":"c9","payload":{', "e9", "c9"),
        (b'{"id":"e9","correlation_id":"c\\"q","payload":', "e9", 'c"q'),
        (b"[1, 2]", None, None),
        (b"\xff\xfe\x00", None, None),
        (b"[" * 50000, None, None),
    ],
)
def test_parse_invalid_lines(
    raw: bytes, event_id: str | None, correlation_id: str | None
) -> None:
    event = parse_request_line("status", raw)

    assert event.problem is not None
    assert event.problem.startswith("Invalid event")
    assert event.event_id == event_id
    assert event.correlation_id == correlation_id


def test_parse_oversize_line_recovers_ids() -> None:
    prefix = b'{"id":"big-1","name":"bus.database.plan.request","correlationId":"big"'
    event = parse_oversize_line("plan", OversizeLine(10_000_000, prefix), 1024)

    assert event.event_id == "big-1"
    assert event.correlation_id == "big"
    assert event.problem == (
        "Invalid event: it is 10000000 bytes long, the maximum is 1024 bytes"
    )


def test_request_key_ignores_where_correlation_sits() -> None:
    first = parse_request_line(
        "apply", line(id="1", correlationId="c", payload=PAYLOAD)
    )
    second = parse_request_line(
        "apply", line(id="2", payload={**PAYLOAD, "correlation_id": "c"})
    )
    other = parse_request_line(
        "apply", line(id="3", correlationId="c", payload={**PAYLOAD, "dry_run": True})
    )

    assert first.request_key() == second.request_key()
    assert first.request_key() != other.request_key()


def test_rejection_shape() -> None:
    event = parse_request_line("plan", b'{"correlationId":"c","payload":')

    response = rejection(event)

    assert response["ok"] is False
    assert response["error_class"] == "bad_request"
    assert response["correlation_id"] == "c"
    assert response["deployment_id"] is None
    assert response["actions"] == []
    assert response["diagnostics"][0].startswith("Invalid event")


def test_response_event_carries_both_spellings() -> None:
    body = response_event("verify", "corr-1", {"ok": True, "actions": []})

    assert body["name"] == "bus.database.verify.response"
    assert body["correlationId"] == "corr-1"
    assert body["payload"]["correlation_id"] == "corr-1"
    assert body["delivery"] == "broadcast"
    assert '"correlation_id":"corr-1"' in json.dumps(body, separators=(",", ":"))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        ("deploy-001-db-plan", "deploy-001-db-plan"),
        ("two words", '"two words"'),
        ("x\nevent=fake outcome=ok", '"x\\nevent=fake outcome=ok"'),
    ],
)
def test_log_value(value: str | None, shown: str) -> None:
    assert log_value(value) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "HTTP 400 (bad_request: no such group)",
            "HTTP 400 (bad_request: no such group)",
        ),
        ("a\nINFO fake", "a\\nINFO fake"),
        ("a\rb\x85c\u2028d", "a\\rb\\u0085c\\u2028d"),
    ],
)
def test_escape_controls(text: str, shown: str) -> None:
    assert escape_controls(text) == shown
