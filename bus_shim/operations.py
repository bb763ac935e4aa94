"""Operator commands: plan, apply, status and verify from the .env environment."""

from __future__ import annotations

import logging
from typing import Any

from busdk_database.service import handle

from .config import ConfigError, Environment, database_settings, desired_request

logger = logging.getLogger(__name__)


def request_provider(env: Environment, provider: str | None) -> str | None:
    """Return the provider a command serves, checking BUS_DATABASE_PROVIDER.

    A provider-specific command (``provider`` set) raises ConfigError when the
    environment names another provider.
    """
    configured = env.get("BUS_DATABASE_PROVIDER")
    if provider is not None and configured is not None and configured != provider:
        raise ConfigError(
            f"Invalid BUS_DATABASE_PROVIDER {configured!r}: this command serves "
            f"provider {provider}; use bus-integration-database for other providers"
        )
    return provider


def run_operation(
    env: Environment,
    operation: str,
    *,
    provider: str | None = None,
    dry_run: bool = True,
    confirm: bool = False,
    checks: list[str] | None = None,
) -> dict[str, Any]:
    """Run one operation for the desired state in ``env`` and return the response.

    ``apply`` changes the server only with ``dry_run`` false and ``confirm``
    true, and the core rejects ``dry_run`` false without ``confirm``. Raises
    ConfigError for missing or invalid configuration.
    """
    payload = desired_request(
        env,
        operation,
        provider=request_provider(env, provider),
        dry_run=dry_run,
        confirm=confirm,
        checks=checks,
    )
    settings = database_settings(env, for_events=False)
    return handle(operation, payload, settings)
