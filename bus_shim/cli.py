"""Command lines of ``bus-integration-database`` and ``bus-integration-postgres``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from busdk_database.models import CHECKS

from .capabilities import (
    DATABASE_PROGRAM,
    POSTGRES_PROGRAM,
    capabilities,
    events_text,
    self_test,
)
from .config import ConfigError, Environment, load_environment

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
OPERATIONS_HELP = {
    "plan": "print the changes the configured state needs; changes nothing",
    "apply": "make the changes; a dry run unless --confirm is given",
    "status": "print the server state and the drift from the configured state",
    "verify": "run the connectivity and listener-policy checks",
    "doctor": "print a read-only report on configuration, credentials and server",
}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _add_env_file(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--env-file",
        default=default,
        metavar="PATH",
        help="read configuration from PATH instead of ./.env; variables already "
        "set in the environment take precedence",
    )


def build_parser(program: str, provider: str | None) -> argparse.ArgumentParser:
    """Return the parser of ``program``, provider-neutral when ``provider`` is None."""
    summary = "PostgreSQL provider" if provider else "provider-neutral worker and tools"
    parser = argparse.ArgumentParser(
        prog=program,
        description=f"Bus database setup and verification: {summary}. Configuration "
        "comes from the environment and ./.env (mode 0600); tokens and DSNs are "
        "never accepted as arguments.",
    )
    parser.add_argument(
        "--events", action="store_true", help="print the event names and exit"
    )
    parser.add_argument(
        "--format",
        choices=["text", "json"],
        help="output of --events: names one per line (text, the default) or "
        "capability JSON",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="run offline consistency checks, print one OK line and exit",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with plan or apply: never change anything, even with --confirm",
    )
    _add_env_file(parser, None)

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in OPERATIONS_HELP.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_env_file(sub, argparse.SUPPRESS)
        if name == "apply":
            sub.add_argument(
                "--confirm",
                action="store_true",
                help="really change the server; without it apply is a dry run",
            )
        if name == "verify":
            sub.add_argument(
                "--check",
                action="append",
                choices=list(CHECKS),
                help="check to run; repeat for several (default: all)",
            )
    if provider is None:
        serve = commands.add_parser(
            "serve",
            help="serve bus.database.* requests from the Bus Events API",
            description="Serve bus.database.* request events until SIGTERM. "
            "Configuration: BUS_EVENTS_API_BASE_URL, BUS_EVENTS_TOKEN or "
            "BUS_EVENTS_TOKEN_FILE, BUS_DEPLOYMENT_ID and the database variables.",
        )
        _add_env_file(serve, argparse.SUPPRESS)
        for name in ("http", "serve-http"):
            http = commands.add_parser(
                name,
                help="serve the internal HTTP endpoints (health, capabilities, plan)",
            )
            _add_env_file(http, argparse.SUPPRESS)
            http.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
            http.add_argument(
                "--port", type=int, default=8092, help="TCP port; 0 picks a free one"
            )
    return parser


def configure_logging(env: Environment | None = None) -> None:
    """Log to stderr at BUS_SHIM_LOG_LEVEL (default INFO), HTTP clients quieter."""
    source = env.values if env is not None else os.environ
    level = (source.get("BUS_SHIM_LOG_LEVEL") or "INFO").strip().upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "INFO",
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    # httpx logs every request at INFO, but the worker logs one line per event.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _print(text: str) -> None:
    """Print ``text`` and flush, so a closed stdout fails inside ``main``."""
    print(text)
    sys.stdout.flush()


def _print_json(document: dict[str, Any]) -> None:
    _print(json.dumps(document, indent=2))


def _run_operation(
    args: argparse.Namespace, env: Environment, provider: str | None
) -> int:
    from .operations import run_operation

    operation = args.command
    confirm = bool(getattr(args, "confirm", False))
    dry_run = args.dry_run or not confirm
    if operation == "plan":
        dry_run = True
    response = run_operation(
        env,
        operation,
        provider=provider,
        dry_run=dry_run,
        confirm=confirm and not dry_run,
        checks=getattr(args, "check", None),
    )
    _print_json(response)
    return EXIT_OK if response.get("ok") else EXIT_FAILED


def _run_command(args: argparse.Namespace, provider: str | None) -> int:
    env = load_environment(args.env_file)
    configure_logging(env)
    for warning in env.warnings:
        print(f"warning: {warning}", file=sys.stderr)

    if args.command == "doctor":
        from .doctor import doctor_report

        report = doctor_report(env, provider)
        _print_json(report)
        return EXIT_OK if report["ok"] else EXIT_FAILED
    if args.command in OPERATIONS_HELP:
        return _run_operation(args, env, provider)

    if args.command == "serve":
        from .state import StateError
        from .worker import run_worker
        from .worker_config import worker_config

        try:
            return run_worker(worker_config(env))
        except StateError as error:
            raise ConfigError(str(error)) from None

    from .http_app import serve_http

    try:
        return serve_http(env, args.host, args.port)
    except OSError as error:
        raise ConfigError(
            f"Failed to listen on {args.host} port {args.port}: {error.strerror}"
        ) from None


def _check_combinations(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> None:
    """Exit with a usage error for options that would be silently ignored."""
    if args.events and args.self_test:
        parser.error("give either --events or --self-test, not both")
    if (args.events or args.self_test) and args.command is not None:
        option = "--events" if args.events else "--self-test"
        parser.error(f"{option} takes no command; run {args.command} without it")
    if args.format is not None and not args.events:
        parser.error("--format applies only to --events")
    if args.dry_run and args.command not in ("plan", "apply", "status", "verify"):
        parser.error("--dry-run applies only to plan, apply, status and verify")


def _main(program: str, provider: str | None, argv: Sequence[str] | None) -> int:
    parser = build_parser(program, provider)
    args = parser.parse_args(argv)
    _check_combinations(parser, args)

    if args.events:
        if args.format == "json":
            _print_json(capabilities(provider))
        else:
            _print(events_text(provider))
        return EXIT_OK
    if args.self_test:
        problems = self_test(provider)
        for problem in problems:
            print(f"FAIL {program} self-test: {problem}", file=sys.stderr)
        if problems:
            return EXIT_FAILED
        _print(f"OK {program} self-test")
        return EXIT_OK
    if args.command is None:
        parser.print_usage(sys.stderr)
        print(
            f"{program}: error: give a command, --events or --self-test",
            file=sys.stderr,
        )
        return EXIT_USAGE

    try:
        return _run_command(args, provider)
    except ConfigError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def main(program: str, provider: str | None, argv: Sequence[str] | None) -> int:
    """Run ``program`` with ``argv`` and return the exit status.

    A closed stdout, as with ``| head``, ends the program with status 1 and
    no traceback.
    """
    try:
        return _main(program, provider, argv)
    except BrokenPipeError:
        # Point stdout at /dev/null, so the interpreter's final flush of the
        # unwritten output does not fail again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_FAILED


def database_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bus-integration-database``."""
    return main(DATABASE_PROGRAM, None, argv)


def postgres_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bus-integration-postgres``."""
    return main(POSTGRES_PROGRAM, "postgres", argv)
