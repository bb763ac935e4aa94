"""Starlette application of the local Bus Events API stand-in.

Routes:

- ``GET /healthz`` returns ``{"ok": true}`` without authentication.
- ``POST /api/v1/events`` publishes one event (scope events:send).
- ``GET /api/v1/events/stream`` streams events as NDJSON (scope events:listen).
- ``GET /api/v1/_local/streams`` lists open streams, and
  ``POST /api/v1/_local/drop-streams`` closes them all. These two are test
  affordances of the stand-in and need only a valid token, with any scopes
  or none, even in strict mode.

Request-controlled values in log lines (token subjects, event and correlation
ids, error messages) are quoted or escaped, so they cannot add log lines.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..envelope import log_value
from .auth import (
    DEFAULT_AUDIENCE,
    AuthError,
    ScopeError,
    TokenClaims,
    parse_bearer,
    require_scope,
    validate_secret,
    verify_token,
)
from .broker import (
    DEFAULT_BACKLOG_LIMIT,
    DEFAULT_BACKLOG_MAX_BYTES,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_HISTORY_MAX_BYTES,
    DEFAULT_QUEUE_LIMIT,
    DEFAULT_QUEUE_MAX_BYTES,
    Broker,
)
from .events import (
    DELIVERY_MODES,
    BadRequest,
    build_event,
    parse_json_object,
    validate_event_name,
)
from .stream import NDJSON_MEDIA_TYPE, EventStreamResponse

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Group and consumer names of unicast streams.
STREAM_LABEL_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
TRUE_VALUES = frozenset({"true", "1", "yes"})
FALSE_VALUES = frozenset({"false", "0", "no"})


class PayloadTooLarge(Exception):
    """The request body exceeds the configured maximum (HTTP 413)."""


def error_response(
    status_code: int, error: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return the JSON error body ``{"error": ..., "message": ...}``."""
    return JSONResponse(
        {"error": error, "message": message}, status_code=status_code, headers=headers
    )


