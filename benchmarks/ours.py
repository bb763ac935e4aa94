"""Single-task playbooks for busdk.database.apply and busdk.database.plan."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.ansible_runner import REPO_ROOT
from benchmarks.desired import DesiredState

APPLY_MODULE = REPO_ROOT / "plugins" / "modules" / "apply.py"
PLAN_MODULE = REPO_ROOT / "plugins" / "modules" / "plan.py"
DEPLOYMENT_ID = "bench"


def apply_available() -> bool:
    return APPLY_MODULE.is_file()


def plan_available() -> bool:
    return PLAN_MODULE.is_file()


def desired_state_args(
    desired: DesiredState, admin_dsn_file: Path
) -> dict[str, object]:
    """Return the module options that describe ``desired``, shared by plan and apply.

    The first role in ``roles`` owns the databases.
    """
    return {
        "deployment_id": DEPLOYMENT_ID,
        "admin_dsn_file": str(admin_dsn_file),
        "databases": desired.databases,
        "roles": [desired.role],
        "schemas": [desired.schema],
    }


def apply_args(
    desired: DesiredState, admin_dsn_file: Path, dsn_output_dir: Path
) -> dict[str, object]:
    """Return the busdk.database.apply options that converge to ``desired``."""
    return {
        **desired_state_args(desired, admin_dsn_file),
        "dry_run": False,
        "confirm": True,
        "dsn_output_dir": str(dsn_output_dir),
    }


def write_single_task_playbook(
    path: Path, module: str, args: dict[str, object], task_name: str
) -> Path:
    """Write a playbook that runs ``module`` once on localhost with ``args``.

    The options are written as JSON, which YAML parses unchanged.
    """
    text = f"""\
- name: Benchmark {module}
  hosts: localhost
  gather_facts: false
  tasks:
    - name: {task_name}
      {module}: {json.dumps(args)}
"""
    path.write_text(text)
    return path


def write_apply_playbook(
    path: Path, desired: DesiredState, admin_dsn_file: Path, dsn_output_dir: Path
) -> Path:
    return write_single_task_playbook(
        path,
        "busdk.database.apply",
        apply_args(desired, admin_dsn_file, dsn_output_dir),
        "Converge the benchmark databases",
    )


def write_plan_playbook(
    path: Path, desired: DesiredState, admin_dsn_file: Path
) -> Path:
    return write_single_task_playbook(
        path,
        "busdk.database.plan",
        desired_state_args(desired, admin_dsn_file),
        "Plan the benchmark databases",
    )
