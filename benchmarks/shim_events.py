"""Shim client factory that goes through bus-events-local and worker processes.

Select it with ``--shim-factory benchmarks.shim_events:events_api_client``.
It starts the local Events API stand-in, starts ``setup.workers`` worker
processes in one consumer group, and returns a callable that publishes one
``bus.database.<kind>.request`` event and waits for the response event with
the same correlation id.

NOTE: the worker has no command-line entry point yet, so each worker process
runs ``bus_shim.worker.run_worker`` with the configuration that
``bus_shim.worker_config.worker_config`` builds from the environment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.core import PROVIDER
from benchmarks.ours import DEPLOYMENT_ID
from benchmarks.shim import SendRequest, ShimSetup

logger = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/events"
STREAM_PATH = "/api/v1/events/stream"
REQUEST_KINDS = ("plan", "status")
RESPONSE_TIMEOUT_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 30.0
WORKER_STOP_TIMEOUT_SECONDS = 15.0

# Workers log at info level, one line per request, as a deployed worker would.
WORKER_LAUNCHER = """\
import logging
import sys
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
from bus_shim.config import load_environment
from bus_shim.worker import run_worker
from bus_shim.worker_config import worker_config
sys.exit(run_worker(worker_config(load_environment())))
"""


class ShimRequestError(RuntimeError):
    """A shim request got no response in time or an ``ok: false`` response."""


class ResponseDispatcher:
    """Reads response streams and hands each response to the request waiting for it."""

    def __init__(self, base_url: str, token: str) -> None:
        # Reads wait without limit, because a stream is idle between requests.
        self.http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(10.0, read=None),
            headers={"Authorization": f"Bearer {token}"},
        )
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._threads: list[threading.Thread] = []
        self._closing = False

    def start(self, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            thread = threading.Thread(
                target=self._read, args=(f"bus.database.{kind}.response",), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _read(self, name: str) -> None:
        try:
            with self.http.stream(
                "GET", STREAM_PATH, params={"name": name}
            ) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.strip():
                        self._deliver(json.loads(line))
        except (httpx.HTTPError, json.JSONDecodeError) as error:
            if not self._closing:
                logger.error("response stream %s failed: %s", name, error)

    def _deliver(self, envelope: dict[str, Any]) -> None:
        correlation_id = envelope.get("correlationId")
        with self._lock:
            slot = self._waiting.pop(correlation_id, None)
        if slot is not None:
            slot[1].append(envelope.get("payload") or {})
            slot[0].set()

    def expect(
        self, correlation_id: str
    ) -> tuple[threading.Event, list[dict[str, Any]]]:
        """Register a request before publishing it, so its response is not missed."""
        slot: tuple[threading.Event, list[dict[str, Any]]] = (threading.Event(), [])
        with self._lock:
            self._waiting[correlation_id] = slot
        return slot

    def forget(self, correlation_id: str) -> None:
        with self._lock:
            self._waiting.pop(correlation_id, None)

    def stop_reading(self) -> None:
        """Mark the streams as closing, so their end is not logged as an error."""
        self._closing = True

    def join(self) -> None:
        """Wait for the readers, which return once the Events API has stopped."""
        for thread in self._threads:
            thread.join(timeout=5)
        self.http.close()


def _open_streams(http: httpx.Client, name: str) -> int:
    response = http.get("/api/v1/_local/streams")
    response.raise_for_status()
    return sum(1 for stream in response.json()["streams"] if stream["name"] == name)


def _wait_for_streams(http: httpx.Client, expected: dict[str, int]) -> None:
    """Wait until every event name in ``expected`` has that many open streams."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        found = {name: _open_streams(http, name) for name in expected}
        if all(found[name] >= count for name, count in expected.items()):
            return
        if time.monotonic() >= deadline:
            raise ShimRequestError(
                f"Timed out after {READY_TIMEOUT_SECONDS:.0f} s waiting for streams: "
                f"expected {expected}, found {found}"
            )
        time.sleep(0.05)


