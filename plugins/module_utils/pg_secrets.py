"""Service passwords and DSN files: generate, check against the server, write."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from .errors import DatabaseError, Forbidden, Unauthorized
from .pg_connect import connect, psycopg
from .redaction import MASK

try:
    from psycopg.conninfo import conninfo_to_dict
except ImportError:  # pragma: no cover - exercised by ansible-test's import test
    conninfo_to_dict = None  # type: ignore[assignment]

DSN_FILE_MODE = 0o600
MAX_DSN_FILE_BYTES = 64 * 1024
DSN_DIRECTORY_MODE = 0o700
# Connection parameters copied from the admin DSN into service DSN files.
COPIED_PARAMETERS = ("sslmode", "sslrootcert", "target_session_attrs")


def generate_password() -> str:
    """Return a new random password of 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def scram_verifier(connection: Any, role: str, password: str) -> str:
    """Return the SCRAM-SHA-256 verifier for ``password``, computed by libpq.

    The verifier, not the cleartext, is sent to the server, so the password
    never reaches the server or its statement log.
    """
    encrypted = connection.pgconn.encrypt_password(
        password.encode(), role.encode(), b"scram-sha-256"
    )
    return bytes(encrypted).decode("ascii")


def password_matches(verifier: str | None, role: str, password: str) -> bool:
    """Return True when ``password`` matches a stored SCRAM or MD5 verifier."""
    if not verifier:
        return False
    if verifier.startswith("SCRAM-SHA-256$"):
        try:
            iterations_salt, keys = verifier[len("SCRAM-SHA-256$") :].split("$", 1)
            iterations, salt = iterations_salt.split(":", 1)
            stored_key, server_key = keys.split(":", 1)
            salted = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), base64.b64decode(salt), int(iterations)
            )
        except ValueError:
            return False
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        expected_stored = base64.b64encode(hashlib.sha256(client_key).digest())
        expected_server = base64.b64encode(
            hmac.new(salted, b"Server Key", "sha256").digest()
        )
        return hmac.compare_digest(
            expected_stored, stored_key.encode()
        ) and hmac.compare_digest(expected_server, server_key.encode())
    if verifier.startswith("md5"):
        digest = hashlib.md5((password + role).encode(), usedforsecurity=False)
        return hmac.compare_digest("md5" + digest.hexdigest(), verifier)
    return False


def login_result(
    params: dict[str, Any], role: str, password: str, database: str, timeout: int
) -> str:
    """Try to log in as ``role``; return ``ok``, ``rejected`` or ``unknown``.

    Authentication runs before the database is opened, so "database does not
    exist" and "permission denied for database" mean the password was accepted.
    """
    attempt = dict(params)
    attempt.update(user=role, password=password)
    try:
        connection = connect(attempt, connect_timeout=timeout, dbname=database)
    except DatabaseError as error:
        text = " ".join(error.all_diagnostics()).lower()
        if isinstance(error, Forbidden):
            return "ok"
        if "database" in text and "does not exist" in text:
            return "ok"
        if isinstance(error, Unauthorized) and "no pg_hba.conf entry" not in text:
            return "rejected"
        return "unknown"
    connection.close()
    return "ok"


@dataclass
class DsnFile:
    """A service DSN file as found on disk.

    ``regular`` is False for anything but a regular file (a symlink, FIFO,
    device or directory), whose content is never read.
    """

    path: str
    exists: bool
    regular: bool = False
    is_directory: bool = False
    mode: int | None = None
    content: str | None = None
    user: str | None = None
    password: str | None = None
    database: str | None = None


def read_dsn_file(path: str) -> DsnFile:
    """Return what is on disk at ``path`` (content stays in memory only).

    Symlinks are not followed and FIFOs or devices are not read, so a planted
    special file can neither block the caller nor make it read without end.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return DsnFile(path=path, exists=False)
    except OSError:
        return DsnFile(path=path, exists=True)
    if not stat.S_ISREG(info.st_mode):
        return DsnFile(path, True, is_directory=stat.S_ISDIR(info.st_mode))

    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return DsnFile(path, True)
            raw = handle.read(MAX_DSN_FILE_BYTES + 1)
        content = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return DsnFile(path, True, regular=True, mode=stat.S_IMODE(info.st_mode))
    found = DsnFile(path, True, True, False, stat.S_IMODE(info.st_mode), content)
    if len(raw) > MAX_DSN_FILE_BYTES:
        return found
    try:
        params = conninfo_to_dict(content.strip())
    except (psycopg.ProgrammingError, TypeError):
        return found
    for attribute in ("user", "password"):
        value = params.get(attribute)
        setattr(found, attribute, str(value) if value is not None else None)
    database = params.get("dbname")
    found.database = str(database) if database is not None else None
    return found


def compose_dsn(
    role: str,
    password: str | None,
    database: str,
    host: str,
    port: int | str,
    query: dict[str, str],
) -> str:
    """Return a postgresql:// URL; ``password=None`` gives the masked form."""
    secret = MASK if password is None else quote(password, safe="")
    parameters = dict(query)
    if host.startswith("/"):
        parameters = {"host": host, **parameters}
        authority = ""
    else:
        authority = f"[{host}]" if ":" in host else host
    url = (
        f"postgresql://{quote(role, safe='')}:{secret}@{authority}:{port}"
        f"/{quote(database, safe='')}"
    )
    if parameters:
        url += "?" + urlencode(parameters, quote_via=quote)
    return url


def connection_endpoint(
    admin_params: dict[str, Any], host: str | None, port: int | None
) -> tuple[str, int | str, dict[str, str]]:
    """Return host, port and copied query parameters for service DSN files."""
    admin_host = str(admin_params.get("host") or admin_params.get("hostaddr") or "")
    # A multi-host admin DSN lists hosts and ports separated by commas; service
    # DSN files use the first one.
    chosen_host = host or admin_host.split(",", maxsplit=1)[0] or "localhost"
    admin_port = str(admin_params.get("port") or "5432")
    chosen_port = port or admin_port.split(",", maxsplit=1)[0]
    query = {
        key: str(admin_params[key])
        for key in COPIED_PARAMETERS
        if admin_params.get(key)
    }
    return chosen_host, chosen_port, query


def write_file_atomically(path: str, content: str) -> None:
    """Write ``content`` to ``path`` with mode 0600 through a rename."""
    directory = os.path.dirname(path) or "."
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".dsn-")
    try:
        os.fchmod(descriptor, DSN_FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
