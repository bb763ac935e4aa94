"""Listener-policy evaluation over server settings and pg_hba rules."""

from __future__ import annotations

from typing import Any

import pytest

from busdk_database.models import ListenerPolicy
from busdk_database.pg_verify import evaluate_listener_policy

SCRAM = ("password_encryption", "scram-sha-256", False)
LOCAL_HBA = [
    (1, "local", None, None, "scram-sha-256", None),
    (2, "host", "127.0.0.1", "255.255.255.255", "scram-sha-256", None),
]


def _settings(listen: str, ssl: str = "off", *extra: Any) -> list[Any]:
    return [("listen_addresses", listen, False), ("ssl", ssl, False), SCRAM, *extra]


def _statuses(result: dict[str, Any]) -> dict[str, str]:
    return {rule["name"]: rule["status"] for rule in result["rules"]}


def test_loopback_server_passes() -> None:
    result = evaluate_listener_policy(
        ListenerPolicy(), _settings("localhost"), LOCAL_HBA
    )
    assert result["ok"] is True
    assert set(_statuses(result).values()) == {"passed"}


@pytest.mark.parametrize("listen", ["*", "0.0.0.0", "::"])
def test_wildcard_needs_permission(listen: str) -> None:
    result = evaluate_listener_policy(
        ListenerPolicy(), _settings(listen, "on"), LOCAL_HBA
    )
    assert _statuses(result)["listen-addresses"] == "failed"
    allowed = evaluate_listener_policy(
        ListenerPolicy(allow_wildcard=True), _settings(listen, "on"), LOCAL_HBA
    )
    assert _statuses(allowed)["listen-addresses"] == "passed"


def test_public_address_rejected_unless_listed() -> None:
    settings = _settings("127.0.0.1,203.0.113.7", "on")
    assert (
        _statuses(evaluate_listener_policy(ListenerPolicy(), settings, LOCAL_HBA))[
            "listen-addresses"
        ]
        == "failed"
    )
    policy = ListenerPolicy(allowed_addresses=["loopback", "203.0.113.0/24"])
    assert (
        _statuses(evaluate_listener_policy(policy, settings, LOCAL_HBA))[
            "listen-addresses"
        ]
        == "passed"
    )


def test_private_address_requires_tls() -> None:
    plain = evaluate_listener_policy(
        ListenerPolicy(), _settings("10.1.2.3", "off"), LOCAL_HBA
    )
    assert _statuses(plain)["tls"] == "failed"
    assert plain["ok"] is False
    hba = [*LOCAL_HBA, (3, "host", "10.0.0.0", "255.0.0.0", "scram-sha-256", None)]
    open_rule = evaluate_listener_policy(
        ListenerPolicy(), _settings("10.1.2.3", "on"), hba
    )
    assert _statuses(open_rule)["tls"] == "failed"
    hba_ssl = [
        *LOCAL_HBA,
        (3, "hostssl", "10.0.0.0", "255.0.0.0", "scram-sha-256", None),
    ]
    secured = evaluate_listener_policy(
        ListenerPolicy(), _settings("10.1.2.3", "on"), hba_ssl
    )
    assert _statuses(secured)["tls"] == "passed"


def test_remote_trust_and_md5_fail() -> None:
    hba = [
        *LOCAL_HBA,
        (3, "host", "192.168.0.0", "255.255.0.0", "trust", None),
        (4, "host", "all", None, "md5", None),
    ]
    result = evaluate_listener_policy(ListenerPolicy(), _settings("localhost"), hba)
    statuses = _statuses(result)
    assert statuses["no-remote-trust"] == "failed"
    assert statuses["scram-passwords"] == "failed"


def test_unreadable_hba_is_never_passed() -> None:
    result = evaluate_listener_policy(ListenerPolicy(), _settings("localhost"), None)
    statuses = _statuses(result)
    assert statuses["no-remote-trust"] == "unverifiable"
    assert statuses["scram-passwords"] == "unverifiable"
    assert result["ok"] is False
    lenient = evaluate_listener_policy(
        ListenerPolicy(allow_unverifiable=True), _settings("localhost"), None
    )
    assert lenient["ok"] is True
    assert _statuses(lenient)["no-remote-trust"] == "unverifiable"


def test_pending_restart_reported() -> None:
    settings = _settings("localhost", "off", ("shared_buffers", "256MB", True))
    result = evaluate_listener_policy(ListenerPolicy(), settings, LOCAL_HBA)
    assert result["pending_restart"] == ["shared_buffers"]
    assert "pending restart: shared_buffers" in result["diagnostic"]


def test_md5_password_encryption_fails() -> None:
    settings = [
        ("listen_addresses", "localhost", False),
        ("ssl", "off", False),
        ("password_encryption", "md5", False),
    ]
    result = evaluate_listener_policy(ListenerPolicy(), settings, LOCAL_HBA)
    assert _statuses(result)["scram-passwords"] == "failed"


def test_ipv6_loopback_rules_are_local() -> None:
    netmask = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    hba = [*LOCAL_HBA, (3, "host", "::1", netmask, "trust", None)]
    result = evaluate_listener_policy(ListenerPolicy(), _settings("localhost"), hba)
    assert _statuses(result)["no-remote-trust"] == "passed"
    secured = evaluate_listener_policy(
        ListenerPolicy(require_tls=True),
        _settings("localhost", "on"),
        [*LOCAL_HBA, (3, "host", "::1", netmask, "scram-sha-256", None)],
    )
    assert _statuses(secured)["tls"] == "passed"


def test_localhost_needs_loopback_allowed() -> None:
    policy = ListenerPolicy(allowed_addresses=[])
    result = evaluate_listener_policy(policy, _settings("localhost"), LOCAL_HBA)
    assert _statuses(result)["listen-addresses"] == "failed"


def test_tls_disabled_by_policy_message() -> None:
    policy = ListenerPolicy(require_tls=False, allowed_addresses=["203.0.113.7"])
    result = evaluate_listener_policy(policy, _settings("203.0.113.7"), LOCAL_HBA)
    tls = next(rule for rule in result["rules"] if rule["name"] == "tls")
    assert tls["detail"] == "not required by the policy"
