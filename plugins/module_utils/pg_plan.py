"""Computing the ordered list of changes that brings PostgreSQL to a request."""

from __future__ import annotations

from typing import Any

from .errors import Conflict
from .pg_inspect import DatabaseState
from .pg_plan_context import (
    AUTOCOMMIT,
    CLUSTER,
    FILES,
    PASSWORDS,
    SCOPE_ORDER,
    PlanContext,
    database_scope,
    dsn_file_name,
)
from .pg_plan_files import plan_dsn_files
from .pg_plan_roles import plan_roles

try:
    from psycopg import sql
except ImportError:  # pragma: no cover - exercised by ansible-test's import test
    sql = None  # type: ignore[assignment]

__all__ = [
    "AUTOCOMMIT",
    "CLUSTER",
    "FILES",
    "PASSWORDS",
    "PlanContext",
    "build_plan",
    "dsn_file_name",
]


def _check_existing(context: PlanContext, database: DatabaseState) -> None:
    """Plan an ownership hand-over, or record why the database cannot be used."""
    owner = context.owner
    if not database.allow_connections:
        context.conflicts.append(
            f"Failed to plan database {database.name}: it does not allow "
            "connections (datallowconn is false)"
        )
    if database.owner == owner:
        return
    if database.owner == context.state.server.admin_role:
        context.add_sql(
            "alter-database-owner",
            database.name,
            "database",
            {"owner": database.owner},
            {"owner": owner},
            "database is owned by the admin role",
            CLUSTER,
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(database.name), sql.Identifier(owner)
            ),
        )
        return
    context.conflicts.append(
        f"Failed to plan database {database.name}: it exists and is owned by "
        f"{database.owner}, not {owner}. Changing the owner would take the "
        f"database from another role: change it by hand (ALTER DATABASE ... OWNER "
        f"TO {owner}) or leave the database out of the request"
    )


def _public_privileges(current: DatabaseState | None) -> list[str]:
    if current is None:
        return ["CONNECT", "TEMPORARY"]
    return [
        privilege
        for privilege in ("CONNECT", "TEMPORARY")
        if current.grants("PUBLIC", privilege)
    ]


def _plan_databases(context: PlanContext) -> None:
    request, state = context.request, context.state
    owner = context.owner
    new_databases = [name for name in request.databases if name not in state.databases]

    for name in request.databases:
        if name in state.databases:
            _check_existing(context, state.databases[name])

    for name in new_databases:
        context.add_sql(
            "create-database",
            name,
            "database",
            None,
            {"owner": owner},
            "database does not exist",
            AUTOCOMMIT,
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            ),
        )

    for name in request.databases:
        current = state.databases.get(name)
        scope = database_scope(name)
        identifier = sql.Identifier(name)
        public = _public_privileges(current)
        # The listed databases belong to the deployment's roles: PUBLIC's
        # default CONNECT and TEMPORARY are removed, also on a database an
        # interrupted earlier apply created.
        if request.roles and public:
            context.add_sql(
                "revoke-database-public",
                name,
                "privilege",
                {"PUBLIC": public},
                {"PUBLIC": []},
                "only the listed roles may connect to the deployment's databases",
                scope,
                sql.SQL("REVOKE {} ON DATABASE {} FROM PUBLIC").format(
                    sql.SQL(", ").join(sql.SQL(privilege) for privilege in public),
                    identifier,
                ),
            )
        for role in request.roles:
            has_connect = (
                current.grants(role, "CONNECT")
                if current is not None
                else role == owner
            )
            if has_connect:
                continue
            context.add_sql(
                "grant-database-connect",
                f"{name}.{role}",
                "privilege",
                None,
                {"grantee": role, "privilege": "CONNECT"},
                "role has no CONNECT grant of its own on the database",
                scope,
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    identifier, sql.Identifier(role)
                ),
            )
        _plan_schemas(context, name, current)


def _schema_privileges_held(
    database: DatabaseState, schema_name: str, role: str
) -> bool:
    schema = (database.schemas or {})[schema_name]
    if schema.owner == role:
        return True
    if schema.owner == "pg_database_owner" and database.owner == role:
        return True
    return schema.grants(role, "USAGE") and schema.grants(role, "CREATE")


def _plan_schemas(
    context: PlanContext, database: str, current: DatabaseState | None
) -> None:
    request = context.request
    owner = context.owner
    scope = database_scope(database)
    for schema in request.schemas:
        target = f"{database}.{schema}"
        exists = current is not None and schema in (current.schemas or {})
        # A new database copies template1, which normally has a public schema
        # owned by pg_database_owner: IF NOT EXISTS keeps that one as it is.
        from_template = current is None and schema == "public"
        if not exists:
            context.add_sql(
                "create-schema",
                target,
                "schema",
                None,
                {"exists": True} if from_template else {"owner": owner},
                "database is new; the template's public schema is kept if present"
                if from_template
                else "schema does not exist",
                scope,
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(schema), sql.Identifier(owner)
                ),
            )
        for role in request.roles:
            if current is not None and exists:
                if _schema_privileges_held(current, schema, role):
                    continue
            elif role == owner and not from_template:
                # A schema created with AUTHORIZATION owner is the owner's already.
                continue
            context.add_sql(
                "grant-schema-privileges",
                f"{target}.{role}",
                "privilege",
                None,
                {"grantee": role, "privileges": ["USAGE", "CREATE"]},
                "role cannot use and create objects in the schema",
                scope,
                sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(
                    sql.Identifier(schema), sql.Identifier(role)
                ),
            )


def build_plan(context: PlanContext, *, raise_conflicts: bool = True) -> dict[str, Any]:
    """Compute the ordered changes; return changes, resources and diagnostics.

    The result also has ``conflicts``: objects only a destructive step could
    fix. Raises Conflict listing them unless ``raise_conflicts`` is false.
    """
    request = context.request
    if request.databases and not request.roles:
        context.diagnostics.append(
            f"No roles listed: databases are owned by the admin role "
            f"{context.state.server.admin_role}"
        )
    plan_roles(context)
    _plan_databases(context)
    dsn_files = plan_dsn_files(context)
    if context.conflicts and raise_conflicts:
        raise Conflict(context.conflicts[0], context.conflicts[1:])

    context.changes.sort(key=lambda change: SCOPE_ORDER.get(change.scope, 2))
    resources = {
        "databases": list(request.databases),
        "roles": list(request.roles),
        "schemas": [
            f"{db}.{schema}" for db in request.databases for schema in request.schemas
        ],
        "dsn_files": dsn_files,
    }
    return {
        "changes": context.changes,
        "resources": resources,
        "diagnostics": context.diagnostics,
        "conflicts": context.conflicts,
    }
