"""Direct calls into the provider-neutral core, without Ansible or the shim.

These calls measure what the modules do inside their one Ansible task, so
they can be compared with the floor without Ansible's per-run start-up cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.desired import DesiredState
from benchmarks.ours import DEPLOYMENT_ID

PROVIDER = "postgres"


def core_unavailable_reason() -> str | None:
    """Return why the core cannot be called, or None when it imports."""
    try:
        from busdk_database import service  # noqa: F401
        from busdk_database.models import Settings  # noqa: F401
    except ImportError as error:
        return f"busdk_database.service cannot be imported ({error})"
    return None


def request_payload(
    desired: DesiredState, admin_dsn_file: Path, **extra: Any
) -> dict[str, Any]:
    """Return a plan, apply or status request for ``desired``."""
    return {
        "deployment_id": DEPLOYMENT_ID,
        "provider": PROVIDER,
        "credentials": {"admin_dsn_file": str(admin_dsn_file)},
        "databases": desired.databases,
        "roles": [desired.role],
        "schemas": [desired.schema],
        **extra,
    }


def call(
    operation: str,
    desired: DesiredState,
    admin_dsn_file: Path,
    dsn_output_dir: Path,
    **extra: Any,
) -> dict[str, Any]:
    """Send one request to ``busdk_database.service.handle`` and return the response."""
    from busdk_database import service
    from busdk_database.models import Settings

    settings = Settings(dsn_output_dir=str(dsn_output_dir))
    return service.handle(
        operation, request_payload(desired, admin_dsn_file, **extra), settings
    )
