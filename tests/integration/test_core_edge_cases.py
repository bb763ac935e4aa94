"""Edge cases: interrupted applies, foreign roles, shared DSN directories."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import psycopg
import pytest

from busdk_database.models import Settings
from busdk_database.service import handle
from devtools.pgcluster import reload_cluster
from tests.support.pg import Admin, snapshot


def _payload(admin: Admin, **fields: Any) -> dict[str, Any]:
    return {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "credentials": {"admin_dsn_file": str(admin.dsn_file)},
        **fields,
    }


def _apply(admin: Admin, tmp_path: Path, **fields: Any) -> dict[str, Any]:
    payload = _payload(admin, dry_run=False, confirm=True, **fields)
    return handle("apply", payload, Settings(dsn_output_dir=str(tmp_path / "dsn")))


def _password(path: Path) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(path.read_text().strip())["password"])


def test_public_access_removed_later(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    database, role = f"{names}_db", f"{names}_svc"
    superuser_admin.query(f'CREATE ROLE "{role}" LOGIN')
    superuser_admin.query(f'CREATE DATABASE "{database}" OWNER "{role}"')
    settings = Settings(dsn_output_dir=str(tmp_path / "dsn"))
    status = handle(
        "status",
        _payload(superuser_admin, databases=[database], roles=[role]),
        settings,
    )
    assert f"revoke-database-public:{database}" in " ".join(status["drift"])

    result = _apply(superuser_admin, tmp_path, databases=[database], roles=[role])

    assert result["ok"], result["diagnostics"]
    acl = superuser_admin.query(
        "SELECT datacl::text FROM pg_database WHERE datname = %s", [database]
    )[0][0]
    assert "=c" not in acl.replace(f'"{role}"=', "")
    assert "=Tc" not in acl
    assert (
        _apply(superuser_admin, tmp_path, databases=[database], roles=[role])["changes"]
        == []
    )


def test_interrupted_apply_reported_and_healed(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    database, role = f"{names}_db", f"{names}_svc"
    cluster = superuser_admin.cluster
    hba = Path(cluster.datadir) / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f'host "{database}" all 127.0.0.1/32 reject\n' + original)
    reload_cluster(cluster)
    try:
        failed = _apply(superuser_admin, tmp_path, databases=[database], roles=[role])
    finally:
        hba.write_text(original)
        reload_cluster(cluster)

    assert failed["ok"] is False
    assert failed["changed"] is True
    assert [c["action"] for c in failed["changes"]] == [
        "create-role",
        "create-database",
    ]
    assert "applied before the failure" in failed["diagnostics"][-1]

    healed = _apply(superuser_admin, tmp_path, databases=[database], roles=[role])
    assert healed["ok"], healed["diagnostics"]
    assert f"revoke-database-public:{database}" in healed["actions"]
    assert (
        _apply(superuser_admin, tmp_path, databases=[database], roles=[role])["changes"]
        == []
    )


def test_admin_role_never_managed(admin: Admin, names: str, tmp_path: Path) -> None:
    before = snapshot(admin, [])
    result = _apply(admin, tmp_path, databases=[f"{names}_db"], roles=[admin.role])
    assert result["error_class"] == "conflict"
    assert "admin role" in result["diagnostics"][0]
    assert snapshot(admin, []) == before
    with psycopg.connect(admin.dsn):
        pass


def test_superuser_role_never_managed(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    other = f"{names}_super"
    superuser_admin.query(
        f"CREATE ROLE \"{other}\" LOGIN SUPERUSER PASSWORD 'keep-me-1'"
    )
    result = _apply(superuser_admin, tmp_path, databases=[f"{names}_db"], roles=[other])
    assert result["error_class"] == "conflict"
    assert "superuser" in result["diagnostics"][0]
    with psycopg.connect(superuser_admin.cluster.dsn(other, "keep-me-1")):
        pass


def test_separate_applies_share_a_role(
    admin: Admin, names: str, tmp_path: Path
) -> None:
    role = f"{names}_svc"
    first = _apply(admin, tmp_path, databases=[f"{names}_a"], roles=[role])
    assert first["ok"], first["diagnostics"]
    second = _apply(admin, tmp_path, databases=[f"{names}_b"], roles=[role])
    assert second["ok"], second["diagnostics"]
    assert "set-role-password" not in [c["action"] for c in second["changes"]]

    for database in (f"{names}_a", f"{names}_b"):
        with psycopg.connect(
            (tmp_path / "dsn" / f"{database}.dsn").read_text().strip()
        ):
            pass


def test_rotation_rewrites_other_databases(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    role = f"{names}_svc"
    assert _apply(superuser_admin, tmp_path, databases=[f"{names}_a"], roles=[role])[
        "ok"
    ]
    assert _apply(superuser_admin, tmp_path, databases=[f"{names}_b"], roles=[role])[
        "ok"
    ]
    superuser_admin.query(f"ALTER ROLE \"{role}\" PASSWORD 'changed-by-hand'")

    result = _apply(superuser_admin, tmp_path, databases=[f"{names}_b"], roles=[role])

    assert result["ok"], result["diagnostics"]
    rewritten = sorted(
        c["name"] for c in result["changes"] if c["action"] == "write-dsn-file"
    )
    assert rewritten == [f"{names}_a.dsn", f"{names}_b.dsn"]
    for database in (f"{names}_a", f"{names}_b"):
        with psycopg.connect(
            (tmp_path / "dsn" / f"{database}.dsn").read_text().strip()
        ):
            pass


def test_md5_password_rotated_to_scram(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    database, role = f"{names}_db", f"{names}_svc"
    assert _apply(superuser_admin, tmp_path, databases=[database], roles=[role])["ok"]
    password = _password(tmp_path / "dsn" / f"{database}.dsn")
    with psycopg.connect(superuser_admin.superuser_dsn, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'md5'")
        conn.execute(
            psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                psycopg.sql.Identifier(role), psycopg.sql.Literal(password)
            )
        )

    result = _apply(superuser_admin, tmp_path, databases=[database], roles=[role])

    assert result["ok"], result["diagnostics"]
    rotation = [c for c in result["changes"] if c["action"] == "set-role-password"]
    assert "MD5" in rotation[0]["reason"]
    verifier = superuser_admin.query(
        "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]
    )[0][0]
    assert verifier.startswith("SCRAM-SHA-256$")


def test_dsn_file_name_collision(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    base, other = f"{names}_c", f"{names}_other"
    before = snapshot(superuser_admin, [])
    result = _apply(
        superuser_admin,
        tmp_path,
        databases=[base, f"{base}.{other}"],
        roles=[f"{names}_s", other],
    )
    assert result["error_class"] == "bad_request"
    assert f"{base}.{other}.dsn" in result["diagnostics"][0]
    assert snapshot(superuser_admin, []) == before


def test_directory_in_place_of_dsn_file(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    database = f"{names}_db"
    (tmp_path / "dsn" / f"{database}.dsn").mkdir(parents=True)
    os.chmod(tmp_path / "dsn", 0o700)
    before = snapshot(superuser_admin, [database])

    result = _apply(
        superuser_admin, tmp_path, databases=[database], roles=[f"{names}_svc"]
    )

    assert result["error_class"] == "conflict"
    assert "directory" in result["diagnostics"][0]
    assert snapshot(superuser_admin, [database]) == before


@pytest.mark.timeout(60)
def test_special_files_not_read(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    database, role = f"{names}_db", f"{names}_svc"
    directory = tmp_path / "dsn"
    directory.mkdir(mode=0o700)
    os.mkfifo(directory / f"{database}.dsn")
    (directory / "zero.dsn").symlink_to("/dev/zero")
    settings = Settings(dsn_output_dir=str(directory))
    payload = _payload(superuser_admin, databases=[database], roles=[role])

    planned = handle("plan", payload, settings)
    assert planned["ok"], planned["diagnostics"]
    verified = handle(
        "verify", {**_payload(superuser_admin), "checks": ["connectivity"]}, settings
    )
    assert verified["error_class"] == "verify_failed"

    applied = _apply(superuser_admin, tmp_path, databases=[database], roles=[role])
    assert applied["ok"], applied["diagnostics"]
    written = directory / f"{database}.dsn"
    assert stat.S_ISREG(written.lstat().st_mode)
    assert (directory / "zero.dsn").is_symlink()


def test_status_reports_foreign_owner(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    database = f"{names}_taken"
    superuser_admin.query(f'CREATE ROLE "{names}_other"')
    superuser_admin.query(f'CREATE DATABASE "{database}" OWNER "{names}_other"')
    result = handle(
        "status",
        _payload(superuser_admin, databases=[database], roles=[f"{names}_svc"]),
        Settings(dsn_output_dir=str(tmp_path / "dsn")),
    )
    assert result["ok"], result["diagnostics"]
    assert result["in_sync"] is False
    assert any(item.startswith("conflict:") for item in result["drift"])
    assert result["databases"][0]["owner"] == f"{names}_other"
