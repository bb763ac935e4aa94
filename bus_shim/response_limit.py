"""Response events that fit the Events API's maximum request body size.

A plan or status of many objects can produce a response larger than the
Events API accepts, and a response that is never published leaves the
requester waiting. Such a response is shortened instead: ``changes`` and,
when needed, other structured fields are left out, ``actions`` and then
``diagnostics`` are cut to fit, and a last diagnostic lists what was left out.
``ok``, ``error_class`` and the other scalar fields are always kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .envelope import response_event

# Stays under the 1 MiB default body limit of bus-events-local with room for
# the envelope. The limit of the production Events API is not documented.
DEFAULT_MAX_RESPONSE_BYTES = 512 * 1024
# Small enough for any Events API, and large enough for every scalar field
# plus the note of a shortened response.
MIN_RESPONSE_BYTES = 16 * 1024
MAX_TEXT_CHARS = 1000
LIST_FIELDS = ("actions", "diagnostics")


def encode_event(body: dict[str, Any]) -> bytes:
    """Encode a publish body exactly as the client sends it."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _cut(value: Any) -> Any:
    return value[:MAX_TEXT_CHARS] if isinstance(value, str) else value


def _largest(count: int, fits: Callable[[int], bool]) -> int:
    """Return the largest n in 0..count for which ``fits(n)`` holds, else 0.

    ``fits`` must be monotone: true up to some n and false above it.
    """
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def bounded_response_event(
    operation: str, correlation_id: str, response: dict[str, Any], max_bytes: int
) -> tuple[dict[str, Any], int | None]:
    """Return the publish body of ``response``, shortened to ``max_bytes`` if needed.

    The second value is the size in bytes of the full event when it was
    shortened, else None.
    """
    body = response_event(operation, correlation_id, response)
    size = len(encode_event(body))
    if size <= max_bytes:
        return body, None
    short = shortened_response(operation, correlation_id, response, size, max_bytes)
    return response_event(operation, correlation_id, short), size


def shortened_response(
    operation: str,
    correlation_id: str,
    response: dict[str, Any],
    size: int,
    max_bytes: int,
) -> dict[str, Any]:
    """Return a copy of ``response`` whose event is at most ``max_bytes`` long.

    ``size`` is the length of the full event, for the note. The result fits
    whenever ``max_bytes`` is at least MIN_RESPONSE_BYTES.
    """
    base = {
        key: _cut(value)
        for key, value in response.items()
        if key not in LIST_FIELDS and key != "changes"
    }
    left_out = ["changes"] if "changes" in response else []
    actions = [_cut(str(action)) for action in response.get("actions") or []]
    diagnostics = [_cut(str(line)) for line in response.get("diagnostics") or []]

    def build(kept_actions: int, kept_diagnostics: int) -> dict[str, Any]:
        omitted = []
        if kept_actions < len(actions):
            omitted.append(f"{len(actions) - kept_actions} of {len(actions)} actions")
        if kept_diagnostics < len(diagnostics):
            omitted.append(
                f"{len(diagnostics) - kept_diagnostics} of {len(diagnostics)} "
                "diagnostics"
            )
        note = (
            f"Shortened response: the full response event is {size} bytes and the "
            f"limit is {max_bytes} bytes."
        )
        if left_out:
            note += f" Left out the fields {', '.join(left_out)}."
        if omitted:
            note += f" Omitted {' and '.join(omitted)}."
        note += " Request fewer objects at a time to get the full response."
        return {
            **base,
            "actions": actions[:kept_actions],
            "diagnostics": [*diagnostics[:kept_diagnostics], note],
        }

    def fits(candidate: dict[str, Any]) -> bool:
        event = response_event(operation, correlation_id, candidate)
        return len(encode_event(event)) <= max_bytes

    structured = sorted(
        (key for key, value in base.items() if isinstance(value, dict | list)),
        key=lambda key: len(encode_event({key: base[key]})),
        reverse=True,
    )
    for key in structured:
        if fits(build(len(actions), len(diagnostics))):
            break
        del base[key]
        left_out.append(key)

    kept_actions = _largest(
        len(actions), lambda count: fits(build(count, len(diagnostics)))
    )
    kept_diagnostics = len(diagnostics)
    if kept_actions == 0 and not fits(build(0, kept_diagnostics)):
        kept_diagnostics = _largest(
            len(diagnostics), lambda count: fits(build(0, count))
        )
    return build(kept_actions, kept_diagnostics)
