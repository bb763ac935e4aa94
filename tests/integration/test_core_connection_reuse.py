"""Connection reuse for read-only requests of a long-running caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from busdk_database.models import Settings
from busdk_database.service import ConnectionReuse, handle
from tests.support.pg import Admin


def _payload(admin: Admin, **fields: Any) -> dict[str, Any]:
    return {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "credentials": {"admin_dsn_file": str(admin.dsn_file)},
        **fields,
    }


def _backends(admin: Admin) -> int:
    rows = admin.query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
        ["busdk.database"],
    )
    return int(rows[0][0])


def test_plans_reuse_connections(
    superuser_admin: Admin, names: str, tmp_path: Path
) -> None:
    settings = Settings(dsn_output_dir=str(tmp_path / "dsn"))
    desired = {
        "databases": [f"{names}_db"],
        "roles": [f"{names}_svc"],
        "schemas": ["app"],
    }
    applied = handle(
        "apply",
        _payload(superuser_admin, dry_run=False, confirm=True, **desired),
        settings,
    )
    assert applied["ok"], applied["diagnostics"]
    reuse = ConnectionReuse()
    try:
        first = handle(
            "plan", _payload(superuser_admin, **desired), settings, connections=reuse
        )
        assert first["ok"], first["diagnostics"]
        after_first = _backends(superuser_admin)
        for _ in range(5):
            again = handle(
                "plan",
                _payload(superuser_admin, **desired),
                settings,
                connections=reuse,
            )
            assert again["changes"] == []
            status = handle(
                "status",
                _payload(superuser_admin, **desired),
                settings,
                connections=reuse,
            )
            assert status["in_sync"] is True
        assert after_first == 2
        assert _backends(superuser_admin) == after_first
    finally:
        reuse.close()
    assert _backends(superuser_admin) == 0


def test_apply_never_reuses(superuser_admin: Admin, names: str, tmp_path: Path) -> None:
    settings = Settings(dsn_output_dir=str(tmp_path / "dsn"), statement_timeout=5)
    desired = {"databases": [f"{names}_db"], "roles": [f"{names}_svc"]}
    reuse = ConnectionReuse()
    try:
        payload = _payload(superuser_admin, dry_run=False, confirm=True, **desired)
        assert handle("apply", payload, settings, connections=reuse)["ok"]
        assert _backends(superuser_admin) == 0
        # A pooled connection holding the session advisory lock would make this
        # second apply time out.
        second = handle("apply", payload, settings)
        assert second["ok"], second["diagnostics"]
    finally:
        reuse.close()
