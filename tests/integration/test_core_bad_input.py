"""Bad input gets the right error class and leaves the server unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from busdk_database.models import Settings
from busdk_database.service import handle
from tests.support.pg import Admin, snapshot

LONG_NAME = "d" * 64


def _base(admin: Admin) -> dict[str, Any]:
    return {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "credentials": {"admin_dsn_file": str(admin.dsn_file)},
    }


# (operation, fields to merge into the base payload, expected class, text in the
# first diagnostics, fields to delete from the base payload)
CASES = [
    (
        "plan",
        {"databases": ["x_db"]},
        "bad_request",
        "deployment_id",
        ["deployment_id"],
    ),
    ("plan", {"databases": ["x_db"]}, "bad_request", "provider", ["provider"]),
    ("plan", {}, "bad_request", "at least one of", []),
    (
        "apply",
        {"databases": ["x_db"], "dry_run": "false"},
        "bad_request",
        "dry_run",
        [],
    ),
    ("apply", {"databases": ["x_db"], "confirm": "true"}, "bad_request", "confirm", []),
    ("apply", {"databases": ["x_db"], "dry_run": False}, "bad_request", "confirm", []),
    ("apply", {"databases": ["x_db"], "confim": True}, "bad_request", "confim", []),
    ("plan", {"databases": [LONG_NAME]}, "bad_request", "64 bytes", []),
    ("plan", {"databases": ["x_db", "x_db"]}, "bad_request", "more than once", []),
    ("plan", {"roles": ["pg_signal"]}, "bad_request", "reserved", []),
    ("plan", {"databases": "x_db"}, "bad_request", "databases", []),
    ("plan", {"databases": [1]}, "bad_request", "databases", []),
    ("plan", {"schemas": ["app"]}, "bad_request", "schemas need", []),
    ("plan", {"databases": ["x"], "provider": "oracle"}, "bad_request", "oracle", []),
    ("verify", {"checks": ["connectivity", "latency"]}, "bad_request", "checks", []),
    ("verify", {"checks": []}, "bad_request", "checks", []),
    ("verify", {}, "bad_request", "checks", []),
    (
        "plan",
        {"databases": ["x"], "credentials": {"admin_dsn": "postgres://a:b@h/d"}},
        "bad_request",
        "admin_dsn",
        [],
    ),
    (
        "plan",
        {"databases": ["x"], "credentials": {"admin_dsn_secret": "file:///etc/x"}},
        "bad_request",
        "secret://deployment",
        [],
    ),
]


@pytest.mark.parametrize(
    ("operation", "fields", "error_class", "text", "removed"),
    CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
def test_invalid_request_rejected(
    superuser_admin: Admin,
    tmp_path: Path,
    operation: str,
    fields: dict[str, Any],
    error_class: str,
    text: str,
    removed: list[str],
) -> None:
    payload = {**_base(superuser_admin), **fields}
    for key in removed:
        del payload[key]
    before = snapshot(superuser_admin, [])

    result = handle(operation, payload, Settings(dsn_output_dir=str(tmp_path / "dsn")))

    assert result["ok"] is False
    assert result["error_class"] == error_class
    assert text in " ".join(result["diagnostics"])
    assert snapshot(superuser_admin, []) == before
    assert not (tmp_path / "dsn").exists()


def test_open_admin_file_unauthorized(superuser_admin: Admin, tmp_path: Path) -> None:
    os.chmod(superuser_admin.dsn_file, 0o644)
    result = handle("plan", {**_base(superuser_admin), "databases": ["x_db"]})
    assert result["error_class"] == "unauthorized"
    assert str(superuser_admin.dsn_file) in result["diagnostics"][0]
    assert "0644" in result["diagnostics"][0]
    assert superuser_admin.password not in json.dumps(result)


def test_missing_admin_file_unauthorized(tmp_path: Path) -> None:
    payload = {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "credentials": {"admin_dsn_file": str(tmp_path / "absent")},
        "databases": ["x_db"],
    }
    result = handle("plan", payload)
    assert result["error_class"] == "unauthorized"
    assert "not found" in result["diagnostics"][0]


def test_no_admin_dsn_configured() -> None:
    result = handle(
        "status", {"deployment_id": "example-dev", "provider": "postgres"}, Settings()
    )
    assert result["error_class"] == "unauthorized"
    assert "BUS_POSTGRES_ADMIN_DSN_FILE" in result["diagnostics"][0]


def test_wrong_admin_password(superuser_admin: Admin, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.dsn"
    wrong.write_text(superuser_admin.cluster.dsn(password="not-the-password") + "\n")
    wrong.chmod(0o600)
    before = snapshot(superuser_admin, [])
    payload = {
        **_base(superuser_admin),
        "credentials": {"admin_dsn_file": str(wrong)},
        "databases": ["x_db"],
        "dry_run": False,
        "confirm": True,
    }

    result = handle("apply", payload)

    assert result["error_class"] == "unauthorized"
    assert "not-the-password" not in json.dumps(result)
    assert snapshot(superuser_admin, []) == before


def test_credential_dir_policy(superuser_admin: Admin, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    link = allowed / "escape"
    link.symlink_to(superuser_admin.dsn_file)
    settings = Settings(allowed_credential_dirs=[str(allowed)])
    payload = {**_base(superuser_admin), "databases": ["x_db"]}

    for path in (
        superuser_admin.dsn_file,
        allowed / ".." / superuser_admin.dsn_file.name,
        link,
    ):
        payload["credentials"] = {"admin_dsn_file": str(path)}
        result = handle("plan", payload, settings)
        assert result["error_class"] == "forbidden", path
        assert superuser_admin.password not in json.dumps(result)


def test_real_apply_disabled(superuser_admin: Admin) -> None:
    settings = Settings(allow_real_apply=False)
    payload = {
        **_base(superuser_admin),
        "databases": ["x_db"],
        "dry_run": False,
        "confirm": True,
    }
    result = handle("apply", payload, settings)
    assert result["error_class"] == "forbidden"
    dry = handle("apply", {**payload, "dry_run": True, "confirm": False}, settings)
    assert dry["ok"] is True


def test_payload_not_object() -> None:
    result = handle("plan", ["not", "an", "object"])
    assert result["error_class"] == "bad_request"
    assert result["deployment_id"] is None


def test_dsn_given_as_path_not_echoed(tmp_path: Path) -> None:
    secret_dsn = "postgresql://postgres:Sup3rSecret@127.0.0.1:5432/postgres"
    payload = {"deployment_id": "example-dev", "provider": "postgres"}
    result = handle("status", payload, Settings(admin_dsn_file=secret_dsn))
    assert result["error_class"] == "unauthorized"
    assert "Sup3rSecret" not in json.dumps(result)
    assert "connection string" in result["diagnostics"][0]


def test_directory_as_admin_file_no_leak(tmp_path: Path) -> None:
    payload = {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "credentials": {"admin_dsn_file": str(tmp_path)},
    }
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        result = handle("status", payload)
        assert result["error_class"] == "unauthorized"
        assert "not a regular file" in result["diagnostics"][0]
    assert len(os.listdir("/proc/self/fd")) <= before + 2
