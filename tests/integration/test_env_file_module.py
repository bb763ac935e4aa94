"""busdk.database.env_file through real ansible-playbook runs.

The module must read a .env file exactly as the bus-integration-* commands do,
so every case is also compared with bus_shim.config.load_environment().
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bus_shim.config import load_environment
from tests.support.playbook import PlaybookRun, ansible_environment, run_playbook

pytestmark = pytest.mark.slow

SETTING_KEYS = (
    "BUS_DEPLOYMENT_ID",
    "BUS_DATABASE_PROVIDER",
    "BUS_POSTGRES_ADMIN_DSN_FILE",
    "BUS_DATABASE_NAMES",
    "BUS_DATABASE_SERVICE_ROLE",
    "BUS_DATABASE_DSN_OUTPUT_DIR",
)
OTHER_SECRET = "other-program-secret-7f3a"


@dataclass(frozen=True)
class ParseCase:
    """A .env file text and the settings the module must return for it."""

    text: str
    expected: dict[str, str]


PARSE_CASES = {
    "byte_order_mark": ParseCase(
        "\ufeffexport BUS_DEPLOYMENT_ID=dev\n", {"BUS_DEPLOYMENT_ID": "dev"}
    ),
    "comment_after_quote": ParseCase(
        "BUS_DATABASE_NAMES='a,b'#comment\n", {"BUS_DATABASE_NAMES": "a,b"}
    ),
    "escaped_double_quote": ParseCase(
        'BUS_DATABASE_SERVICE_ROLE="es\\"x"\n', {"BUS_DATABASE_SERVICE_ROLE": 'es"x'}
    ),
    "escaped_single_quote": ParseCase(
        "BUS_DATABASE_SERVICE_ROLE='it\\'s'\n", {"BUS_DATABASE_SERVICE_ROLE": "it's"}
    ),
    "tab_escape": ParseCase(
        'BUS_DATABASE_NAMES="a\\tb"\n', {"BUS_DATABASE_NAMES": "a\tb"}
    ),
    "multi_line_value": ParseCase(
        f'OTHER_KEY="-----BEGIN-----\nBUS_DEPLOYMENT_ID=inside\n{OTHER_SECRET}\n'
        '-----END-----"\nBUS_DATABASE_PROVIDER=postgres\n',
        {"BUS_DATABASE_PROVIDER": "postgres"},
    ),
    "crlf_line_ends": ParseCase(
        "BUS_DEPLOYMENT_ID=dev\r\nBUS_DATABASE_PROVIDER='postgres'\r\n",
        {"BUS_DEPLOYMENT_ID": "dev", "BUS_DATABASE_PROVIDER": "postgres"},
    ),
    "spaces_and_comments": ParseCase(
        "  BUS_DEPLOYMENT_ID = dev # a comment\nBUS_DATABASE_PROVIDER=#postgres\n",
        {"BUS_DEPLOYMENT_ID": "dev", "BUS_DATABASE_PROVIDER": "#postgres"},
    ),
    "no_interpolation": ParseCase(
        "OTHER=x\nBUS_DATABASE_NAMES=${OTHER},b\n", {"BUS_DATABASE_NAMES": "${OTHER},b"}
    ),
    "last_value_wins": ParseCase(
        "BUS_DEPLOYMENT_ID=one\nexport BUS_DEPLOYMENT_ID=two\n",
        {"BUS_DEPLOYMENT_ID": "two"},
    ),
    "empty_values_unset": ParseCase(
        "BUS_DEPLOYMENT_ID=\nBUS_DATABASE_PROVIDER='  '\n"
        'BUS_DATABASE_SERVICE_ROLE=" svc "\nBUS_DATABASE_NAMES\n',
        {"BUS_DATABASE_SERVICE_ROLE": "svc"},
    ),
    "quoted_key": ParseCase("'BUS_DEPLOYMENT_ID'=dev\n", {"BUS_DEPLOYMENT_ID": "dev"}),
    "non_ascii_values": ParseCase(
        "BUS_DATABASE_NAMES=käyttäjät,bus_ä\n",
        {"BUS_DATABASE_NAMES": "käyttäjät,bus_ä"},
    ),
    "other_keys_only": ParseCase(f"OTHER_TOKEN={OTHER_SECRET}\n", {}),
}

# Each text has statements that python-dotenv cannot parse, starting on the
# listed lines. The statement text contains OTHER_SECRET, which the error
# message must not show.
INVALID_CASES = {
    "unterminated_quote": (
        f'BUS_DEPLOYMENT_ID=dev\n\n\nOTHER_TOKEN="{OTHER_SECRET}\nBUS_DATABASE_PROVIDER=postgres\n',
        "starting on line 4.",
    ),
    "text_after_quote": (
        f'BUS_DEPLOYMENT_ID="dev" {OTHER_SECRET}\n',
        "starting on line 1.",
    ),
    "two_bad_statements": (
        f"BUS_DEPLOYMENT_ID=dev\n'OTHER {OTHER_SECRET}\nA=1\n\n  = {OTHER_SECRET}\n",
        "starting on lines 2, 5.",
    ),
}


def env_file_task(name: str, path: Path, **options: Any) -> dict[str, Any]:
    return {
        "name": f"Read {name}",
        "register": name,
        "busdk.database.env_file": {"path": str(path), **options},
    }


def write_env_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    path.chmod(mode)
    return path


def commands_settings(path: Path) -> dict[str, str]:
    """Return the setting keys as the bus-integration-* commands read them."""
    environment = load_environment(path, environ={})
    return {
        key: value
        for key in SETTING_KEYS
        if (value := environment.get(key)) is not None
    }


@pytest.fixture(scope="module")
def parse_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PlaybookRun]:
    """Run the module once on every PARSE_CASES file, without path resolution."""
    directory = tmp_path_factory.mktemp("env-parse")
    tasks = []
    for name, case in PARSE_CASES.items():
        path = write_env_file(directory / f"{name}.env", case.text)
        tasks.append(env_file_task(name, path, resolve_relative_paths=False))
    return directory, run_playbook(directory, tasks)


@pytest.mark.parametrize("name", sorted(PARSE_CASES))
def test_env_file_parses_like_commands(
    parse_run: tuple[Path, PlaybookRun], name: str
) -> None:
    directory, run = parse_run
    result = run.results[name]
    assert result.get("failed") is not True, result.get("msg")
    assert result["settings"] == PARSE_CASES[name].expected
    assert result["settings"] == commands_settings(directory / f"{name}.env")
    assert result["changed"] is False


def test_env_file_hides_other_keys(parse_run: tuple[Path, PlaybookRun]) -> None:
    _, run = parse_run
    assert OTHER_SECRET not in json.dumps(run.results)
    assert OTHER_SECRET not in run.stdout


def test_env_file_rejects_unparsable_lines(tmp_path: Path) -> None:
    tasks = [
        env_file_task(name, write_env_file(tmp_path / f"{name}.env", text))
        for name, (text, _) in INVALID_CASES.items()
    ]

    run = run_playbook(tmp_path, tasks)

    for name, (_, expected_lines) in INVALID_CASES.items():
        result = run.results[name]
        assert result["failed"] is True, name
        assert "python-dotenv cannot parse" in result["msg"], name
        assert expected_lines in result["msg"], result["msg"]
        assert "settings" not in result, name
    assert OTHER_SECRET not in json.dumps(run.results)
    assert OTHER_SECRET not in run.stdout


def test_env_file_checks_file_mode(tmp_path: Path) -> None:
    text = "BUS_DEPLOYMENT_ID=dev\n"
    modes = {
        "private": 0o600,
        "group_read": 0o640,
        "group_write": 0o620,
        "other_read": 0o604,
        "other_write": 0o602,
    }
    tasks = [
        env_file_task(name, write_env_file(tmp_path / f"{name}.env", text, mode))
        for name, mode in modes.items()
    ]

    run = run_playbook(tmp_path, tasks)

    private = run.results["private"]
    assert private["mode"] == "0600"
    assert not private.get("warnings")
    for name in ("group_read", "group_write", "other_read"):
        result = run.results[name]
        assert result["settings"] == {"BUS_DEPLOYMENT_ID": "dev"}, name
        assert result["mode"] == f"{modes[name]:04o}"
        assert len(result["warnings"]) == 1, name
        assert "chmod 600" in result["warnings"][0], name
    other_write = run.results["other_write"]
    assert other_write["failed"] is True
    assert "has mode 0602" in other_write["msg"]
    assert "chmod 600" in other_write["msg"]
    assert "settings" not in other_write


def test_env_file_resolves_relative_paths(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "etc" / "bus"
    text = (
        "BUS_POSTGRES_ADMIN_DSN_FILE=./local/postgres-admin-dsn\n"
        "BUS_DATABASE_DSN_OUTPUT_DIR=../shared//dsn/\n"
        "BUS_DATABASE_NAMES=./not-a-path\n"
    )
    relative = write_env_file(config / "relative.env", text)
    absolute = write_env_file(
        config / "absolute.env",
        "BUS_POSTGRES_ADMIN_DSN_FILE=/srv/admin-dsn\nBUS_DATABASE_DSN_OUTPUT_DIR=~/dsn\n",
    )
    tasks = [
        env_file_task("relative", relative),
        env_file_task("absolute", absolute),
        env_file_task("unresolved", relative, resolve_relative_paths=False),
        # A relative path option is resolved against the module's working
        # directory, which for the local connection is where ansible-playbook runs.
        env_file_task("relative_option", Path("etc/bus/relative.env")),
    ]

    run = run_playbook(tmp_path, tasks, environment={"HOME": str(home)})

    assert run.results["relative"]["settings"] == {
        "BUS_POSTGRES_ADMIN_DSN_FILE": str(config / "local" / "postgres-admin-dsn"),
        "BUS_DATABASE_DSN_OUTPUT_DIR": str(tmp_path / "etc" / "shared" / "dsn"),
        "BUS_DATABASE_NAMES": "./not-a-path",
    }
    assert run.results["absolute"]["settings"] == {
        "BUS_POSTGRES_ADMIN_DSN_FILE": "/srv/admin-dsn",
        "BUS_DATABASE_DSN_OUTPUT_DIR": str(home / "dsn"),
    }
    assert run.results["unresolved"]["settings"] == {
        "BUS_POSTGRES_ADMIN_DSN_FILE": "./local/postgres-admin-dsn",
        "BUS_DATABASE_DSN_OUTPUT_DIR": "../shared//dsn/",
        "BUS_DATABASE_NAMES": "./not-a-path",
    }
    relative_option = run.results["relative_option"]
    assert relative_option["env_file"] == str(relative)
    assert relative_option["settings"] == run.results["relative"]["settings"]


def test_env_file_rejects_unreadable_files(tmp_path: Path) -> None:
    invalid_utf8 = tmp_path / "latin1.env"
    invalid_utf8.write_bytes(
        b"BUS_DEPLOYMENT_ID=dev\nBUS_DATABASE_NAMES=k\xe4ytt\xe4j\xe4\n"
    )
    invalid_utf8.chmod(0o600)
    tasks = [
        env_file_task("missing", tmp_path / "missing.env"),
        env_file_task("directory", tmp_path),
        env_file_task("invalid_utf8", invalid_utf8),
    ]

    run = run_playbook(tmp_path, tasks)

    missing = run.results["missing"]
    assert missing["failed"] is True
    assert missing["msg"] == f"Env file {tmp_path / 'missing.env'} not found"
    directory = run.results["directory"]
    assert directory["failed"] is True
    assert directory["msg"] == f"Env file {tmp_path} is not a regular file"
    utf8 = run.results["invalid_utf8"]
    assert utf8["failed"] is True
    assert "is not valid UTF-8: line 2 contains the byte 0xe4" in utf8["msg"]


def test_env_file_check_mode(tmp_path: Path) -> None:
    path = write_env_file(tmp_path / "check.env", "BUS_DEPLOYMENT_ID=dev\n")

    run = run_playbook(tmp_path, [env_file_task("checked", path)], check=True)

    result = run.results["checked"]
    assert run.returncode == 0, run.stdout
    assert result["changed"] is False
    assert result["settings"] == {"BUS_DEPLOYMENT_ID": "dev"}


def test_env_file_doc_renders() -> None:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "busdk.database.env_file"],
        capture_output=True,
        text=True,
        env=ansible_environment(),
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "busdk.database.env_file" in completed.stdout
    assert "resolve_relative_paths" in completed.stdout
    assert "RETURN VALUES" in completed.stdout
