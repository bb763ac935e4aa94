"""``doctor``: a read-only report on configuration, credentials and the server."""

from __future__ import annotations

import os
import platform
import stat
from pathlib import Path
from typing import Any

from busdk_database.models import Settings
from busdk_database.service import handle

from .capabilities import package_version
from .config import DEFAULT_PROVIDER, ConfigError, Environment, database_settings
from .worker_config import describe_url, events_root_url


def _check(name: str, ok: bool | None, detail: str) -> dict[str, Any]:
    """Return one report line. ``ok`` None means not applicable or unknown."""
    return {"name": name, "ok": ok, "detail": detail}


def _file_check(name: str, path: str | None, key: str) -> dict[str, Any]:
    if path is None:
        return _check(name, False, f"{key} is not set")
    try:
        info = os.stat(path)
    except OSError as error:
        return _check(name, False, f"{path}: {error.strerror}")
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode):
        return _check(name, False, f"{path} is not a regular file")
    if mode & 0o077:
        return _check(name, False, f"{path} has mode {mode:04o}; run: chmod 600 {path}")
    return _check(name, True, f"{path} has mode {mode:04o}")


def _dsn_directory_check(path: str | None) -> dict[str, Any]:
    if path is None:
        return _check(
            "dsn-output-dir",
            None,
            "BUS_DATABASE_DSN_OUTPUT_DIR is not set; apply writes no service DSN files",
        )
    directory = Path(path)
    if not directory.exists():
        return _check("dsn-output-dir", None, f"{path} does not exist yet")
    mode = stat.S_IMODE(directory.stat().st_mode)
    ok = directory.is_dir() and not mode & 0o077
    return _check("dsn-output-dir", ok, f"{path} has mode {mode:04o}")


def _events_check(env: Environment) -> dict[str, Any]:
    key = "BUS_EVENTS_API_BASE_URL"
    url = env.get(key)
    if url is None:
        key = "BUS_EVENTS_API_URL"
        url = env.get(key)
    if url is None:
        return _check("events-api", None, "BUS_EVENTS_API_BASE_URL is not set")
    try:
        root = describe_url(events_root_url(url, key))
    except ConfigError as error:
        return _check("events-api", False, str(error))
    token = "BUS_EVENTS_TOKEN" if env.get("BUS_EVENTS_TOKEN") else None
    token = token or (
        "BUS_EVENTS_TOKEN_FILE" if env.get("BUS_EVENTS_TOKEN_FILE") else None
    )
    if token is None:
        return _check("events-api", False, f"{root}; no BUS_EVENTS_TOKEN or file set")
    return _check("events-api", True, f"{root}; token from {token}")


def _server_check(
    env: Environment, settings: Settings, provider: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the server summary through the core's status operation."""
    payload = {
        "deployment_id": env.get("BUS_DEPLOYMENT_ID", "doctor"),
        "provider": provider,
    }
    response = handle("status", payload, settings)
    if not response["ok"]:
        detail = "; ".join(response["diagnostics"][:2])
        return _check("server", False, f"{response['error_class']}: {detail}"), {}
    server = response.get("server") or {}
    detail = (
        f"reachable, version {server.get('version')}, admin role "
        f"{server.get('admin_role')}"
        f"{' (superuser)' if server.get('superuser') else ''}"
    )
    return _check("server", True, detail), server


def _versions(server: dict[str, Any]) -> dict[str, Any]:
    versions: dict[str, Any] = {
        "bus-integration-database": package_version(),
        "python": platform.python_version(),
    }
    try:
        import psycopg

        versions["psycopg"] = psycopg.__version__
        libpq = psycopg.pq.version()
        versions["libpq"] = f"{libpq // 10000}.{libpq % 10000}"
    except ImportError:
        versions["psycopg"] = None
    if server:
        versions["server"] = server.get("version")
    return versions


def doctor_report(env: Environment, provider: str | None = None) -> dict[str, Any]:
    """Return the report, whose ``ok`` is true when every applicable check passed.

    It only reads: file modes (never file contents, except that the core reads
    the admin DSN to connect), and the server summary through a status
    request. Secrets never appear in the report.
    """
    provider = provider or env.get("BUS_DATABASE_PROVIDER", DEFAULT_PROVIDER)
    checks = []
    if env.env_file is not None:
        mode = stat.S_IMODE(env.env_file.stat().st_mode)
        checks.append(
            _check("env-file", not mode & 0o077, f"{env.env_file} has mode {mode:04o}")
        )
    else:
        checks.append(_check("env-file", None, "no .env file; using the environment"))
    deployment = env.get("BUS_DEPLOYMENT_ID")
    checks.append(
        _check("deployment-id", deployment is not None, deployment or "not set")
    )
    checks.append(
        _file_check(
            "admin-dsn-file",
            env.get("BUS_POSTGRES_ADMIN_DSN_FILE"),
            "BUS_POSTGRES_ADMIN_DSN_FILE",
        )
    )
    checks.append(_dsn_directory_check(env.get("BUS_DATABASE_DSN_OUTPUT_DIR")))
    checks.append(_events_check(env))

    server: dict[str, Any] = {}
    try:
        settings = database_settings(env, for_events=False)
    except ConfigError as error:
        checks.append(_check("settings", False, str(error)))
    else:
        server_check, server = _server_check(env, settings, provider)
        checks.append(server_check)

    return {
        "ok": all(check["ok"] is not False for check in checks),
        "provider": provider,
        "deployment_id": deployment,
        "checks": checks,
        "versions": _versions(server),
    }
