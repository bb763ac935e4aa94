"""Plan and apply through the core against real PostgreSQL servers."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from busdk_database.models import Settings
from busdk_database.service import handle
from tests.support.pg import Admin, snapshot


def _payload(admin: Admin, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "credentials": {"admin_dsn_file": str(admin.dsn_file)},
    }
    payload.update(fields)
    return payload


def _settings(tmp_path: Path) -> Settings:
    return Settings(dsn_output_dir=str(tmp_path / "dsn"))


def _read_dsn(path: Path) -> dict[str, Any]:
    return dict(psycopg.conninfo.conninfo_to_dict(path.read_text().strip()))


def test_contract_example_converges(admin: Admin, names: str, tmp_path: Path) -> None:
    databases = [f"{names}_auth", f"{names}_events"]
    role = f"{names}_service"
    desired = {"databases": databases, "roles": [role], "schemas": ["public"]}
    settings = _settings(tmp_path)
    before = snapshot(admin, databases)

    planned = handle(
        "plan", _payload(admin, dry_run=True, confirm=False, **desired), settings
    )
    assert planned["ok"], planned["diagnostics"]
    assert planned["dry_run"] is True
    assert f"create-role:{role}" in planned["actions"]
    assert f"create-database:{databases[0]}" in planned["actions"]
    assert f"create-schema:{databases[0]}.public" in planned["actions"]
    assert f"write-dsn-file:{databases[0]}.dsn" in planned["actions"]
    assert all(change["reason"] for change in planned["changes"])
    assert snapshot(admin, databases) == before
    assert not (tmp_path / "dsn").exists()

    applied = handle(
        "apply", _payload(admin, dry_run=False, confirm=True, **desired), settings
    )
    assert applied["ok"], applied["diagnostics"]
    assert applied["changed"] is True
    assert "apply-database-plan" in applied["actions"]
    owners = dict(
        admin.query(
            "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
            "WHERE datname = ANY(%s)",
            [databases],
        )
    )
    assert owners == {name: role for name in databases}

    again = handle(
        "apply", _payload(admin, dry_run=False, confirm=True, **desired), settings
    )
    assert again["ok"], again["diagnostics"]
    assert again["changed"] is False
    assert again["changes"] == []


def test_service_role_creates_tables(admin: Admin, names: str, tmp_path: Path) -> None:
    databases = [f"{names}_one", f"{names}_two"]
    schemas = ["public", "app", "Mixed-Case.s"]
    desired = {"databases": databases, "roles": [f"{names}_svc"], "schemas": schemas}
    result = handle(
        "apply",
        _payload(admin, dry_run=False, confirm=True, **desired),
        _settings(tmp_path),
    )
    assert result["ok"], result["diagnostics"]

    for database in databases:
        dsn_file = tmp_path / "dsn" / f"{database}.dsn"
        with psycopg.connect(dsn_file.read_text().strip(), autocommit=True) as conn:
            for schema in schemas:
                table = psycopg.sql.Identifier(schema, "probe")
                conn.execute(psycopg.sql.SQL("CREATE TABLE {} (id int)").format(table))
                conn.execute(psycopg.sql.SQL("INSERT INTO {} VALUES (1)").format(table))


def test_dsn_files_private_and_encoded(
    admin: Admin, names: str, tmp_path: Path
) -> None:
    database, role = f"{names}_db", f"{names}_svc"
    result = handle(
        "apply",
        _payload(
            admin, dry_run=False, confirm=True, databases=[database], roles=[role]
        ),
        _settings(tmp_path),
    )
    assert result["ok"], result["diagnostics"]

    directory = tmp_path / "dsn"
    dsn_file = directory / f"{database}.dsn"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(dsn_file.stat().st_mode) == 0o600
    params = _read_dsn(dsn_file)
    assert params["host"] == "127.0.0.1"
    assert int(params["port"]) == admin.cluster.port
    assert params["user"] == role
    assert params["dbname"] == database
    assert dsn_file.read_text().endswith("\n")
    assert [p.name for p in directory.iterdir()] == [dsn_file.name]


def test_password_kept_then_rotated(admin: Admin, names: str, tmp_path: Path) -> None:
    databases = [f"{names}_a", f"{names}_b"]
    desired = {"databases": databases, "roles": [f"{names}_svc"]}
    settings = _settings(tmp_path)
    payload = _payload(admin, dry_run=False, confirm=True, **desired)
    assert handle("apply", payload, settings)["ok"]
    first = _read_dsn(tmp_path / "dsn" / f"{databases[0]}.dsn")["password"]

    kept = handle("apply", payload, settings)
    assert kept["changes"] == []
    assert _read_dsn(tmp_path / "dsn" / f"{databases[1]}.dsn")["password"] == first

    (tmp_path / "dsn" / f"{databases[0]}.dsn").unlink()
    restored = handle("apply", payload, settings)
    assert restored["ok"], restored["diagnostics"]
    assert [c["action"] for c in restored["changes"]] == ["write-dsn-file"]
    assert _read_dsn(tmp_path / "dsn" / f"{databases[0]}.dsn")["password"] == first

    for database in databases:
        (tmp_path / "dsn" / f"{database}.dsn").unlink()
    rotated = handle("apply", payload, settings)
    assert rotated["ok"], rotated["diagnostics"]
    actions = [c["action"] for c in rotated["changes"]]
    # Files first: if writing fails, the old password keeps working.
    assert actions == ["write-dsn-file", "write-dsn-file", "set-role-password"]
    second = _read_dsn(tmp_path / "dsn" / f"{databases[1]}.dsn")["password"]
    assert second != first
    with psycopg.connect(
        (tmp_path / "dsn" / f"{databases[1]}.dsn").read_text().strip()
    ):
        pass


def test_stale_password_rotated(admin: Admin, names: str, tmp_path: Path) -> None:
    database, role = f"{names}_db", f"{names}_svc"
    payload = _payload(
        admin, dry_run=False, confirm=True, databases=[database], roles=[role]
    )
    settings = _settings(tmp_path)
    assert handle("apply", payload, settings)["ok"]
    admin.query(f"ALTER ROLE \"{role}\" PASSWORD 'changed-by-hand'")

    result = handle("apply", payload, settings)
    assert result["ok"], result["diagnostics"]
    assert [c["action"] for c in result["changes"]] == [
        "write-dsn-file",
        "set-role-password",
    ]
    with psycopg.connect((tmp_path / "dsn" / f"{database}.dsn").read_text().strip()):
        pass


@pytest.mark.parametrize(
    "database", ["UPPER_db", "with-hyphen", "with.dot", "Mixed-Case.Db"]
)
def test_unusual_names_idempotent(
    superuser_admin: Admin, names: str, tmp_path: Path, database: str
) -> None:
    database = f"{database}_{names}"
    role = f"Svc-{names}.x"
    payload = _payload(
        superuser_admin,
        dry_run=False,
        confirm=True,
        databases=[database],
        roles=[role],
        schemas=["App-Schema"],
    )
    settings = _settings(tmp_path)
    first = handle("apply", payload, settings)
    assert first["ok"], first["diagnostics"]
    assert superuser_admin.query(
        "SELECT datname FROM pg_database WHERE datname = %s", [database]
    ) == [(database,)]
    second = handle("apply", payload, settings)
    assert second["changes"] == []
    assert (tmp_path / "dsn" / f"{database}.dsn").exists()


def test_several_roles_share_databases(
    admin: Admin, names: str, tmp_path: Path
) -> None:
    database = f"{names}_db"
    roles = [f"{names}_owner", f"{names}_reader"]
    payload = _payload(
        admin,
        dry_run=False,
        confirm=True,
        databases=[database],
        roles=roles,
        schemas=["app"],
    )
    result = handle("apply", payload, _settings(tmp_path))
    assert result["ok"], result["diagnostics"]
    assert handle("apply", payload, _settings(tmp_path))["changes"] == []

    second_file = tmp_path / "dsn" / f"{database}.{roles[1]}.dsn"
    assert stat.S_IMODE(second_file.stat().st_mode) == 0o600
    with psycopg.connect(second_file.read_text().strip(), autocommit=True) as conn:
        conn.execute("CREATE TABLE app.reader_table (id int)")
        owner = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app'"
        ).fetchone()
    assert owner == (roles[0],)


def test_existing_database_of_other_owner(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    database = f"{names}_taken"
    superuser_admin.query(f"CREATE ROLE {names}_other")
    superuser_admin.query(f'CREATE DATABASE "{database}" OWNER {names}_other')
    before = snapshot(superuser_admin, [database])

    result = handle(
        "apply",
        _payload(
            superuser_admin,
            dry_run=False,
            confirm=True,
            databases=[database],
            roles=[f"{names}_svc"],
        ),
        _settings(tmp_path),
    )
    assert result["ok"] is False
    assert result["error_class"] == "conflict"
    assert f"{names}_other" in result["diagnostics"][0]
    assert snapshot(superuser_admin, [database]) == before


def test_concurrent_applies_serialise(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    payload = _payload(
        superuser_admin,
        dry_run=False,
        confirm=True,
        databases=[f"{names}_c1", f"{names}_c2"],
        roles=[f"{names}_svc"],
        schemas=["app"],
    )
    settings = _settings(tmp_path)
    results: list[dict[str, Any]] = []

    def run() -> None:
        results.append(handle("apply", payload, settings))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == 3
    assert all(result["ok"] for result in results), [r["diagnostics"] for r in results]
    assert sum(1 for result in results if result["changes"]) == 1


def test_no_secret_in_responses(admin: Admin, names: str, tmp_path: Path) -> None:
    database, role = f"{names}_db", f"{names}_svc"
    settings = _settings(tmp_path)
    payload = _payload(admin, databases=[database], roles=[role], schemas=["app"])
    outputs = [
        handle("plan", payload, settings),
        handle("apply", {**payload, "dry_run": False, "confirm": True}, settings),
        handle("status", payload, settings),
        handle(
            "verify",
            {**_payload(admin), "checks": ["connectivity", "listener-policy"]},
            settings,
        ),
    ]
    generated = _read_dsn(tmp_path / "dsn" / f"{database}.dsn")["password"]
    text = json.dumps(outputs)
    assert admin.password not in text
    assert generated not in text
    assert admin.dsn not in text


def test_closed_port_unavailable(tmp_path: Path) -> None:
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    admin_file = tmp_path / "admin.dsn"
    admin_file.write_text(f"postgresql://admin:secret-pw@127.0.0.1:{port}/postgres\n")
    os.chmod(admin_file, 0o600)
    payload = {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "credentials": {"admin_dsn_file": str(admin_file)},
        "databases": ["x"],
    }

    started = time.monotonic()
    result = handle("plan", payload, Settings(connect_timeout=3))
    elapsed = time.monotonic() - started

    assert result["error_class"] == "unavailable"
    assert elapsed < 3.5
    assert "secret-pw" not in json.dumps(result)
