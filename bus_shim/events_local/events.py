"""Event names, publish bodies and the NDJSON envelope of the stand-in."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Dot-separated lowercase segments, at least two of them.
EVENT_NAME_PATTERN = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)+")
MAX_NAME_LENGTH = 200
MAX_ID_LENGTH = 200
DELIVERY_MODES = ("broadcast", "unicast")
PUBLISH_FIELDS = frozenset(
    {"name", "payload", "correlationId", "correlation_id", "delivery", "id"}
)


class BadRequest(ValueError):
    """A request parameter or body is invalid (HTTP 400)."""


@dataclass(frozen=True)
class StoredEvent:
    """A published event with its envelope encoded once as one NDJSON line."""

    name: str
    envelope: dict[str, Any]
    line: bytes


def validate_event_name(value: object, field: str = "name") -> str:
    """Return ``value`` if it is a valid event name, else raise BadRequest."""
    if not isinstance(value, str) or not value:
        raise BadRequest(
            f"missing or non-string {field}: expected an event name such as "
            "'bus.database.plan.request'"
        )
    if len(value) > MAX_NAME_LENGTH:
        raise BadRequest(
            f"{field} is {len(value)} characters long; the maximum is {MAX_NAME_LENGTH}"
        )
    if EVENT_NAME_PATTERN.fullmatch(value) is None:
        raise BadRequest(
            f"invalid {field} {value!r}: use at least two dot-separated segments "
            "of lowercase letters, digits, '_' and '-'"
        )
    return value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object.

    Raises BadRequest for invalid UTF-8 or JSON, for NaN and Infinity (which
    are not JSON and would make the stream unreadable), and for non-objects.
    """

    def reject_constant(constant: str) -> None:
        raise BadRequest(f"invalid JSON: {constant} is not a JSON value")

    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not valid UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(body).__name__}")
    return body


def _optional_id(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise BadRequest(
            f"{field} must be a non-empty string of at most {MAX_ID_LENGTH} characters"
        )
    return value


def build_event(body: dict[str, Any], identity_id: str) -> StoredEvent:
    """Validate a publish body and return the event to store and deliver.

    Accepted fields:

    - ``name``: required event name.
    - ``payload``: a JSON object. Absent or null means an empty object.
    - ``correlationId`` or its alias ``correlation_id``.
    - ``delivery``: broadcast or unicast. It is informational only, because
      every event goes to both kinds of stream.
    - ``id``: the event id. Without it the event gets a uuid4.

    Raises BadRequest for any other field or an invalid value.
    """
    unknown = sorted(set(body) - PUBLISH_FIELDS)
    if unknown:
        raise BadRequest(
            f"unknown field(s) {', '.join(unknown)}: the allowed fields are "
            f"{', '.join(sorted(PUBLISH_FIELDS))}"
        )
    name = validate_event_name(body.get("name"))

    payload = body.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise BadRequest(f"payload must be a JSON object, not {type(payload).__name__}")

    delivery = body.get("delivery")
    if delivery is not None and delivery not in DELIVERY_MODES:
        raise BadRequest(f"invalid delivery {delivery!r}: use broadcast or unicast")

    camel = _optional_id(body, "correlationId")
    snake = _optional_id(body, "correlation_id")
    if camel is not None and snake is not None and camel != snake:
        raise BadRequest("correlationId and correlation_id differ: send only one")
    correlation_id = camel if camel is not None else snake

    event_id = _optional_id(body, "id") or str(uuid.uuid4())
    envelope = {
        "id": event_id,
        "name": name,
        "correlationId": correlation_id,
        "payload": payload,
        "identity_id": identity_id,
        "time": format_time(datetime.now(UTC)),
    }
    return StoredEvent(name=name, envelope=envelope, line=encode_line(envelope))


def format_time(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with milliseconds and a Z."""
    utc = moment.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_line(envelope: dict[str, Any]) -> bytes:
    """Encode ``envelope`` as one compact ASCII JSON line ending in a newline."""
    return json.dumps(envelope, separators=(",", ":")).encode("ascii") + b"\n"
