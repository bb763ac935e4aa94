"""Connectivity and listener-policy checks against a PostgreSQL server."""

from __future__ import annotations

import ipaddress
import os
import time
from typing import Any

from .errors import DatabaseError, Unauthorized
from .models import ListenerPolicy, Settings
from .pg_connect import connect, parse_dsn
from .pg_secrets import read_dsn_file
from .redaction import Redactor

try:
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised by ansible-test's import test
    pg_errors = None  # type: ignore[assignment]

SETTINGS_QUERY = """
SELECT name, setting, pending_restart FROM pg_settings
 WHERE name IN ('listen_addresses', 'ssl', 'password_encryption', 'port')
    OR pending_restart
"""
HBA_QUERY = """
SELECT line_number, type, address, netmask, auth_method, error
  FROM pg_hba_file_rules ORDER BY line_number
"""
WILDCARDS = ("*", "0.0.0.0", "::")
REQUIRED_DSN_KEYS = ("host", "user", "password", "dbname")
# RFC 1918, RFC 4193 and link-local ranges.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)
LOOPBACK_NAMES = ("localhost",)


def _endpoint_result(name: str, connection: Any, started: float) -> dict[str, Any]:
    return {
        "name": name,
        "ok": True,
        "tls": bool(connection.pgconn.ssl_in_use),
        "server_version": connection.info.server_version,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
    }


def check_connectivity(
    admin_connection: Any, admin_started: float, settings: Settings, redactor: Redactor
) -> dict[str, Any]:
    """Return the connectivity check: the admin DSN and every service DSN file."""
    targets = [_endpoint_result("admin", admin_connection, admin_started)]
    directory = settings.dsn_output_dir
    try:
        names = sorted(os.listdir(directory)) if directory else []
    except OSError:
        names = []

    for name in (name for name in names if name.endswith(".dsn")):
        path = os.path.join(directory or "", name)
        found = read_dsn_file(path)
        started = time.monotonic()
        if found.password:
            redactor.add(found.password)
        try:
            if not found.regular:
                raise Unauthorized(f"DSN file {path} is not a regular file")
            params = parse_dsn(
                (found.content or "").strip(), f"DSN file {path}", redactor
            )
            # libpq fills missing values from PG* environment variables, which
            # would let an incomplete file pass.
            missing = [key for key in REQUIRED_DSN_KEYS if not params.get(key)]
            if missing:
                raise Unauthorized(
                    f"DSN file {path} is incomplete: missing " + ", ".join(missing)
                )
            connection = connect(params, connect_timeout=settings.connect_timeout)
        except DatabaseError as error:
            targets.append(
                {"name": name, "ok": False, "tls": None, "error": error.message}
            )
            continue
        try:
            connection.execute("SELECT 1")
            targets.append(_endpoint_result(name, connection, started))
        finally:
            connection.close()

    failed = [target["name"] for target in targets if not target["ok"]]
    plain = [target["name"] for target in targets if target["ok"] and not target["tls"]]
    if failed:
        diagnostic = "connection failed for: " + ", ".join(failed)
    else:
        diagnostic = f"{len(targets)} connection(s) succeeded"
        if plain:
            diagnostic += "; without TLS: " + ", ".join(plain)
    return {
        "name": "connectivity",
        "ok": not failed,
        "diagnostic": diagnostic,
        "targets": targets,
    }


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # ipaddress's is_private also covers documentation and reserved ranges, so
    # the private ranges are listed explicitly.
    return any(
        address.version == network.version and address in network
        for network in PRIVATE_NETWORKS
    )


def _address_allowed(entry: str, policy: ListenerPolicy) -> tuple[bool, bool]:
    """Return (allowed, loopback) for one listen_addresses entry."""
    if entry in WILDCARDS:
        return policy.allow_wildcard, False
    if entry in LOOPBACK_NAMES:
        return "loopback" in policy.allowed_addresses, True
    try:
        address = ipaddress.ip_address(entry)
    except ValueError:
        return entry in policy.allowed_addresses, False
    if address.is_loopback:
        return "loopback" in policy.allowed_addresses, True
    if _is_private(address) and "private" in policy.allowed_addresses:
        return True, False
    for allowed in policy.allowed_addresses:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True, False
        except ValueError:
            continue
    return False, False


def _rule(name: str, status: str, detail: str) -> dict[str, str]:
    return {"name": name, "status": status, "detail": detail}


def _hba_is_loopback(address: str | None, netmask: str | None) -> bool:
    if not address:
        return False
    try:
        network = ipaddress.ip_network(address, strict=False)
        if netmask:
            # IPv6 netmasks such as ffff:...:ffff are not accepted by
            # ip_network, so the prefix length is counted from the mask bits.
            prefix = bin(int(ipaddress.ip_address(netmask))).count("1")
            network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    except ValueError:
        return False
    return network.network_address.is_loopback and network.broadcast_address.is_loopback


