"""Planning the service DSN files and their directory."""

from __future__ import annotations

import os
import stat

from .changes import Change
from .pg_plan_context import FILES, PlanContext, dsn_file_name
from .pg_secrets import (
    DSN_DIRECTORY_MODE,
    DSN_FILE_MODE,
    compose_dsn,
    connection_endpoint,
    read_dsn_file,
)


def plan_dsn_files(context: PlanContext) -> list[str]:
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
