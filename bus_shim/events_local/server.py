"""Run the stand-in application under uvicorn on a socket bound here.

Binding the socket before uvicorn starts lets ``--port 0`` pick a free port
and still log the real URL in the start line.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Generator
from types import FrameType

import uvicorn
from starlette.applications import Starlette

logger = logging.getLogger(__name__)

# Streams never end by themselves, so shutdown closes them first. This bounds
# the wait for any other request that is still running.
GRACEFUL_SHUTDOWN_SECONDS = 5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StandInServer(uvicorn.Server):
    """uvicorn server that closes open streams on shutdown and exits cleanly.

    uvicorn (0.55) re-raises a caught SIGINT or SIGTERM after shutdown, which
    would end the process with a signal status or a KeyboardInterrupt
    traceback. This server handles the signal and returns normally instead.
    """

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.app = app

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Install stop handlers for the duration of the server, main thread only."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Request shutdown on the first signal and a forced exit on the second."""
        if self.should_exit:
            self.force_exit = True
            return
        logger.info("received %s, shutting down", signal.Signals(sig).name)
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close every open stream, then let uvicorn finish shutting down."""
        closed = self.app.state.events.broker.close_all()
        if closed:
            logger.info("closed %d open streams for shutdown", closed)
        await super().shutdown(sockets=sockets)


def bind_socket(host: str, port: int) -> socket.socket:
    """Return a TCP socket bound to ``host``:``port``; port 0 picks a free one.

    Raises OSError when the address cannot be resolved or bound.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def socket_url(sock: socket.socket) -> str:
    """Return the ``http://host:port`` base URL of a bound socket."""
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def serve(app: Starlette, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve ``app`` on the bound ``sock`` until SIGINT or SIGTERM."""
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = StandInServer(config, app)
    logger.info(
        "bus-events-local (development stand-in for the Bus Events API) listening "
        "on %s",
        socket_url(sock),
    )
    server.run(sockets=[sock])
    logger.info("bus-events-local stopped")
