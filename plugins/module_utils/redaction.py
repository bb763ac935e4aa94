"""Masking of secrets in everything a request returns or logs."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

MASK = "********"
MIN_SECRET_LENGTH = 4
IDENTITY_KEYS = frozenset(
    {"provider", "deployment_id", "correlation_id", "error_class", "object_type"}
)
# user:password@ in any URL, and password=... in key/value connection strings.
URL_CREDENTIALS = re.compile(r"(?P<prefix>:/+[^:/@\s]*:)[^@\s]+@")
KEYWORD_PASSWORD = re.compile(r"(?P<prefix>\bpassword\s*=\s*)('[^']*'|\S+)", re.I)


class Redactor:
    """Collects the secrets one request has seen and masks them in output.

    Each request gets its own instance, so nothing leaks between requests of a
    long-running worker.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        """Remember ``secret`` (and its URL-encoded form) for masking."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        self._secrets.add(secret)
        self._secrets.add(quote(secret, safe=""))

    def text(self, value: str) -> str:
        """Return ``value`` with every known secret and URL password masked."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        value = URL_CREDENTIALS.sub(lambda m: m.group("prefix") + MASK + "@", value)
        return KEYWORD_PASSWORD.sub(lambda m: m.group("prefix") + MASK, value)

    def scrub(self, value: Any) -> Any:
        """Return a copy of a JSON-like structure with every string masked.

        Values under IDENTITY_KEYS are copied from the request and kept: a weak
        password equal to, say, the provider name would otherwise be revealed
        by the mask itself.
        """
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                key: item if key in IDENTITY_KEYS else self.scrub(item)
                for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.scrub(item) for item in value]
        return value
