"""Computing the ordered list of changes that brings PostgreSQL to a request."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

from .changes import Change
from .errors import Conflict
from .models import PlanRequest, Settings
from .pg_inspect import UNREADABLE, ClusterState, DatabaseState
from .pg_secrets import (
    DSN_DIRECTORY_MODE,
    DSN_FILE_MODE,
    DsnFile,
    compose_dsn,
    connection_endpoint,
    generate_password,
    login_result,
    password_matches,
    read_dsn_file,
    scram_verifier,
)
from .redaction import MASK, Redactor

try:
    from psycopg import sql
except ImportError:  # pragma: no cover - exercised by ansible-test's import test
    sql = None  # type: ignore[assignment]

CLUSTER = "cluster"
AUTOCOMMIT = "autocommit"
FILES = "files"


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


def _plan_roles(context: PlanContext) -> None:
    request, state = context.request, context.state
    manage_passwords = bool(context.settings.dsn_output_dir and request.databases)

    for role in request.roles:
        identifier = sql.Identifier(role)
        current = state.roles.get(role)
        if current is None:
            password = generate_password() if manage_passwords else None
            context.passwords[role] = password
            if password is None:
                statement = sql.SQL("CREATE ROLE {} LOGIN").format(identifier)
                display = None
            else:
                context.redactor.add(password)
                verifier = scram_verifier(context.connection, role, password)
                statement = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    identifier, sql.Literal(verifier)
                )
                display = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    identifier, sql.Literal(MASK)
                )
            context.add_sql(
                "create-role",
                role,
                "role",
                None,
                {"login": True},
                "role does not exist",
                CLUSTER,
                statement,
                display,
            )
            continue

        if not current.login:
            context.add_sql(
                "alter-role-login",
                role,
                "role",
                {"login": False},
                {"login": True},
                "role exists but cannot log in",
                CLUSTER,
                sql.SQL("ALTER ROLE {} LOGIN").format(identifier),
            )
        if manage_passwords:
            _plan_password(context, role)

    _plan_admin_membership(context)


def _candidate_files(context: PlanContext, role: str) -> list[DsnFile]:
    directory = context.settings.dsn_output_dir or ""
    service_role = context.request.roles[0]
    found = []
    for database in context.request.databases:
        name = dsn_file_name(database, role, service_role)
        entry = read_dsn_file(os.path.join(directory, name))
        if entry.exists and entry.password and entry.user == role:
            found.append(entry)
    return found


def _plan_password(context: PlanContext, role: str) -> None:
    """Keep the role's password if a DSN file still authenticates, else rotate."""
    current = context.state.roles[role]
    tried: set[str] = set()
    for entry in _candidate_files(context, role):
        password = entry.password or ""
        if password in tried:
            continue
        tried.add(password)
        context.redactor.add(password)
        if current.verifier != UNREADABLE:
            accepted = password_matches(current.verifier, role, password)
            outcome = "ok" if accepted else "rejected"
        else:
            database = os.path.basename(entry.path).split(".")[0]
            outcome = login_result(
                context.admin_params,
                role,
                password,
                database,
                context.settings.connect_timeout,
            )
        if outcome == "unknown":
            context.diagnostics.append(
                f"Could not check the password in {entry.path} by logging in as "
                f"{role}; it is kept"
            )
        if outcome in ("ok", "unknown"):
            context.passwords[role] = password
            return

    password = generate_password()
    context.redactor.add(password)
    context.passwords[role] = password
    verifier = scram_verifier(context.connection, role, password)
    reason = (
        "no DSN file holds a password the server accepts"
        if tried
        else "no DSN file holds the role's password"
    )
    identifier = sql.Identifier(role)
    context.add_sql(
        "set-role-password",
        role,
        "role",
        {"password": MASK},
        {"password": "new " + MASK},
        reason,
        CLUSTER,
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(identifier, sql.Literal(verifier)),
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(identifier, sql.Literal(MASK)),
    )


def _plan_admin_membership(context: PlanContext) -> None:
    """Let a non-superuser admin act as the owner role, as CREATE DATABASE needs."""
    server = context.state.server
    request = context.request
    if server.superuser or not request.roles or not request.databases:
        return
    owner = context.owner
    if owner == server.admin_role:
        return
    current = context.state.roles.get(owner)
    if current is not None and current.admin_inherits and current.admin_can_set:
        return
    if server.version_num >= 160000:
        statement = sql.SQL("GRANT {} TO {} WITH INHERIT TRUE, SET TRUE")
    else:
        statement = sql.SQL("GRANT {} TO {}")
    context.add_sql(
        "grant-role-membership",
        f"{owner}.{server.admin_role}",
        "membership",
        None,
        {"member": server.admin_role, "inherit": True, "set": True},
        f"the admin role must be able to SET ROLE to {owner} to make it the owner "
        "of databases and schemas",
        CLUSTER,
        statement.format(sql.Identifier(owner), sql.Identifier(server.admin_role)),
    )


