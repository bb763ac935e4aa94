"""Start and stop a local Events API stand-in and a shim worker for demos and tests.

``EventsStack`` runs ``bus-events-local serve`` and ``bus-integration-database
serve`` as subprocesses on a free loopback port and waits until the worker has
opened its four request streams. From the command line, ``start`` does the same
in the background and records both process ids in ``<dir>/stack.json``, and
``stop`` ends them by those ids. Tokens and the signing secret are written to
0600 files in the working directory and never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bus_shim.events_local import mint_token
from devtools.events_probe import EventsProbe, StackError

LISTENING = re.compile(r"listening on (http://\S+)")
ALL_SCOPES = "events:send events:listen database:admin database:read"
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class Stack:
    """Process ids and addresses of a running stack, as kept in stack.json."""

    base_url: str
    events_api_pid: int
    worker_pid: int
    consumer: str
    directory: str


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def _log_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def start_events_api(
    directory: Path, secret: str, *, max_body_bytes: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the stand-in on a free loopback port and return the process and URL.

    Raises StackError when it exits or is not healthy within 15 seconds.
    """
    secret_file = directory / "jwt-secret"
    write_private(secret_file, secret + "\n")
    command = [sys.executable, "-m", "bus_shim.events_local", "serve"]
    command += ["--host", "127.0.0.1", "--port", "0", "--secret-file", str(secret_file)]
    if max_body_bytes is not None:
        command += ["--max-body-bytes", str(max_body_bytes)]
    log_path = directory / "events-api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"the Events API stand-in exited:\n{_log_text(log_path)}")
        found = LISTENING.search(_log_text(log_path))
        if found:
            try:
                if httpx.get(f"{found.group(1)}/healthz", timeout=1.0).is_success:
                    return process, found.group(1)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise StackError(f"the Events API stand-in did not start:\n{_log_text(log_path)}")


def worker_command(
    env_file: Path | None = None, prefix: Sequence[str] = ()
) -> list[str]:
    """Return the command line that runs the worker with this Python.

    ``prefix`` goes before it, for a wrapper such as ``setpriv``.
    """
    command = [*prefix, sys.executable, "-m", "bus_shim", "serve"]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    return command


def clean_environment() -> dict[str, str]:
    """Return this process's environment without any BUS_* variable."""
    return {
        key: value for key, value in os.environ.items() if not key.startswith("BUS_")
    }


