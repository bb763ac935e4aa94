"""The worker against a scripted Events API: broken lines, 5xx, 429 and early EOF.

The fake serves the API under the path prefix /gw and the worker is given the
``.../gw/api/v1/events`` form of the URL, so every test here also checks that
the prefix is kept.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from devtools.events_stack import WorkerProcess, clean_environment, start_worker

pytestmark = pytest.mark.timeout(60)

PREFIX = "/gw"
DEPLOYMENT = "example-dev"
# Root ignores file modes unless it runs without these capabilities.
DROP_FILE_CAPABILITIES = [
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search,-fowner",
    "--",
]
APPLY_LINE = json.dumps(
    {
        "id": "apply-1",
        "correlationId": "state-apply",
        "payload": {
            "deployment_id": DEPLOYMENT,
            "provider": "postgres",
            "databases": ["never_created"],
            "dry_run": False,
            "confirm": True,
        },
    }
).encode()


class FakeEventsApi:
    """A scripted Events API: tests queue stream lines and HTTP failures."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.lines: dict[str, list[bytes]] = defaultdict(list)
        self.stream_failures: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.end_at_once: set[str] = set()
        self.attempts: dict[str, list[float]] = defaultdict(list)
        self.publish_failures: list[int] = []
        self.publish_failure_message = "scripted failure"
        self.publish_attempts = 0
        self.published: list[dict[str, Any]] = []

    def send(self, name: str, *lines: bytes) -> None:
        with self.lock:
            self.lines[name].extend(lines)

    def responses(self, correlation_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                body
                for body in self.published
                if body.get("correlationId") == correlation_id
            ]

    def wait_for_response(self, correlation_id: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (found := self.responses(correlation_id)):
            assert time.monotonic() < deadline, f"no response to {correlation_id}"
            time.sleep(0.02)
        return found[0]["payload"]

    async def stream(self, request: Request) -> Response:
        name = request.query_params["name"]
        with self.lock:
            self.attempts[name].append(time.monotonic())
            failures = self.stream_failures.get(name) or []
            failure = failures.pop(0) if failures else None
            end_at_once = name in self.end_at_once
        if failure is not None:
            status, headers = failure
            body = {"error": "unavailable", "message": "try again later"}
            return JSONResponse(body, status_code=status, headers=headers)
        if end_at_once:
            return Response(b"", media_type="application/x-ndjson")
        return StreamingResponse(self._lines(name), media_type="application/x-ndjson")

    async def _lines(self, name: str) -> AsyncIterator[bytes]:
        while not self.closing.is_set():
            with self.lock:
                pending, self.lines[name] = self.lines[name], []
            for line in pending:
                yield line + b"\n"
            await asyncio.sleep(0.02)

    async def publish(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.publish_attempts += 1
            status = self.publish_failures.pop(0) if self.publish_failures else None
            if status is None:
                self.published.append(body)
        if status is not None:
            error = {"error": "failed", "message": self.publish_failure_message}
            return JSONResponse(error, status_code=status)
        return JSONResponse({"accepted": True, "id": str(uuid.uuid4())}, 202)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"{PREFIX}/api/v1/events/stream", self.stream, methods=["GET"]),
                Route(f"{PREFIX}/api/v1/events", self.publish, methods=["POST"]),
            ]
        )


