"""Planning the service DSN files and their directory."""

from __future__ import annotations

import os
import stat

from .changes import Change
from .errors import BadRequest
from .pg_plan_context import FILES, PlanContext, dsn_file_name
from .pg_plan_roles import role_dsn_files
from .pg_secrets import (
    DSN_DIRECTORY_MODE,
    DSN_FILE_MODE,
    compose_dsn,
    connection_endpoint,
    read_dsn_file,
)


def _check_directory(context: PlanContext, directory: str) -> None:
    """Plan the directory's creation or mode, or record why it is unusable."""
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
        return
    if not stat.S_ISDIR(info.st_mode):
        context.conflicts.append(
            f"Failed to plan DSN files: {directory} exists and is not a directory"
        )
        return
    if not os.access(directory, os.W_OK | os.X_OK):
        context.conflicts.append(
            f"Failed to plan DSN files: directory {directory} is not writable"
        )
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


def _file_names(context: PlanContext) -> dict[str, tuple[str, str]]:
    """Map each DSN file name to its (database, role); raise on a collision."""
    request = context.request
    service_role = request.roles[0]
    names: dict[str, tuple[str, str]] = {}
    for database in request.databases:
        for role in request.roles:
            name = dsn_file_name(database, role, service_role)
            if name in names:
                other_database, other_role = names[name]
                raise BadRequest(
                    f"Invalid databases and roles: the DSN file {name} would be "
                    f"used for database {other_database} with role {other_role} "
                    f"and for database {database} with role {role}; rename one"
                )
            names[name] = (database, role)
    return names


def _plan_file(
    context: PlanContext, path: str, desired: str, masked: str, rotated: bool
) -> None:
    found = read_dsn_file(path)
    if found.is_directory:
        context.conflicts.append(
            f"Failed to plan DSN file {path}: a directory is in its place"
        )
        return
    if found.regular and found.content == desired and found.mode == DSN_FILE_MODE:
        return
    mode = f"{found.mode or 0:04o}"
    if not found.exists:
        before, reason = None, "file does not exist"
    elif not found.regular:
        before, reason = {"type": "not a regular file"}, "not a regular file"
    elif found.content != desired:
        before = {"mode": mode, "dsn": "(outdated)"}
        reason = (
            "the role's password is rotated"
            if rotated
            else "file does not hold the current connection string"
        )
    else:
        before = {"mode": mode, "dsn": masked}
        reason = f"file mode is {mode}, expected 0600"
    context.changes.append(
        Change(
            "write-dsn-file",
            os.path.basename(path),
            "dsn-file",
            before,
            {"mode": f"{DSN_FILE_MODE:04o}", "dsn": masked},
            reason,
            FILES,
            step=("write", path, desired),
        )
    )


def plan_dsn_files(context: PlanContext) -> list[str]:
    """Plan the DSN directory and files; return the paths of this request's files.

    When a role's password is rotated, its files for databases outside this
    request are rewritten too, so none of them keeps a stale password.
    """
    request, settings = context.request, context.settings
    directory = settings.dsn_output_dir
    if not directory or not request.roles or not request.databases:
        if request.roles and request.databases:
            context.diagnostics.append(
                "No DSN output directory is configured: service passwords are not "
                "managed and no DSN files are written"
            )
        return []

    names = _file_names(context)
    _check_directory(context, directory)
    host, port, query = connection_endpoint(
        context.admin_params, settings.dsn_host, settings.dsn_port
    )

    written = []
    for name, (database, role) in names.items():
        path = os.path.join(directory, name)
        written.append(path)
        password = context.passwords.get(role)
        if password is None:
            continue
        desired = compose_dsn(role, password, database, host, port, query) + "\n"
        masked = compose_dsn(role, None, database, host, port, query)
        _plan_file(context, path, desired, masked, role in context.rotated)

    for role in sorted(context.rotated):
        password = context.passwords[role]
        for entry in role_dsn_files(context, role):
            if os.path.basename(entry.path) in names or entry.database is None:
                continue
            desired = compose_dsn(role, password, entry.database, host, port, query)
            masked = compose_dsn(role, None, entry.database, host, port, query)
            _plan_file(context, entry.path, desired + "\n", masked, True)
    return written
