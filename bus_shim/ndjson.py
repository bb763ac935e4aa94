"""Incremental NDJSON line splitting with a maximum line size."""

from __future__ import annotations

from dataclasses import dataclass

# How much of an oversize line is kept so the event and correlation ids can
# still be found in it.
OVERSIZE_PREFIX_BYTES = 4096


@dataclass(frozen=True)
class OversizeLine:
    """A line longer than the maximum: its size and its first bytes."""

    size: int
    prefix: bytes


class LineSplitter:
    """Split a byte stream into lines without holding more than ``max_bytes``.

    A line longer than ``max_bytes`` is discarded while it streams in and
    reported as one OversizeLine, so a huge line costs at most ``max_bytes``
    of memory. Blank lines are dropped. The line ending is not included.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._discarding = False
        self._discarded = 0
        self._prefix = b""

    @property
    def pending_bytes(self) -> int:
        """Bytes of the current unfinished line, including discarded ones."""
        return self._discarded if self._discarding else len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes | OversizeLine]:
        """Add ``chunk`` and return the lines it completes, in order."""
        lines: list[bytes | OversizeLine] = []
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            if end < 0:
                self._append(chunk[start:])
                break
            self._append(chunk[start:end])
            lines.extend(self._finish_line())
            start = end + 1
        return lines

    def _append(self, data: bytes) -> None:
        if self._discarding:
            self._discarded += len(data)
            return
        self._buffer += data
        if len(self._buffer) > self.max_bytes:
            self._discarding = True
            self._discarded = len(self._buffer)
            self._prefix = bytes(self._buffer[:OVERSIZE_PREFIX_BYTES])
            self._buffer = bytearray()

    def _finish_line(self) -> list[bytes | OversizeLine]:
        if self._discarding:
            oversize = OversizeLine(size=self._discarded, prefix=self._prefix)
            self._discarding = False
            self._discarded = 0
            self._prefix = b""
            return [oversize]
        line = bytes(self._buffer).rstrip(b"\r")
        self._buffer = bytearray()
        return [line] if line.strip() else []