def _worker_environment(
    setup: ShimSetup, base_url: str, token: str, index: int
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "BUS_EVENTS_API_BASE_URL": base_url,
            "BUS_EVENTS_TOKEN": token,
            "BUS_EVENTS_CONSUMER_ID": f"bench-worker-{index}",
            "BUS_SHIM_STATE_DIR": str(setup.workdir / f"shim-state-{index}"),
            "BUS_POSTGRES_ADMIN_DSN_FILE": str(setup.admin_dsn_file),
            "BUS_DATABASE_SERVED_DEPLOYMENTS": DEPLOYMENT_ID,
            "BUS_DATABASE_DSN_OUTPUT_DIR": str(setup.dsn_output_dir),
        }
    )
    return env


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        if process.poll() is None:
            process.terminate()
    for process in workers:
        try:
            process.wait(WORKER_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            logger.error("worker pid %d did not stop; killing it", process.pid)
            process.kill()
            process.wait()


def request_body(kind: str, setup: ShimSetup, correlation_id: str) -> dict[str, Any]:
    """Return the publish body of one plan or status request for the desired state.

    The request names no credentials, so the worker uses its configured admin
    DSN file.
    """
    desired = setup.desired
    return {
        "name": f"bus.database.{kind}.request",
        "correlationId": correlation_id,
        "delivery": "unicast",
        "payload": {
            "deployment_id": DEPLOYMENT_ID,
            "provider": PROVIDER,
            "databases": desired.databases,
            "roles": [desired.role],
            "schemas": [desired.schema],
        },
    }


@contextlib.contextmanager
def events_api_client(setup: ShimSetup) -> Iterator[SendRequest]:
    """Start the stand-in and ``setup.workers`` workers, then yield the sender."""
    from bus_shim.events_local.process import run_local_events_server

    dispatcher: ResponseDispatcher | None = None
    try:
        # The helper finds the port in the "listening on" line, logged at info level.
        with run_local_events_server() as server:
            token = server.token("events:send events:listen")
            dispatcher = ResponseDispatcher(server.base_url, token)
            with (
                _running_workers(setup, server.base_url, token),
                _request_sender(setup, server.base_url, token, dispatcher) as send,
            ):
                yield send
            dispatcher.stop_reading()
    finally:
        # The response streams end when the stand-in stops, so join after it.
        if dispatcher is not None:
            dispatcher.join()


@contextlib.contextmanager
def _running_workers(setup: ShimSetup, base_url: str, token: str) -> Iterator[None]:
    log_dir = setup.workdir / "shim-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(setup.workers):
            log_path = log_dir / f"worker-{setup.workers}-{index}.log"
            with log_path.open("wb") as log_file:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-c", WORKER_LAUNCHER],
                        env=_worker_environment(setup, base_url, token, index),
                        cwd=setup.workdir,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                    )
                )
        yield
    finally:
        _stop_workers(workers)


@contextlib.contextmanager
def _request_sender(
    setup: ShimSetup, base_url: str, token: str, dispatcher: ResponseDispatcher
) -> Iterator[SendRequest]:
    """Wait until workers and response readers listen; yield the request callable."""
    with httpx.Client(
        base_url=base_url,
        timeout=10.0,
        headers={"Authorization": f"Bearer {token}"},
    ) as publisher:
        yield _sender(setup, publisher, dispatcher)


def _sender(
    setup: ShimSetup, publisher: httpx.Client, dispatcher: ResponseDispatcher
) -> SendRequest:
    dispatcher.start(REQUEST_KINDS)
    expected = {f"bus.database.{kind}.request": setup.workers for kind in REQUEST_KINDS}
    expected.update({f"bus.database.{kind}.response": 1 for kind in REQUEST_KINDS})
    _wait_for_streams(publisher, expected)

    def send(kind: str) -> object:
        correlation_id = uuid.uuid4().hex
        done, payloads = dispatcher.expect(correlation_id)
        response = publisher.post(
            EVENTS_PATH, json=request_body(kind, setup, correlation_id)
        )
        response.raise_for_status()
        if not done.wait(RESPONSE_TIMEOUT_SECONDS):
            dispatcher.forget(correlation_id)
            raise ShimRequestError(
                f"Timed out after {RESPONSE_TIMEOUT_SECONDS:.0f} s waiting for "
                f"the {kind} response {correlation_id}"
            )
        payload = payloads[0]
        if not payload.get("ok"):
            raise ShimRequestError(
                f"{kind} request failed: {payload.get('error_class')}: "
                f"{payload.get('diagnostics')}"
            )
        return payload

    return send


def worker_logs(workdir: Path) -> str:
    """Return the worker logs of a measurement, for diagnosing failed requests."""
    parts = []
    for path in sorted((workdir / "shim-logs").glob("*.log")):
        parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
    return "\n".join(parts)
