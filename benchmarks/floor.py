"""The lower bound: the desired state's DDL and inspection in one Python process.

``converge`` issues the DDL without checking anything first, over one admin
connection for the role, the databases and their privileges plus one
connection per database for its schema. ``inspect`` runs the catalog reads a
planner needs to decide that nothing is missing: one admin connection with two
queries, then one query per database over one connection each, because schemas
are visible only from inside their own database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.desired import PUBLIC_REVOKED, DesiredState
from devtools.pgcluster import ClusterState, write_dsn_file


def converge(
    state: ClusterState, desired: DesiredState, role_password: str, dsn_dir: Path
) -> None:
    """Create the role, databases, privileges, schemas and DSN files from empty."""
    databases = [sql.Identifier(name) for name in desired.databases]
    database_list = sql.SQL(", ").join(databases)
    role = sql.Identifier(desired.role)
    with psycopg.connect(state.dsn(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                role, sql.Literal(role_password)
            )
        )
        # CREATE DATABASE cannot run inside a transaction block, so each one is
        # its own statement.
        for database in databases:
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
        admin.execute(
            sql.SQL("REVOKE {} ON DATABASE {} FROM PUBLIC").format(
                sql.SQL(", ").join(sql.SQL(priv) for priv in PUBLIC_REVOKED),
                database_list,
            )
        )
        admin.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database_list, role)
        )
    for name in desired.databases:
        with psycopg.connect(state.dsn(dbname=name), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                    sql.Identifier(desired.schema), role
                )
            )
        write_dsn_file(
            dsn_dir / f"{name}.dsn",
            state.dsn(user=desired.role, password=role_password, dbname=name),
        )


@dataclass
class Inspection:
    """Differences between the catalogs and the desired state."""

    missing_role: bool = False
    missing_databases: list[str] = field(default_factory=list)
    wrong_owner: list[str] = field(default_factory=list)
    acl_drift: list[str] = field(default_factory=list)
    missing_schemas: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return not (
            self.missing_role
            or self.missing_databases
            or self.wrong_owner
            or self.acl_drift
            or self.missing_schemas
        )


def _acl_matches(acl: list[str] | None, role: str) -> bool:
    """Return True when PUBLIC has no privilege and ``role`` has CONNECT.

    ``acl`` is ``pg_database.datacl`` as text items such as ``bench=c/owner``. A
    NULL ACL means the defaults, under which PUBLIC has CONNECT and TEMPORARY.
    """
    if acl is None:
        return False
    public_privileges = ""
    role_privileges = ""
    for item in acl:
        grantee, _, rest = item.partition("=")
        privileges = rest.partition("/")[0]
        if grantee == "":
            public_privileges += privileges
        elif grantee.strip('"') == role:
            role_privileges += privileges
    return (
        "c" not in public_privileges
        and "T" not in public_privileges
        and ("c" in role_privileges)
    )


def inspect(state: ClusterState, desired: DesiredState) -> Inspection:
    """Read the catalogs that decide whether ``desired`` is already in place."""
    result = Inspection()
    with psycopg.connect(state.dsn(), autocommit=True) as admin:
        role_row = admin.execute(
            "SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s", (desired.role,)
        ).fetchone()
        rows = admin.execute(
            "SELECT datname, datdba, datacl::text[] FROM pg_catalog.pg_database"
            " WHERE datname = ANY(%s)",
            (desired.databases,),
        ).fetchall()
    result.missing_role = role_row is None
    role_oid = role_row[0] if role_row else None
    found = {name: (owner, acl) for name, owner, acl in rows}
    for name in desired.databases:
        if name not in found:
            result.missing_databases.append(name)
            continue
        owner, acl = found[name]
        if owner != role_oid:
            result.wrong_owner.append(name)
        if not _acl_matches(acl, desired.role):
            result.acl_drift.append(name)
        with psycopg.connect(state.dsn(dbname=name), autocommit=True) as conn:
            schema_row = conn.execute(
                "SELECT nspowner, nspacl::text[] FROM pg_catalog.pg_namespace"
                " WHERE nspname = %s",
                (desired.schema,),
            ).fetchone()
        if schema_row is None or schema_row[0] != role_oid:
            result.missing_schemas.append(name)
    return result
