"""The four modules through real ansible-playbook runs against real PostgreSQL."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.pg import Admin, snapshot
from tests.support.playbook import run_playbook

pytestmark = pytest.mark.slow


def _options(admin: Admin, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    options = {
        "deployment_id": "example-dev",
        "admin_dsn_file": str(admin.dsn_file),
        "dsn_output_dir": str(tmp_path / "dsn"),
    }
    options.update(extra)
    return options


def _secrets(admin: Admin, dsn_dir: Path) -> list[str]:
    found = [admin.password]
    for path in dsn_dir.glob("*.dsn") if dsn_dir.exists() else []:
        params = psycopg.conninfo.conninfo_to_dict(path.read_text().strip())
        found.append(str(params["password"]))
    return found


def test_apply_check_then_real_then_noop(
    admin: Admin, names: str, tmp_path: Path
) -> None:
    databases = [f"{names}_auth", f"{names}_events"]
    role = f"{names}_service"
    task = {
        "name": "Apply",
        "register": "applied",
        "busdk.database.apply": _options(
            admin,
            tmp_path,
            databases=databases,
            roles=[role],
            schemas=["public", "app"],
            dry_run=False,
            confirm=True,
        ),
    }
    before = snapshot(admin, databases)

    checked = run_playbook(tmp_path, [task], check=True, diff=True)
    result = checked.results["applied"]
    assert checked.returncode == 0, checked.stdout
    assert result["changed"] is True
    assert result["dry_run"] is True
    assert f"create-database:{databases[0]}" in result["actions"]
    assert f"database {databases[0]}" in checked.stdout
    assert snapshot(admin, databases) == before
    assert not (tmp_path / "dsn").exists()

    applied = run_playbook(tmp_path, [task], diff=True)
    result = applied.results["applied"]
    assert applied.returncode == 0, applied.stdout
    assert result["changed"] is True
    assert result["dry_run"] is False
    rows = admin.query(
        "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
        "WHERE datname = ANY(%s) ORDER BY 1",
        [databases],
    )
    assert rows == sorted((name, role) for name in databases)
    for database in databases:
        path = tmp_path / "dsn" / f"{database}.dsn"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    again = run_playbook(tmp_path, [task])
    assert again.returncode == 0, again.stdout
    assert again.results["applied"]["changed"] is False
    assert again.results["applied"]["changes"] == []

    output = checked.stdout + applied.stdout + again.stdout + str(again.results)
    for secret in _secrets(admin, tmp_path / "dsn"):
        assert secret not in output


def test_apply_defaults_to_dry_run(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    database = f"{names}_db"
    task = {
        "register": "applied",
        "busdk.database.apply": _options(
            superuser_admin, tmp_path, databases=[database], roles=[f"{names}_svc"]
        ),
    }
    run = run_playbook(tmp_path, [task])
    result = run.results["applied"]
    assert result["changed"] is False
    assert result["dry_run"] is True
    assert result["changes"]
    assert (
        superuser_admin.query(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database]
        )
        == []
    )


def test_plan_status_verify_modules(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    desired = {
        "databases": [f"{names}_db"],
        "roles": [f"{names}_svc"],
        "schemas": ["app"],
    }
    tasks = [
        {
            "register": "planned",
            "busdk.database.plan": _options(superuser_admin, tmp_path, **desired),
        },
        {
            "register": "drift",
            "busdk.database.status": _options(superuser_admin, tmp_path, **desired),
        },
        {
            "register": "applied",
            "busdk.database.apply": _options(
                superuser_admin, tmp_path, dry_run=False, confirm=True, **desired
            ),
        },
        {
            "register": "synced",
            "busdk.database.status": _options(superuser_admin, tmp_path, **desired),
        },
        {
            "register": "verified",
            "busdk.database.verify": _options(
                superuser_admin, tmp_path, checks=["connectivity", "listener-policy"]
            ),
        },
    ]
    run = run_playbook(tmp_path, tasks, check=False)
    results = run.results
    assert run.returncode == 0, run.stdout

    assert results["planned"]["changed"] is False
    assert results["planned"]["changes"]
    assert results["drift"]["in_sync"] is False
    assert results["drift"]["drift"]
    assert results["applied"]["changed"] is True
    assert results["synced"]["in_sync"] is True
    assert results["synced"]["databases"][0]["owner"] == desired["roles"][0]
    verified = results["verified"]
    assert verified["ok"] is True
    assert verified["changed"] is False
    connectivity = verified["checks"][0]
    assert connectivity["name"] == "connectivity"
    assert {target["name"] for target in connectivity["targets"]} == {
        "admin",
        f"{names}_db.dsn",
    }
    assert all(target["tls"] is False for target in connectivity["targets"])


def test_verify_unverifiable_fails(createrole_admin: Admin, tmp_path: Path) -> None:
    admin = createrole_admin
    tasks = [
        {
            "register": "strict",
            "busdk.database.verify": _options(
                admin, tmp_path, checks=["listener-policy"]
            ),
        },
        {
            "register": "lenient",
            "busdk.database.verify": _options(
                admin,
                tmp_path,
                checks=["listener-policy"],
                listener_policy={"allow_unverifiable": True},
            ),
        },
    ]
    run = run_playbook(tmp_path, tasks)
    strict = run.results["strict"]
    assert strict["failed"] is True
    assert strict["error_class"] == "verify_failed"
    statuses = {rule["name"]: rule["status"] for rule in strict["checks"][0]["rules"]}
    assert statuses["no-remote-trust"] == "unverifiable"
    assert run.results["lenient"]["ok"] is True


@pytest.mark.parametrize(
    ("options", "error_class"),
    [
        ({"dry_run": "false", "confirm": True}, "bad_request"),
        ({"dry_run": False}, "bad_request"),
        ({"dry_run": False, "confirm": True, "databases": ["d" * 64]}, "bad_request"),
    ],
    ids=["string-boolean", "missing-confirm", "long-name"],
)
def test_apply_module_rejects(
    superuser_admin: Admin,
    names: str,
    tmp_path: Path,
    options: dict[str, Any],
    error_class: str,
) -> None:
    fields = {"databases": [f"{names}_db"], "roles": [f"{names}_svc"], **options}
    before = snapshot(superuser_admin, [])
    run = run_playbook(
        tmp_path,
        [
            {
                "register": "applied",
                "busdk.database.apply": _options(superuser_admin, tmp_path, **fields),
            }
        ],
    )
    result = run.results["applied"]
    assert result["failed"] is True
    assert result["error_class"] == error_class
    assert result["msg"]
    assert snapshot(superuser_admin, []) == before
    assert superuser_admin.password not in run.stdout


def test_open_admin_file_rejected_by_module(
    superuser_admin: Admin, tmp_path: Path
) -> None:
    os.chmod(superuser_admin.dsn_file, 0o644)
    run = run_playbook(
        tmp_path,
        [
            {
                "register": "planned",
                "busdk.database.plan": _options(
                    superuser_admin, tmp_path, databases=["x_db"]
                ),
            }
        ],
    )
    result = run.results["planned"]
    assert result["error_class"] == "unauthorized"
    assert "0644" in result["msg"]


def test_admin_dsn_file_from_environment(
    superuser_admin: Admin, tmp_path: Path
) -> None:
    run = run_playbook(
        tmp_path,
        [{"register": "current", "busdk.database.status": {"deployment_id": "x"}}],
        environment={"BUS_POSTGRES_ADMIN_DSN_FILE": str(superuser_admin.dsn_file)},
    )
    result = run.results["current"]
    assert result["ok"] is True, result
    assert result["server"]["superuser"] is True
    assert any(db["name"] == "postgres" for db in result["databases"])
