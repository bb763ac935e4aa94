"""The internal HTTP surface, served by a ``bus-integration-database http`` process."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from bus_shim.capabilities import capabilities
from devtools.events_stack import clean_environment
from devtools.pgcluster import ClusterState, write_dsn_file

pytestmark = pytest.mark.timeout(60)

LISTENING = re.compile(r"listening on (http://\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[str, subprocess.Popen[str]]]]:
    processes: list[subprocess.Popen[str]] = []

    def start(
        admin_dsn: str | None, **values: str
    ) -> tuple[str, subprocess.Popen[str]]:
        directory = tmp_path / f"site-{len(processes)}"
        directory.mkdir()
        lines = [f"{key}={value}" for key, value in values.items()]
        if admin_dsn is not None:
            write_dsn_file(directory / "admin-dsn", admin_dsn)
            lines.append("BUS_POSTGRES_ADMIN_DSN_FILE=./admin-dsn")
        (directory / ".env").write_text("\n".join(lines) + "\n")
        (directory / ".env").chmod(0o600)
        log_path = directory / "http.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bus_shim", "http", "--port", "0"],
                cwd=directory,
                env=clean_environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        processes.append(process)
        deadline = time.monotonic() + 15
        while not (found := LISTENING.search(log_path.read_text())):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        return found.group(1), process

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=15)


@pytest.fixture(scope="module")
def cluster(clusters: dict[str, ClusterState]) -> ClusterState:
    return clusters.get("18") or next(iter(clusters.values()))


def test_http_surface_endpoints(
    serve: Callable[..., tuple[str, subprocess.Popen[str]]],
    cluster: ClusterState,
    names: str,
) -> None:
    database = f"{names}_http"
    url, process = serve(
        cluster.dsn(),
        BUS_DEPLOYMENT_ID="example-dev",
        BUS_DATABASE_NAMES=database,
        BUS_DATABASE_SERVICE_ROLE=f"{names}_svc",
    )

    health = httpx.get(f"{url}/healthz")
    document = httpx.get(f"{url}/api/internal/database/capabilities")
    plan = httpx.get(f"{url}/api/internal/database/plan", timeout=30)

    assert url.startswith("http://127.0.0.1:")
    assert health.status_code == 200
    assert health.json() == {"ok": True, "service": "bus-api-provider-database"}
    assert document.json() == capabilities()
    assert plan.status_code == 200
    assert plan.json()["ok"] is True
    assert f"create-database:{database}" in plan.json()["actions"]
    with psycopg.connect(cluster.dsn(), autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database]
        ).fetchall()
    assert found == []
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_http_plan_unreachable_server(
    serve: Callable[..., tuple[str, subprocess.Popen[str]]],
) -> None:
    url, _ = serve(
        f"postgresql://u:pw-{free_port()}@127.0.0.1:{free_port()}/postgres",
        BUS_DEPLOYMENT_ID="example-dev",
        BUS_DATABASE_NAMES="bus_events",
    )

    plan = httpx.get(f"{url}/api/internal/database/plan", timeout=30)

    assert plan.status_code == 503
    assert plan.json()["ok"] is False
    assert plan.json()["error_class"] == "unavailable"
    assert "pw-" not in plan.text


def test_http_plan_without_configuration(
    serve: Callable[..., tuple[str, subprocess.Popen[str]]],
) -> None:
    url, _ = serve(None)

    plan = httpx.get(f"{url}/api/internal/database/plan")
    health = httpx.get(f"{url}/healthz")

    assert plan.status_code == 500
    assert "Missing BUS_DEPLOYMENT_ID" in plan.json()["diagnostics"][0]
    assert health.status_code == 200
