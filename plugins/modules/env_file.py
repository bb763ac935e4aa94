#!/usr/bin/python
"""Module busdk.database.env_file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: env_file
short_description: Read the Bus database settings from a .env file
version_added: 0.1.0
description:
  - Reads a C(.env) file on the managed host with python-dotenv, the parser
    that the C(bus-integration-database) and C(bus-integration-postgres)
    commands and the event worker use, so they all read the same values from
    the same file.
  - Returns only the keys C(BUS_DEPLOYMENT_ID), C(BUS_DATABASE_PROVIDER),
    C(BUS_POSTGRES_ADMIN_DSN_FILE), C(BUS_DATABASE_NAMES),
    C(BUS_DATABASE_SERVICE_ROLE) and C(BUS_DATABASE_DSN_OUTPUT_DIR). Other keys
    are never returned, because the file may hold settings and secrets of
    other programs.
  - As in the commands, C(${VAR}) references are not expanded, a key listed
    twice takes its last value, white space around a value is removed and an
    empty value counts as unset.
  - Fails when python-dotenv cannot parse a statement, for example because of
    an unterminated quote or text after a closing quote, and names the line
    where each such statement starts, but never its text. C(dotenv_values())
    skips such a statement with a warning, so a line meant to set one of the
    keys above would be lost without notice.
  - Warns when the group or others have any permission on the file, and fails
    when others may write it, because any local user could then choose the
    admin DSN file and the directory that receives the service passwords.
  - Never changes anything.
author:
  - Bus platform team (!UNKNOWN)
requirements:
  - python-dotenv 1.0 or later in the Python that runs the module.
options:
  path:
    description:
      - Path of the C(.env) file on the managed host. A relative path is
        resolved against the working directory of the module.
      - The file must be a UTF-8 text file. A byte order mark at its start is
        ignored.
    type: path
    required: true
  resolve_relative_paths:
    description:
      - Resolve the values of C(BUS_POSTGRES_ADMIN_DSN_FILE) and
        C(BUS_DATABASE_DSN_OUTPUT_DIR) to absolute, normalized paths.
      - A leading C(~) is expanded to the home directory of the user that runs
        the module, and a relative path is taken relative to the directory
        that contains O(path), as given and without following symbolic links.
      - With V(false), the values are returned as python-dotenv reads them.
    type: bool
    default: true
attributes:
  check_mode:
    description: Runs the same way in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Returns no diff because it never changes anything.
    support: none
  idempotent:
    description: Never changes anything.
    support: full
"""

EXAMPLES = r"""
- name: Read the Bus database settings
  busdk.database.env_file:
    path: /etc/bus/database.env
  register: bus_env

- name: Plan with the settings from the file
  busdk.database.plan:
    deployment_id: "{{ bus_env.settings.BUS_DEPLOYMENT_ID }}"
    admin_dsn_file: "{{ bus_env.settings.BUS_POSTGRES_ADMIN_DSN_FILE }}"
    dsn_output_dir: "{{ bus_env.settings.BUS_DATABASE_DSN_OUTPUT_DIR }}"
    databases: "{{ bus_env.settings.BUS_DATABASE_NAMES.split(',') | map('trim') | list }}"
    roles: ["{{ bus_env.settings.BUS_DATABASE_SERVICE_ROLE }}"]
"""

RETURN = r"""
settings:
  description:
    - The keys listed in the description that the file sets to a non-empty
      value, with white space around each value removed.
    - Path values are absolute when O(resolve_relative_paths) is true.
  returned: success
  type: dict
  sample:
    BUS_DEPLOYMENT_ID: example-dev
    BUS_POSTGRES_ADMIN_DSN_FILE: /etc/bus/local/postgres-admin-dsn
    BUS_DATABASE_NAMES: bus_auth,bus_events
    BUS_DATABASE_SERVICE_ROLE: bus_service
    BUS_DATABASE_DSN_OUTPUT_DIR: /etc/bus/local/dsn
env_file:
  description: Absolute path of the file.
  returned: always
  type: str
  sample: /etc/bus/database.env
mode:
  description: Permission bits of the file, in octal.
  returned: success
  type: str
  sample: "0600"
"""

import os
import stat
import traceback
from io import StringIO

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from dotenv.parser import parse_stream
except ImportError:
    DOTENV_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    DOTENV_IMPORT_ERROR = None

