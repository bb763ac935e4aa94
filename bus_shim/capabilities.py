"""Discovery output: event names, capability metadata and the offline self-test."""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

from busdk_database.errors import ERROR_CLASSES
from busdk_database.models import CHECKS, EVENT_NAMES, OPERATIONS
from busdk_database.registry import provider_names
from busdk_database.service import handle

from .envelope import parse_request_line, response_event
from .ndjson import LineSplitter, OversizeLine

DATABASE_PROGRAM = "bus-integration-database"
POSTGRES_PROGRAM = "bus-integration-postgres"
DISTRIBUTION = "bus-integration-database"
OPERATOR_COMMANDS = ("plan", "apply", "status", "verify", "doctor")


def package_version() -> str:
    """Return the installed version of this project, or ``unknown``."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def capabilities(provider: str | None = None) -> dict[str, Any]:
    """Return the capability metadata of the neutral command or of one provider.

    With ``provider`` None this describes ``bus-integration-database``, which
    serves every registered provider. ``direct_bootstrap`` means the same
    requests run without the Events API: from the operator commands or the
    ``busdk.database`` Ansible collection.
    """
    providers = provider_names() if provider is None else [provider]
    document: dict[str, Any] = {
        "name": DATABASE_PROGRAM if provider is None else f"bus-integration-{provider}",
        "version": package_version(),
        "provider_neutral": provider is None,
    }
    if provider is not None:
        document["provider"] = provider
    document.update(
        {
            "providers": providers,
            "events": list(EVENT_NAMES),
            "requests": [name for name in EVENT_NAMES if name.endswith(".request")],
            "responses": [name for name in EVENT_NAMES if name.endswith(".response")],
            "operations": list(OPERATIONS),
            "checks": list(CHECKS),
            "error_classes": list(ERROR_CLASSES),
            "direct_bootstrap": True,
            "bootstrap": {
                "ansible_collection": "busdk.database",
                "operator_commands": list(OPERATOR_COMMANDS),
            },
        }
    )
    return document


def events_text(provider: str | None = None) -> str:
    """Return the ``--events`` text: a provider line if any, then the event names."""
    lines = [] if provider is None else [f"provider {provider}"]
    lines.extend(EVENT_NAMES)
    return "\n".join(lines)


def self_test(provider: str | None = None) -> list[str]:
    """Run offline consistency checks and return the problems found, if any.

    Needs no credentials, server or network: it exercises the event names, the
    provider registry, request validation, the envelope handling and the line
    limit.
    """
    problems: list[str] = []
    expected = [
        f"bus.database.{operation}.{kind}"
        for operation in OPERATIONS
        for kind in ("request", "response")
    ]
    if list(EVENT_NAMES) != expected:
        problems.append(f"event names are {list(EVENT_NAMES)}, expected {expected}")

    registered = provider_names()
    if not registered:
        problems.append("no provider is registered")
    if provider is not None and provider not in registered:
        problems.append(f"provider {provider} is not registered: {registered}")
    if provider == "postgres":
        from busdk_database.pg_connect import PSYCOPG_IMPORT_ERROR

        if PSYCOPG_IMPORT_ERROR is not None:
            problems.append("psycopg 3 cannot be imported")

    response = handle("verify", {"deployment_id": "self-test", "provider": "x"})
    if response.get("ok") or response.get("error_class") != "bad_request":
        problems.append(f"an invalid request was not rejected: {response}")

    line = (
        b'{"id":"e1","name":"bus.database.plan.request",'
        b'"correlationId":"self-test","payload":{}}'
    )
    event = parse_request_line("plan", line)
    body = response_event("plan", "self-test", {"ok": False})
    if event.correlation_id != "self-test" or event.problem is not None:
        problems.append(f"a request envelope was misread: {event}")
    if body["payload"].get("correlation_id") != body.get("correlationId"):
        problems.append("a response lacks one spelling of the correlation id")

    pieces = LineSplitter(16).feed(b"x" * 40 + b"\nok\n")
    if not (isinstance(pieces[0], OversizeLine) and pieces[1:] == [b"ok"]):
        problems.append(f"the line size limit does not hold: {pieces!r}")

    json.dumps(capabilities(provider))
    return problems
