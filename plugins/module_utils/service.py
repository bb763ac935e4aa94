"""Entry point shared by the Ansible modules, the operator CLI and the event shim."""

from __future__ import annotations

import threading
import time
from typing import Any

from .changes import Change
from .errors import BadRequest, DatabaseError, Forbidden, VerifyFailed
from .models import OPERATIONS, Settings, parse_request
from .redaction import Redactor
from .registry import get_provider

# Longer correlation ids fail validation and are not copied into the response.
MAX_ECHOED_ID = 200


class ConnectionReuse:
    """Connection caches of the providers, owned by one long-running caller.

    A worker creates one and passes it to every ``handle`` call, so plan and
    status requests reuse idle server connections instead of opening new ones.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._caches: dict[str, Any] = {}

    def cache_for(self, provider: Any) -> Any:
        """Return the provider's cache, created on first use (None if it has none)."""
        with self._lock:
            if provider.name not in self._caches:
                factory = getattr(provider, "new_connection_cache", None)
                self._caches[provider.name] = factory() if factory else None
            return self._caches[provider.name]

    def close(self) -> None:
        """Close every idle connection of every provider."""
        with self._lock:
            caches = [cache for cache in self._caches.values() if cache is not None]
            self._caches.clear()
        for cache in caches:
            cache.close()


def _base_response(payload: Any) -> dict[str, Any]:
    """Start a response from whatever identifying fields the payload has."""
    source = payload if isinstance(payload, dict) else {}
    response: dict[str, Any] = {
        "ok": False,
        "deployment_id": source.get("deployment_id")
        if isinstance(source.get("deployment_id"), str)
        else None,
        "provider": source.get("provider")
        if isinstance(source.get("provider"), str)
        else None,
        "actions": [],
        "diagnostics": [],
    }
    correlation_id = source.get("correlation_id")
    if isinstance(correlation_id, str) and len(correlation_id) <= MAX_ECHOED_ID:
        response["correlation_id"] = correlation_id
    return response


def _check_policy(operation: str, request: Any, settings: Settings) -> None:
    served = settings.served_deployments
    if served is not None and request.deployment_id not in served:
        raise Forbidden(
            f"Invalid deployment_id {request.deployment_id!r}: this worker does not "
            "serve that deployment"
        )
    real_apply = operation == "apply" and not request.dry_run
    if real_apply and not settings.allow_real_apply:
        raise Forbidden(
            "Failed to apply: real applies are disabled on this worker; send "
            "dry_run: true or enable real applies in its configuration"
        )


def _apply_defaults(operation: str, request: Any, settings: Settings) -> Any:
    """Fill in the configured service roles when a plan lists databases only."""
    needs_roles = operation in ("plan", "apply") and request.databases
    if not needs_roles or request.roles or not settings.default_roles:
        return request
    payload = request.model_dump(exclude_none=True)
    payload["roles"] = list(settings.default_roles)
    return parse_request(operation, payload)


def _plan_summary(changes: list[Change], executed: bool) -> list[str]:
    if not changes:
        return ["no changes: the server already matches the request"]
    verb = "applied" if executed else "planned"
    return [f"{len(changes)} change(s) {verb}"]


def handle(
    operation: str,
    payload: Any,
    settings: Settings | None = None,
    *,
    force_dry_run: bool = False,
    connections: ConnectionReuse | None = None,
) -> dict[str, Any]:
    """Validate and carry out one request; return the response payload.

    Never raises for request, policy or server problems: those become a
    response with ``ok: false``, an ``error_class`` and diagnostics. Every
    string in the response, except the identity fields copied from the
    request, is passed through the request's redactor.
    ``force_dry_run`` turns an apply into a dry run (Ansible check mode).
    With ``connections``, plan, dry-run apply and status reuse idle server
    connections kept for the caller.
    """
    settings = settings or Settings()
    redactor = Redactor()
    response = _base_response(payload)
    started = time.monotonic()

    try:
        if operation not in OPERATIONS:
            raise BadRequest(
                f"Invalid operation {operation!r}: expected one of "
                + ", ".join(OPERATIONS)
            )
        request = parse_request(operation, payload)
        request = _apply_defaults(operation, request, settings)
        _check_policy(operation, request, settings)
        provider = get_provider(request.provider)
        cache = connections.cache_for(provider) if connections is not None else None
        response["actions"].append("discover-provider")

        if operation in ("plan", "apply"):
            execute = operation == "apply" and not request.dry_run and not force_dry_run
            response["dry_run"] = not execute
            result = provider.plan(
                request, settings, redactor, execute=execute, connections=cache
            )
            changes: list[Change] = result["changes"]
            response["actions"].append("compute-database-plan")
            response["actions"].extend(change.label for change in changes)
            if execute:
                response["actions"].append("apply-database-plan")
            response["changes"] = [change.to_dict() for change in changes]
            response["changed"] = bool(changes) and execute
            response["resources"] = result["resources"]
            response["diagnostics"].extend(result["diagnostics"])
            response["diagnostics"].extend(_plan_summary(changes, execute))
        elif operation == "status":
            result = provider.status(request, settings, redactor, cache)
            response["actions"].append("read-database-status")
            response.update(result)
        else:
            checks = provider.verify(request, settings, redactor)
            response["actions"].extend(f"verify-{check['name']}" for check in checks)
            response["checks"] = checks
            failed = [check["name"] for check in checks if not check["ok"]]
            if failed:
                raise VerifyFailed(
                    "Verification failed: " + ", ".join(failed),
                    [check["diagnostic"] for check in checks if not check["ok"]],
                )
        response["ok"] = True
    except DatabaseError as error:
        response["ok"] = False
        response["error_class"] = error.error_class
        response["diagnostics"].extend(error.all_diagnostics())
        if error.applied:
            # Part of the plan is committed. Report it, so callers do not assume
            # that nothing changed.
            response["changes"] = [change.to_dict() for change in error.applied]
            response["actions"].extend(change.label for change in error.applied)
            response["changed"] = True
            response["diagnostics"].append(
                f"{len(error.applied)} change(s) were applied before the failure; "
                "run the apply again to finish"
            )
    except Exception as error:
        response["ok"] = False
        response["error_class"] = "provider_error"
        response["diagnostics"].append(
            f"Failed to {operation}: unexpected {type(error).__name__}: {error}"
        )

    response["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return redactor.scrub(response)
