"""Configuration of the event worker: Events API address, token, retries and state."""

from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import jwt

from busdk_database.models import Settings

from .config import (
    ConfigError,
    Environment,
    database_settings,
    file_mode_warning,
    parse_bool,
    parse_int,
    parse_seconds,
)
from .response_limit import DEFAULT_MAX_RESPONSE_BYTES, MIN_RESPONSE_BYTES

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "bus-integration-database"
DEFAULT_STATE_DIR = ".bus-shim-state"
DEFAULT_RETRY_MIN_SECONDS = 1.0
DEFAULT_RETRY_MAX_SECONDS = 30.0
# Requests are a few kilobytes, so a line above this size is skipped unread.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
DEFAULT_STATE_MAX_ENTRIES = 1000
# Redeliveries and requester retries arrive within minutes, so an apply
# request seen again within this time gets the stored response.
DEFAULT_DEDUP_WINDOW_SECONDS = 600.0
EVENTS_API_SUFFIX = "/api/v1/events"
# Group and consumer names the Events API accepts in the stream query.
STREAM_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
# Scopes that let a token publish the worker's response events on the Bus
# Events API stand-in. The production server's scope names are not documented.
PUBLISH_SCOPES = frozenset({"events:send", "events:write", "database:admin"})


def redact_url(value: str) -> str:
    """Return ``value`` without user information, query or fragment, for messages.

    Everything up to the last ``@`` after the scheme is removed, so a password
    that contains ``/``, ``?`` or ``#`` is removed too, even from a URL that
    does not parse.
    """
    scheme, separator, rest = value.strip().partition("://")
    if not separator:
        scheme, rest = "", scheme
    rest = rest.rpartition("@")[2]
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    return f"{scheme}{separator}{rest}"


