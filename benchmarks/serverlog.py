"""Count the SQL statements and connections a run causes, from the server log.

The benchmark cluster runs with ``log_statement = 'all'``, ``log_connections = on``
and the ``LOG_LINE_PREFIX`` below. A run is measured by remembering the log size
before it and parsing only the bytes written after it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

LOG_LINE_PREFIX = "%m [%p] db=%d user=%u: "

# Settings added to postgresql.conf of every benchmark cluster.
LOGGING_CONF = [
    "log_statement = 'all'",
    "log_connections = on",
    f"log_line_prefix = '{LOG_LINE_PREFIX}'",
    "log_min_error_statement = error",
]

# The first line of a log record. A statement that spans lines continues on
# lines without this prefix.
_RECORD = re.compile(
    r"^\S+ \S+ \S+ \[(?P<pid>\d+)\] db=(?P<db>\S*) user=(?P<user>\S*): "
    r"(?P<level>[A-Z]+):  (?P<message>.*)$"
)
# Simple query protocol logs "statement: ...", the extended protocol logs
# "execute <name>: ..." once per execution (psycopg 3 uses the extended protocol
# for queries with parameters and for prepared statements).
_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (?P<sql>.*)$", re.DOTALL)
_AUTHORIZED = re.compile(r"^connection authorized: user=\S+ database=(?P<db>\S+)")

READ_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "TABLE", "VALUES"})
WRITE_KEYWORDS = frozenset(
    {"CREATE", "ALTER", "DROP", "GRANT", "REVOKE", "COMMENT", "SECURITY", "REASSIGN"}
)
SESSION_KEYWORDS = frozenset(
    {
        "BEGIN",
        "START",
        "COMMIT",
        "ROLLBACK",
        "END",
        "ABORT",
        "SET",
        "RESET",
        "SAVEPOINT",
        "RELEASE",
        "DISCARD",
        "DEALLOCATE",
        "PREPARE",
    }
)


def classify_statement(sql: str) -> str:
    """Return "read", "write", "session" or "other" from the first SQL keyword.

    A simple-protocol string with several statements is one logged statement and
    is classified by its first keyword only.
    """
    text = sql.lstrip()
    while text.startswith("--") or text.startswith("/*"):
        if text.startswith("--"):
            _, _, text = text.partition("\n")
        else:
            _, _, text = text.partition("*/")
        text = text.lstrip()
    match = re.match(r"[A-Za-z]+", text)
    keyword = match.group(0).upper() if match else ""
    if keyword in READ_KEYWORDS:
        return "read"
    if keyword in WRITE_KEYWORDS:
        return "write"
    if keyword in SESSION_KEYWORDS:
        return "session"
    return "other"


@dataclass
class LogCounts:
    """Statements, connections and errors found in one slice of the server log."""

    statements: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    databases_connected: set[str] = field(default_factory=set)
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)

    @property
    def total_statements(self) -> int:
        return sum(self.statements.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "statements": self.total_statements,
            "reads": self.statements["read"],
            "writes": self.statements["write"],
            "session": self.statements["session"],
            "other": self.statements["other"],
            "connections": self.connections,
            "databases_connected": len(self.databases_connected),
            "errors": self.errors,
        }


def _records(text: str) -> list[tuple[str, str]]:
    """Return (level, message) per log record, joining continuation lines.

    PostgreSQL writes a multi-line statement as one prefixed line followed by
    lines starting with a tab, so a statement logged as ``statement:`` and a
    newline has its SQL on the continuation lines.
    """
    records: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        record = _RECORD.match(line)
        if record is not None:
            records.append((record.group("level"), [record.group("message")]))
        elif records:
            records[-1][1].append(line)
    return [(level, "\n".join(lines)) for level, lines in records]


def parse_log(text: str) -> LogCounts:
    """Count statements, authorised connections and errors in ``text``."""
    counts = LogCounts()
    for level, message in _records(text):
        authorized = _AUTHORIZED.match(message)
        if authorized is not None:
            counts.connections += 1
            counts.databases_connected.add(authorized.group("db"))
            continue
        if level in {"ERROR", "FATAL"}:
            counts.errors += 1
            if len(counts.error_messages) < 5:
                counts.error_messages.append(message.splitlines()[0])
            continue
        statement = _STATEMENT.match(message) if level == "LOG" else None
        if statement is not None:
            counts.statements[classify_statement(statement.group("sql"))] += 1
    return counts


class LogSlice:
    """Byte offset in a server log, read back later as the lines written since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0

    def read(self) -> str:
        with self.path.open("rb") as handle:
            handle.seek(self.start)
            return handle.read().decode("utf-8", errors="replace")
