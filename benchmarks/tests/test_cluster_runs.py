"""Floor, log counting and the results callback against a real local cluster."""

import psycopg
import pytest

from benchmarks import core, floor
from benchmarks.ansible_runner import run_playbook, write_inventory
from benchmarks.cluster import fresh_cluster
from benchmarks.desired import DesiredState
from benchmarks.shim import ShimSetup, shim_unavailable_reason
from benchmarks.shim_events import events_api_client
from devtools.pgcluster import find_bindir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_bindir("18") is None, reason="PostgreSQL 18 not installed"),
]


def test_floor_converges_and_counts_sql():
    desired = DesiredState(2)
    with fresh_cluster() as cluster:
        empty, _, empty_counts = cluster.measure(
            lambda: floor.inspect(cluster.state, desired)
        )
        _, _, converge_counts = cluster.measure(
            lambda: floor.converge(
                cluster.state, desired, "pw", cluster.workdir / "dsn"
            )
        )
        converged, _, inspect_counts = cluster.measure(
            lambda: floor.inspect(cluster.state, desired)
        )
        dsn_files = sorted(path.name for path in (cluster.workdir / "dsn").iterdir())

    assert empty.missing_databases == desired.databases
    assert empty_counts.total_statements == 2
    assert empty_counts.connections == 1
    # CREATE ROLE, two CREATE DATABASE, one REVOKE, one GRANT, two CREATE SCHEMA.
    assert converge_counts.statements["write"] == 7
    assert converge_counts.connections == 3
    assert converge_counts.errors == 0
    assert converged.converged
    assert inspect_counts.statements["read"] == 4
    assert inspect_counts.connections == 3
    assert dsn_files == ["bench_db_001.dsn", "bench_db_002.dsn"]


def test_inspection_detects_public_connect():
    desired = DesiredState(1)
    with fresh_cluster() as cluster:
        floor.converge(cluster.state, desired, "pw", cluster.workdir / "dsn")
        with psycopg.connect(cluster.state.dsn(), autocommit=True) as conn:
            conn.execute('GRANT CONNECT ON DATABASE "bench_db_001" TO PUBLIC')
        inspection = floor.inspect(cluster.state, desired)
    assert inspection.acl_drift == ["bench_db_001"]
    assert not inspection.converged


def test_callback_records_task_results():
    with fresh_cluster() as cluster:
        playbook = cluster.workdir / "ping.yml"
        playbook.write_text(
            "- name: Ping\n  hosts: localhost\n  gather_facts: false\n"
            "  tasks:\n"
            "    - name: Ping\n      ansible.builtin.ping:\n"
            "    - name: Fail\n      ansible.builtin.fail:\n        msg: stop here\n"
        )
        inventory = write_inventory(cluster.workdir / "inventory.ini")
        run = run_playbook(playbook, inventory, cluster.workdir)
    assert run.returncode != 0
    assert [task["task"] for task in run.tasks] == ["Ping", "Fail"]
    assert run.tasks[0]["status"] == "ok"
    assert run.tasks[1]["status"] == "failed"
    assert run.failure() == "Fail: stop here"


@pytest.mark.skipif(
    shim_unavailable_reason() is not None, reason="bus_shim.worker not importable"
)
def test_events_api_client_answers_plan_and_status():
    desired = DesiredState(1)
    with fresh_cluster() as cluster:
        dsn_dir = cluster.workdir / "dsn"
        core.call(
            "apply",
            desired,
            cluster.admin_dsn_file,
            dsn_dir,
            dry_run=False,
            confirm=True,
        )
        setup = ShimSetup(
            workers=1,
            admin_dsn=cluster.state.dsn(),
            admin_dsn_file=cluster.admin_dsn_file,
            desired=desired,
            workdir=cluster.workdir,
            dsn_output_dir=dsn_dir,
        )
        with events_api_client(setup) as send:
            plan = send("plan")
            status = send("status")
    assert plan["ok"] is True
    assert plan["changes"] == []
    assert status["ok"] is True
