"""Discovery and operator commands of both console scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bus_shim.cli import database_main, postgres_main
from busdk_database.models import EVENT_NAMES
from devtools.events_stack import clean_environment
from devtools.pgcluster import ClusterState, write_dsn_file

pytestmark = pytest.mark.timeout(120)

BIN = Path(sys.executable).parent
DATABASE = "bus-integration-database"
POSTGRES = "bus-integration-postgres"


def run(
    program: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / program), *args],
        cwd=cwd,
        env=env if env is not None else clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Result:
    """Exit status and output of one in-process command run."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def invoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run a command's main function in this process, like the console script.

    It is faster than a subprocess, and the discovery tests run the real scripts.
    """
    for key in list(os.environ):
        if key.startswith("BUS_"):
            monkeypatch.delenv(key)

    def call(program: str, *args: str, cwd: Path) -> Result:
        main = database_main if program == DATABASE else postgres_main
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        returncode = main(list(args))
        captured = capsys.readouterr()
        return Result(returncode, captured.out, captured.err)

    return call


def write_env(directory: Path, values: dict[str, str], mode: int = 0o600) -> Path:
    path = directory / ".env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def cluster(clusters: dict[str, ClusterState]) -> ClusterState:
    return clusters.get("18") or next(iter(clusters.values()))


@pytest.fixture
def project(cluster: ClusterState, tmp_path: Path, names: str) -> dict[str, Any]:
    """A directory with a 0600 .env and admin DSN file, as an operator has it."""
    write_dsn_file(tmp_path / "local" / "postgres-admin-dsn", cluster.dsn())
    values = {
        "BUS_DEPLOYMENT_ID": "example-dev",
        "BUS_DATABASE_PROVIDER": "postgres",
        "BUS_POSTGRES_ADMIN_DSN_FILE": "./local/postgres-admin-dsn",
        "BUS_DATABASE_NAMES": f"{names}_auth,{names}_events",
        "BUS_DATABASE_SERVICE_ROLE": f"{names}_svc",
        "BUS_DATABASE_DSN_OUTPUT_DIR": "./local/dsn",
    }
    write_env(tmp_path, values)
    return {
        "dir": tmp_path,
        "values": values,
        "databases": [f"{names}_auth", f"{names}_events"],
    }


def databases_present(cluster: ClusterState, names: list[str]) -> list[str]:
    with psycopg.connect(cluster.dsn(), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s) ORDER BY 1",
            [names],
        ).fetchall()
    return [row[0] for row in rows]


def test_database_events_text(tmp_path: Path) -> None:
    completed = run(DATABASE, "--events", cwd=tmp_path)

    assert completed.returncode == 0
    assert completed.stdout == "\n".join(EVENT_NAMES) + "\n"
    assert len(completed.stdout.splitlines()) == 8


def test_database_events_json(tmp_path: Path) -> None:
    completed = run(DATABASE, "--events", "--format", "json", cwd=tmp_path)

    document = json.loads(completed.stdout)
    assert completed.returncode == 0
    assert document["provider_neutral"] is True
    assert document["providers"] == ["postgres"]
    assert document["events"] == list(EVENT_NAMES)
    assert document["direct_bootstrap"] is True


@pytest.mark.parametrize("program", [DATABASE, POSTGRES])
def test_self_test_exact_output(program: str, tmp_path: Path) -> None:
    completed = run(program, "--self-test", cwd=tmp_path)

    assert completed.returncode == 0
    assert completed.stdout == f"OK {program} self-test\n"
    assert completed.stderr == ""


def test_postgres_events_text(tmp_path: Path) -> None:
    completed = run(POSTGRES, "--events", cwd=tmp_path)

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0
    assert lines[0] == "provider postgres"
    assert lines[1:] == list(EVENT_NAMES)
    assert "bus.database.plan.request" in lines


def test_postgres_events_json(tmp_path: Path) -> None:
    completed = run(POSTGRES, "--events", "--format", "json", cwd=tmp_path)

    document = json.loads(completed.stdout)
    assert document["providers"] == ["postgres"]
    assert document["provider_neutral"] is False
    assert document["events"] == list(EVENT_NAMES)


def test_postgres_dry_run_plan(project: dict[str, Any], cluster: ClusterState) -> None:
    completed = run(POSTGRES, "--dry-run", "plan", cwd=project["dir"])

    response = json.loads(completed.stdout)
    assert completed.returncode == 0, completed.stderr
    assert response["ok"] is True
    assert response["provider"] == "postgres"
    assert response["dry_run"] is True
    for database in project["databases"]:
        assert f"create-database:{database}" in response["actions"]
    assert databases_present(cluster, project["databases"]) == []
    assert not (project["dir"] / "local" / "dsn").exists()


def test_operator_apply_needs_confirm(
    invoke: Callable[..., Result], project: dict[str, Any], cluster: ClusterState
) -> None:
    directory, databases = project["dir"], project["databases"]

    unconfirmed = invoke(POSTGRES, "apply", cwd=directory)
    forced_dry = invoke(POSTGRES, "--dry-run", "apply", "--confirm", cwd=directory)
    assert json.loads(unconfirmed.stdout)["dry_run"] is True
    assert json.loads(forced_dry.stdout)["dry_run"] is True
    assert databases_present(cluster, databases) == []

    applied = invoke(POSTGRES, "apply", "--confirm", cwd=directory)
    again = invoke(POSTGRES, "apply", "--confirm", cwd=directory)

    assert applied.returncode == 0, applied.stdout
    assert json.loads(applied.stdout)["changed"] is True
    assert databases_present(cluster, databases) == sorted(databases)
    assert json.loads(again.stdout)["changed"] is False
    assert cluster.password not in applied.stdout + applied.stderr


@pytest.mark.parametrize("program", [DATABASE, POSTGRES])
def test_operator_status_verify_doctor(
    invoke: Callable[..., Result],
    program: str,
    project: dict[str, Any],
    cluster: ClusterState,
) -> None:
    for command in ("status", "verify", "doctor"):
        completed = invoke(program, command, cwd=project["dir"])

        document = json.loads(completed.stdout)
        assert completed.returncode == 0, completed.stdout
        assert document["ok"] is True
        assert document["provider"] == "postgres"
        assert cluster.password not in completed.stdout


def test_doctor_reports_loose_admin_file(
    invoke: Callable[..., Result], project: dict[str, Any], cluster: ClusterState
) -> None:
    (project["dir"] / "local" / "postgres-admin-dsn").chmod(0o640)

    completed = invoke(POSTGRES, "doctor", cwd=project["dir"])

    report = json.loads(completed.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert completed.returncode == 1
    assert checks["admin-dsn-file"]["ok"] is False
    assert "0640" in checks["admin-dsn-file"]["detail"]
    assert checks["server"]["ok"] is False
    assert report["versions"]["python"]
    assert cluster.password not in completed.stdout


def test_env_file_mode_warning(
    invoke: Callable[..., Result], project: dict[str, Any]
) -> None:
    (project["dir"] / ".env").chmod(0o644)

    completed = invoke(POSTGRES, "plan", cwd=project["dir"])

    assert completed.returncode == 0
    assert "has mode 0644" in completed.stderr
    assert "chmod 600" in completed.stderr


def test_env_file_option(
    invoke: Callable[..., Result], project: dict[str, Any], tmp_path_factory: Any
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env_file = project["dir"] / ".env"

    completed = invoke(
        POSTGRES, "--env-file", str(env_file), "plan", cwd=project["dir"]
    )
    missing = invoke(
        POSTGRES, "plan", "--env-file", str(elsewhere / "none"), cwd=elsewhere
    )

    assert completed.returncode == 0
    assert json.loads(completed.stdout)["ok"] is True
    assert missing.returncode == 2
    assert "not found" in missing.stderr


def test_operator_failure_exits_1(
    invoke: Callable[..., Result], project: dict[str, Any]
) -> None:
    (project["dir"] / "local" / "postgres-admin-dsn").chmod(0o644)

    completed = invoke(POSTGRES, "status", cwd=project["dir"])

    response = json.loads(completed.stdout)
    assert completed.returncode == 1
    assert response["ok"] is False
    assert response["error_class"] == "unauthorized"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BUS_DEPLOYMENT_ID": ""}, "Missing BUS_DEPLOYMENT_ID"),
        ({"BUS_DATABASE_PROVIDER": "mysql"}, "Invalid BUS_DATABASE_PROVIDER"),
    ],
)
def test_configuration_errors_exit_2(
    invoke: Callable[..., Result],
    project: dict[str, Any],
    change: dict[str, str],
    message: str,
) -> None:
    write_env(project["dir"], {**project["values"], **change})

    completed = invoke(POSTGRES, "plan", cwd=project["dir"])

    assert completed.returncode == 2
    assert message in completed.stderr
    assert completed.stdout == ""


def test_no_command_prints_usage(invoke: Callable[..., Result], tmp_path: Path) -> None:
    completed = invoke(POSTGRES, cwd=tmp_path)

    assert completed.returncode == 2
    assert "give a command" in completed.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--events", "plan"], "--events takes no command; run plan without it"),
        (["--self-test", "status"], "--self-test takes no command"),
        (["--events", "--self-test"], "either --events or --self-test"),
        (["--format", "json", "plan"], "--format applies only to --events"),
        (["--dry-run", "--events"], "--dry-run applies only to"),
    ],
)
def test_ignored_options_rejected(
    invoke: Callable[..., Result],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    with pytest.raises(SystemExit) as exited:
        invoke(DATABASE, *args, cwd=tmp_path)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_closed_stdout_no_traceback(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = subprocess.run(
            [str(BIN / DATABASE), "--events", "--format", "json"],
            cwd=tmp_path,
            env=clean_environment(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)

    assert completed.returncode == 1
    assert completed.stderr == ""


def test_env_file_bad_line_exits_2(
    invoke: Callable[..., Result], project: dict[str, Any]
) -> None:
    env_file = project["dir"] / ".env"
    lines = env_file.read_text().splitlines()
    lines.insert(2, 'BUS_DATABASE_SCHEMAS="public')
    env_file.write_text("\n".join(lines) + "\n")

    completed = invoke(POSTGRES, "plan", cwd=project["dir"])

    assert completed.returncode == 2
    assert "Invalid env file .env line 3:" in completed.stderr
    assert completed.stdout == ""


def test_env_file_directory_exits_2(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    completed = invoke(DATABASE, "serve", "--env-file", str(tmp_path), cwd=tmp_path)

    assert completed.returncode == 2
    assert f"Invalid env file {tmp_path}: it is a directory" in completed.stderr


def test_doctor_hides_events_url_credentials(
    invoke: Callable[..., Result], project: dict[str, Any]
) -> None:
    values = {
        **project["values"],
        "BUS_EVENTS_API_BASE_URL": "http://bus:S3cr3tPw@127.0.0.1:9/?token=T0ken",
        "BUS_EVENTS_TOKEN": "opaque",
    }
    write_env(project["dir"], values)

    completed = invoke(POSTGRES, "doctor", cwd=project["dir"])

    checks = {check["name"]: check for check in json.loads(completed.stdout)["checks"]}
    assert checks["events-api"]["ok"] is False
    assert "remove the user name and password" in checks["events-api"]["detail"]
    assert "S3cr3tPw" not in completed.stdout + completed.stderr
    assert "T0ken" not in completed.stdout + completed.stderr


def test_serve_hides_events_url_credentials(
    invoke: Callable[..., Result], project: dict[str, Any]
) -> None:
    values = {
        **project["values"],
        "BUS_EVENTS_API_BASE_URL": "http://bus:S3cr3tPw@127.0.0.1:9/?token=T0ken",
        "BUS_EVENTS_TOKEN": "opaque",
    }
    write_env(project["dir"], values)

    completed = invoke(DATABASE, "serve", cwd=project["dir"])

    assert completed.returncode == 2
    assert "Invalid BUS_EVENTS_API_BASE_URL 'http://127.0.0.1:9/'" in completed.stderr
    assert "S3cr3tPw" not in completed.stderr
    assert "T0ken" not in completed.stderr
