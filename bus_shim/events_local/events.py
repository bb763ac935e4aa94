"""Event names, publish bodies and the NDJSON envelope of the stand-in."""

from __future__ import annotations

import itertools
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
# Maximum nesting of objects and arrays in a publish body, the body itself
# counting as level 1. Deeper JSON is rejected before Python's recursive
# decoder and encoder reach their recursion limit.
MAX_JSON_DEPTH = 64
# Publish order of the events of this process, for oldest-first eviction.
_SEQUENCE = itertools.count(1)


class BadRequest(ValueError):
    """A request parameter or body is invalid (HTTP 400)."""


@dataclass(frozen=True)
class StoredEvent:
    """A published event, kept only as its encoded NDJSON line and its ids.

    ``seq`` is the publish order. ``size`` is the length of ``line``, which
    is what the byte limits of the broker count.
    """

    name: str
    event_id: str
    correlation_id: str | None
    line: bytes
    seq: int

    @property
    def size(self) -> int:
        """The length of the NDJSON line in bytes."""
        return len(self.line)

    @property
    def envelope(self) -> dict[str, Any]:
        """The envelope decoded from the line."""
        envelope: dict[str, Any] = json.loads(self.line)
        return envelope


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
    are not JSON and would make the stream unreadable), for non-objects and
    for nesting deeper than MAX_JSON_DEPTH.
    """

    def reject_constant(constant: str) -> None:
        raise BadRequest(f"invalid JSON: {constant} is not a JSON value")

    too_deep = BadRequest(
        f"invalid JSON body: it is nested more than {MAX_JSON_DEPTH} levels deep"
    )
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not valid UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON body: {exc}") from exc
    except RecursionError:
        raise too_deep from None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(body).__name__}")
    if _nesting_depth(body) > MAX_JSON_DEPTH:
        raise too_deep
    return body


def _nesting_depth(value: Any) -> int:
    """Return how deeply objects and arrays nest in ``value``, without recursion.

    Stops counting once the depth exceeds MAX_JSON_DEPTH.
    """
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        pending.extend((child, level + 1) for child in children)
    return deepest


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
    return StoredEvent(
        name=name,
        event_id=event_id,
        correlation_id=correlation_id,
        line=encode_line(envelope),
        seq=next(_SEQUENCE),
    )


def format_time(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with milliseconds and a Z."""
    utc = moment.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_line(envelope: dict[str, Any]) -> bytes:
    """Encode ``envelope`` as one compact ASCII JSON line ending in a newline."""
    return json.dumps(envelope, separators=(",", ":")).encode("ascii") + b"\n"
