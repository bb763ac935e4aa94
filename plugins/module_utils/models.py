"""Request models of the provider-neutral database contract, validated strictly."""

from __future__ import annotations

import ipaddress
import re
import traceback
from typing import Any, Literal

from .errors import BadRequest

try:
    from pydantic import (
        BaseModel,
        ConfigDict,
        Field,
        StrictBool,
        StrictStr,
        ValidationError,
        field_validator,
        model_validator,
    )
except ImportError:  # pragma: no cover - exercised by ansible-test's import test
    PYDANTIC_IMPORT_ERROR: str | None = traceback.format_exc()

    class BaseModel:  # type: ignore[no-redef]
        """Placeholder so this file imports without pydantic."""

    class ValidationError(Exception):  # type: ignore[no-redef]
        """Placeholder so this file imports without pydantic."""

    def ConfigDict(**kwargs: Any) -> Any:  # type: ignore[no-redef]
        return kwargs

    def Field(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return None

    def field_validator(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return lambda function: function

    def model_validator(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return lambda function: function

    StrictBool = bool  # type: ignore[misc]
    StrictStr = str  # type: ignore[misc]
else:
    PYDANTIC_IMPORT_ERROR = None

OPERATIONS = ("plan", "apply", "status", "verify")
EVENT_NAMES = tuple(
    f"bus.database.{operation}.{kind}"
    for operation in OPERATIONS
    for kind in ("request", "response")
)
CHECKS = ("connectivity", "listener-policy")

# PostgreSQL truncates identifiers longer than NAMEDATALEN - 1 = 63 bytes.
MAX_IDENTIFIER_BYTES = 63
# The maintenance database and the templates every new database is copied from
# must never be handed to a service role.
RESERVED_DATABASE_NAMES = frozenset({"postgres", "template0", "template1"})
# Limits that keep one request's plan, and its response, bounded in time and
# size: the largest request plans about 20,000 grants and DSN files.
MAX_DATABASES = 1000
MAX_ROLES = 20
MAX_SCHEMAS = 50
MAX_OBJECT_COMBINATIONS = 20_000
HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
RESERVED_ROLE_NAMES = frozenset(
    {"public", "none", "current_user", "session_user", "current_role"}
)
SECRET_REFERENCE = re.compile(r"^secret://deployment/([A-Za-z0-9._-]+)$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def validate_identifier(kind: str, name: str) -> str:
    """Return ``name`` unchanged if it is usable as a ``kind`` identifier.

    Case, hyphens and dots are kept and always quoted later. Raises ValueError
    with the reason otherwise.
    """
    if not name:
        raise ValueError(f"{kind} name must not be empty")
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"{kind} name {name!r} is {size} bytes long, the maximum is "
            f"{MAX_IDENTIFIER_BYTES} bytes"
        )
    if CONTROL_CHARACTERS.search(name):
        raise ValueError(f"{kind} name {name!r} contains a control character")
    if name != name.strip():
        raise ValueError(f"{kind} name {name!r} has leading or trailing white space")
    if kind in ("role", "schema") and name.startswith("pg_"):
        raise ValueError(f"{kind} name {name!r} uses the reserved prefix pg_")
    if kind == "role" and name.lower() in RESERVED_ROLE_NAMES:
        raise ValueError(f"role name {name!r} is reserved by PostgreSQL")
    if kind == "database" and name in RESERVED_DATABASE_NAMES:
        raise ValueError(
            f"database name {name!r} is a system database and cannot be managed"
        )
    if kind == "database" and ("/" in name or name in (".", "..")):
        raise ValueError(
            f"database name {name!r} cannot be used in a DSN file name "
            "(it contains '/' or is '.' or '..')"
        )
    return name


def _validate_names(kind: str, names: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in names:
        validate_identifier(kind, name)
        if name in seen:
            raise ValueError(f"{kind} name {name!r} is listed more than once")
        seen.add(name)
    return names


class StrictModel(BaseModel):
    """Base for contract payloads: strict types and no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Credentials(StrictModel):
    """Source of the admin DSN: a file path or a deployment secret reference."""

    admin_dsn_file: StrictStr | None = Field(default=None, min_length=1)
    admin_dsn_secret: StrictStr | None = None

    @field_validator("admin_dsn_file")
    @classmethod
    def _check_file_path(cls, value: str | None) -> str | None:
        if value is not None and CONTROL_CHARACTERS.search(value):
            raise ValueError("the path contains a control character")
        return value

    @field_validator("admin_dsn_secret")
    @classmethod
    def _check_secret_reference(cls, value: str | None) -> str | None:
        match = SECRET_REFERENCE.match(value) if value is not None else None
        if value is not None and (match is None or match.group(1) in (".", "..")):
            raise ValueError(
                "must have the form secret://deployment/<name> with <name> made of "
                "letters, digits, '.', '_' or '-'"
            )
        return value

    @model_validator(mode="after")
    def _check_one_source(self) -> Credentials:
        if self.admin_dsn_file is not None and self.admin_dsn_secret is not None:
            raise ValueError("give admin_dsn_file or admin_dsn_secret, not both")
        return self


class ListenerPolicy(StrictModel):
    """Rules the server's listeners and authentication must follow.

    ``allowed_addresses`` entries are ``loopback``, ``private`` (RFC 1918, RFC 4193
    and link-local ranges), an address or CIDR, or a host name. ``require_tls``
    ``auto`` requires TLS whenever the server listens beyond loopback.
    """

    allowed_addresses: list[StrictStr] = Field(
        default_factory=lambda: ["loopback", "private"]
    )
    allow_wildcard: StrictBool = False
    require_tls: Literal["auto"] | StrictBool = "auto"
    require_scram: StrictBool = True
    allow_unverifiable: StrictBool = False


class RequestBase(StrictModel):
    """Fields shared by every request."""

    deployment_id: StrictStr = Field(min_length=1, max_length=200)
    provider: StrictStr = Field(min_length=1, max_length=100)
    credentials: Credentials | None = None
    correlation_id: StrictStr | None = Field(default=None, max_length=200)


class DesiredObjects(StrictModel):
    """Databases, roles and schemas a request wants to exist."""

    databases: list[StrictStr] = Field(default_factory=list, max_length=MAX_DATABASES)
    roles: list[StrictStr] = Field(default_factory=list, max_length=MAX_ROLES)
    schemas: list[StrictStr] = Field(default_factory=list, max_length=MAX_SCHEMAS)

    @field_validator("databases")
    @classmethod
    def _check_databases(cls, value: list[str]) -> list[str]:
        return _validate_names("database", value)

    @field_validator("roles")
    @classmethod
    def _check_roles(cls, value: list[str]) -> list[str]:
        return _validate_names("role", value)

    @field_validator("schemas")
    @classmethod
    def _check_schemas(cls, value: list[str]) -> list[str]:
        return _validate_names("schema", value)

    def has_objects(self) -> bool:
        """Return True when at least one database, role or schema is listed."""
        return bool(self.databases or self.roles or self.schemas)

    @model_validator(mode="after")
    def _check_size(self) -> DesiredObjects:
        combinations = (
            max(1, len(self.databases))
            * max(1, len(self.roles))
            * max(1, len(self.schemas))
        )
        if combinations > MAX_OBJECT_COMBINATIONS:
            raise ValueError(
                f"databases x roles x schemas is {combinations}, the maximum is "
                f"{MAX_OBJECT_COMBINATIONS}; split the request"
            )
        return self


class PlanRequest(RequestBase, DesiredObjects):
    """A request to compute (and for apply, carry out) the changes to make."""

    dry_run: StrictBool = True
    confirm: StrictBool = False
    listener_policy: ListenerPolicy | None = None

    @model_validator(mode="after")
    def _check_objects(self) -> PlanRequest:
        if not self.has_objects():
            raise ValueError(
                "at least one of databases, roles or schemas must be listed"
            )
        if self.schemas and not self.databases:
            raise ValueError("schemas need at least one database to be created in")
        return self


class ApplyRequest(PlanRequest):
    """A plan request that changes the server when dry_run is false and confirmed."""

    @model_validator(mode="after")
    def _check_confirm(self) -> ApplyRequest:
        if not self.dry_run and not self.confirm:
            raise ValueError(
                "dry_run is false but confirm is not true: a real apply needs "
                "confirm: true"
            )
        return self


class StatusRequest(RequestBase, DesiredObjects):
    """A request for the current state, with drift when objects are listed."""


class VerifyRequest(RequestBase):
    """A request to run connectivity and listener-policy checks."""

    checks: list[Literal["connectivity", "listener-policy"]] = Field(min_length=1)
    listener_policy: ListenerPolicy | None = None

    @field_validator("checks")
    @classmethod
    def _check_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a check is listed more than once")
        return value


REQUEST_MODELS: dict[str, Any] = {
    "plan": PlanRequest,
    "apply": ApplyRequest,
    "status": StatusRequest,
    "verify": VerifyRequest,
}


class Settings(BaseModel):
    """Configuration of the process serving requests, never taken from a request.

    ``allowed_credential_dirs`` of None accepts any admin DSN file path (operator
    tools); a list restricts request-supplied paths to those directories (the
    event shim). ``default_roles`` is used when a plan or apply request lists
    databases but no roles.
    """

    model_config = ConfigDict(extra="forbid")

    admin_dsn_file: str | None = None
    secrets_dir: str = "/run/secrets"
    dsn_output_dir: str | None = None
    dsn_host: str | None = None
    dsn_port: int | None = Field(default=None, ge=1, le=65535)
    connect_timeout: int = Field(default=5, ge=1, le=300)
    statement_timeout: int = Field(default=120, ge=1, le=86400)
    default_roles: list[str] = Field(default_factory=list)
    allowed_credential_dirs: list[str] | None = None
    served_deployments: list[str] | None = None
    allow_real_apply: bool = True

    @field_validator("dsn_host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        if value is None or value.startswith("/") or HOST_NAME.match(value):
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                "must be a host name, an IP address or an absolute socket directory"
            ) from None
        return value

    @field_validator("default_roles")
    @classmethod
    def _check_default_roles(cls, value: list[str]) -> list[str]:
        return _validate_names("role", value)


def build_settings(**values: Any) -> Settings:
    """Return validated Settings; raise BadRequest naming each invalid value."""
    if PYDANTIC_IMPORT_ERROR is not None:
        raise RuntimeError("pydantic 2 is required: " + PYDANTIC_IMPORT_ERROR)
    try:
        return Settings(**values)
    except ValidationError as error:
        lines = [_format_error(item) for item in error.errors()]
        raise BadRequest(f"Invalid settings: {len(lines)} problem(s)", lines) from None


def _describe_location(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "request"


def _format_error(error: Any) -> str:
    field = _describe_location(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "missing":
        return f"Missing field {field}: it is required"
    if kind == "extra_forbidden":
        return f"Invalid field {field}: unknown field, check its spelling"
    if field.startswith("credentials") or field == "request":
        return f"Invalid {field}: {message}"
    value = error.get("input")
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"Invalid {field} {shown}: {message}"


def parse_request(operation: str, payload: Any) -> Any:
    """Validate ``payload`` for ``operation`` and return the request model.

    Raises BadRequest naming every invalid, missing or unknown field.
    """
    if PYDANTIC_IMPORT_ERROR is not None:
        raise RuntimeError("pydantic 2 is required: " + PYDANTIC_IMPORT_ERROR)
    model = REQUEST_MODELS.get(operation)
    if model is None:
        raise BadRequest(
            f"Invalid operation {operation!r}: expected one of {OPERATIONS}"
        )
    if not isinstance(payload, dict):
        raise BadRequest(
            f"Invalid payload: expected a JSON object, got {type(payload).__name__}"
        )
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        lines = [_format_error(item) for item in error.errors()]
        raise BadRequest(
            f"Invalid {operation} request: {len(lines)} problem(s)", lines
        ) from None
