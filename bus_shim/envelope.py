"""Request events read from the stream and the response events sent back."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .ndjson import OversizeLine

MAX_ID_LENGTH = 200
# Keys of a JSON object as they appear in a raw line that failed to parse.
RAW_STRING = r'"((?:[^"\\\x00-\x1f]|\\.){1,' + str(MAX_ID_LENGTH) + r'})"'
RAW_EVENT_ID = re.compile(r'[{,]\s*"id"\s*:\s*' + RAW_STRING)
RAW_CORRELATION_IDS = (
    re.compile(r'"correlationId"\s*:\s*' + RAW_STRING),
    re.compile(r'"correlation_id"\s*:\s*' + RAW_STRING),
)
PLAIN_LOG_VALUE = re.compile(r"[A-Za-z0-9_.:/@+=-]{1,200}")
# Characters that end or rewrite a log line in a terminal or log viewer.
LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def request_name(operation: str) -> str:
    """Return the request event name of ``operation``."""
    return f"bus.database.{operation}.request"


def response_name(operation: str) -> str:
    """Return the response event name of ``operation``."""
    return f"bus.database.{operation}.response"


@dataclass(frozen=True)
class RequestEvent:
    """One request taken from the stream.

    ``problem`` is set when the event itself is invalid, so the response is
    ``bad_request`` and the request does not run. ``size`` is the length
    of the NDJSON line in bytes.
    """

    operation: str
    event_id: str | None
    correlation_id: str | None
    payload: Any
    size: int
    problem: str | None = None

    @property
    def name(self) -> str:
        """The request event name."""
        return request_name(self.operation)

    def request_key(self) -> str | None:
        """Return a digest of operation, correlation id and payload, or None.

        Two deliveries with the same key are the same request sent again, even
        when the Events API gave them different event ids. None means the
        payload is nested too deeply to encode again.
        """
        payload = self.payload
        if isinstance(payload, dict):
            payload = {k: v for k, v in payload.items() if k != "correlation_id"}
        try:
            material = json.dumps(
                [self.operation, self.correlation_id, payload, self.problem],
                sort_keys=True,
                separators=(",", ":"),
            )
        except (RecursionError, ValueError):
            return None
        return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _usable_id(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return value
    return None


def _raw_string(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    if match is None:
        return None
    try:
        value = json.loads(f'"{match.group(1)}"')
    except json.JSONDecodeError:
        return None
    return _usable_id(value)


def _ids_from_raw(raw: bytes) -> tuple[str | None, str | None]:
    """Find the event id and correlation id in a line that is not valid JSON."""
    text = raw[:4096].decode("utf-8", errors="replace")
    correlation_id = None
    for pattern in RAW_CORRELATION_IDS:
        correlation_id = correlation_id or _raw_string(pattern, text)
    return _raw_string(RAW_EVENT_ID, text), correlation_id


def parse_request_line(operation: str, line: bytes) -> RequestEvent:
    """Parse one NDJSON line of the ``operation`` request stream.

    Does not raise for an invalid line. It returns a RequestEvent with
    ``problem`` set and whatever ids could be recovered from the raw text.
    """
    try:
        envelope = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        event_id, correlation_id = _ids_from_raw(line)
        return RequestEvent(
            operation,
            event_id,
            correlation_id,
            None,
            len(line),
            f"Invalid event: the stream line is not valid JSON ({error})",
        )
    if not isinstance(envelope, dict):
        return RequestEvent(
            operation,
            None,
            None,
            None,
            len(line),
            f"Invalid event: expected a JSON object, got {type(envelope).__name__}",
        )

    payload = envelope.get("payload")
    envelope_id = _usable_id(envelope.get("correlationId")) or _usable_id(
        envelope.get("correlation_id")
    )
    payload_id = (
        _usable_id(payload.get("correlation_id")) if isinstance(payload, dict) else None
    )
    problem = None
    name = envelope.get("name")
    if name is not None and name != request_name(operation):
        problem = (
            f"Invalid event name {name!r}: this stream carries "
            f"{request_name(operation)}"
        )
    elif envelope_id and payload_id and envelope_id != payload_id:
        problem = (
            f"Invalid payload.correlation_id {payload_id!r}: it differs from the "
            f"event's correlationId {envelope_id!r}"
        )
    return RequestEvent(
        operation,
        _usable_id(envelope.get("id")),
        envelope_id or payload_id,
        payload,
        len(line),
        problem,
    )


def parse_oversize_line(
    operation: str, oversize: OversizeLine, max_bytes: int
) -> RequestEvent:
    """Describe a line that exceeded ``max_bytes`` as an invalid request."""
    event_id, correlation_id = _ids_from_raw(oversize.prefix)
    return RequestEvent(
        operation,
        event_id,
        correlation_id,
        None,
        oversize.size,
        f"Invalid event: it is {oversize.size} bytes long, the maximum is "
        f"{max_bytes} bytes",
    )


def error_response(
    event: RequestEvent, error_class: str, diagnostic: str
) -> dict[str, Any]:
    """Return a failed response payload to ``event`` that the worker itself makes."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    deployment_id = payload.get("deployment_id")
    provider = payload.get("provider")
    response: dict[str, Any] = {
        "ok": False,
        "deployment_id": deployment_id if isinstance(deployment_id, str) else None,
        "provider": provider if isinstance(provider, str) else None,
        "actions": [],
        "diagnostics": [diagnostic],
        "error_class": error_class,
        "duration_ms": 0.0,
    }
    if event.correlation_id is not None:
        response["correlation_id"] = event.correlation_id
    return response


def rejection(event: RequestEvent) -> dict[str, Any]:
    """Return the ``bad_request`` response payload for an invalid event."""
    return error_response(event, "bad_request", event.problem or "Invalid event")


def response_event(
    operation: str, correlation_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Return the publish body of the response to one request.

    The correlation id is sent both as the envelope's ``correlationId`` and as
    ``correlation_id`` in the payload, so readers of either spelling find it.
    """
    return {
        "name": response_name(operation),
        "correlationId": correlation_id,
        "delivery": "broadcast",
        "payload": {**payload, "correlation_id": correlation_id},
    }


def log_value(value: str | None) -> str:
    """Return ``value`` safe for a one-line ``key=value`` log field.

    Plain ids appear as they are. Anything with spaces, quotes or control
    characters is JSON-quoted, and long values are cut, so a crafted id cannot
    add fake log lines. None becomes ``-``.
    """
    if value is None:
        return "-"
    if PLAIN_LOG_VALUE.fullmatch(value):
        return value
    return json.dumps(value[:300])


def escape_controls(text: str) -> str:
    """Return ``text`` with control characters written as JSON escapes.

    Use it for free text from a server or request inside a longer message,
    where ``log_value`` quoting would not read well, so the text stays on one
    line.
    """
    return LINE_BREAKING.sub(lambda match: json.dumps(match.group())[1:-1], text)
