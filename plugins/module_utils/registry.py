"""Registry of database providers behind the provider-neutral contract."""

from __future__ import annotations

from typing import Any, Protocol

from .errors import BadRequest
from .models import PlanRequest, Settings, StatusRequest, VerifyRequest
from .redaction import Redactor


class Provider(Protocol):
    """Interface of a provider; every method raises DatabaseError subclasses."""

    name: str

    def plan(
        self,
        request: PlanRequest,
        settings: Settings,
        redactor: Redactor,
        *,
        execute: bool,
        connections: Any = None,
    ) -> dict[str, Any]:
        """Compute the changes, carry them out when ``execute`` is set.

        Returns ``changes`` (Change objects), ``resources``, ``diagnostics``
        and ``executed`` (the number of changes carried out).
        """

    def status(
        self,
        request: StatusRequest,
        settings: Settings,
        redactor: Redactor,
        connections: Any = None,
    ) -> dict[str, Any]:
        """Return the current state and, for listed objects, the drift."""

    def verify(
        self, request: VerifyRequest, settings: Settings, redactor: Redactor
    ) -> list[dict[str, Any]]:
        """Run the requested checks and return one result per check."""


def _load_providers() -> dict[str, Provider]:
    # Imported here so the neutral layer has no import-time provider dependency.
    from .postgres import PostgresProvider

    providers: list[Provider] = [PostgresProvider()]
    return {provider.name: provider for provider in providers}


def provider_names() -> list[str]:
    """Return the names of the registered providers."""
    return sorted(_load_providers())


def get_provider(name: str) -> Provider:
    """Return the provider called ``name``; raise BadRequest if unknown."""
    providers = _load_providers()
    if name not in providers:
        raise BadRequest(
            f"Invalid provider {name!r}: supported providers are "
            + ", ".join(sorted(providers))
        )
    return providers[name]
