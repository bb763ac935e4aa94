"""Shared state of one planning run and the execution scopes of changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .changes import Change
from .models import PlanRequest, Settings
from .pg_inspect import ClusterState
from .pg_secrets import DsnFile
from .redaction import Redactor

CLUSTER = "cluster"
AUTOCOMMIT = "autocommit"
FILES = "files"
PASSWORDS = "passwords"
# Execution order of the scopes; every "database:<name>" scope sorts at 2.
SCOPE_ORDER = {CLUSTER: 0, AUTOCOMMIT: 1, FILES: 3, PASSWORDS: 4}


def database_scope(database: str) -> str:
    """Return the scope of the per-database transaction for ``database``."""
    return f"database:{database}"


@dataclass
class PlanContext:
    """Inputs of one planning run."""

    request: PlanRequest
    settings: Settings
    state: ClusterState
    admin_params: dict[str, Any]
    connection: Any
    redactor: Redactor
    changes: list[Change] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    passwords: dict[str, str | None] = field(default_factory=dict)
    rotated: set[str] = field(default_factory=set)
    conflicts: list[str] = field(default_factory=list)
    dsn_inventory: list[DsnFile] | None = None

    @property
    def owner(self) -> str:
        """Return the role that owns the listed databases and new schemas."""
        roles = self.request.roles
        return roles[0] if roles else self.state.server.admin_role

    def add_sql(
        self,
        action: str,
        target: str,
        object_type: str,
        before: Any,
        after: Any,
        reason: str,
        scope: str,
        statement: Any,
        display: Any = None,
    ) -> None:
        """Record a change carried out by one SQL statement."""
        shown = (display if display is not None else statement).as_string(
            self.connection
        )
        self.changes.append(
            Change(
                action,
                target,
                object_type,
                before,
                after,
                reason,
                scope,
                sql=shown,
                step=("sql", statement),
            )
        )


def dsn_file_name(database: str, role: str, service_role: str) -> str:
    """Return the DSN file name for ``role`` in ``database``."""
    if role == service_role:
        return f"{database}.dsn"
    return f"{database}.{role}.dsn"