def reject(
    request: Request,
    status_code: int,
    error: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Log why a request was rejected and return the JSON error response."""
    logger.info(
        "rejected %s %s with %d %s: %s",
        request.method,
        request.url.path,
        status_code,
        error,
        log_value(message),
    )
    return error_response(status_code, error, message, headers=headers)


@dataclass
class EventsApi:
    """Request handlers bound to one broker and one configuration."""

    secret: str
    audience: str
    strict: bool
    max_body_bytes: int
    broker: Broker

    def authenticate(self, request: Request) -> TokenClaims:
        """Return the verified claims of the request's bearer token.

        Raises AuthError when the token is missing or invalid.
        """
        token = parse_bearer(request.headers.get("authorization"))
        return verify_token(token, self.secret, self.audience)

    async def healthz(self, request: Request) -> Response:
        """Return ``{"ok": true}`` without authentication."""
        return JSONResponse({"ok": True})

    async def publish(self, request: Request) -> Response:
        """Validate, store and deliver one event, then return 202 with its id."""
        try:
            claims = self.authenticate(request)
            body = parse_json_object(await self._read_body(request))
            event = build_event(body, identity_id=claims.subject)
            require_scope(claims, event.name, "publish", strict=self.strict)
        except AuthError as exc:
            return _unauthorized(request, exc)
        except PayloadTooLarge as exc:
            return reject(request, 413, "payload_too_large", str(exc))
        except BadRequest as exc:
            return reject(request, 400, "bad_request", str(exc))
        except ScopeError as exc:
            return reject(request, 403, "forbidden", str(exc))

        self.broker.publish(event)
        logger.debug(
            "published %s id=%s correlationId=%s identity=%s",
            event.name,
            log_value(event.event_id),
            log_value(event.correlation_id),
            log_value(claims.subject),
        )
        return JSONResponse(
            {"accepted": True, "id": event.event_id, "name": event.name},
            status_code=202,
        )

    async def stream(self, request: Request) -> Response:
        """Open an NDJSON stream of one event name.

        Query parameters: ``name`` (required), ``delivery`` (broadcast, the
        default, or unicast), ``group`` and ``consumer`` (unicast only, default
        ``default``), ``replay`` (send stored events first, default false) and
        ``follow`` (keep streaming new events, default true).
        """
        query = request.query_params
        try:
            claims = self.authenticate(request)
            name = validate_event_name(query.get("name"), field="name parameter")
            delivery = query.get("delivery", "broadcast")
            if delivery not in DELIVERY_MODES:
                raise BadRequest(
                    f"invalid delivery {delivery!r}: use broadcast or unicast"
                )
            group = _stream_label(query.get("group"), "group")
            consumer = _stream_label(query.get("consumer"), "consumer")
            replay = _query_flag(query.get("replay"), "replay", default=False)
            follow = _query_flag(query.get("follow"), "follow", default=True)
            require_scope(claims, name, "stream", strict=self.strict)
        except AuthError as exc:
            return _unauthorized(request, exc)
        except BadRequest as exc:
            return reject(request, 400, "bad_request", str(exc))
        except ScopeError as exc:
            return reject(request, 403, "forbidden", str(exc))

        if request.method == "HEAD":
            # Starlette routes HEAD to GET endpoints. A HEAD request gets the
            # stream's headers and no subscription, which would never end.
            return Response(media_type=NDJSON_MEDIA_TYPE)

        # Taking the replay snapshot and subscribing happen without an await in
        # between, so no event falls into a gap or arrives twice.
        replayed = self.broker.replay(name) if replay else []
        subscription = None
        if follow:
            subscription = self.broker.subscribe(
                name, delivery, claims.subject, group=group, consumer=consumer
            )
            logger.info(
                "stream %d opened: name=%s delivery=%s group=%s consumer=%s "
                "identity=%s replay=%d",
                subscription.stream_id,
                name,
                delivery,
                subscription.group,
                subscription.consumer,
                log_value(claims.subject),
                len(replayed),
            )
        return EventStreamResponse(self.broker, replayed, subscription)

    async def list_streams(self, request: Request) -> Response:
        """Return the open streams. This is a test affordance of the stand-in."""
        try:
            self.authenticate(request)
        except AuthError as exc:
            return _unauthorized(request, exc)
        return JSONResponse({"streams": self.broker.describe_streams()})

    async def drop_streams(self, request: Request) -> Response:
        """Close every open stream. This is a test affordance of the stand-in."""
        try:
            claims = self.authenticate(request)
        except AuthError as exc:
            return _unauthorized(request, exc)
        closed = self.broker.close_all()
        logger.info(
            "closing %d open streams at the request of %s",
            closed,
            log_value(claims.subject),
        )
        return JSONResponse({"closed": closed})

    async def _read_body(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        too_large = PayloadTooLarge(
            f"the request body exceeds the maximum of {limit} bytes"
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
        return bytes(body)


def _unauthorized(request: Request, exc: AuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"}
    return reject(request, 401, "invalid_auth", str(exc), headers=headers)


def _stream_label(value: str | None, field: str) -> str:
    if value is None:
        return "default"
    if STREAM_LABEL_PATTERN.fullmatch(value) is None:
        raise BadRequest(
            f"invalid {field} {value!r}: use 1 to 100 ASCII letters, digits and "
            "the characters . _ : -"
        )
    return value


def _query_flag(value: str | None, field: str, *, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in TRUE_VALUES:
        return True
    if value.lower() in FALSE_VALUES:
        return False
    raise BadRequest(f"invalid {field} {value!r}: use true or false")


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    return error_response(exc.status_code, error, f"{exc.detail}: {request.url.path}")


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.error(
        "unhandled error in %s %s", request.method, request.url.path, exc_info=exc
    )
    return error_response(500, "internal_error", "internal server error; see the log")


def create_app(
    secret: str,
    *,
    audience: str = DEFAULT_AUDIENCE,
    strict: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    history_limit: int = DEFAULT_HISTORY_LIMIT,
    backlog_limit: int = DEFAULT_BACKLOG_LIMIT,
    queue_limit: int = DEFAULT_QUEUE_LIMIT,
    history_max_bytes: int = DEFAULT_HISTORY_MAX_BYTES,
    backlog_max_bytes: int = DEFAULT_BACKLOG_MAX_BYTES,
    queue_max_bytes: int = DEFAULT_QUEUE_MAX_BYTES,
) -> Starlette:
    """Build one stand-in application with its own in-memory broker.

    ``secret`` signs and verifies HS256 tokens. ``strict`` applies the
    stricter ``database:*`` scope rules of ``auth.accepted_scopes`` to
    ``bus.database.*`` events. ``max_body_bytes`` limits a publish body.
    ``history_limit`` and ``history_max_bytes`` bound the events kept for
    replay, ``backlog_limit`` the events kept per unicast group while it has
    no consumer and ``backlog_max_bytes`` those of all groups together, and
    ``queue_limit`` and ``queue_max_bytes`` the events queued for one stream.
    Byte limits count the encoded NDJSON lines. The ``EventsApi`` is at
    ``app.state.events``. Raises ValueError for a short secret or a limit
    below 1.
    """
    validate_secret(secret)
    limits = {
        "max_body_bytes": max_body_bytes,
        "history_limit": history_limit,
        "backlog_limit": backlog_limit,
        "queue_limit": queue_limit,
        "history_max_bytes": history_max_bytes,
        "backlog_max_bytes": backlog_max_bytes,
        "queue_max_bytes": queue_max_bytes,
    }
    for key, value in limits.items():
        if value < 1:
            raise ValueError(f"{key} must be at least 1, got {value}")

    broker = Broker(
        history_limit=history_limit,
        backlog_limit=backlog_limit,
        queue_limit=queue_limit,
        history_max_bytes=history_max_bytes,
        backlog_max_bytes=backlog_max_bytes,
        queue_max_bytes=queue_max_bytes,
    )
    api = EventsApi(secret, audience, strict, max_body_bytes, broker)
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/api/v1/events", api.publish, methods=["POST"]),
        Route("/api/v1/events/stream", api.stream, methods=["GET"]),
        Route("/api/v1/_local/streams", api.list_streams, methods=["GET"]),
        Route("/api/v1/_local/drop-streams", api.drop_streams, methods=["POST"]),
    ]
    handlers: dict[Any, Any] = {HTTPException: _http_exception, 500: _server_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.events = api
    return app
