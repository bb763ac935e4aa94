"""The desired state every approach converges to, sized by the number of databases."""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_ROLE = "bench_service"
SCHEMA = "app"
DATABASE_PREFIX = "bench_db_"
# Privileges PUBLIC holds on a new database by default and that the desired state
# removes.
PUBLIC_REVOKED = ("CONNECT", "TEMPORARY")


@dataclass(frozen=True)
class DesiredState:
    """One service role, ``size`` databases owned by it, one schema per database.

    The role gets CONNECT on every database and PUBLIC loses CONNECT and TEMPORARY.
    """

    size: int

    @property
    def role(self) -> str:
        return SERVICE_ROLE

    @property
    def schema(self) -> str:
        return SCHEMA

    @property
    def databases(self) -> list[str]:
        return [f"{DATABASE_PREFIX}{index:03d}" for index in range(1, self.size + 1)]
