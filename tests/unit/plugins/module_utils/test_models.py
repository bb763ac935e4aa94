"""Request validation tables for the contract models."""

from __future__ import annotations

from typing import Any

import pytest

from busdk_database.errors import BadRequest
from busdk_database.models import (
    EVENT_NAMES,
    ApplyRequest,
    PlanRequest,
    VerifyRequest,
    parse_request,
    validate_identifier,
)

BASE = {"deployment_id": "example-dev", "provider": "postgres"}

VALID = [
    ("plan", {**BASE, "databases": ["bus_auth"]}),
    ("plan", {**BASE, "roles": ["bus_service"]}),
    ("apply", {**BASE, "databases": ["a"], "dry_run": False, "confirm": True}),
    ("apply", {**BASE, "databases": ["a"], "dry_run": True, "confirm": True}),
    ("status", BASE),
    ("status", {**BASE, "correlation_id": "c-1"}),
    ("verify", {**BASE, "checks": ["connectivity", "listener-policy"]}),
    ("plan", {**BASE, "databases": ["a"], "credentials": {"admin_dsn_file": "./x"}}),
    (
        "plan",
        {
            **BASE,
            "databases": ["a"],
            "credentials": {"admin_dsn_secret": "secret://deployment/pg-admin.v1"},
        },
    ),
    ("plan", {**BASE, "databases": ["é" * 31]}),
]

INVALID = [
    ("plan", {**BASE}, "at least one of"),
    ("plan", {**BASE, "databases": []}, "at least one of"),
    (
        "plan",
        {"provider": "postgres", "databases": ["a"]},
        "Missing field deployment_id",
    ),
    ("plan", {**BASE, "deployment_id": "", "databases": ["a"]}, "deployment_id"),
    (
        "plan",
        {**BASE, "databases": ["a"], "dry_run": "false"},
        "Invalid dry_run 'false'",
    ),
    ("plan", {**BASE, "databases": ["a"], "dry_run": 0}, "Invalid dry_run 0"),
    ("apply", {**BASE, "databases": ["a"], "dry_run": False}, "confirm: true"),
    ("apply", {**BASE, "databases": ["a"], "confim": True}, "Invalid field confim"),
    ("plan", {**BASE, "databases": ["a", "a"]}, "more than once"),
    ("plan", {**BASE, "databases": ["x" * 64]}, "64 bytes"),
    ("plan", {**BASE, "databases": ["é" * 32]}, "64 bytes"),
    ("plan", {**BASE, "databases": ["a/b"]}, "DSN file name"),
    ("plan", {**BASE, "databases": ["a\nb"]}, "control character"),
    ("plan", {**BASE, "databases": [" a"]}, "white space"),
    ("plan", {**BASE, "roles": ["public"]}, "reserved"),
    ("plan", {**BASE, "schemas": ["pg_x"], "databases": ["a"]}, "pg_"),
    ("plan", {**BASE, "roles": [7]}, "roles.0"),
    ("plan", {**BASE, "roles": "bus_service"}, "roles"),
    ("verify", {**BASE, "checks": ["ping"]}, "checks.0"),
    ("verify", {**BASE, "checks": ["connectivity", "connectivity"]}, "more than once"),
    (
        "plan",
        {**BASE, "databases": ["a"], "credentials": {"password": "x"}},
        "credentials.password",
    ),
    (
        "plan",
        {
            **BASE,
            "databases": ["a"],
            "credentials": {
                "admin_dsn_file": "a",
                "admin_dsn_secret": "secret://deployment/b",
            },
        },
        "not both",
    ),
    ("plan", {**BASE, "databases": ["a"], "listener_policy": {"tls": True}}, "tls"),
    ("launch", BASE, "Invalid operation"),
]


@pytest.mark.parametrize(("operation", "payload"), VALID)
def test_valid_payload_accepted(operation: str, payload: dict[str, Any]) -> None:
    request = parse_request(operation, payload)
    assert request.deployment_id == "example-dev"


@pytest.mark.parametrize(("operation", "payload", "text"), INVALID)
def test_invalid_payload_rejected(
    operation: str, payload: dict[str, Any], text: str
) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_request(operation, payload)
    assert text in " ".join(raised.value.all_diagnostics())


def test_defaults_are_safe() -> None:
    request = parse_request("apply", {**BASE, "databases": ["a"]})
    assert isinstance(request, ApplyRequest)
    assert request.dry_run is True
    assert request.confirm is False


def test_plan_ignores_confirm_rule() -> None:
    request = parse_request("plan", {**BASE, "databases": ["a"], "dry_run": False})
    assert isinstance(request, PlanRequest)
    assert request.dry_run is False


def test_verify_keeps_check_order() -> None:
    request = parse_request(
        "verify", {**BASE, "checks": ["listener-policy", "connectivity"]}
    )
    assert isinstance(request, VerifyRequest)
    assert request.checks == ["listener-policy", "connectivity"]


def test_event_names_complete() -> None:
    assert len(EVENT_NAMES) == 8
    assert "bus.database.plan.request" in EVENT_NAMES
    assert "bus.database.verify.response" in EVENT_NAMES


def test_inline_dsn_value_not_echoed() -> None:
    payload = {
        **BASE,
        "databases": ["a"],
        "credentials": {"admin_dsn": "postgres://u:topsecret@h/d"},
    }
    with pytest.raises(BadRequest) as raised:
        parse_request("plan", payload)
    assert "topsecret" not in " ".join(raised.value.all_diagnostics())


@pytest.mark.parametrize("name", ["Bus_Auth", "bus-auth", "bus.auth", "x" * 63])
def test_identifier_kept_exactly(name: str) -> None:
    assert validate_identifier("database", name) == name


def test_request_size_bounded() -> None:
    payload = {
        **BASE,
        "databases": [f"d{i}" for i in range(1000)],
        "roles": [f"r{i}" for i in range(5)],
        "schemas": [f"s{i}" for i in range(5)],
    }
    with pytest.raises(BadRequest) as raised:
        parse_request("plan", payload)
    assert "maximum is 20000" in " ".join(raised.value.all_diagnostics())


@pytest.mark.parametrize(
    "reference", ["secret://deployment/..", "secret://deployment/.", "secret://x/y"]
)
def test_bad_secret_reference(reference: str) -> None:
    payload = {
        **BASE,
        "databases": ["a"],
        "credentials": {"admin_dsn_secret": reference},
    }
    with pytest.raises(BadRequest):
        parse_request("plan", payload)


def test_control_character_in_path() -> None:
    payload = {**BASE, "databases": ["a"], "credentials": {"admin_dsn_file": "/a\x00b"}}
    with pytest.raises(BadRequest) as raised:
        parse_request("plan", payload)
    assert "control character" in " ".join(raised.value.all_diagnostics())