def _check_owner(context: PlanContext, database: DatabaseState) -> None:
    owner = context.owner
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
    raise Conflict(
        f"Failed to plan database {database.name}: it exists and is owned by "
        f"{database.owner}, not {owner}",
        [
            "Changing the owner would take the database from another role; "
            f"change it by hand (ALTER DATABASE ... OWNER TO {owner}) or leave "
            "the database out of the request"
        ],
    )


def _plan_databases(context: PlanContext) -> None:
    request, state = context.request, context.state
    owner = context.owner
    new_databases = [name for name in request.databases if name not in state.databases]

    for name in request.databases:
        if name in state.databases:
            _check_owner(context, state.databases[name])

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
        if current is None and request.roles:
            context.add_sql(
                "revoke-database-public",
                name,
                "privilege",
                {"PUBLIC": ["CONNECT", "TEMPORARY"]},
                {"PUBLIC": []},
                "new database: only the listed roles may connect",
                scope,
                sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                    identifier
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
    context: PlanContext, database: DatabaseState, schema_name: str, role: str
) -> bool:
    assert database.schemas is not None
    schema = database.schemas[schema_name]
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
        if not exists:
            context.add_sql(
                "create-schema",
                target,
                "schema",
                None,
                {"owner": owner},
                "schema does not exist" if current else "database is new",
                scope,
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(schema), sql.Identifier(owner)
                ),
            )
        for role in request.roles:
            if exists:
                assert current is not None
                if _schema_privileges_held(context, current, schema, role):
                    continue
            elif role == owner and not (current is None and schema == "public"):
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


def _plan_dsn_files(context: PlanContext) -> list[str]:
    request, settings = context.request, context.settings
    directory = settings.dsn_output_dir
    if not directory or not request.roles or not request.databases:
        if request.roles and request.databases:
            context.diagnostics.append(
                "No DSN output directory is configured: service passwords are not "
                "managed and no DSN files are written"
            )
        return []

    try:
        info = os.stat(directory)
    except FileNotFoundError:
        context.changes.append(
            Change(
                "create-dsn-directory",
                directory,
                "directory",
                None,
                {"mode": f"{DSN_DIRECTORY_MODE:04o}"},
                "directory does not exist",
                FILES,
                step=("mkdir", directory),
            )
        )
    else:
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            context.changes.append(
                Change(
                    "set-dsn-directory-mode",
                    directory,
                    "directory",
                    {"mode": f"{mode:04o}"},
                    {"mode": f"{DSN_DIRECTORY_MODE:04o}"},
                    "directory is open to group or others",
                    FILES,
                    step=("chmod", directory, DSN_DIRECTORY_MODE),
                )
            )

    host, port, query = connection_endpoint(
        context.admin_params, settings.dsn_host, settings.dsn_port
    )
    written = []
    service_role = request.roles[0]
    for database in request.databases:
        for role in request.roles:
            name = dsn_file_name(database, role, service_role)
            path = os.path.join(directory, name)
            written.append(path)
            password = context.passwords.get(role)
            if password is None:
                continue
            desired = compose_dsn(role, password, database, host, port, query) + "\n"
            masked = compose_dsn(role, None, database, host, port, query)
            found = read_dsn_file(path)
            if (
                found.exists
                and found.content == desired
                and found.mode == DSN_FILE_MODE
            ):
                continue
            if not found.exists:
                before, reason = None, "file does not exist"
            elif found.content != desired:
                before = {"mode": f"{found.mode or 0:04o}", "dsn": "(outdated)"}
                reason = "file does not hold the current connection string"
            else:
                before = {"mode": f"{found.mode or 0:04o}", "dsn": masked}
                reason = f"file mode is {found.mode or 0:04o}, expected 0600"
            context.changes.append(
                Change(
                    "write-dsn-file",
                    name,
                    "dsn-file",
                    before,
                    {"mode": f"{DSN_FILE_MODE:04o}", "dsn": masked},
                    reason,
                    FILES,
                    step=("write", path, desired),
                )
            )
    return written


def build_plan(context: PlanContext) -> dict[str, Any]:
    """Compute the ordered changes; return changes, resources and diagnostics.

    Raises Conflict when an object could only be fixed destructively.
    """
    request = context.request
    if request.databases and not request.roles:
        context.diagnostics.append(
            f"No roles listed: databases are owned by the admin role "
            f"{context.state.server.admin_role}"
        )
    _plan_roles(context)
    _plan_databases(context)
    dsn_files = _plan_dsn_files(context)

    # Changes run in scope order: roles, new databases, each database, files.
    order = {CLUSTER: 0, AUTOCOMMIT: 1, FILES: 3}
    context.changes.sort(key=lambda change: order.get(change.scope, 2))
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
    }
