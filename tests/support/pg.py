"""Admin identities and independent catalog snapshots for database tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from devtools.pgcluster import ClusterState


@dataclass
class Admin:
    """An admin identity on a running cluster, with its 0600 DSN file."""

    cluster: ClusterState
    kind: str
    role: str
    password: str
    dsn_file: Path

    @property
    def version(self) -> str:
        return self.cluster.version

    @property
    def dsn(self) -> str:
        return self.cluster.dsn(self.role, self.password)

    @property
    def superuser_dsn(self) -> str:
        return self.cluster.dsn()

    def query(
        self, statement: str, params: Any = None, dbname: str = "postgres"
    ) -> list:
        """Run a query as the cluster superuser, independent of the code under test."""
        with psycopg.connect(self.cluster.dsn(dbname=dbname), autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []


def snapshot(admin: Admin, databases: list[str]) -> dict[str, Any]:
    """Return roles, databases with ACLs, and schemas of existing ``databases``."""
    roles = admin.query("SELECT rolname, rolcanlogin FROM pg_roles ORDER BY 1")
    dbs = admin.query(
        "SELECT datname, pg_get_userbyid(datdba), datacl::text FROM pg_database "
        "ORDER BY 1"
    )
    existing = {row[0] for row in dbs}
    schemas = {
        name: admin.query(
            "SELECT nspname, pg_get_userbyid(nspowner), nspacl::text "
            "FROM pg_namespace ORDER BY 1",
            dbname=name,
        )
        for name in databases
        if name in existing
    }
    return {"roles": roles, "databases": dbs, "schemas": schemas}
