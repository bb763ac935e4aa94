"""Check a bootstrapped PostgreSQL server independently of the busdk.database modules.

Connects with the admin DSN and with every expected service DSN file, queries
the catalogs with plain psycopg, and prints a JSON object: ``problems`` lists
every difference from the expectation (empty when all is well) and ``found``
summarises what exists. The exit status is 0 even when problems are found, so
the calling playbook can assert on them and show the whole list.
"""

from __future__ import annotations

import argparse
import json
import stat
import sys
from pathlib import Path
from typing import Any

import psycopg

CONNECT_TIMEOUT_SECONDS = 5


def dsn_file_name(database: str, role: str, service_role: str) -> str:
    """Return the DSN file name the modules document for ``role`` in ``database``."""
    if role == service_role:
        return f"{database}.dsn"
    return f"{database}.{role}.dsn"


def fetch_row(connection: psycopg.Connection, query: str, params: tuple = ()) -> Any:
    """Return the single row of ``query``, or raise LookupError when it returns none."""
    row = connection.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"query returned no row: {query}")
    return row


def fetch_pairs(connection: psycopg.Connection, query: str) -> dict[str, Any]:
    """Return the two-column result of ``query`` as a dict."""
    return dict(connection.execute(query).fetchall())


def file_mode(path: Path) -> str:
    """Return the permission bits of ``path`` as four octal digits."""
    return f"{stat.S_IMODE(path.stat().st_mode):04o}"


def check_cluster(args: argparse.Namespace, problems: list[str]) -> dict[str, object]:
    """Compare databases, roles and database privileges with the expectation."""
    roles = [args.service_role, *args.role]
    admin_dsn = Path(args.admin_dsn_file).read_text(encoding="utf-8").strip()
    found: dict[str, object] = {}
    with psycopg.connect(admin_dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS) as admin:
        owners = fetch_pairs(
            admin,
            "SELECT d.datname, r.rolname FROM pg_database d"
            " JOIN pg_roles r ON r.oid = d.datdba",
        )
        logins = fetch_pairs(admin, "SELECT rolname, rolcanlogin FROM pg_roles")
        found["databases"] = sorted(owners)
        for role in roles:
            if role not in logins:
                problems.append(f"role {role} does not exist")
            elif not logins[role]:
                problems.append(f"role {role} cannot log in")
        for database in args.database:
            if database not in owners:
                problems.append(f"database {database} does not exist")
                continue
            if owners[database] != args.service_role:
                problems.append(
                    f"database {database} is owned by {owners[database]},"
                    f" expected {args.service_role}"
                )
            for role in roles:
                if role not in logins:
                    continue
                (allowed,) = fetch_row(
                    admin,
                    "SELECT has_database_privilege(%s, %s, 'CONNECT')",
                    (role, database),
                )
                if not allowed:
                    problems.append(f"role {role} lacks CONNECT on database {database}")
            (public_allowed,) = fetch_row(
                admin,
                "SELECT has_database_privilege('public', %s, 'CONNECT')",
                (database,),
            )
            if public_allowed:
                problems.append(f"PUBLIC still has CONNECT on database {database}")
        for database in args.absent_database:
            if database in owners:
                problems.append(f"database {database} exists but must not")
    return found


def check_schemas(args: argparse.Namespace, database: str, problems: list[str]) -> None:
    """Compare the schemas of one database and their privileges with the expectation."""
    roles = [args.service_role, *args.role]
    admin_dsn = Path(args.admin_dsn_file).read_text(encoding="utf-8").strip()
    with psycopg.connect(
        admin_dsn, dbname=database, connect_timeout=CONNECT_TIMEOUT_SECONDS
    ) as connection:
        owners = fetch_pairs(
            connection,
            "SELECT n.nspname, r.rolname FROM pg_namespace n"
            " JOIN pg_roles r ON r.oid = n.nspowner",
        )
        for schema in args.schema:
            if schema not in owners:
                problems.append(
                    f"schema {schema} does not exist in database {database}"
                )
                continue
            if owners[schema] != args.service_role:
                problems.append(
                    f"schema {schema} in database {database} is owned by"
                    f" {owners[schema]}, expected {args.service_role}"
                )
            for role in roles:
                usage, create = fetch_row(
                    connection,
                    "SELECT has_schema_privilege(%s, %s, 'USAGE'),"
                    " has_schema_privilege(%s, %s, 'CREATE')",
                    (role, schema, role, schema),
                )
                if not (usage and create):
                    problems.append(
                        f"role {role} lacks USAGE or CREATE on schema {schema}"
                        f" in database {database}"
                    )


def check_dsn_files(args: argparse.Namespace, problems: list[str]) -> dict[str, str]:
    """Check the mode and login of each expected DSN file and return modes by name."""
    directory = Path(args.dsn_dir)
    modes: dict[str, str] = {}
    if not directory.is_dir():
        problems.append(f"DSN output directory {directory} does not exist")
        return modes
    modes["."] = file_mode(directory)
    if modes["."] != "0700":
        problems.append(
            f"DSN output directory {directory} has mode {modes['.']}, expected 0700"
        )
    for database in args.database:
        for role in [args.service_role, *args.role]:
            name = dsn_file_name(database, role, args.service_role)
            path = directory / name
            if not path.is_file():
                problems.append(f"DSN file {path} does not exist")
                continue
            modes[name] = file_mode(path)
            if modes[name] != "0600":
                problems.append(
                    f"DSN file {path} has mode {modes[name]}, expected 0600"
                )
            dsn = path.read_text(encoding="utf-8").strip()
            try:
                with psycopg.connect(
                    dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS
                ) as service:
                    user, current = fetch_row(
                        service, "SELECT current_user, current_database()"
                    )
            except psycopg.Error as error:
                # libpq messages name the host and role, never the password.
                problems.append(f"login with DSN file {path} failed: {error}")
                continue
            if (user, current) != (role, database):
                problems.append(
                    f"DSN file {path} logs in as {user} to {current},"
                    f" expected {role} to {database}"
                )
    return modes


def main(argv: list[str] | None = None) -> int:
    """Run every check and print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-dsn-file", required=True)
    parser.add_argument("--dsn-dir", required=True)
    parser.add_argument("--service-role", required=True)
    parser.add_argument("--role", action="append", default=[], help="additional role")
    parser.add_argument("--database", action="append", default=[])
    parser.add_argument("--schema", action="append", default=[])
    parser.add_argument(
        "--absent-database",
        action="append",
        default=[],
        help="database that must not exist",
    )
    parser.add_argument(
        "--skip-dsn-files",
        action="store_true",
        help="check only the server, for a run that wrote no DSN files",
    )
    args = parser.parse_args(argv)

    problems: list[str] = []
    report: dict[str, object] = {"problems": problems}
    report["found"] = check_cluster(args, problems)
    for database in args.database:
        if database in report["found"]["databases"]:  # type: ignore[index]
            check_schemas(args, database, problems)
    if not args.skip_dsn_files:
        report["dsn_file_modes"] = check_dsn_files(args, problems)
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