@dataclass
class WorkerProcess:
    """A running ``bus-integration-database serve`` and the file it logs to."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Return everything the worker has logged so far."""
        return _log_text(self.log_path)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` appears in the log and return the whole log.

        Raises StackError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() >= deadline:
                raise StackError(f"{text!r} not logged in {timeout} s:\n{self.log()}")
            time.sleep(0.05)
        return self.log()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Send SIGTERM, wait for the exit and return the exit status.

        The process is killed after ``timeout`` seconds.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_worker(
    environment: Mapping[str, str],
    log_path: Path,
    env_file: Path | None = None,
    cwd: Path | None = None,
    prefix: Sequence[str] = (),
) -> WorkerProcess:
    """Start ``bus-integration-database serve`` with ``environment`` in ``cwd``.

    Its stdout and stderr are appended to ``log_path``. ``prefix`` is a
    wrapper command to run it under; see ``worker_command``.
    """
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            worker_command(env_file, prefix),
            env=dict(environment),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(process, log_path)


def _process_state(pid: int) -> str | None:
    """Return the /proc state letter of ``pid``, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _is_ours(pid: int) -> bool:
    """Return True when ``pid`` still runs one of the commands this tool started."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"bus_shim" in command or b"bus_shim.events_local" in command


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Send SIGTERM to ``pid`` and wait for it to end, or SIGKILL it after ``timeout``.

    Only a process whose command line shows it is the worker or the stand-in
    is signalled, so a reused process id is left alone. Returns True when the
    process is gone.
    """
    if not _is_ours(pid):
        return True
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _process_state(pid) in (None, "Z"):
            return True
        time.sleep(0.05)
    print(f"process {pid} did not stop in {timeout:.0f} s, killing it", file=sys.stderr)
    os.kill(pid, signal.SIGKILL)
    return False


class EventsStack:
    """The stand-in and one worker, started together and stopped by process id.

    Without ``env_file`` the worker serves deployment ``deployment_id`` with
    service role ``service_role``. With one, the file supplies the database
    settings. Use it as a context manager, or call ``start`` and ``stop``.
    """

    def __init__(
        self,
        workdir: Path,
        admin_dsn_file: Path | None = None,
        dsn_output_dir: Path | None = None,
        *,
        env_file: Path | None = None,
        deployment_id: str = "example-dev",
        service_role: str = "bus_service",
    ) -> None:
        self.workdir = Path(workdir)
        self.admin_dsn_file = admin_dsn_file
        self.dsn_output_dir = dsn_output_dir
        self.env_file = env_file
        self.deployment_id = deployment_id
        self.service_role = service_role
        self.base_url = ""
        self.client_token = ""
        self.consumer = f"demo-{os.getpid()}"
        self.events_api: subprocess.Popen[bytes] | None = None
        self.worker: WorkerProcess | None = None

    def __enter__(self) -> EventsStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def worker_environment(self, worker_token: Path) -> dict[str, str]:
        """Return the worker's environment: no inherited BUS_* variables."""
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("BUS_")
        }
        environment.update(
            {
                "BUS_EVENTS_API_BASE_URL": self.base_url,
                "BUS_EVENTS_TOKEN_FILE": str(worker_token),
                "BUS_EVENTS_CONSUMER_ID": self.consumer,
                "BUS_SHIM_STATE_DIR": str(self.workdir / "state"),
            }
        )
        if self.env_file is None:
            environment["BUS_DEPLOYMENT_ID"] = self.deployment_id
            environment["BUS_DATABASE_SERVICE_ROLE"] = self.service_role
        if self.admin_dsn_file is not None:
            environment["BUS_POSTGRES_ADMIN_DSN_FILE"] = str(self.admin_dsn_file)
        if self.dsn_output_dir is not None:
            environment["BUS_DATABASE_DSN_OUTPUT_DIR"] = str(self.dsn_output_dir)
        return environment

    def start(self) -> None:
        """Start both processes and wait for the worker's streams.

        Writes ``<workdir>/token``, a token with every events and database
        scope for clients such as curl. Raises StackError when a process does
        not start, after stopping whatever did start.
        """
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        self.events_api, self.base_url = start_events_api(self.workdir, secret)

        worker_token = self.workdir / "worker-token"
        write_private(worker_token, mint_token(secret, ALL_SCOPES, sub="bus-shim"))
        self.client_token = mint_token(secret, ALL_SCOPES, sub="operator")
        write_private(self.workdir / "token", self.client_token + "\n")
        log_path = self.workdir / "worker.log"
        self.worker = start_worker(
            self.worker_environment(worker_token), log_path, self.env_file
        )
        try:
            with EventsProbe(self.base_url, self.client_token) as probe:
                probe.wait_for_worker(self.consumer, self.worker.process)
        except StackError:
            self.stop()
            raise StackError(
                "the worker did not start:\n" + _log_text(log_path)
            ) from None

    def stop(self) -> None:
        """Stop the worker, then the stand-in, skipping any that already stopped."""
        processes = [self.worker.process if self.worker else None, self.events_api]
        for process in processes:
            if process is not None and process.poll() is None:
                stop_pid(process.pid)
                process.wait()

    def client_environment(self) -> dict[str, str]:
        """Return BUS_EVENTS_API_BASE_URL and BUS_EVENTS_TOKEN for a client."""
        return {
            "BUS_EVENTS_API_BASE_URL": self.base_url,
            "BUS_EVENTS_TOKEN": self.client_token,
        }

    def record(self) -> Stack:
        """Return the process ids and addresses to keep in stack.json."""
        assert self.events_api is not None and self.worker is not None
        return Stack(
            self.base_url,
            self.events_api.pid,
            self.worker.process.pid,
            self.consumer,
            str(self.workdir),
        )


def stop_stack(directory: Path) -> None:
    """Stop the worker, then the stand-in, recorded in ``<dir>/stack.json``."""
    path = directory / "stack.json"
    stack = Stack(**json.loads(path.read_text()))
    stop_pid(stack.worker_pid)
    stop_pid(stack.events_api_pid)
    path.unlink()


def main(argv: list[str] | None = None) -> int:
    """Run ``start`` or ``stop`` and return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m devtools.events_stack")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start the stand-in and a worker")
    start.add_argument("--dir", required=True, type=Path, help="state directory")
    start.add_argument("--env-file", type=Path, help=".env file for the worker")
    stop = commands.add_parser("stop", help="stop what start started")
    stop.add_argument("--dir", required=True, type=Path, help="state directory")
    args = parser.parse_args(argv)

    try:
        if args.command == "start":
            stack = EventsStack(args.dir, env_file=args.env_file)
            stack.start()
            record = json.dumps(asdict(stack.record()), indent=2)
            write_private(args.dir / "stack.json", record)
            print(f"BUS_EVENTS_API_BASE_URL={stack.base_url}")
            return 0
        stop_stack(args.dir)
        return 0
    except (StackError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
