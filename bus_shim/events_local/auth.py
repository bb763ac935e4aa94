"""Bearer tokens and scope rules of the local Bus Events API stand-in.

Tokens are HS256 JWTs with the claims ``sub`` (a non-empty string), ``aud``,
``exp`` and ``iat`` (JSON numbers, as RFC 7519 section 2 defines NumericDate)
and ``scope``, either one space-separated string or a JSON list of strings.

Scope model. ``events:send`` publishes and ``events:listen`` streams any
event; ``events:write`` and ``events:read`` are their aliases. Names under
``bus.database.`` are a protected namespace with two more scopes:
``database:admin`` allows everything there, and ``database:read`` allows the
read-only ``status`` and ``verify`` events. By default the generic scopes
count in that namespace too. With ``strict`` they do not, and the database
scopes follow the roles of requester and worker:

- publishing ``bus.database.<op>.request``: database:admin, or database:read
  for status and verify;
- streaming ``bus.database.<op>.request``: database:admin only, because only
  the worker consumes requests;
- publishing ``bus.database.<op>.response``: database:admin only, because
  only the worker publishes responses;
- streaming ``bus.database.<op>.response``: database:admin, or database:read
  for status and verify;
- any other name in the namespace: database:admin.

The test endpoints under ``/api/v1/_local/`` need only a valid token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import jwt

from ..envelope import log_value

logger = logging.getLogger(__name__)

DEFAULT_AUDIENCE = "ai.hg.fi/api"
ALGORITHM = "HS256"
# PyJWT (2.15) warns about HMAC keys shorter than the hash output, which is 32
# bytes for HS256, and cites RFC 7518 section 3.2 for that minimum.
MIN_SECRET_BYTES = 32

SCOPE_SEND = "events:send"
SCOPE_LISTEN = "events:listen"
SCOPE_DATABASE_ADMIN = "database:admin"
SCOPE_DATABASE_READ = "database:read"
SCOPE_ALIASES = {"events:write": SCOPE_SEND, "events:read": SCOPE_LISTEN}

DATABASE_NAMESPACE = ("bus", "database")
# Segments after bus.database. that only read state. Every other event in the
# namespace, including plan and apply, requires database:admin.
DATABASE_READ_ACTIONS = frozenset({"status", "verify"})
# In strict mode, only the worker (database:admin) may do these in the
# namespace: consume requests and publish responses.
WORKER_ONLY = frozenset({("request", "stream"), ("response", "publish")})

Action = Literal["publish", "stream"]


class AuthError(Exception):
    """The request carries no valid bearer token (HTTP 401)."""


class ScopeError(Exception):
    """The token is valid but lacks the scope the request requires (HTTP 403)."""


@dataclass(frozen=True)
class TokenClaims:
    """Verified identity and scopes of a bearer token."""

    subject: str
    scopes: frozenset[str]


def validate_secret(secret: str) -> None:
    """Raise ValueError unless ``secret`` is long enough to sign HS256 tokens."""
    if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes long for "
            "HS256. Generate one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'"
        )


def mint_token(
    secret: str,
    scopes: str | Iterable[str],
    *,
    sub: str = "local-dev",
    ttl: int = 3600,
    audience: str = DEFAULT_AUDIENCE,
) -> str:
    """Sign a development token that the stand-in accepts.

    ``scopes`` is a space-separated string or an iterable of scope names. ``ttl``
    is the lifetime in seconds. A zero or negative ``ttl`` mints an already
    expired token, which tests use. Raises ValueError for a short secret.
    """
    validate_secret(secret)
    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    now = int(time.time())
    claims = {
        "sub": sub,
        "aud": audience,
        "iat": now,
        "exp": now + ttl,
        "scope": " ".join(scope.split()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def parse_bearer(authorization: str | None) -> str:
    """Return the token of an ``Authorization: Bearer`` header value.

    Raises AuthError when the header is missing or uses another scheme.
    """
    if not authorization:
        raise AuthError("missing Authorization header: send 'Bearer <token>'")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def verify_token(token: str, secret: str, audience: str) -> TokenClaims:
    """Verify an HS256 token and return its subject and scopes.

    Raises AuthError when the signature, algorithm, audience, expiry or a
    required claim is invalid. The message never contains the token.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            options={"require": ["sub", "aud", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError(
            "the token has expired: mint a new one with 'bus-events-local token'"
        ) from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthError(f"invalid token audience: expected {audience!r}") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from exc

    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.strip():
        raise AuthError("invalid token: the sub claim must be a non-empty string")
    for name in ("exp", "iat"):
        # PyJWT (2.15) also accepts numeric strings here.
        if isinstance(claims[name], bool) or not isinstance(claims[name], int | float):
            raise AuthError(f"invalid token: the {name} claim must be a number")
    return TokenClaims(subject=subject, scopes=expand_scopes(_scope_list(claims)))


def _scope_list(claims: dict[str, object]) -> list[str]:
    """Return the scopes of the ``scope`` claim, or raise AuthError."""
    scope = claims.get("scope", "")
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        return [item for item in scope if item]
    raise AuthError(
        "invalid token: the scope claim must be a space-separated string or a "
        "list of strings"
    )


def expand_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Return ``scopes`` plus the canonical scope of every alias among them."""
    granted = set(scopes)
    aliased = {SCOPE_ALIASES[scope] for scope in granted if scope in SCOPE_ALIASES}
    return frozenset(granted | aliased)


def accepted_scopes(name: str, action: Action, *, strict: bool) -> tuple[str, ...]:
    """Return the scopes of which any one allows ``action`` on event ``name``.

    Outside ``bus.database.`` the generic scope (events:send to publish,
    events:listen to stream) is required. Inside it, database:admin covers every
    event and database:read also covers status and verify events. The generic
    scope counts there too unless ``strict`` is set, and ``strict`` keeps
    consuming requests and publishing responses to database:admin (see the
    module docstring).
    """
    generic = SCOPE_SEND if action == "publish" else SCOPE_LISTEN
    segments = name.split(".")
    if tuple(segments[:2]) != DATABASE_NAMESPACE:
        return (generic,)

    database: tuple[str, ...] = (SCOPE_DATABASE_ADMIN,)
    if len(segments) > 2 and segments[2] in DATABASE_READ_ACTIONS:
        database = (SCOPE_DATABASE_READ, SCOPE_DATABASE_ADMIN)
    if not strict:
        return (generic, *database)
    if (segments[-1], action) in WORKER_ONLY:
        return (SCOPE_DATABASE_ADMIN,)
    return database


def require_scope(
    claims: TokenClaims, name: str, action: Action, *, strict: bool
) -> None:
    """Raise ScopeError unless ``claims`` allow ``action`` on event ``name``."""
    needed = accepted_scopes(name, action, strict=strict)
    if claims.scopes.isdisjoint(needed):
        verb = "publishing" if action == "publish" else "streaming"
        raise ScopeError(
            f"{verb} {name!r} requires scope {' or '.join(needed)}, and the "
            f"token of {log_value(claims.subject)} has none of them"
        )
