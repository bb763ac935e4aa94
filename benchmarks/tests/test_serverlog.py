"""Parsing of the benchmark cluster's server log."""

from benchmarks.serverlog import LogSlice, classify_statement, parse_log


def log_line(pid, database, message):
    """Return one server log line in the benchmark cluster's prefix format."""
    return f"2026-12-04 17:12:50.621 UTC [{pid}] db={database} user=postgres: {message}"


SAMPLE_LOG = "\n".join(
    [
        log_line(8477, "[unknown]", "LOG:  connection received: host=127.0.0.1"),
        log_line(
            8477, "postgres", 'LOG:  connection authenticated: identity="postgres"'
        ),
        log_line(
            8477,
            "postgres",
            "LOG:  connection authorized: user=postgres database=postgres "
            "application_name=busdk.database",
        ),
        # A multi-line statement starts with "statement: " and a line break.
        log_line(8477, "postgres", "LOG:  statement: "),
        "\tSELECT current_user",
        "\t  FROM pg_roles",
        log_line(
            8477,
            "postgres",
            "LOG:  execute <unnamed>: SELECT rolname FROM pg_authid "
            "WHERE rolname = ANY($1)",
        ),
        log_line(8477, "postgres", "DETAIL:  Parameters: $1 = '{bench_service}'"),
        log_line(8477, "postgres", "LOG:  statement: BEGIN"),
        log_line(
            8477, "postgres", 'LOG:  execute _pg3_0: CREATE DATABASE "bench_db_001"'
        ),
        log_line(8477, "postgres", 'ERROR:  database "bench_db_001" already exists'),
        log_line(8477, "postgres", 'STATEMENT:  CREATE DATABASE "bench_db_001"'),
        log_line(
            8478,
            "bench_db_001",
            "LOG:  connection authorized: user=postgres database=bench_db_001",
        ),
        log_line(8478, "bench_db_001", "LOG:  statement: DO $$ BEGIN END $$"),
        log_line(
            8479, "bench_db_002", 'FATAL:  database "bench_db_002" does not exist'
        ),
    ]
)


def test_parse_log_counts_statement_kinds():
    counts = parse_log(SAMPLE_LOG)
    assert counts.statements["read"] == 2
    assert counts.statements["session"] == 1
    assert counts.statements["write"] == 1
    assert counts.statements["other"] == 1
    assert counts.total_statements == 5


def test_parse_log_counts_connections():
    counts = parse_log(SAMPLE_LOG)
    assert counts.connections == 2
    assert counts.databases_connected == {"postgres", "bench_db_001"}


def test_parse_log_counts_errors():
    counts = parse_log(SAMPLE_LOG)
    assert counts.errors == 2
    assert counts.error_messages[0] == 'database "bench_db_001" already exists'


def test_parse_log_empty_text():
    counts = parse_log("")
    assert counts.total_statements == 0
    assert counts.connections == 0


def test_classify_statement_cases():
    cases = {
        "SELECT 1": "read",
        "  with x as (select 1) select * from x": "read",
        "SHOW server_version": "read",
        "-- comment\nSELECT 1": "read",
        "/* note */ GRANT CONNECT ON DATABASE a TO b": "write",
        "REVOKE ALL ON DATABASE a FROM PUBLIC": "write",
        "create schema app": "write",
        "SET datestyle TO iso": "session",
        "COMMIT": "session",
        "DO $$ BEGIN END $$": "other",
        "": "other",
    }
    for sql, expected in cases.items():
        assert classify_statement(sql) == expected, sql


def test_log_slice_reads_only_new_bytes(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("old line\n")
    log_slice = LogSlice(log)
    with log.open("a") as handle:
        handle.write("new line\n")
    assert log_slice.read() == "new line\n"


def test_log_slice_missing_file_starts_at_zero(tmp_path):
    log = tmp_path / "server.log"
    log_slice = LogSlice(log)
    log.write_text("first\n")
    assert log_slice.read() == "first\n"
