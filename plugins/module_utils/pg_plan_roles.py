"""Planning login roles, their passwords and the admin's membership."""

from __future__ import annotations

import os

from .pg_inspect import UNREADABLE
from .pg_plan_context import CLUSTER, PlanContext, dsn_file_name
from .pg_secrets import (
    DsnFile,
    generate_password,
    login_result,
    password_matches,
    read_dsn_file,
    scram_verifier,
)
from .redaction import MASK

try:
    from psycopg import sql
except ImportError:  # pragma: no cover - exercised by ansible-test's import test
    sql = None  # type: ignore[assignment]


def plan_roles(context: PlanContext) -> None:
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
