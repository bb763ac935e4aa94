"""Planned changes and the one executor that carries them out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import DatabaseError


@dataclass
class Change:
    """One planned change: what, why, and how the provider will make it.

    ``sql`` is display text with secrets masked. ``scope`` groups changes into
    execution units (a transaction, an autocommit statement, file writes) and
    ``step`` is the provider's private instruction for the change.
    """

    action: str
    target: str
    object_type: str
    before: Any
    after: Any
    reason: str
    scope: str
    sql: str | None = None
    step: Any = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        """Return the action label, for example ``create-role:bus_service``."""
        return f"{self.action}:{self.target}"

    def to_dict(self) -> dict[str, Any]:
        """Return the public, secret-free description of the change."""
        return {
            "action": self.action,
            "object_type": self.object_type,
            "name": self.target,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "sql": self.sql,
        }


class ExecutionUnit(Protocol):
    """A transaction or other unit in which changes of one scope run."""

    def run(self, change: Change) -> None:
        """Carry out one change inside the unit."""


class ExecutionBackend(Protocol):
    """Provider side of the executor: opens one unit per scope."""

    def unit(self, scope: str) -> AbstractContextManager[ExecutionUnit]:
        """Return a context manager that commits the unit on normal exit."""


def _group_by_scope(changes: list[Change]) -> Iterator[tuple[str, list[Change]]]:
    for scope, group in itertools.groupby(changes, key=lambda change: change.scope):
        yield scope, list(group)


def execute_changes(changes: list[Change], backend: ExecutionBackend) -> int:
    """Carry out ``changes`` in order and return how many ran.

    Consecutive changes with the same scope share one execution unit, so a
    failure rolls back the whole unit. Earlier units stay committed: every
    change is additive, and the next apply plans whatever is still missing.
    A DatabaseError raised here carries those committed changes in
    ``applied``.
    """
    done = 0
    try:
        for scope, group in _group_by_scope(changes):
            with backend.unit(scope) as unit:
                for change in group:
                    unit.run(change)
            done += len(group)
    except DatabaseError as error:
        error.applied = changes[:done]
        raise
    return done