SETTING_KEYS = (
    "BUS_DEPLOYMENT_ID",
    "BUS_DATABASE_PROVIDER",
    "BUS_POSTGRES_ADMIN_DSN_FILE",
    "BUS_DATABASE_NAMES",
    "BUS_DATABASE_SERVICE_ROLE",
    "BUS_DATABASE_DSN_OUTPUT_DIR",
)
PATH_KEYS = ("BUS_POSTGRES_ADMIN_DSN_FILE", "BUS_DATABASE_DSN_OUTPUT_DIR")
BYTE_ORDER_MARK = "\ufeff"


class EnvFileError(Exception):
    """The file cannot be read or parsed."""


def read_text(path: str) -> str:
    """Return the file's text with newlines translated as python-dotenv reads it."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise EnvFileError(
            f"Env file {path} is not valid UTF-8: line {line} contains the byte "
            f"0x{data[error.start]:02x}. Save the file as UTF-8."
        ) from None
    # dotenv_values() opens the file in text mode, which turns \r\n and \r into
    # \n. python-dotenv 1.2.4 drops a byte order mark as well, but releases up
    # to 1.2.2 keep it as part of the first key, so it is dropped here.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith(BYTE_ORDER_MARK):
        text = text[len(BYTE_ORDER_MARK) :]
    return text


def statement_line(original_text: str, first_line: int) -> int:
    """Return the line of the first non-blank character of a parsed statement.

    python-dotenv counts a statement from the blank lines before it.
    """
    leading = original_text[: len(original_text) - len(original_text.lstrip())]
    return first_line + leading.count("\n")


def parse_settings(path: str, text: str) -> dict[str, str]:
    """Return the setting keys of ``text`` as dotenv_values(interpolate=False) does.

    Raises EnvFileError naming every line where a statement cannot be parsed.
    """
    values: dict[str, str | None] = {}
    bad_lines = []
    for binding in parse_stream(StringIO(text)):
        if binding.error:
            bad_lines.append(
                statement_line(binding.original.string, binding.original.line)
            )
        elif binding.key is not None:
            values[binding.key] = binding.value
    if bad_lines:
        plural = "s" if len(bad_lines) > 1 else ""
        raise EnvFileError(
            f"Invalid env file {path}: python-dotenv cannot parse the statement{plural} "
            f"starting on line{plural} {', '.join(str(line) for line in bad_lines)}. "
            "Look for an unterminated quote, text after a closing quote or a line "
            "without '=' after a quoted key."
        )
    settings = {}
    for key in SETTING_KEYS:
        value = values.get(key)
        if value is not None and value.strip():
            settings[key] = value.strip()
    return settings


def resolve_paths(settings: dict[str, str], path: str) -> dict[str, str]:
    """Return ``settings`` with the path keys made absolute against the file's directory."""
    base = os.path.dirname(path)
    resolved = dict(settings)
    for key in PATH_KEYS:
        if key in resolved:
            value = os.path.expanduser(resolved[key])
            resolved[key] = os.path.normpath(os.path.join(base, value))
    return resolved


def check_file_mode(module: AnsibleModule, path: str, mode: int) -> None:
    """Fail when others may write the file, and warn about any other group or other bit."""
    if mode & stat.S_IWOTH:
        raise EnvFileError(
            f"Env file {path} has mode {mode:04o}, so any local user can change "
            "which admin DSN file is used and where DSN files with passwords are "
            f"written. Run: chmod 600 {path}"
        )
    if mode & 0o077:
        module.warn(
            f"Env file {path} has mode {mode:04o}, but it should be 0600 because it "
            f"may hold secrets of other programs (run: chmod 600 {path})"
        )


def read_env_file(module: AnsibleModule, path: str) -> dict[str, object]:
    """Return the module result for the file at the absolute ``path``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise EnvFileError(f"Env file {path} not found") from None
    except OSError as error:
        raise EnvFileError(
            f"Failed to look up env file {path}: {error.strerror}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise EnvFileError(f"Env file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    check_file_mode(module, path, mode)
    try:
        text = read_text(path)
    except OSError as error:
        raise EnvFileError(
            f"Failed to read env file {path}: {error.strerror}"
        ) from None
    settings = parse_settings(path, text)
    if module.params["resolve_relative_paths"]:
        settings = resolve_paths(settings, path)
    return {"env_file": path, "mode": f"{mode:04o}", "settings": settings}


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "resolve_relative_paths": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    if DOTENV_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib("python-dotenv"), exception=DOTENV_IMPORT_ERROR
        )
    path = os.path.abspath(module.params["path"])
    try:
        result = read_env_file(module, path)
    except EnvFileError as error:
        # The key is not "path", because AnsibleModule would then add the
        # file's owner, group and size to the result.
        module.fail_json(msg=str(error), env_file=path)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
