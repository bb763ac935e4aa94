"""Command line of ``bus-events-local``, the local Bus Events API stand-in.

``serve`` runs the development stand-in. It is not the production Bus Events
server: everything is in memory and lost on exit. ``token`` mints a
development token. Both read the HS256 secret from the environment variable
BUS_EVENTS_JWT_SECRET or from ``--secret-file``, never from the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .auth import DEFAULT_AUDIENCE, MIN_SECRET_BYTES, mint_token, validate_secret
from .broker import DEFAULT_BACKLOG_MAX_BYTES, DEFAULT_HISTORY_MAX_BYTES

logger = logging.getLogger(__name__)

SECRET_ENV = "BUS_EVENTS_JWT_SECRET"
EXIT_USAGE = 2
DESCRIPTION = (
    "Local development stand-in for the Bus Events API: an in-memory event "
    "broker for demos and tests. It is not the production Bus Events server."
)
SCOPES_EPILOG = (
    "Scopes: events:send publishes and events:listen streams any event "
    "(aliases events:write and events:read). For bus.database.* events, "
    "database:admin allows everything and database:read allows status and "
    "verify events; the generic scopes count there too unless --strict is "
    "given. With --strict, streaming bus.database.*.request and publishing "
    "bus.database.*.response need database:admin. The test endpoints under "
    "/api/v1/_local/ need only a valid token."
)


class ConfigError(Exception):
    """The command line or environment is incomplete or invalid."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with the serve and token subcommands."""
    parser = argparse.ArgumentParser(prog="bus-events-local", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    secret_help = (
        f"file that contains the HS256 secret of at least {MIN_SECRET_BYTES} bytes "
        f"(default: the {SECRET_ENV} environment variable)"
    )
    audience_help = f"JWT audience (default: {DEFAULT_AUDIENCE})"

    serve = commands.add_parser(
        "serve",
        help="run the development stand-in server",
        description=DESCRIPTION,
        epilog=SCOPES_EPILOG,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8081,
        help="TCP port to bind; 0 picks a free port (default: 8081)",
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        help="accept only database:* scopes for bus.database.* events, and "
        "database:admin only for consuming requests and publishing responses",
    )
    serve.add_argument("--audience", default=DEFAULT_AUDIENCE, help=audience_help)
    serve.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=1024 * 1024,
        help="maximum publish body size in bytes (default: 1048576)",
    )
    serve.add_argument(
        "--history-max-bytes",
        type=_positive_int,
        default=DEFAULT_HISTORY_MAX_BYTES,
        help="bytes of events kept for replay, oldest evicted first "
        f"(default: {DEFAULT_HISTORY_MAX_BYTES})",
    )
    serve.add_argument(
        "--backlog-max-bytes",
        type=_positive_int,
        default=DEFAULT_BACKLOG_MAX_BYTES,
        help="bytes of events kept for all unicast groups without a consumer, "
        f"oldest evicted first (default: {DEFAULT_BACKLOG_MAX_BYTES})",
    )
    serve.add_argument("--secret-file", type=Path, help=secret_help)
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help="log level (default: info). debug also logs every published event",
    )

    token = commands.add_parser(
        "token",
        help="print a development token",
        description="Print a signed development token for the stand-in.",
    )
    token.add_argument(
        "--scope",
        required=True,
        help="space-separated scopes, e.g. 'events:send events:listen'",
    )
    token.add_argument(
        "--sub", default="local-dev", help="subject (default: local-dev)"
    )
    token.add_argument(
        "--ttl",
        type=_positive_int,
        default=3600,
        help="lifetime in seconds (default: 3600)",
    )
    token.add_argument("--audience", default=DEFAULT_AUDIENCE, help=audience_help)
    token.add_argument("--secret-file", type=Path, help=secret_help)
    return parser


def load_secret(secret_file: Path | None) -> str:
    """Return the signing secret from ``secret_file`` or the environment.

    Surrounding whitespace, such as a trailing newline, is removed. Raises
    ConfigError when no secret is configured or it is too short.
    """
    if secret_file is not None:
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read --secret-file {secret_file}: {exc}"
            ) from exc
        source = str(secret_file)
    else:
        secret = os.environ.get(SECRET_ENV, "").strip()
        source = SECRET_ENV
    if not secret:
        raise ConfigError(f"no JWT secret: set {SECRET_ENV} or pass --secret-file PATH")
    try:
        validate_secret(secret)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    return secret


def _serve(args: argparse.Namespace) -> int:
    # Imported here so that the token command starts without uvicorn.
    from .app import create_app
    from .server import bind_socket, serve

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    secret = load_secret(args.secret_file)
    app = create_app(
        secret,
        audience=args.audience,
        strict=args.strict,
        max_body_bytes=args.max_body_bytes,
        history_max_bytes=args.history_max_bytes,
        backlog_max_bytes=args.backlog_max_bytes,
    )
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        logger.error("cannot listen on %s port %d: %s", args.host, args.port, exc)
        return 1
    if args.strict:
        logger.info(
            "strict mode: bus.database.* events need database:* scopes, and "
            "consuming requests and publishing responses need database:admin"
        )
    serve(app, sock, log_level=args.log_level)
    return 0


def _token(args: argparse.Namespace) -> int:
    secret = load_secret(args.secret_file)
    token = mint_token(
        secret, args.scope, sub=args.sub, ttl=args.ttl, audience=args.audience
    )
    print(token)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bus-events-local``; return the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        return _token(args)
    except ConfigError as exc:
        print(f"bus-events-local: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
