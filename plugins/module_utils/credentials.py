"""Locating and reading the admin DSN file named by a request or the settings."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import Forbidden, Unauthorized
from .models import SECRET_REFERENCE, Credentials, Settings
from .redaction import Redactor

ADMIN_DSN_ENVIRONMENT = "BUS_POSTGRES_ADMIN_DSN_FILE"
# A scheme separator or a key=value pair: a connection string given where a
# file path belongs.
CONNECTION_STRING = re.compile(r"://|:/[^/]|(^|\s)(password|host|user|dbname)\s*=")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# A connection string is short; a larger file is not a DSN file.
MAX_DSN_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class AdminDsn:
    """The admin connection string and the file it came from."""

    path: str
    dsn: str


def _is_within(path: Path, directories: list[str]) -> bool:
    for directory in directories:
        root = Path(directory).resolve()
        if path == root or root in path.parents:
            return True
    return False


def locate_admin_dsn_file(
    credentials: Credentials | None, settings: Settings
) -> tuple[str, bool]:
    """Return the admin DSN file path and whether the request supplied it.

    Raises Unauthorized when no source is configured and Forbidden when a
    request-supplied path lies outside the allowed credential directories.
    """
    if credentials is not None and credentials.admin_dsn_file is not None:
        path, from_request = credentials.admin_dsn_file, True
    elif credentials is not None and credentials.admin_dsn_secret is not None:
        match = SECRET_REFERENCE.match(credentials.admin_dsn_secret)
        if match is None:
            raise Unauthorized("Invalid credentials.admin_dsn_secret reference")
        path, from_request = os.path.join(settings.secrets_dir, match.group(1)), False
    elif settings.admin_dsn_file:
        path, from_request = settings.admin_dsn_file, False
    else:
        raise Unauthorized(
            "Missing admin DSN: give credentials.admin_dsn_file or "
            f"admin_dsn_secret, or set {ADMIN_DSN_ENVIRONMENT}"
        )

    if from_request and settings.allowed_credential_dirs is not None:
        resolved = Path(path).resolve()
        if not _is_within(resolved, settings.allowed_credential_dirs):
            raise Forbidden(
                f"Invalid credentials.admin_dsn_file {path!r}: it is outside the "
                "directories this worker accepts credential files from"
            )
        # Read the checked target, so a symlink swapped after the check cannot
        # redirect the read outside the allowed directories.
        return str(resolved), from_request
    return path, from_request


def read_admin_dsn(
    credentials: Credentials | None, settings: Settings, redactor: Redactor
) -> AdminDsn:
    """Read the admin DSN, enforcing a regular file with no group or other bits.

    Raises Unauthorized for a missing, unreadable, empty or too open file, and
    Forbidden for a path outside the allowed directories.
    """
    path = locate_admin_dsn_file(credentials, settings)[0]
    if CONNECTION_STRING.search(path):
        # The value is most likely the DSN itself: never echo it.
        raise Unauthorized(
            "Invalid admin DSN file setting: the value looks like a connection "
            "string, not a file path; write the connection string to a file with "
            "mode 0600 and give that file's path"
        )
    if CONTROL_CHARACTERS.search(path):
        raise Unauthorized(
            "Invalid admin DSN file path: it contains a control character"
        )
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Unauthorized(f"Admin DSN file {path} not found") from None
    except OSError as error:
        raise Unauthorized(
            f"Failed to read admin DSN file {path}: {error.strerror}"
        ) from None

    # The checks run on the opened descriptor, so the file cannot change
    # between the check and the read. The descriptor is closed on every path.
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise Unauthorized(f"Admin DSN file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise Unauthorized(
                f"Admin DSN file {path} has mode {mode:04o}; it must not be readable "
                f"by group or others (run: chmod 600 {path})"
            )
        raw = os.read(descriptor, MAX_DSN_FILE_BYTES + 1)
    except OSError as error:
        raise Unauthorized(
            f"Failed to read admin DSN file {path}: {error.strerror}"
        ) from None
    finally:
        os.close(descriptor)
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthorized(
            f"Failed to read admin DSN file {path}: not valid UTF-8 text"
        ) from None
    if len(content) > MAX_DSN_FILE_BYTES:
        raise Unauthorized(
            f"Admin DSN file {path} is larger than {MAX_DSN_FILE_BYTES} bytes"
        )

    dsn = content.strip()
    redactor.add(dsn)
    if not dsn:
        raise Unauthorized(f"Admin DSN file {path} is empty")
    if "\n" in dsn:
        raise Unauthorized(
            f"Admin DSN file {path} must contain exactly one connection string"
        )
    return AdminDsn(path=path, dsn=dsn)
