"""Internal HTTP surface: health, capabilities and the plan of the configured state."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from busdk_database.service import handle

from .capabilities import capabilities
from .config import ConfigError, Environment, database_settings, desired_request

logger = logging.getLogger(__name__)

SERVICE_NAME = "bus-api-provider-database"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8092
# Fields of a plan response that the plan endpoint returns.
PLAN_FIELDS = ("ok", "deployment_id", "provider", "dry_run", "actions", "diagnostics")
UNAVAILABLE_CLASSES = frozenset({"unavailable", "timeout"})


def plan_configured_state(env: Environment) -> tuple[int, dict[str, Any]]:
    """Plan the desired state in ``env`` without changing anything.

    Returns the HTTP status and body: 200 when the plan succeeded, 503 when the
    server is unreachable or timed out, 500 for any other failure, including
    missing configuration.
    """
    try:
        payload = desired_request(env, "plan", dry_run=True)
        settings = database_settings(env, for_events=False)
    except ConfigError as error:
        body = {
            "ok": False,
            "actions": [],
            "diagnostics": [str(error)],
            "error_class": "bad_request",
        }
        return 500, body
    response = handle("plan", payload, settings)
    body = {key: response[key] for key in PLAN_FIELDS if key in response}
    if response["ok"]:
        return 200, body
    body["error_class"] = response["error_class"]
    status = 503 if response["error_class"] in UNAVAILABLE_CLASSES else 500
    return status, body


def create_app(env: Environment) -> Starlette:
    """Build the application serving the desired state configured in ``env``."""

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "service": SERVICE_NAME})

    async def capability_document(request: Request) -> JSONResponse:
        return JSONResponse(capabilities())

    async def plan(request: Request) -> JSONResponse:
        status, body = await run_in_threadpool(plan_configured_state, env)
        logger.info(
            "GET /api/internal/database/plan status=%d outcome=%s",
            status,
            "ok" if body["ok"] else body.get("error_class"),
        )
        return JSONResponse(body, status_code=status)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route(
            "/api/internal/database/capabilities",
            capability_document,
            methods=["GET"],
        ),
        Route("/api/internal/database/plan", plan, methods=["GET"]),
    ]
    return Starlette(routes=routes)


class _Server(uvicorn.Server):
    """uvicorn server that exits with status 0 after SIGTERM or SIGINT.

    uvicorn (0.55) re-raises the stop signal once it has shut down, which would end
    the process with a signal status, so this server only requests the
    shutdown.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Request a graceful shutdown, or a forced one on the second signal."""
        if self.should_exit:
            self.force_exit = True
            return
        logger.info("received %s, shutting down", signal.Signals(sig).name)
        self.should_exit = True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve_http(env: Environment, host: str, port: int) -> int:
    """Serve the HTTP surface on ``host``:``port`` until stopped, then return 0.

    Port 0 picks a free port, and the start line logs the real address. Raises
    OSError when the address cannot be bound.
    """
    if not _is_loopback(host):
        logger.warning(
            "listening on %s: this endpoint has no authentication of its own; "
            "expose it only behind bus-api",
            host,
        )
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    bound_host, bound_port = sock.getsockname()[:2]
    display_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    config = uvicorn.Config(
        create_app(env), log_config=None, lifespan="off", access_log=False
    )
    logger.info("%s listening on http://%s:%d", SERVICE_NAME, display_host, bound_port)
    _Server(config).run(sockets=[sock])
    logger.info("%s stopped", SERVICE_NAME)
    return 0
