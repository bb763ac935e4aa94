"""Start ``bus-events-local serve`` as a subprocess for tests and demos.

The server runs in its own process on a free loopback port, as a client would
meet it. Its log goes to a file that ``LocalEventsServer.log_text`` returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from .auth import DEFAULT_AUDIENCE, mint_token
from .cli import SECRET_ENV

logger = logging.getLogger(__name__)

LISTENING_PATTERN = re.compile(r"listening on (http://\S+)")
STOP_TIMEOUT_SECONDS = 10.0


class ServerStartError(RuntimeError):
    """The stand-in did not start or did not become healthy in time."""


@dataclass
class LocalEventsServer:
    """A running stand-in subprocess and what a client needs to reach it."""

    base_url: str
    secret: str
    audience: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def token(
        self, scopes: str | Iterable[str], *, sub: str = "local-dev", ttl: int = 3600
    ) -> str:
        """Mint a token that this server accepts; see ``mint_token``."""
        return mint_token(self.secret, scopes, sub=sub, ttl=ttl, audience=self.audience)

    def log_text(self) -> str:
        """Return the server's log output so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(
        self,
        timeout: float = STOP_TIMEOUT_SECONDS,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> int:
        """Send ``stop_signal``, wait for exit and return the exit status.

        The process is killed if it has not exited after ``timeout`` seconds.
        """
        if self.process.poll() is None:
            self.process.send_signal(stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.error(
                    "bus-events-local (pid %d) did not stop within %.0f s; killing it",
                    self.process.pid,
                    timeout,
                )
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _wait_until_ready(
    process: subprocess.Popen[bytes], log_path: Path, deadline: float
) -> str:
    base_url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"bus-events-local exited with status {process.returncode}:\n"
                + log_path.read_text(encoding="utf-8", errors="replace")
            )
        if base_url is None:
            found = LISTENING_PATTERN.search(
                log_path.read_text(encoding="utf-8", errors="replace")
            )
            base_url = found.group(1) if found else None
        if base_url is not None:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                    return base_url
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    raise ServerStartError(
        "bus-events-local did not become healthy in time:\n"
        + log_path.read_text(encoding="utf-8", errors="replace")
    )


@contextlib.contextmanager
def run_local_events_server(
    secret: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    strict: bool = False,
    audience: str = DEFAULT_AUDIENCE,
    max_body_bytes: int | None = None,
    log_level: str = "info",
    startup_timeout: float = 15.0,
) -> Iterator[LocalEventsServer]:
    """Run ``bus-events-local serve`` until the block exits, then stop it.

    A random secret is generated when ``secret`` is None. Port 0 picks a free
    port. The block starts after the server's ``/healthz`` returned 200.
    Raises ServerStartError when the process exits or is not healthy within
    ``startup_timeout`` seconds.
    """
    secret = secret if secret is not None else secrets.token_urlsafe(48)
    command = [sys.executable, "-m", "bus_shim.events_local", "serve"]
    command += ["--host", host, "--port", str(port), "--audience", audience]
    command += ["--log-level", log_level]
    if strict:
        command.append("--strict")
    if max_body_bytes is not None:
        command += ["--max-body-bytes", str(max_body_bytes)]
    env = {**os.environ, SECRET_ENV: secret}

    with tempfile.TemporaryDirectory(prefix="bus-events-local-") as directory:
        log_path = Path(directory) / "server.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        server = None
        try:
            deadline = time.monotonic() + startup_timeout
            base_url = _wait_until_ready(process, log_path, deadline)
            server = LocalEventsServer(base_url, secret, audience, process, log_path)
            yield server
        finally:
            if server is not None:
                status = server.stop()
            else:
                process.kill()
                status = process.wait()
            if status not in (0, -signal.SIGKILL):
                logger.warning("bus-events-local exited with status %d", status)
