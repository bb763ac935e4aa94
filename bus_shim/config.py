"""Configuration of the shim and the operator commands from the environment and .env."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from dotenv import dotenv_values

from busdk_database.models import CHECKS, Settings

logger = logging.getLogger(__name__)

DEFAULT_ENV_FILE = ".env"
DEFAULT_SECRETS_DIR = "/run/secrets"
DEFAULT_PROVIDER = "postgres"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


class ConfigError(Exception):
    """The environment or .env file is incomplete or invalid."""


@dataclass(frozen=True)
class Environment:
    """Merged configuration values and the .env file they came from.

    Process environment variables override values from the file.
    """

    values: Mapping[str, str]
    env_file: Path | None = None
    warnings: tuple[str, ...] = ()

    @overload
    def get(self, key: str) -> str | None: ...

    @overload
    def get(self, key: str, default: str) -> str: ...

    def get(self, key: str, default: str | None = None) -> str | None:
        """Return the value of ``key`` with surrounding white space removed.

        An empty value counts as unset and returns ``default``.
        """
        value = self.values.get(key)
        if value is None or not value.strip():
            return default
        return value.strip()

    def require(self, key: str, purpose: str) -> str:
        """Return the value of ``key``, or raise ConfigError naming it when unset."""
        value = self.get(key)
        if value is None:
            raise ConfigError(f"Missing {key}: set it to {purpose}")
        return value


def file_mode_warning(path: Path, label: str) -> str | None:
    """Return a warning when ``path`` is readable or writable by group or others."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if mode & 0o077:
        return (
            f"{label} {path} has mode {mode:04o}, but it should be 0600 "
            f"(run: chmod 600 {path})"
        )
    return None


def load_environment(
    env_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """Read ``env_file`` (default ``./.env`` when it exists) under the environment.

    Lines may be ``KEY=VALUE`` or ``export KEY=VALUE``. Raises ConfigError when
    an explicitly named file does not exist or cannot be read.
    """
    environ = os.environ if environ is None else environ
    explicit = env_file is not None
    path = Path(env_file if env_file is not None else DEFAULT_ENV_FILE)

    if not path.is_file():
        if explicit:
            raise ConfigError(f"Env file {path} not found")
        return Environment(values=dict(environ))

    try:
        file_values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Failed to read env file {path}: {error}") from None
    merged = {key: value for key, value in file_values.items() if value is not None}
    merged.update(environ)
    warning = file_mode_warning(path, "Env file")
    return Environment(
        values=merged, env_file=path, warnings=(warning,) if warning else ()
    )


def parse_bool(env: Environment, key: str, default: bool) -> bool:
    """Return ``key`` as a boolean, or raise ConfigError for an unknown word."""
    value = env.get(key)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ConfigError(f"Invalid {key} {value!r}: use true or false")


def parse_seconds(env: Environment, key: str, default: float) -> float:
    """Return ``key`` in seconds. A plain number is seconds, or add ms, s or m."""
    value = env.get(key)
    if value is None:
        return default
    match = DURATION.match(value)
    if match is None:
        raise ConfigError(
            f"Invalid {key} {value!r}: use a number of seconds such as 1.5, "
            "or 500ms, 2s, 1m"
        )
    number = float(match.group(1))
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2) or "s"]
    seconds = number * scale
    if seconds <= 0:
        raise ConfigError(f"Invalid {key} {value!r}: it must be greater than zero")
    return seconds


def parse_int(env: Environment, key: str, default: int, minimum: int = 1) -> int:
    """Return ``key`` as an integer of at least ``minimum``."""
    value = env.get(key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"Invalid {key} {value!r}: expected an integer") from None
    if number < minimum:
        raise ConfigError(f"Invalid {key} {value!r}: the minimum is {minimum}")
    return number


