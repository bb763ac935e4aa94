"""The event worker end to end: bus-events-local, a worker subprocess, PostgreSQL.

One worker with real applies disabled serves the whole module. Each test uses
its own correlation ids and database names, and checks the server with its own
queries.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bus_shim.events_local import LocalEventsServer, run_local_events_server
from bus_shim.events_local.client import LocalEventsClient
from devtools.events_probe import EventsProbe
from devtools.events_stack import WorkerProcess, clean_environment, start_worker
from devtools.pgcluster import ClusterState, write_dsn_file

pytestmark = pytest.mark.timeout(120)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCOPES = "events:send events:listen database:admin database:read"
DEPLOYMENT = "example-dev"
SECRET_MARKER = "S3cretMarkerValue"
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass
class Setup:
    """Everything the tests of this module share."""

    events: LocalEventsServer
    client: LocalEventsClient
    probe: EventsProbe
    token: str
    worker: WorkerProcess
    cluster: ClusterState
    creds: Path
    workdir: Path
    role: str

    def publish(self, operation: str, payload: dict[str, Any], **fields: Any) -> str:
        correlation_id = fields.pop("correlationId", f"{operation}-{uuid.uuid4()}")
        response = self.client.publish(
            f"bus.database.{operation}.request",
            correlationId=correlation_id,
            payload=payload,
            **fields,
        )
        assert response.status_code == 202, response.text
        return correlation_id

    def response(self, operation: str, correlation_id: str) -> dict[str, Any]:
        envelope = self.probe.wait_for_response(operation, correlation_id)
        assert envelope["correlationId"] == correlation_id
        payload: dict[str, Any] = envelope["payload"]
        assert payload["correlation_id"] == correlation_id
        return payload

    def request(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.response(operation, self.publish(operation, payload))

    def query(self, statement: str, params: Any = None) -> list[Any]:
        with psycopg.connect(self.cluster.dsn(), autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def database_exists(self, name: str) -> bool:
        rows = self.query("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return bool(rows)


def base_environment(base_url: str, token: str, workdir: Path) -> dict[str, str]:
    """Return a worker environment with short retries and no inherited BUS_*."""
    environment = clean_environment()
    environment.update(
        {
            "BUS_EVENTS_API_BASE_URL": base_url,
            "BUS_EVENTS_TOKEN": token,
            "BUS_EVENTS_LISTENER_RETRY_MIN": "0.05",
            "BUS_EVENTS_LISTENER_RETRY_MAX": "0.5",
            "BUS_SHIM_STATE_DIR": str(workdir / "state"),
        }
    )
    return environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def setup(
    clusters: dict[str, ClusterState], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    cluster = clusters.get("18") or next(iter(clusters.values()))
    workdir = tmp_path_factory.mktemp("shim-worker")
    creds = workdir / "creds"
    write_dsn_file(creds / "admin-dsn", cluster.dsn())
    role = f"shim_w{os.getpid() % 10000}"

    with run_local_events_server(max_body_bytes=MAX_BODY_BYTES) as events:
        token = events.token(SCOPES, sub="bus-shim")
        environment = base_environment(events.base_url, token, workdir)
        environment.update(
            {
                "BUS_DEPLOYMENT_ID": DEPLOYMENT,
                "BUS_POSTGRES_ADMIN_DSN_FILE": str(creds / "admin-dsn"),
                "BUS_DATABASE_SERVICE_ROLE": role,
                "BUS_DATABASE_DSN_OUTPUT_DIR": str(workdir / "dsn"),
                "BUS_EVENTS_CONSUMER_ID": "worker-a",
            }
        )
        worker = start_worker(environment, workdir / "worker.log", cwd=workdir)
        probe = EventsProbe(events.base_url, token)
        try:
            probe.wait_for_worker("worker-a", worker.process)
            with LocalEventsClient(events.base_url, token, timeout=30.0) as client:
                yield Setup(
                    events, client, probe, token, worker, cluster, creds, workdir, role
                )
        finally:
            probe.close()
            status = worker.stop()
    assert status == 0, worker.log()


def base_payload(**fields: Any) -> dict[str, Any]:
    return {"deployment_id": DEPLOYMENT, "provider": "postgres", **fields}


def test_plan_request_answered(setup: Setup, names: str) -> None:
    database = f"{names}_db"

    response = setup.request("plan", base_payload(databases=[database]))

    assert response["ok"] is True
    assert response["provider"] == "postgres"
    assert response["deployment_id"] == DEPLOYMENT
    assert response["dry_run"] is True
    assert response["diagnostics"]
    assert "compute-database-plan" in response["actions"]
    assert f"create-database:{database}" in response["actions"]
    assert not setup.database_exists(database)


def test_reused_plan_correlation_runs_again(setup: Setup, names: str) -> None:
    database = f"{names}_db"
    payload = base_payload(databases=[database])
    correlation_id = setup.publish("plan", payload)
    first = setup.response("plan", correlation_id)
    setup.query(f'CREATE DATABASE "{database}"')

    setup.publish("plan", payload, correlationId=correlation_id)
    deadline = time.monotonic() + 15
    while len(answers := setup.probe.read_responses("plan", correlation_id)) < 2:
        assert time.monotonic() < deadline, "no second plan response"
        time.sleep(0.05)

    second = answers[1]["payload"]
    assert f"create-database:{database}" in first["actions"]
    assert f"create-database:{database}" not in second["actions"]
    assert second["ok"] is True
    log = setup.worker.log()
    assert log.count(f"correlation_id={correlation_id} outcome=ok") == 2


def test_response_has_both_spellings(setup: Setup, names: str) -> None:
    correlation_id = setup.publish("plan", base_payload(databases=[f"{names}_db"]))
    setup.response("plan", correlation_id)

    with setup.client.stream(
        "bus.database.plan.response", replay="true", follow="false"
    ) as stream:
        lines = [line for line in stream.remaining_lines() if correlation_id in line]

    assert len(lines) == 1
    assert f'"correlationId":"{correlation_id}"' in lines[0]
    assert f'"correlation_id":"{correlation_id}"' in lines[0]


def test_status_with_payload_correlation_only(setup: Setup) -> None:
    correlation_id = f"status-{uuid.uuid4()}"
    response = setup.client.publish(
        "bus.database.status.request",
        payload=base_payload(correlation_id=correlation_id),
    )
    assert response.status_code == 202

    status = setup.response("status", correlation_id)

    assert status["ok"] is True
    assert status["server"]["version"]
    assert status["actions"] == ["discover-provider", "read-database-status"]


def test_verify_request_answered(setup: Setup) -> None:
    response = setup.request(
        "verify", base_payload(checks=["connectivity", "listener-policy"])
    )

    assert response["ok"] is True
    assert [check["name"] for check in response["checks"]] == [
        "connectivity",
        "listener-policy",
    ]
    assert all(check["ok"] for check in response["checks"])


def test_apply_dry_run_changes_nothing(setup: Setup, names: str) -> None:
    database = f"{names}_db"

    response = setup.request("apply", base_payload(databases=[database]))

    assert response["ok"] is True
    assert response["dry_run"] is True
    assert response["changed"] is False
    assert "apply-database-plan" not in response["actions"]
    assert not setup.database_exists(database)


def test_real_apply_forbidden_when_disabled(setup: Setup, names: str) -> None:
    database = f"{names}_db"
    payload = base_payload(databases=[database], dry_run=False, confirm=True)

    response = setup.request("apply", payload)

    assert response["ok"] is False
    assert response["error_class"] == "forbidden"
    assert "real applies are disabled" in response["diagnostics"][0]
    assert not setup.database_exists(database)


def test_deployment_not_served_forbidden(setup: Setup, names: str) -> None:
    payload = base_payload(databases=[f"{names}_db"])
    payload["deployment_id"] = "someone-else"

    response = setup.request("plan", payload)

    assert response["ok"] is False
    assert response["error_class"] == "forbidden"
    assert "someone-else" in response["diagnostics"][0]


@pytest.mark.parametrize("form", ["direct", "symlink", "dotdot"])
def test_credential_path_outside_forbidden(setup: Setup, form: str) -> None:
    outside = setup.workdir / "outside" / f"dsn-{form}"
    write_dsn_file(outside, f"postgresql://leak:{SECRET_MARKER}@127.0.0.1:1/postgres")
    if form == "direct":
        path = str(outside)
    elif form == "symlink":
        link = setup.creds / f"link-{form}"
        link.symlink_to(outside)
        path = str(link)
    else:
        path = str(setup.creds / ".." / "outside" / outside.name)

    response = setup.request(
        "status", base_payload(credentials={"admin_dsn_file": path})
    )

    assert response["ok"] is False
    assert response["error_class"] == "forbidden"
    assert path in response["diagnostics"][0]
    assert SECRET_MARKER not in json.dumps(response)
    assert SECRET_MARKER not in setup.worker.log()


def test_loose_admin_file_unauthorized(setup: Setup) -> None:
    loose = setup.creds / "loose-dsn"
    write_dsn_file(loose, setup.cluster.dsn())
    loose.chmod(0o644)

    response = setup.request(
        "verify",
        base_payload(
            checks=["connectivity"], credentials={"admin_dsn_file": str(loose)}
        ),
    )

    assert response["ok"] is False
    assert response["error_class"] == "unauthorized"
    assert "0644" in response["diagnostics"][0]
    assert str(loose) in response["diagnostics"][0]
    assert setup.cluster.password not in json.dumps(response)


def test_closed_port_unavailable(setup: Setup) -> None:
    closed = setup.creds / "closed-port-dsn"
    write_dsn_file(
        closed, f"postgresql://u:{SECRET_MARKER}@127.0.0.1:{free_port()}/postgres"
    )

    response = setup.request(
        "status", base_payload(credentials={"admin_dsn_file": str(closed)})
    )

    assert response["ok"] is False
    assert response["error_class"] == "unavailable"
    assert SECRET_MARKER not in json.dumps(response)


def test_listener_policy_verify_failed(setup: Setup) -> None:
    payload = base_payload(
        checks=["listener-policy"],
        listener_policy={"allowed_addresses": ["10.0.0.0/8"]},
    )

    response = setup.request("verify", payload)

    assert response["ok"] is False
    assert response["error_class"] == "verify_failed"
    assert response["checks"][0]["ok"] is False


def test_database_owned_elsewhere_conflict(setup: Setup, names: str) -> None:
    other, database = f"{names}_other", f"{names}_owned"
    setup.query(f'CREATE ROLE "{other}"')
    setup.query(f'CREATE DATABASE "{database}" OWNER "{other}"')

    response = setup.request("plan", base_payload(databases=[database]))

    assert response["ok"] is False
    assert response["error_class"] == "conflict"
    assert other in response["diagnostics"][0]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"confim": True}, "confim"),
        ({"dry_run": "false"}, "dry_run"),
        ({"provider": "oracle"}, "oracle"),
    ],
)
def test_invalid_payload_bad_request(
    setup: Setup, names: str, extra: dict[str, Any], expected: str
) -> None:
    payload = {**base_payload(databases=[f"{names}_db"]), **extra}

    response = setup.request("plan", payload)

    assert response["ok"] is False
    assert response["error_class"] == "bad_request"
    assert expected in " ".join(response["diagnostics"])


def test_request_without_correlation_skipped(setup: Setup) -> None:
    published = setup.client.publish(
        "bus.database.status.request", payload=base_payload()
    )
    event_id = published.json()["id"]

    log = setup.worker.wait_for_log(f"event_id={event_id}")

    line = next(line for line in log.splitlines() if f"event_id={event_id}" in line)
    assert "outcome=skipped" in line
    assert setup.request("status", base_payload())["ok"] is True


def test_oversize_event_rejected(setup: Setup) -> None:
    payload = base_payload(databases=["big"], padding="x" * (10 * 1024 * 1024))
    correlation_id = setup.publish("plan", payload)

    response = setup.response("plan", correlation_id)

    assert response["error_class"] == "bad_request"
    assert "the maximum is 1048576 bytes" in response["diagnostics"][0]
    assert f"correlation_id={correlation_id} outcome=bad_request" in setup.worker.log()
    assert setup.worker.process.poll() is None
    assert setup.request("status", base_payload())["ok"] is True


def test_dropped_streams_reconnect(setup: Setup, names: str) -> None:
    closed = setup.client.drop_streams()
    assert closed >= 4

    setup.probe.wait_for_worker("worker-a")
    response = setup.request("plan", base_payload(databases=[f"{names}_db"]))

    assert response["ok"] is True
    assert "reconnecting in" in setup.worker.log()


def test_events_during_disconnect_answered(setup: Setup) -> None:
    setup.client.drop_streams()
    correlation_id = setup.publish("status", base_payload())

    response = setup.response("status", correlation_id)

    assert response["ok"] is True


def test_demo_script_matches_response(setup: Setup) -> None:
    environment = {
        **os.environ,
        "BUS_EVENTS_API_BASE_URL": setup.events.base_url,
        "BUS_EVENTS_TOKEN": setup.token,
    }

    completed = subprocess.run(
        ["bash", str(REPO_ROOT / "devtools" / "demo_events.sh")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert '"correlation_id":"deploy-001-db-plan"' in completed.stdout
    assert '"ok":true' in completed.stdout.splitlines()[-1]


def test_one_log_line_per_event(setup: Setup) -> None:
    correlation_id = setup.publish("status", base_payload())
    setup.response("status", correlation_id)

    lines = [
        line
        for line in setup.worker.log().splitlines()
        if f"correlation_id={correlation_id}" in line
    ]

    assert len(lines) == 1
    assert "event=bus.database.status.request" in lines[0]
    assert "outcome=ok" in lines[0]
    assert "duration_ms=" in lines[0]
    assert setup.token not in setup.worker.log()
    assert setup.cluster.password not in setup.worker.log()
