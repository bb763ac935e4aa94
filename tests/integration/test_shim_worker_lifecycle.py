"""Worker lifecycle: duplicates, restarts, SIGTERM, rejected tokens, shared groups.

Every test starts its own worker subprocesses in a consumer group of its own on
one shared bus-events-local, so events left in one group's backlog never reach
another test.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bus_shim.events_local import LocalEventsServer, mint_token, run_local_events_server
from bus_shim.events_local.client import LocalEventsClient
from devtools.events_probe import EventsProbe
from devtools.events_stack import WorkerProcess, clean_environment, start_worker
from devtools.pgcluster import ClusterState, write_dsn_file

pytestmark = pytest.mark.timeout(120)

SCOPES = "events:send events:listen database:admin database:read"
DEPLOYMENT = "example-dev"
LOCKED_DEPLOYMENT = "lock-dep"
LOCK_KEY = "busdk.database:" + LOCKED_DEPLOYMENT
# The worker decodes its token's scopes without the key, so any secret works.
LISTEN_ONLY_TOKEN = mint_token("t" * 48, "events:listen database:read")


@dataclass
class Lab:
    """The shared stand-in and cluster plus a per-test group and directory."""

    events: LocalEventsServer
    client: LocalEventsClient
    probe: EventsProbe
    token: str
    cluster: ClusterState
    workdir: Path
    group: str
    role: str
    workers: list[WorkerProcess] = field(default_factory=list)

    def environment(self, consumer: str, **overrides: str) -> dict[str, str]:
        environment = clean_environment()
        environment.update(
            {
                "BUS_EVENTS_API_BASE_URL": self.events.base_url,
                "BUS_EVENTS_TOKEN": self.token,
                "BUS_EVENTS_GROUP": self.group,
                "BUS_EVENTS_CONSUMER_ID": consumer,
                "BUS_EVENTS_LISTENER_RETRY_MIN": "0.05",
                "BUS_EVENTS_LISTENER_RETRY_MAX": "0.5",
                "BUS_SHIM_STATE_DIR": str(self.workdir / "state"),
                "BUS_DATABASE_SERVED_DEPLOYMENTS": f"{DEPLOYMENT},{LOCKED_DEPLOYMENT}",
                "BUS_DATABASE_ALLOW_APPLY": "true",
                "BUS_POSTGRES_ADMIN_DSN_FILE": str(self.workdir / "creds" / "admin"),
                "BUS_DATABASE_SERVICE_ROLE": self.role,
                "BUS_DATABASE_DSN_OUTPUT_DIR": str(self.workdir / "dsn"),
            }
        )
        environment.update(overrides)
        return environment

    def start(
        self, consumer: str, *, ready: bool = True, **overrides: str
    ) -> WorkerProcess:
        worker = start_worker(
            self.environment(consumer, **overrides),
            self.workdir / f"{consumer}.log",
            cwd=self.workdir,
        )
        # The fixture stops every worker, so a failed test leaves none behind
        # to respond to the requests of later tests.
        self.workers.append(worker)
        if ready:
            self.probe.wait_for_worker(consumer, worker.process)
        return worker

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
        payload: dict[str, Any] = envelope["payload"]
        return payload

    def responses(self, operation: str, correlation_id: str) -> list[dict[str, Any]]:
        return self.probe.read_responses(operation, correlation_id)

    def wait_for_responses(
        self, operation: str, correlation_id: str, count: int, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(found := self.responses(operation, correlation_id)) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} responses"
            time.sleep(0.05)
        return [envelope["payload"] for envelope in found]

    def query(self, statement: str, params: Any = None) -> list[Any]:
        with psycopg.connect(self.cluster.dsn(), autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def database_exists(self, name: str) -> bool:
        return bool(self.query("SELECT 1 FROM pg_database WHERE datname = %s", [name]))


@pytest.fixture(scope="module")
def shared(
    clusters: dict[str, ClusterState],
) -> Iterator[tuple[LocalEventsServer, ClusterState]]:
    cluster = clusters.get("18") or next(iter(clusters.values()))
    with run_local_events_server() as events:
        yield events, cluster


@pytest.fixture
def lab(
    shared: tuple[LocalEventsServer, ClusterState], tmp_path: Path, names: str
) -> Iterator[Lab]:
    events, cluster = shared
    write_dsn_file(tmp_path / "creds" / "admin", cluster.dsn())
    token = events.token(SCOPES, sub="bus-shim")
    with (
        LocalEventsClient(events.base_url, token, timeout=30.0) as client,
        EventsProbe(events.base_url, token) as probe,
    ):
        lab = Lab(
            events,
            client,
            probe,
            token,
            cluster,
            tmp_path,
            f"g-{names}",
            f"{names}_svc",
        )
        try:
            yield lab
        finally:
            for worker in lab.workers:
                worker.stop()


def apply_payload(database: str, deployment: str = DEPLOYMENT) -> dict[str, Any]:
    return {
        "deployment_id": deployment,
        "provider": "postgres",
        "databases": [database],
        "dry_run": False,
        "confirm": True,
    }


def test_duplicate_apply_runs_once(lab: Lab, names: str) -> None:
    database = f"{names}_db"
    payload = apply_payload(database)
    event_id = f"apply-{uuid.uuid4()}"
    worker = lab.start("dup-1")

    correlation_id = lab.publish("apply", payload, id=event_id)
    first = lab.response("apply", correlation_id)
    assert first["ok"] is True
    assert first["changed"] is True
    assert lab.database_exists(database)

    # Dropping the database shows whether a redelivery runs the apply again.
    lab.query(f'DROP DATABASE "{database}"')
    lab.publish("apply", payload, id=event_id, correlationId=correlation_id)
    lab.publish("apply", payload, correlationId=correlation_id)
    answers = lab.wait_for_responses("apply", correlation_id, 3)

    assert answers[1] == first
    assert answers[2] == first
    assert worker.log().count(f"correlation_id={correlation_id} outcome=duplicate") == 2
    assert not lab.database_exists(database)
    assert worker.stop() == 0

    restarted = lab.start("dup-2")
    lab.publish("apply", payload, id=event_id, correlationId=correlation_id)
    answers = lab.wait_for_responses("apply", correlation_id, 4)

    assert answers[3] == first
    assert f"correlation_id={correlation_id} outcome=duplicate" in restarted.log()
    assert not lab.database_exists(database)
    assert restarted.stop() == 0


def test_changed_payload_same_correlation_runs(lab: Lab, names: str) -> None:
    worker = lab.start("changed-1")
    correlation_id = lab.publish("apply", apply_payload(f"{names}_a"))
    lab.response("apply", correlation_id)

    lab.publish("apply", apply_payload(f"{names}_b"), correlationId=correlation_id)
    answers = lab.wait_for_responses("apply", correlation_id, 2)

    assert answers[1]["changed"] is True
    assert lab.database_exists(f"{names}_b")
    assert "outcome=duplicate" not in worker.log()
    assert worker.stop() == 0


def test_event_id_reused_for_apply_runs(lab: Lab, names: str) -> None:
    database, other = f"{names}_db", f"{names}_other"
    event_id = f"reused-{uuid.uuid4()}"
    worker = lab.start("reuse-1")
    plan_payload = {**apply_payload(database), "dry_run": True, "confirm": False}

    planned = lab.publish("plan", plan_payload, id=event_id)
    assert lab.response("plan", planned)["dry_run"] is True
    applied = lab.publish("apply", apply_payload(database), id=event_id)
    response = lab.response("apply", applied)

    assert response["changed"] is True
    assert "apply-database-plan" in response["actions"]
    assert lab.database_exists(database)

    lab.publish("apply", apply_payload(other), id=event_id, correlationId=applied)
    answers = lab.wait_for_responses("apply", applied, 2)

    assert answers[1]["changed"] is True
    assert lab.database_exists(other)
    assert "outcome=duplicate" not in worker.log()
    assert worker.stop() == 0


def test_concurrent_duplicate_applies_once(lab: Lab, names: str) -> None:
    database = f"{names}_db"
    payload = apply_payload(database, LOCKED_DEPLOYMENT)
    workers = [lab.start("twin-1"), lab.start("twin-2")]
    blocker = psycopg.connect(lab.cluster.dsn(), autocommit=True)
    try:
        blocker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [LOCK_KEY])
        # Round robin gives the two copies to the two workers, which share
        # one state directory.
        correlation_id = lab.publish("apply", payload)
        lab.publish("apply", payload, correlationId=correlation_id)
        waiting_query = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )
        deadline = time.monotonic() + 10
        while not (
            any("waiting for worker" in worker.log() for worker in workers)
            and lab.query(waiting_query) != [(0,)]
        ):
            assert time.monotonic() < deadline, [w.log() for w in workers]
            time.sleep(0.05)
        # Give a second apply, if one runs, time to queue on the lock too.
        time.sleep(0.3)
        waiting = lab.query(waiting_query)
    finally:
        blocker.close()

    answers = lab.wait_for_responses("apply", correlation_id, 2)
    assert waiting == [(1,)]
    assert answers[0] == answers[1]
    assert answers[0]["changed"] is True
    assert lab.database_exists(database)
    logs = "".join(worker.log() for worker in workers)
    assert logs.count(f"correlation_id={correlation_id} outcome=ok") == 1
    assert logs.count(f"correlation_id={correlation_id} outcome=duplicate") == 1
    assert [worker.stop() for worker in workers] == [0, 0]


def test_large_response_shortened(lab: Lab, names: str) -> None:
    worker = lab.start("large", BUS_SHIM_MAX_RESPONSE_BYTES="16384")
    databases = [f"{names}_{number}" for number in range(150)]
    payload = {"deployment_id": DEPLOYMENT, "provider": "postgres"}

    correlation_id = lab.publish("plan", {**payload, "databases": databases})
    response = lab.response("plan", correlation_id)

    assert response["ok"] is True
    assert response["dry_run"] is True
    assert "changes" not in response
    assert response["actions"][:2] == ["discover-provider", "compute-database-plan"]
    assert response["diagnostics"][-1].startswith("Shortened response")
    assert "above BUS_SHIM_MAX_RESPONSE_BYTES 16384" in worker.log()
    assert worker.stop() == 0


def test_request_during_restart_answered(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = secrets.token_urlsafe(48)
    token = mint_token(secret, SCOPES, sub="bus-shim")
    environment = clean_environment()
    environment.update(
        {
            "BUS_EVENTS_API_BASE_URL": f"http://127.0.0.1:{port}",
            "BUS_EVENTS_TOKEN": token,
            "BUS_EVENTS_CONSUMER_ID": "restart-1",
            # A fixed delay that outlasts the restart of the stand-in.
            "BUS_EVENTS_LISTENER_RETRY_MIN": "2.5",
            "BUS_EVENTS_LISTENER_RETRY_MAX": "2.5",
            "BUS_SHIM_STATE_DIR": str(tmp_path / "state"),
            "BUS_DEPLOYMENT_ID": DEPLOYMENT,
            "BUS_POSTGRES_ADMIN_DSN_FILE": str(tmp_path / "absent"),
        }
    )
    worker = start_worker(environment, tmp_path / "worker.log", cwd=tmp_path)
    try:
        with (
            run_local_events_server(secret, port=port) as events,
            EventsProbe(events.base_url, token) as probe,
        ):
            probe.wait_for_worker("restart-1", worker.process)
        with (
            run_local_events_server(secret, port=port) as events,
            LocalEventsClient(events.base_url, token) as client,
            EventsProbe(events.base_url, token) as probe,
        ):
            assert client.list_streams() == [], "the worker reconnected too early"
            name = "bus.database.status.request"
            status = {"deployment_id": DEPLOYMENT, "provider": "postgres"}
            published = client.publish(
                name, correlationId="after-restart", payload=status
            )
            assert published.status_code == 202

            response = probe.wait_for_response("status", "after-restart")
    finally:
        assert worker.stop() == 0, worker.log()

    assert response["payload"]["error_class"] == "unauthorized"
    assert "reconnecting in 2.5 s" in worker.log()


def test_sigterm_finishes_request_in_flight(lab: Lab, names: str) -> None:
    database = f"{names}_db"
    worker = lab.start("term-1")
    blocker = psycopg.connect(lab.cluster.dsn(), autocommit=True)
    try:
        blocker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [LOCK_KEY])
        in_flight = lab.publish("apply", apply_payload(database, LOCKED_DEPLOYMENT))
        deadline = time.monotonic() + 10
        while not lab.query(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ):
            assert time.monotonic() < deadline, "the apply never waited for the lock"
            time.sleep(0.05)

        worker.process.send_signal(signal.SIGTERM)
        worker.wait_for_log("received SIGTERM")
        # An event written to a stream while its client closes it is lost, so
        # publish only after the stand-in saw the worker's streams close.
        lab.client.wait_for_streams("bus.database.status.request", 0)
        late = lab.publish(
            "status", {"deployment_id": DEPLOYMENT, "provider": "postgres"}
        )
        time.sleep(0.3)
        assert worker.process.poll() is None
    finally:
        blocker.close()

    assert worker.process.wait(timeout=20) == 0
    response = lab.response("apply", in_flight)
    assert response["ok"] is True
    assert response["changed"] is True
    assert lab.database_exists(database)
    assert lab.responses("status", late) == []

    successor = lab.start("term-2")
    assert lab.response("status", late)["ok"] is True
    assert successor.stop() == 0


def test_two_workers_answer_once(lab: Lab, names: str) -> None:
    workers = [lab.start("pair-1"), lab.start("pair-2")]
    payload = {
        "deployment_id": DEPLOYMENT,
        "provider": "postgres",
        "databases": [f"{names}_db"],
    }

    sent = [lab.publish("plan", payload) for _ in range(16)]
    for correlation_id in sent:
        assert lab.response("plan", correlation_id)["ok"] is True
    time.sleep(0.5)

    counts = {cid: len(lab.responses("plan", cid)) for cid in sent}
    assert set(counts.values()) == {1}
    handled = [worker.log().count("outcome=ok") for worker in workers]
    assert sum(handled) == 16
    assert all(count > 0 for count in handled)
    assert [worker.stop() for worker in workers] == [0, 0]


@pytest.mark.parametrize(
    ("scopes", "wrong_secret", "status"),
    [
        (SCOPES, True, "HTTP 401"),
        ("events:send", False, "HTTP 403"),
    ],
)
def test_rejected_stream_exits_quickly(
    lab: Lab, scopes: str, wrong_secret: bool, status: str
) -> None:
    secret = "x" * 48 if wrong_secret else lab.events.secret
    token = mint_token(secret, scopes, sub="bus-shim", audience=lab.events.audience)
    attempts_before = lab.events.log_text().count("rejected GET /api/v1/events/stream")
    started = time.monotonic()

    worker = lab.start("denied", ready=False, BUS_EVENTS_TOKEN=token)
    status_code = worker.process.wait(timeout=15)

    assert status_code == 1
    assert time.monotonic() - started < 10
    log = worker.log()
    assert status in log
    assert "Events API rejected the stream" in log
    assert token not in log
    attempts = lab.events.log_text().count("rejected GET /api/v1/events/stream")
    assert attempts - attempts_before <= 4


def test_retry_disabled_exits_when_stream_drops(lab: Lab) -> None:
    worker = lab.start("once", BUS_EVENTS_LISTENER_RETRY="false")

    lab.client.drop_streams()

    assert worker.process.wait(timeout=15) == 1
    assert "BUS_EVENTS_LISTENER_RETRY is false" in worker.log()


@pytest.mark.parametrize(
    ("remove", "overrides", "message"),
    [
        ("BUS_EVENTS_TOKEN", {}, "Missing Events API token"),
        ("BUS_EVENTS_API_BASE_URL", {}, "Missing BUS_EVENTS_API_BASE_URL"),
        (None, {"BUS_SHIM_STATE_DIR": "/proc/no-such-dir"}, "BUS_SHIM_STATE_DIR"),
        (None, {"BUS_DATABASE_ALLOW_APPLY": "perhaps"}, "BUS_DATABASE_ALLOW_APPLY"),
        (
            None,
            {"BUS_EVENTS_TOKEN": LISTEN_ONLY_TOKEN},
            "Invalid BUS_EVENTS_TOKEN: the Events API token has the scopes "
            "database:read events:listen",
        ),
        (
            None,
            {"BUS_DATABASE_DSN_PORT": "70000"},
            "error: Invalid BUS_DATABASE_DSN_PORT 70000: Input should be",
        ),
        (
            None,
            {"BUS_EVENTS_API_BASE_URL": "http://bus:S3cr3t@127.0.0.1:9/?t=T0ken"},
            "Invalid BUS_EVENTS_API_BASE_URL 'http://127.0.0.1:9/': remove the user",
        ),
    ],
)
def test_invalid_configuration_exits_2(
    lab: Lab, remove: str | None, overrides: dict[str, str], message: str
) -> None:
    environment = lab.environment("config", **overrides)
    if remove:
        environment.pop(remove)

    completed = subprocess.run(
        [sys.executable, "-m", "bus_shim", "serve"],
        env=environment,
        cwd=lab.workdir,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert completed.returncode == 2
    assert message in completed.stderr
    assert lab.token not in completed.stderr
    assert "S3cr3t" not in completed.stderr
    assert "T0ken" not in completed.stderr
    assert "Traceback" not in completed.stderr