def _remote_rules(hba: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [
        row
        for row in hba
        if str(row[1]).startswith("host") and not _hba_is_loopback(row[2], row[3])
    ]


def evaluate_listener_policy(
    policy: ListenerPolicy,
    settings_rows: list[tuple[str, str, bool]],
    hba: list[tuple[Any, ...]] | None,
) -> dict[str, Any]:
    """Return the listener-policy check from server settings and pg_hba rules.

    ``hba`` is None when pg_hba_file_rules is unreadable: rules that need it are
    reported as unverifiable, never as passed.
    """
    values = {row[0]: row[1] for row in settings_rows}
    pending = sorted(row[0] for row in settings_rows if row[2])
    rules = []

    entries = [item.strip() for item in values.get("listen_addresses", "").split(",")]
    entries = [item for item in entries if item]
    rejected, beyond_loopback = [], False
    for entry in entries:
        allowed, loopback = _address_allowed(entry, policy)
        beyond_loopback = beyond_loopback or not loopback
        if not allowed:
            rejected.append(entry)
    shown = ", ".join(entries) or "(unix sockets only)"
    rules.append(
        _rule("listen-addresses", "failed", f"not allowed: {', '.join(rejected)}")
        if rejected
        else _rule("listen-addresses", "passed", f"listening on {shown}")
    )

    tls_required = (
        beyond_loopback if policy.require_tls == "auto" else policy.require_tls
    )
    remote = _remote_rules(hba) if hba is not None else None
    if not tls_required:
        reason = (
            "not required by the policy"
            if policy.require_tls is False
            else "not required: the server listens on loopback only"
        )
        rules.append(_rule("tls", "passed", reason))
    elif values.get("ssl") != "on":
        rules.append(_rule("tls", "failed", "TLS is required but ssl is off"))
    elif remote is None:
        rules.append(
            _rule(
                "tls",
                "unverifiable",
                "ssl is on, but pg_hba_file_rules is not readable",
            )
        )
    else:
        plain = [
            str(row[0])
            for row in remote
            if row[1] in ("host", "hostnossl") and row[4] != "reject"
        ]
        rules.append(
            _rule(
                "tls",
                "failed",
                "pg_hba.conf lines allow non-TLS remote connections: "
                + ", ".join(plain),
            )
            if plain
            else _rule("tls", "passed", "ssl is on and remote rules require TLS")
        )

    if remote is None:
        rules.append(
            _rule(
                "no-remote-trust",
                "unverifiable",
                "pg_hba_file_rules is not readable by the admin role",
            )
        )
    else:
        trusted = [str(row[0]) for row in remote if row[4] == "trust"]
        rules.append(
            _rule(
                "no-remote-trust",
                "failed",
                "trust for non-loopback connections on pg_hba.conf lines "
                + ", ".join(trusted),
            )
            if trusted
            else _rule(
                "no-remote-trust",
                "passed",
                "no trust rule for non-loopback connections",
            )
        )

    if not policy.require_scram:
        rules.append(_rule("scram-passwords", "passed", "not required by the policy"))
    elif values.get("password_encryption") != "scram-sha-256":
        rules.append(
            _rule(
                "scram-passwords",
                "failed",
                f"password_encryption is {values.get('password_encryption')}",
            )
        )
    elif hba is None:
        rules.append(
            _rule(
                "scram-passwords",
                "unverifiable",
                "password_encryption is scram-sha-256, but pg_hba_file_rules "
                "is not readable",
            )
        )
    else:
        weak = [str(row[0]) for row in hba if row[4] in ("md5", "password")]
        rules.append(
            _rule(
                "scram-passwords",
                "failed",
                "md5 or password authentication on pg_hba.conf lines "
                + ", ".join(weak),
            )
            if weak
            else _rule(
                "scram-passwords",
                "passed",
                "password_encryption and pg_hba.conf use SCRAM",
            )
        )

    errors = [str(row[0]) for row in hba or [] if row[5]]
    if errors:
        rules.append(
            _rule(
                "hba-file",
                "failed",
                "pg_hba.conf lines with errors: " + ", ".join(errors),
            )
        )

    failed = [rule["name"] for rule in rules if rule["status"] == "failed"]
    unverifiable = [rule["name"] for rule in rules if rule["status"] == "unverifiable"]
    ok = not failed and (policy.allow_unverifiable or not unverifiable)
    counts = {
        status: sum(rule["status"] == status for rule in rules)
        for status in ("passed", "failed", "unverifiable")
    }
    diagnostic = ", ".join(f"{count} {status}" for status, count in counts.items())
    if failed:
        diagnostic += "; failed: " + ", ".join(failed)
    if unverifiable:
        diagnostic += "; unverifiable: " + ", ".join(unverifiable)
    if pending:
        diagnostic += "; pending restart: " + ", ".join(pending)
    return {
        "name": "listener-policy",
        "ok": ok,
        "diagnostic": "listener policy: " + diagnostic,
        "rules": rules,
        "pending_restart": pending,
    }


def check_listener_policy(connection: Any, policy: ListenerPolicy) -> dict[str, Any]:
    """Read the server's settings and pg_hba rules and evaluate ``policy``."""
    settings_rows = connection.execute(SETTINGS_QUERY).fetchall()
    hba: list[tuple[Any, ...]] | None
    try:
        with connection.transaction():
            hba = connection.execute(HBA_QUERY).fetchall()
    except pg_errors.InsufficientPrivilege:
        hba = None
    return evaluate_listener_policy(policy, settings_rows, hba)