def parse_list(env: Environment, key: str) -> list[str]:
    """Return a comma-separated ``key`` as a list without empty items."""
    value = env.get(key) or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def database_settings(env: Environment, *, for_events: bool) -> Settings:
    """Build the core's Settings from the environment.

    ``for_events`` applies the worker policy: only the served deployments,
    request-supplied credential files only from the credential directories, and
    real applies only when BUS_DATABASE_ALLOW_APPLY is true. Operator commands
    get no such limits. Raises ConfigError for invalid values.
    """
    admin_dsn_file = env.get("BUS_POSTGRES_ADMIN_DSN_FILE")
    secrets_dir = env.get("BUS_DATABASE_SECRETS_DIR", DEFAULT_SECRETS_DIR)
    role = env.get("BUS_DATABASE_SERVICE_ROLE")
    dsn_port = env.get("BUS_DATABASE_DSN_PORT")
    options: dict[str, Any] = {
        "admin_dsn_file": admin_dsn_file,
        "secrets_dir": secrets_dir,
        "dsn_output_dir": env.get("BUS_DATABASE_DSN_OUTPUT_DIR"),
        "dsn_host": env.get("BUS_DATABASE_DSN_HOST"),
        "dsn_port": parse_int(env, "BUS_DATABASE_DSN_PORT", 0) if dsn_port else None,
        "connect_timeout": parse_int(env, "BUS_DATABASE_CONNECT_TIMEOUT", 5),
        "statement_timeout": parse_int(env, "BUS_DATABASE_STATEMENT_TIMEOUT", 120),
        "default_roles": [role] if role else [],
    }
    if for_events:
        if admin_dsn_file:
            options["admin_dsn_file"] = _absolute(admin_dsn_file)
        options["allowed_credential_dirs"] = credential_dirs(env)
        options["served_deployments"] = served_deployments(env)
        options["allow_real_apply"] = parse_bool(env, "BUS_DATABASE_ALLOW_APPLY", False)
    try:
        return Settings(**options)
    except ValueError as error:
        raise ConfigError(f"Invalid database settings: {error}") from None


def credential_dirs(env: Environment) -> list[str]:
    """Return the directories events may name credential files in.

    The default is the directory of BUS_POSTGRES_ADMIN_DSN_FILE plus the
    secrets directory.
    """
    configured = parse_list(env, "BUS_DATABASE_CREDENTIAL_DIRS")
    if configured:
        return [_absolute(directory) for directory in configured]
    directories = [_absolute(env.get("BUS_DATABASE_SECRETS_DIR", DEFAULT_SECRETS_DIR))]
    admin_dsn_file = env.get("BUS_POSTGRES_ADMIN_DSN_FILE")
    if admin_dsn_file:
        directories.insert(0, str(Path(_absolute(admin_dsn_file)).parent))
    return directories


def served_deployments(env: Environment) -> list[str]:
    """Return the deployment ids the worker serves, or raise ConfigError if none."""
    served = parse_list(env, "BUS_DATABASE_SERVED_DEPLOYMENTS")
    if served:
        return served
    return [
        env.require(
            "BUS_DEPLOYMENT_ID",
            "the deployment this worker serves (or list several in "
            "BUS_DATABASE_SERVED_DEPLOYMENTS)",
        )
    ]


def desired_request(
    env: Environment,
    operation: str,
    *,
    provider: str | None = None,
    dry_run: bool = True,
    confirm: bool = False,
    checks: list[str] | None = None,
) -> dict[str, Any]:
    """Build the request payload an operator command sends for ``operation``.

    The desired state comes from BUS_DATABASE_NAMES, BUS_DATABASE_SERVICE_ROLE
    and BUS_DATABASE_SCHEMAS. Raises ConfigError when BUS_DEPLOYMENT_ID is unset.
    """
    payload: dict[str, Any] = {
        "deployment_id": env.require(
            "BUS_DEPLOYMENT_ID", "the deployment id, e.g. example-dev"
        ),
        "provider": provider or env.get("BUS_DATABASE_PROVIDER", DEFAULT_PROVIDER),
    }
    if operation == "verify":
        payload["checks"] = list(checks or CHECKS)
        return payload

    databases = parse_list(env, "BUS_DATABASE_NAMES")
    role = env.get("BUS_DATABASE_SERVICE_ROLE")
    schemas = parse_list(env, "BUS_DATABASE_SCHEMAS")
    if databases:
        payload["databases"] = databases
    if role:
        payload["roles"] = [role]
    if schemas:
        payload["schemas"] = schemas
    if operation in ("plan", "apply"):
        payload["dry_run"] = dry_run
        payload["confirm"] = confirm
    return payload
