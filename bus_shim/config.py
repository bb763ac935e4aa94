"""Configuration of the shim and the operator commands from the environment and .env."""

from __future__ import annotations

import io
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from dotenv.parser import parse_stream

from busdk_database.errors import BadRequest
from busdk_database.models import CHECKS, Settings, build_settings

logger = logging.getLogger(__name__)

DEFAULT_ENV_FILE = ".env"
DEFAULT_SECRETS_DIR = "/run/secrets"
DEFAULT_PROVIDER = "postgres"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
# The environment variable behind each Settings field, for error messages.
SETTINGS_VARIABLES = {
    "admin_dsn_file": "BUS_POSTGRES_ADMIN_DSN_FILE",
    "secrets_dir": "BUS_DATABASE_SECRETS_DIR",
    "dsn_output_dir": "BUS_DATABASE_DSN_OUTPUT_DIR",
    "dsn_host": "BUS_DATABASE_DSN_HOST",
    "dsn_port": "BUS_DATABASE_DSN_PORT",
    "connect_timeout": "BUS_DATABASE_CONNECT_TIMEOUT",
    "statement_timeout": "BUS_DATABASE_STATEMENT_TIMEOUT",
    "default_roles": "BUS_DATABASE_SERVICE_ROLE",
    "allowed_credential_dirs": "BUS_DATABASE_CREDENTIAL_DIRS",
    "served_deployments": "BUS_DATABASE_SERVED_DEPLOYMENTS",
    "allow_real_apply": "BUS_DATABASE_ALLOW_APPLY",
}
# The field name in a core settings diagnostic such as "Invalid dsn_port 70000:
# ...", with an optional list index such as "default_roles.0".
SETTINGS_FIELD = re.compile(r"^(Invalid field|Missing field|Invalid) ([a-z_]+)(\.\d+)?")
ONE_ITEM_LIST = re.compile(r"^ \[('(?:[^'\\]|\\.)*')\]")


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
    an explicitly named file does not exist, when the file is a directory or
    cannot be read, and for a line that python-dotenv cannot parse.
    """
    environ = os.environ if environ is None else environ
    explicit = env_file is not None
    path = Path(env_file if env_file is not None else DEFAULT_ENV_FILE)

    if path.is_dir():
        raise ConfigError(
            f"Invalid env file {path}: it is a directory; give the path of a file"
        )
    if not path.exists():
        if explicit:
            raise ConfigError(f"Env file {path} not found")
        return Environment(values=dict(environ))
    if not path.is_file():
        raise ConfigError(f"Invalid env file {path}: it is not a regular file")

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Failed to read env file {path}: {error}") from None
    merged = parse_env_text(path, text)
    merged.update(environ)
    warning = file_mode_warning(path, "Env file")
    return Environment(
        values=merged, env_file=path, warnings=(warning,) if warning else ()
    )


def parse_env_text(path: Path, text: str) -> dict[str, str]:
    """Return the values of an env file, or raise ConfigError for a bad line.

    python-dotenv's ``dotenv_values`` logs and skips a line it cannot parse,
    which silently drops that key, so the lines are parsed here with its
    parser and the first bad line is an error. The message names the line
    but does not show it, because it may contain a secret. A key without
    ``=`` is ignored, as ``dotenv_values`` does.
    """
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        if binding.error:
            # The binding includes the blank lines before it, so its first
            # line number may be that of a blank line.
            skipped = original[: len(original) - len(original.lstrip())]
            line = binding.original.line + skipped.count("\n")
            raise ConfigError(
                f"Invalid env file {path} line {line}: expected KEY=VALUE, export "
                "KEY=VALUE, a # comment or a blank line; check the quotes"
            )
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


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
        return build_settings(**options)
    except BadRequest as error:
        problems = "; ".join(settings_problem(line) for line in error.diagnostics)
        raise ConfigError(problems or error.message) from None


def settings_problem(line: str) -> str:
    """Return a core settings diagnostic with the environment variable name.

    ``Invalid dsn_port 70000: ...`` becomes ``Invalid BUS_DATABASE_DSN_PORT
    70000: ...``, so the message names the variable to fix.
    """
    match = SETTINGS_FIELD.match(line)
    if match is None or match.group(2) not in SETTINGS_VARIABLES:
        return line
    variable = SETTINGS_VARIABLES[match.group(2)]
    rest = line[match.end() :]
    if match.group(2) == "default_roles":
        # The core shows the list it was given, ['name'], but the variable
        # contains one name.
        rest = ONE_ITEM_LIST.sub(r" \1", rest, count=1)
    return f"{match.group(1)} {variable}{rest}"


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