@pytest.fixture
def fake() -> Iterator[tuple[FakeEventsApi, str]]:
    api = FakeEventsApi()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        api.app(),
        log_config=None,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake Events API did not start"
        time.sleep(0.02)
    try:
        yield api, f"http://127.0.0.1:{port}{PREFIX}/api/v1/events"
    finally:
        api.closing.set()
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def run_worker(fake: tuple[FakeEventsApi, str], tmp_path: Path) -> Iterator[Any]:
    _, url = fake
    started: list[WorkerProcess] = []

    def start(*, prefix: Sequence[str] = (), **overrides: str) -> WorkerProcess:
        environment = clean_environment()
        environment.update(
            {
                "BUS_EVENTS_API_URL": url,
                "BUS_EVENTS_TOKEN": "opaque-test-token",
                "BUS_EVENTS_CONSUMER_ID": "fake-consumer",
                "BUS_EVENTS_LISTENER_RETRY_MIN": "0.05",
                "BUS_EVENTS_LISTENER_RETRY_MAX": "0.5",
                "BUS_SHIM_STATE_DIR": str(tmp_path / "state"),
                "BUS_DEPLOYMENT_ID": DEPLOYMENT,
                "BUS_POSTGRES_ADMIN_DSN_FILE": str(tmp_path / "creds" / "absent"),
            }
        )
        environment.update(overrides)
        worker = start_worker(
            environment, tmp_path / "worker.log", cwd=tmp_path, prefix=prefix
        )
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def wait_for_streams(api: FakeEventsApi, count: int = 4, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(api.attempts) < count:
        assert time.monotonic() < deadline, f"streams opened: {dict(api.attempts)}"
        time.sleep(0.02)


@pytest.fixture
def file_modes_apply() -> list[str]:
    """Return the command prefix under which the worker obeys file modes.

    Root ignores file modes, so under root the worker runs without the
    capabilities that let it, and it still owns the files it creates.
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed to test file modes as root")
    return DROP_FILE_CAPABILITIES


def make_read_only(directory: Path) -> None:
    for path in directory.rglob("*"):
        path.chmod(0o444)
    directory.chmod(0o555)


def restore_modes(directory: Path) -> None:
    directory.chmod(0o700)
    for path in directory.rglob("*"):
        path.chmod(0o600)


def test_garbage_lines_logged_and_answered(
    fake: tuple[FakeEventsApi, str], run_worker: Any
) -> None:
    api, _ = fake
    worker = run_worker()
    wait_for_streams(api)
    name = "bus.database.plan.request"

    api.send(
        name,
        b"this is not json",
        b'{"id":"g2","correlationId":"broken-json","payload":{',
        b"[1, 2, 3]",
        b'{"id":"g4","correlationId":"no-objects","payload":'
        b'{"deployment_id":"example-dev","provider":"postgres"}}',
        b'{"id":"g5","correlationId":"text-payload","payload":"text"}',
    )

    broken = api.wait_for_response("broken-json")
    no_objects = api.wait_for_response("no-objects")
    text_payload = api.wait_for_response("text-payload")
    assert broken["error_class"] == "bad_request"
    assert "not valid JSON" in broken["diagnostics"][0]
    assert no_objects["error_class"] == "bad_request"
    assert "at least one of databases" in json.dumps(no_objects["diagnostics"])
    assert text_payload["error_class"] == "bad_request"
    assert text_payload["correlation_id"] == "text-payload"
    log = worker.log()
    assert log.count("outcome=skipped") == 2
    assert worker.process.poll() is None
    assert "opaque-test-token" not in log


def test_stream_setup_retries_5xx_and_429(
    fake: tuple[FakeEventsApi, str], run_worker: Any
) -> None:
    api, _ = fake
    name = "bus.database.status.request"
    api.stream_failures[name] = [
        (503, {}),
        (429, {"Retry-After": "0.3"}),
        (502, {}),
    ]

    worker = run_worker()
    deadline = time.monotonic() + 10
    while len(api.attempts[name]) < 4:
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.02)
    api.send(name, b'{"id":"s1","correlationId":"after-retries","payload":{}}')

    assert api.wait_for_response("after-retries")["error_class"] == "bad_request"
    attempts = api.attempts[name]
    assert attempts[2] - attempts[1] >= 0.3
    log = worker.log()
    assert "HTTP 503" in log
    assert "HTTP 429" in log
    assert "HTTP 502" in log


def test_immediate_eof_backs_off(
    fake: tuple[FakeEventsApi, str], run_worker: Any
) -> None:
    api, _ = fake
    name = "bus.database.verify.request"
    api.end_at_once.add(name)

    worker = run_worker()
    time.sleep(2.0)

    attempts = api.attempts[name]
    assert 4 <= len(attempts) <= 12
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert max(gaps) >= 0.25
    assert "stream ended by the server" in worker.log()
    assert worker.process.poll() is None


def test_publish_retried_after_5xx(
    fake: tuple[FakeEventsApi, str], run_worker: Any
) -> None:
    api, _ = fake
    api.publish_failures.extend([503, 500])
    worker = run_worker()
    wait_for_streams(api)

    api.send(
        "bus.database.verify.request",
        b'{"id":"v1","correlationId":"publish-retry","payload":{}}',
    )

    assert api.wait_for_response("publish-retry")["error_class"] == "bad_request"
    assert api.publish_attempts == 3
    assert "retrying in" in worker.log()


def test_publish_rejected_logged_and_serving(
    fake: tuple[FakeEventsApi, str], run_worker: Any
) -> None:
    api, _ = fake
    api.publish_failures.append(400)
    worker = run_worker()
    wait_for_streams(api)
    name = "bus.database.apply.request"

    api.send(name, b'{"id":"a1","correlationId":"first","payload":{}}')
    worker.wait_for_log("correlation_id=first")
    api.send(name, b'{"id":"a2","correlationId":"second","payload":{}}')

    assert api.wait_for_response("second")["error_class"] == "bad_request"
    assert api.responses("first") == []
    log = worker.log()
    assert "failed to publish bus.database.apply.response correlation_id=first" in log
    assert "correlation_id=first outcome=bad_request" in log
    assert "published=false" in log


def test_publish_unauthorized_stops_worker(
    fake: tuple[FakeEventsApi, str], run_worker: Any
) -> None:
    api, _ = fake
    api.publish_failures.append(401)
    worker = run_worker()
    wait_for_streams(api)

    api.send(
        "bus.database.plan.request",
        b'{"id":"p1","correlationId":"denied","payload":{}}',
        b'{"id":"p2","correlationId":"queued","payload":{}}',
    )

    assert worker.process.wait(timeout=15) == 1
    log = worker.log()
    assert "rejected publishing bus.database.plan.response with HTTP 401" in log
    assert "correlation_id=denied outcome=bad_request" in log
    assert (
        "correlation_id=denied: the response was not published, so the request is "
        "left unanswered" in log
    )
    assert api.publish_attempts == 1
    queued = [line for line in log.splitlines() if "correlation_id=queued" in line]
    assert all("outcome=unanswered" in line for line in queued)


def test_publish_too_large_sends_shortened(
    fake: tuple[FakeEventsApi, str], run_worker: Any
) -> None:
    api, _ = fake
    api.publish_failures.append(413)
    worker = run_worker()
    wait_for_streams(api)

    api.send(
        "bus.database.status.request",
        b'{"id":"s1","correlationId":"too-large","payload":{}}',
    )

    response = api.wait_for_response("too-large")
    log = worker.wait_for_log("correlation_id=too-large outcome=")
    assert api.publish_attempts == 2
    assert response["ok"] is False
    assert response["error_class"] == "bad_request"
    assert response["correlation_id"] == "too-large"
    assert response["diagnostics"][-1].startswith("Shortened response")
    assert "publishing a response shortened to 16384 bytes" in log
    assert "correlation_id=too-large outcome=bad_request" in log


def test_log_lines_escape_request_values(
    fake: tuple[FakeEventsApi, str], run_worker: Any
) -> None:
    api, _ = fake
    api.publish_failures.extend([400, 503])
    api.publish_failure_message = "scripted\nINFO forged: detail"
    worker = run_worker()
    wait_for_streams(api)
    name = "bus.database.verify.request"

    api.send(name, b'{"id":"v1","correlationId":"x\\nINFO forged: id","payload":{}}')
    worker.wait_for_log("outcome=bad_request")
    api.send(name, b'{"id":"v2","correlationId":"y\\nINFO forged: id","payload":{}}')

    assert api.wait_for_response("y\nINFO forged: id")["error_class"] == "bad_request"
    lines = worker.log().splitlines()
    assert not [line for line in lines if line.startswith("INFO forged")]
    assert 'correlation_id="x\\nINFO forged: id"' in worker.log()
    assert "scripted\\nINFO forged: detail" in worker.log()


def test_read_only_state_exits_2(
    file_modes_apply: list[str], run_worker: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = run_worker(prefix=file_modes_apply)
    first.wait_for_log("listening for bus.database.verify.request")
    assert first.stop() == 0
    make_read_only(state)

    try:
        again = run_worker(prefix=file_modes_apply)
        status = again.process.wait(timeout=15)
    finally:
        restore_modes(state)

    assert status == 2
    log = again.log()
    assert "Failed to open the state database" in log
    assert "readonly database" in log
    assert "BUS_SHIM_STATE_DIR" in log


def test_state_write_failure_blocks_apply(
    fake: tuple[FakeEventsApi, str],
    file_modes_apply: list[str],
    run_worker: Any,
    tmp_path: Path,
) -> None:
    api, _ = fake
    state = tmp_path / "state"
    worker = run_worker(prefix=file_modes_apply)
    wait_for_streams(api)
    make_read_only(state)

    try:
        api.send("bus.database.apply.request", APPLY_LINE)
        response = api.wait_for_response("state-apply")
        log = worker.wait_for_log("correlation_id=state-apply outcome=")
    finally:
        restore_modes(state)

    assert response["ok"] is False
    assert response["error_class"] == "provider_error"
    assert response["diagnostics"][0].startswith("The apply request did not run.")
    assert "state database" in response["diagnostics"][0]
    assert "failed to claim apply request event_id=apply-1" in log
    assert "correlation_id=state-apply outcome=provider_error" in log
    assert worker.process.poll() is None


def test_sigterm_during_reconnect(run_worker: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    worker = run_worker(BUS_EVENTS_API_URL=f"http://127.0.0.1:{closed_port}")
    worker.wait_for_log("reconnecting in")

    started = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)

    assert worker.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 3
    assert "ConnectError" in worker.log()
