"""Planning login roles, their passwords and the admin's membership."""

from __future__ import annotations

import os

from .pg_inspect import UNREADABLE
from .pg_plan_context import CLUSTER, PASSWORDS, PlanContext
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


def _check_manageable(context: PlanContext, role: str) -> bool:
    """Record a conflict for roles whose password the tool must not touch."""
    current = context.state.roles.get(role)
    if role == context.state.server.admin_role:
        context.conflicts.append(
            f"Failed to plan role {role}: it is the admin role of this request; "
            "list a separate service role"
        )
        return False
    if current is not None and current.superuser:
        context.conflicts.append(
            f"Failed to plan role {role}: it is a superuser, and the tool does not "
            "manage superuser passwords; list a separate service role"
        )
        return False
    return True


def plan_roles(context: PlanContext) -> None:
    """Plan missing roles, LOGIN, passwords and the admin's membership."""
    request, state = context.request, context.state
    manage_passwords = bool(context.settings.dsn_output_dir and request.databases)

    for role in request.roles:
        if not _check_manageable(context, role):
            continue
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


def role_dsn_files(context: PlanContext, role: str) -> list[DsnFile]:
    """Return every DSN file in the output directory that logs in as ``role``.

    Files of databases outside this request count too, so a role's password is
    kept for, and a rotation rewrites, all of its files.
    """
    if context.dsn_inventory is None:
        directory = context.settings.dsn_output_dir or ""
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            names = []
        context.dsn_inventory = [
            read_dsn_file(os.path.join(directory, name))
            for name in names
            if name.endswith(".dsn")
        ]
    return [
        entry
        for entry in context.dsn_inventory
        if entry.regular and entry.password and entry.user == role
    ]


def _check_password(context: PlanContext, role: str, entry: DsnFile) -> str:
    current = context.state.roles[role]
    password = entry.password or ""
    if current.verifier != UNREADABLE:
        accepted = password_matches(current.verifier, role, password)
        return "ok" if accepted else "rejected"
    return login_result(
        context.admin_params,
        role,
        password,
        entry.database or context.state.server.maintenance_database,
        context.settings.connect_timeout,
    )


def _plan_password(context: PlanContext, role: str) -> None:
    """Keep the role's password if a DSN file still authenticates, else rotate."""
    current = context.state.roles[role]
    tried: set[str] = set()
    reason = "no DSN file holds the role's password"
    if current.verifier not in (None, UNREADABLE) and str(current.verifier).startswith(
        "md5"
    ):
        reason = "the password is stored as an MD5 hash, not as a SCRAM verifier"
    else:
        for entry in role_dsn_files(context, role):
            password = entry.password or ""
            if password in tried:
                continue
            tried.add(password)
            context.redactor.add(password)
            outcome = _check_password(context, role, entry)
            if outcome == "unknown":
                context.diagnostics.append(
                    f"Could not check the password in {entry.path} by logging in "
                    f"as {role}; it is kept"
                )
            if outcome in ("ok", "unknown"):
                context.passwords[role] = password
                return
        if tried:
            reason = "no DSN file holds a password the server accepts"

    password = generate_password()
    context.redactor.add(password)
    context.passwords[role] = password
    context.rotated.add(role)
    verifier = scram_verifier(context.connection, role, password)
    identifier = sql.Identifier(role)
    # The new password is set after the DSN files are written: if writing fails,
    # the old password and the files that hold it keep working.
    context.add_sql(
        "set-role-password",
        role,
        "role",
        {"password": MASK},
        {"password": "new " + MASK},
        reason,
        PASSWORDS,
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
