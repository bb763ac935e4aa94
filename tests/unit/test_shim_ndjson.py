"""Line splitting of the request streams, including lines over the size limit."""

from __future__ import annotations

import pytest

from bus_shim.ndjson import OVERSIZE_PREFIX_BYTES, LineSplitter, OversizeLine


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> list[bytes | OversizeLine]:
    lines: list[bytes | OversizeLine] = []
    for chunk in chunks:
        lines.extend(splitter.feed(chunk))
    return lines


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"a\nb\n"], [b"a", b"b"]),
        ([b"a", b"b\n", b"c\n"], [b"ab", b"c"]),
        ([b"a\r\n", b"\n", b"  \n", b"b\n"], [b"a", b"b"]),
        ([b"a\nb"], [b"a"]),
        ([b"\n\n"], []),
    ],
)
def test_splitter_lines(chunks: list[bytes], expected: list[bytes]) -> None:
    assert feed_all(LineSplitter(100), chunks) == expected


def test_splitter_oversize_in_one_chunk() -> None:
    lines = LineSplitter(10).feed(b"x" * 11 + b"\nok\n")

    assert lines[0] == OversizeLine(size=11, prefix=b"x" * 11)
    assert lines[1:] == [b"ok"]


def test_splitter_oversize_memory_bounded() -> None:
    splitter = LineSplitter(1024)
    chunk = b"y" * 65536
    lines: list[bytes | OversizeLine] = []
    for _ in range(160):
        lines.extend(splitter.feed(chunk))
        assert splitter.pending_bytes <= 160 * 65536
        assert len(splitter._buffer) <= 1024 + 65536

    lines.extend(splitter.feed(b"tail\nnext\n"))

    assert len(lines) == 2
    oversize = lines[0]
    assert isinstance(oversize, OversizeLine)
    assert oversize.size == 160 * 65536 + 4
    assert len(oversize.prefix) == OVERSIZE_PREFIX_BYTES
    assert lines[1] == b"next"


def test_splitter_exact_limit_is_not_oversize() -> None:
    assert LineSplitter(5).feed(b"12345\n") == [b"12345"]


def test_splitter_pending_bytes_of_unfinished_line() -> None:
    splitter = LineSplitter(100)
    splitter.feed(b"abc")

    assert splitter.pending_bytes == 3