def events_root_url(value: str, key: str = "BUS_EVENTS_API_BASE_URL") -> str:
    """Return the service root of an Events API URL, keeping any path prefix.

    Both ``https://host/prefix`` and ``https://host/prefix/api/v1/events`` give
    ``https://host/prefix``. Raises ConfigError for anything but http(s) URLs
    and for URLs with user information, a query or a fragment, because those
    may contain credentials. Error messages show the URL without them.
    """
    redacted = repr(redact_url(value))
    if "@" in value:
        raise ConfigError(
            f"Invalid {key} {redacted}: remove the user name and password (the part "
            "up to '@') from the URL, and put the token in BUS_EVENTS_TOKEN or "
            "BUS_EVENTS_TOKEN_FILE"
        )
    expected = "expected an http:// or https:// URL such as http://127.0.0.1:8081"
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        # Neither the URL nor the error text is shown, because an invalid port
        # may be a password written without the '@' that ends it.
        raise ConfigError(
            f"Invalid {key}: the host or port is invalid; {expected}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"Invalid {key} {redacted}: {expected}")
    if parts.query or parts.fragment:
        raise ConfigError(
            f"Invalid {key} {redacted}: remove the query or fragment, and put any "
            "token in BUS_EVENTS_TOKEN or BUS_EVENTS_TOKEN_FILE"
        )
    path = parts.path.rstrip("/")
    if path.endswith(EVENTS_API_SUFFIX):
        path = path[: -len(EVENTS_API_SUFFIX)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def describe_url(url: str) -> str:
    """Return ``url`` without any user name or password, for logs and reports."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class TokenSource:
    """Source of the Events API token: the environment or a file.

    A token file is read again on every use so that a rotated token is picked
    up without a restart.
    """

    value: str | None = None
    path: Path | None = None

    def read(self) -> str:
        """Return the current token, or raise ConfigError when it cannot be read."""
        if self.path is None:
            assert self.value is not None
            return self.value
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(
                f"Failed to read BUS_EVENTS_TOKEN_FILE {self.path}: {error}"
            ) from None
        if not token:
            raise ConfigError(f"Invalid BUS_EVENTS_TOKEN_FILE {self.path}: it is empty")
        return token


def token_scope_problem(token: str) -> str | None:
    """Return why a JWT cannot publish responses, or None when it may.

    The claims are decoded without verifying the signature, because the
    worker has no key, so this only catches a token issued with the wrong
    scopes. An opaque token, or a JWT without a ``scope`` claim, passes.
    ``scope`` may be a space-separated string or a list of strings.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    scope = claims.get("scope") if isinstance(claims, dict) else None
    if isinstance(scope, str):
        scopes = set(scope.split())
    elif isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        scopes = set(scope)
    else:
        return None
    if scopes & PUBLISH_SCOPES:
        return None
    return (
        f"the Events API token has the scopes {' '.join(sorted(scopes)) or '(none)'}, "
        f"but the worker publishes responses and needs one of "
        f"{', '.join(sorted(PUBLISH_SCOPES))}"
    )


def token_source(env: Environment) -> TokenSource:
    """Return the configured token source, or raise ConfigError when none is set.

    Also raises ConfigError for a JWT whose scopes cannot publish responses;
    see ``token_scope_problem``.
    """
    value = env.get("BUS_EVENTS_TOKEN")
    key = "BUS_EVENTS_TOKEN"
    if value is not None:
        source = TokenSource(value=value)
    else:
        path = env.get("BUS_EVENTS_TOKEN_FILE")
        if path is None:
            raise ConfigError(
                "Missing Events API token: set BUS_EVENTS_TOKEN or "
                "BUS_EVENTS_TOKEN_FILE"
            )
        key = "BUS_EVENTS_TOKEN_FILE"
        source = TokenSource(path=Path(path))
        warning = file_mode_warning(Path(path), "Token file")
        if warning:
            logger.warning("%s", warning)
    problem = token_scope_problem(source.read())
    if problem is not None:
        raise ConfigError(f"Invalid {key}: {problem}")
    return source


@dataclass(frozen=True)
class RetryPolicy:
    """Reconnect behaviour of the stream listeners, in seconds."""

    enabled: bool = True
    min_seconds: float = DEFAULT_RETRY_MIN_SECONDS
    max_seconds: float = DEFAULT_RETRY_MAX_SECONDS


def retry_policy(env: Environment) -> RetryPolicy:
    """Return the listener retry settings, or raise ConfigError if inconsistent."""
    policy = RetryPolicy(
        enabled=parse_bool(env, "BUS_EVENTS_LISTENER_RETRY", True),
        min_seconds=parse_seconds(
            env, "BUS_EVENTS_LISTENER_RETRY_MIN", DEFAULT_RETRY_MIN_SECONDS
        ),
        max_seconds=parse_seconds(
            env, "BUS_EVENTS_LISTENER_RETRY_MAX", DEFAULT_RETRY_MAX_SECONDS
        ),
    )
    if policy.max_seconds < policy.min_seconds:
        raise ConfigError(
            f"Invalid BUS_EVENTS_LISTENER_RETRY_MAX {policy.max_seconds:g} s: it is "
            f"below BUS_EVENTS_LISTENER_RETRY_MIN {policy.min_seconds:g} s"
        )
    return policy


def default_consumer_id() -> str:
    """Return ``<hostname>-<pid>`` reduced to the characters a consumer id allows."""
    raw = f"{socket.gethostname()}-{os.getpid()}"
    cleaned = re.sub(r"[^A-Za-z0-9_.:-]", "-", raw)
    return cleaned[-100:]


@dataclass(frozen=True)
class WorkerConfig:
    """Settings the event worker needs, built once at start."""

    events_url: str
    token: TokenSource
    settings: Settings
    group: str = DEFAULT_GROUP
    consumer: str = field(default_factory=default_consumer_id)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    state_dir: Path = Path(DEFAULT_STATE_DIR)
    state_max_entries: int = DEFAULT_STATE_MAX_ENTRIES
    dedup_window_seconds: float = DEFAULT_DEDUP_WINDOW_SECONDS
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


def _stream_label(env: Environment, key: str, default: str) -> str:
    value = env.get(key, default)
    if STREAM_LABEL.fullmatch(value) is None:
        raise ConfigError(
            f"Invalid {key} {value!r}: use 1 to 100 letters, digits and . _ : -"
        )
    return value


def worker_config(env: Environment) -> WorkerConfig:
    """Build the worker configuration, or raise ConfigError naming the bad key."""
    base_key = "BUS_EVENTS_API_BASE_URL"
    base_url = env.get(base_key)
    if base_url is None:
        base_key = "BUS_EVENTS_API_URL"
        base_url = env.get(base_key)
    if base_url is None:
        raise ConfigError(
            "Missing BUS_EVENTS_API_BASE_URL: set it (or BUS_EVENTS_API_URL) to the "
            "Events API URL, e.g. http://127.0.0.1:8081"
        )
    return WorkerConfig(
        events_url=events_root_url(base_url, base_key),
        token=token_source(env),
        settings=database_settings(env, for_events=True),
        group=_stream_label(env, "BUS_EVENTS_GROUP", DEFAULT_GROUP),
        consumer=_stream_label(env, "BUS_EVENTS_CONSUMER_ID", default_consumer_id()),
        retry=retry_policy(env),
        state_dir=Path(env.get("BUS_SHIM_STATE_DIR", DEFAULT_STATE_DIR)),
        state_max_entries=parse_int(
            env, "BUS_SHIM_STATE_MAX_ENTRIES", DEFAULT_STATE_MAX_ENTRIES
        ),
        dedup_window_seconds=parse_seconds(
            env, "BUS_SHIM_DEDUP_WINDOW", DEFAULT_DEDUP_WINDOW_SECONDS
        ),
        max_line_bytes=parse_int(
            env, "BUS_SHIM_MAX_LINE_BYTES", DEFAULT_MAX_LINE_BYTES, minimum=1024
        ),
        max_response_bytes=parse_int(
            env,
            "BUS_SHIM_MAX_RESPONSE_BYTES",
            DEFAULT_MAX_RESPONSE_BYTES,
            minimum=MIN_RESPONSE_BYTES,
        ),
    )
