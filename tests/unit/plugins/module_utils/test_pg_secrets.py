"""Password verifier checks and DSN composition."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import psycopg

from busdk_database.pg_secrets import (
    compose_dsn,
    connection_endpoint,
    password_matches,
    write_file_atomically,
)


def _scram(
    password: str, salt: bytes = b"0123456789abcdef", iterations: int = 4096
) -> str:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    server = base64.b64encode(
        hmac.new(salted, b"Server Key", "sha256").digest()
    ).decode()
    encoded_salt = base64.b64encode(salt).decode()
    return f"SCRAM-SHA-256${iterations}:{encoded_salt}${stored}:{server}"


def test_scram_verifier_matches() -> None:
    verifier = _scram("right")
    assert password_matches(verifier, "role", "right") is True
    assert password_matches(verifier, "role", "wrong") is False


def test_md5_and_missing_verifiers() -> None:
    md5 = "md5" + hashlib.md5(b"pwrole").hexdigest()
    assert password_matches(md5, "role", "pw") is True
    assert password_matches(md5, "role", "other") is False
    assert password_matches(None, "role", "pw") is False
    assert password_matches("SCRAM-SHA-256$garbage", "role", "pw") is False


def test_dsn_password_url_encoded() -> None:
    url = compose_dsn("svc", "p@ss:/w?rd%", "Bus-Db.x", "127.0.0.1", 5432, {})
    params = psycopg.conninfo.conninfo_to_dict(url)
    assert params["password"] == "p@ss:/w?rd%"
    assert params["dbname"] == "Bus-Db.x"
    assert params["host"] == "127.0.0.1"


def test_dsn_masked_form_and_socket_host() -> None:
    url = compose_dsn(
        "svc", None, "db", "/var/run/postgresql", 5433, {"sslmode": "require"}
    )
    assert ":********@" in url
    params = psycopg.conninfo.conninfo_to_dict(url.replace("********", "x"))
    assert params["host"] == "/var/run/postgresql"
    assert params["sslmode"] == "require"


def test_endpoint_from_admin_with_override() -> None:
    admin = {"host": "10.0.0.5", "port": "6432", "sslmode": "verify-full", "user": "a"}
    assert connection_endpoint(admin, None, None) == (
        "10.0.0.5",
        "6432",
        {"sslmode": "verify-full"},
    )
    assert connection_endpoint(admin, "db.internal", 5432)[:2] == ("db.internal", 5432)


def test_atomic_write_mode(tmp_path) -> None:
    target = tmp_path / "x.dsn"
    target.write_text("old")
    target.chmod(0o644)
    write_file_atomically(str(target), "new\n")
    assert target.read_text() == "new\n"
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["x.dsn"]
