"""Worker and operator configuration from the environment and .env files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bus_shim.config import (
    ConfigError,
    Environment,
    database_settings,
    desired_request,
    load_environment,
    parse_seconds,
)
from bus_shim.events_local import mint_token
from bus_shim.worker_config import (
    DEFAULT_GROUP,
    describe_url,
    events_root_url,
    redact_url,
    token_scope_problem,
    worker_config,
)

BASE = {
    "BUS_EVENTS_API_BASE_URL": "http://127.0.0.1:8081",
    "BUS_EVENTS_TOKEN": "token-value",
    "BUS_DEPLOYMENT_ID": "example-dev",
}


def env(**values: str) -> Environment:
    return Environment(values=values)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081/", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081/api/v1/events", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081/api/v1/events/", "http://127.0.0.1:8081"),
        ("https://bus.example/events-gw", "https://bus.example/events-gw"),
        (
            "https://bus.example/events-gw/api/v1/events",
            "https://bus.example/events-gw",
        ),
    ],
)
def test_events_root_url_forms(value: str, expected: str) -> None:
    assert events_root_url(value) == expected


@pytest.mark.parametrize(
    "value",
    ["127.0.0.1:8081", "ftp://host/", "http:///path", "http://h/?a=1"],
)
def test_events_root_url_rejects(value: str) -> None:
    with pytest.raises(ConfigError, match="BUS_EVENTS_API_BASE_URL"):
        events_root_url(value)


def test_describe_url_drops_credentials() -> None:
    shown = describe_url("https://user:pw@bus.example:8443/prefix")

    assert shown == "https://bus.example:8443/prefix"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://user:S3cr3t@127.0.0.1:8081/x?token=T0ken", "http://127.0.0.1:8081/x"),
        ("user:S3cr3t@host:8081", "host:8081"),
        ("http://user:S3/cr3t@host/", "http://host/"),
        ("http://user:S3?cr3t@host/", "http://host/"),
        ("https://host/p#T0ken", "https://host/p"),
    ],
)
def test_redact_url_removes_secrets(value: str, expected: str) -> None:
    assert redact_url(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://user:S3cr3t@127.0.0.1:8081", "remove the user name and password"),
        ("http://user:S3cr3t@127.0.0.1:8081/?token=T0ken", "user name and password"),
        ("http://127.0.0.1:8081/?token=T0ken", "remove the query"),
        ("ftp://user:S3cr3t@host/", "user name and password"),
        ("http://host:S3cr3t/", "the host or port is invalid"),
    ],
)
def test_events_root_url_hides_credentials(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        events_root_url(value)

    assert "S3cr3t" not in str(raised.value)
    assert "T0ken" not in str(raised.value)


def test_worker_config_defaults(tmp_path: Path) -> None:
    admin = tmp_path / "local" / "admin-dsn"
    config = worker_config(
        env(
            **BASE,
            BUS_POSTGRES_ADMIN_DSN_FILE=str(admin),
            BUS_DATABASE_SERVICE_ROLE="svc",
        )
    )

    assert config.events_url == "http://127.0.0.1:8081"
    assert config.token.read() == "token-value"
    assert config.group == DEFAULT_GROUP
    assert config.retry.enabled
    assert config.retry.min_seconds == 1.0
    assert config.retry.max_seconds == 30.0
    settings = config.settings
    assert settings.served_deployments == ["example-dev"]
    assert settings.allow_real_apply is False
    assert settings.allowed_credential_dirs == [str(admin.parent), "/run/secrets"]
    assert settings.default_roles == ["svc"]


def test_worker_config_alternative_url_key() -> None:
    values = {k: v for k, v in BASE.items() if k != "BUS_EVENTS_API_BASE_URL"}
    values["BUS_EVENTS_API_URL"] = "http://127.0.0.1:9/x/api/v1/events"

    assert worker_config(env(**values)).events_url == "http://127.0.0.1:9/x"


def test_worker_config_served_list_and_apply() -> None:
    config = worker_config(
        env(
            **BASE,
            BUS_DATABASE_SERVED_DEPLOYMENTS="a, b,,c",
            BUS_DATABASE_ALLOW_APPLY="yes",
            BUS_DATABASE_CREDENTIAL_DIRS="/srv/creds,/run/other",
        )
    )

    assert config.settings.served_deployments == ["a", "b", "c"]
    assert config.settings.allow_real_apply is True
    assert config.settings.allowed_credential_dirs == ["/srv/creds", "/run/other"]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("BUS_EVENTS_API_BASE_URL", "Missing BUS_EVENTS_API_BASE_URL"),
        ("BUS_EVENTS_TOKEN", "Missing Events API token"),
        ("BUS_DEPLOYMENT_ID", "Missing BUS_DEPLOYMENT_ID"),
    ],
)
def test_worker_config_missing(missing: str, message: str) -> None:
    values = {k: v for k, v in BASE.items() if k != missing}

    with pytest.raises(ConfigError, match=message):
        worker_config(env(**values))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("BUS_DATABASE_ALLOW_APPLY", "maybe", "use true or false"),
        ("BUS_EVENTS_LISTENER_RETRY_MIN", "soon", "number of seconds"),
        ("BUS_EVENTS_LISTENER_RETRY_MIN", "0", "greater than zero"),
        ("BUS_EVENTS_CONSUMER_ID", "has space", "letters, digits"),
        ("BUS_SHIM_MAX_LINE_BYTES", "12", "minimum is 1024"),
        ("BUS_SHIM_MAX_RESPONSE_BYTES", "1000", "minimum is 16384"),
        ("BUS_SHIM_DEDUP_WINDOW", "forever", "number of seconds"),
        (
            "BUS_DATABASE_DSN_PORT",
            "70000",
            "^Invalid BUS_DATABASE_DSN_PORT 70000: .*65535$",
        ),
        (
            "BUS_DATABASE_SERVICE_ROLE",
            "pg_svc",
            "^Invalid BUS_DATABASE_SERVICE_ROLE 'pg_svc': .*reserved prefix",
        ),
        ("BUS_DATABASE_DSN_HOST", "bad host!", "^Invalid BUS_DATABASE_DSN_HOST"),
    ],
)
def test_worker_config_invalid(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        worker_config(env(**BASE, **{key: value}))

    assert "token-value" not in str(raised.value)
    assert "dsn_port" not in str(raised.value)
    assert "default_roles" not in str(raised.value)
    assert "validation error" not in str(raised.value)


def test_worker_config_limits() -> None:
    config = worker_config(
        env(
            **BASE,
            BUS_SHIM_DEDUP_WINDOW="2m",
            BUS_SHIM_MAX_RESPONSE_BYTES="65536",
        )
    )

    assert config.dedup_window_seconds == 120.0
    assert config.max_response_bytes == 65536
    assert worker_config(env(**BASE)).dedup_window_seconds == 600.0


SECRET = "a-test-secret-that-is-long-enough-for-hs256"


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("opaque-token", None),
        (mint_token(SECRET, "events:send events:listen"), None),
        (mint_token(SECRET, "events:write events:read"), None),
        (mint_token(SECRET, "database:admin"), None),
        (mint_token(SECRET, "events:listen database:read"), "events:listen"),
        (mint_token(SECRET, ""), "(none)"),
    ],
)
def test_token_scope_problem(token: str, problem: str | None) -> None:
    found = token_scope_problem(token)

    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
        assert "events:send" in found


def test_listen_only_token_rejected(tmp_path: Path) -> None:
    listen_only = mint_token(SECRET, ["events:listen", "database:read"])
    token_file = tmp_path / "token"
    token_file.write_text(listen_only)
    token_file.chmod(0o600)
    from_file = {k: v for k, v in BASE.items() if k != "BUS_EVENTS_TOKEN"}
    from_file["BUS_EVENTS_TOKEN_FILE"] = str(token_file)

    with pytest.raises(ConfigError, match=r"^Invalid BUS_EVENTS_TOKEN: ") as raised:
        worker_config(env(**{**BASE, "BUS_EVENTS_TOKEN": listen_only}))
    with pytest.raises(ConfigError, match=r"^Invalid BUS_EVENTS_TOKEN_FILE: "):
        worker_config(env(**from_file))

    assert "needs one of database:admin, events:send" in str(raised.value)
    assert listen_only not in str(raised.value)


def test_retry_max_below_min() -> None:
    values = {
        **BASE,
        "BUS_EVENTS_LISTENER_RETRY_MIN": "5",
        "BUS_EVENTS_LISTENER_RETRY_MAX": "2",
    }

    with pytest.raises(ConfigError, match="below BUS_EVENTS_LISTENER_RETRY_MIN"):
        worker_config(env(**values))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("0.25", 0.25), ("500ms", 0.5), ("3s", 3.0), ("1m", 60.0)],
)
def test_parse_seconds_units(value: str, seconds: float) -> None:
    assert parse_seconds(env(X=value), "X", 9.0) == seconds


def test_token_file_read_on_each_use(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    token_file.chmod(0o600)
    values = {k: v for k, v in BASE.items() if k != "BUS_EVENTS_TOKEN"}
    config = worker_config(env(**values, BUS_EVENTS_TOKEN_FILE=str(token_file)))

    assert config.token.read() == "first"
    token_file.write_text("second\n")
    assert config.token.read() == "second"


def test_token_file_missing(tmp_path: Path) -> None:
    values = {k: v for k, v in BASE.items() if k != "BUS_EVENTS_TOKEN"}

    with pytest.raises(ConfigError, match="BUS_EVENTS_TOKEN_FILE"):
        worker_config(env(**values, BUS_EVENTS_TOKEN_FILE=str(tmp_path / "none")))


def test_load_environment_file_and_precedence(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text(
        "BUS_DEPLOYMENT_ID=from-file\nexport BUS_DATABASE_NAMES=a,b\n"
        "BUS_DATABASE_SERVICE_ROLE=svc\n"
    )
    env_file.chmod(0o600)

    loaded = load_environment(env_file, {"BUS_DEPLOYMENT_ID": "from-env"})

    assert loaded.get("BUS_DEPLOYMENT_ID") == "from-env"
    assert loaded.get("BUS_DATABASE_NAMES") == "a,b"
    assert loaded.warnings == ()


def test_load_environment_warns_on_loose_mode(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BUS_DEPLOYMENT_ID=x\n")
    env_file.chmod(0o644)

    loaded = load_environment(env_file, {})

    assert len(loaded.warnings) == 1
    assert "mode 0644" in loaded.warnings[0]
    assert "chmod 600" in loaded.warnings[0]


def test_load_environment_default_file_optional(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    loaded = load_environment(None, {"A": "1"})

    assert loaded.env_file is None
    assert loaded.get("A") == "1"


def test_load_environment_named_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_environment(tmp_path / "absent.env", {})


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("BUS_DEPLOYMENT_ID=a\nthis is not valid\nBUS_DATABASE_NAMES=b\n", 2),
        ("BUS_DEPLOYMENT_ID=a\n\n\n  not valid either\n", 4),
        ('BUS_DEPLOYMENT_ID=a\nBUS_EVENTS_TOKEN="S3cr3t\n', 2),
    ],
)
def test_load_environment_bad_line(tmp_path: Path, text: str, line: int) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text(text)
    env_file.chmod(0o600)

    with pytest.raises(ConfigError) as raised:
        load_environment(env_file, {})

    message = str(raised.value)
    assert f"Invalid env file {env_file} line {line}:" in message
    assert "S3cr3t" not in message


@pytest.mark.parametrize("explicit", [True, False])
def test_load_environment_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, explicit: bool
) -> None:
    (tmp_path / ".env").mkdir()
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError, match=r"Invalid env file \.env: it is a directory"):
        load_environment(".env" if explicit else None, {})


def test_operator_settings_without_policy() -> None:
    settings = database_settings(
        env(BUS_POSTGRES_ADMIN_DSN_FILE="./a"), for_events=False
    )

    assert settings.admin_dsn_file == "./a"
    assert settings.allowed_credential_dirs is None
    assert settings.served_deployments is None
    assert settings.allow_real_apply is True


def test_worker_settings_absolute_admin_file() -> None:
    settings = database_settings(
        env(BUS_POSTGRES_ADMIN_DSN_FILE="./local/a", BUS_DEPLOYMENT_ID="d"),
        for_events=True,
    )

    assert settings.admin_dsn_file == os.path.join(os.getcwd(), "local", "a")


def test_desired_request_plan_and_verify() -> None:
    values = env(
        BUS_DEPLOYMENT_ID="example-dev",
        BUS_DATABASE_NAMES="bus_auth, bus_events",
        BUS_DATABASE_SERVICE_ROLE="bus_service",
    )

    plan = desired_request(values, "apply", dry_run=False, confirm=True)
    verify = desired_request(values, "verify", checks=["connectivity"])

    assert plan == {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "databases": ["bus_auth", "bus_events"],
        "roles": ["bus_service"],
        "dry_run": False,
        "confirm": True,
    }
    assert verify == {
        "deployment_id": "example-dev",
        "provider": "postgres",
        "checks": ["connectivity"],
    }


def test_desired_request_needs_deployment() -> None:
    with pytest.raises(ConfigError, match="Missing BUS_DEPLOYMENT_ID"):
        desired_request(env(), "plan")
