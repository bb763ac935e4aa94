"""Running real ansible-playbook processes against the working-tree collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devtools.collection_tree import REPO_ROOT, ensure_collection_tree


@dataclass
class PlaybookRun:
    """Exit code, output and the registered result of each named task."""

    returncode: int
    stdout: str
    stderr: str
    results: dict[str, Any]


def ansible_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return an environment that finds the collection and keeps ~/.ansible clean."""
    environment = dict(os.environ)
    environment.update(
        ANSIBLE_COLLECTIONS_PATH=str(ensure_collection_tree()),
        ANSIBLE_HOME=str(REPO_ROOT / ".cache" / "ansible-home"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="true",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_FORCE_COLOR="false",
    )
    environment.update(extra or {})
    return environment


def run_playbook(
    directory: Path,
    tasks: list[dict[str, Any]],
    *,
    check: bool = False,
    diff: bool = False,
    environment: dict[str, str] | None = None,
) -> PlaybookRun:
    """Run ``tasks`` on localhost and return each task's registered result.

    Every task is registered under its ``register`` name (or ``task_<n>``) and
    ignores errors, so failed results can be asserted on.
    """
    results_file = directory / "results.json"
    results_file.unlink(missing_ok=True)
    prepared = []
    names = []
    for index, task in enumerate(tasks):
        task = dict(task)
        name = task.setdefault("register", f"task_{index}")
        task.setdefault("ignore_errors", True)
        names.append(name)
        prepared.append(task)
    collected = "{" + ", ".join(f"'{name}': {name}" for name in names) + "}"
    prepared.append(
        {
            "name": "Save the registered results",
            "ansible.builtin.copy": {
                "content": "{{ " + collected + " | to_json }}",
                "dest": str(results_file),
                "mode": "0600",
            },
            "check_mode": False,
            "diff": False,
        }
    )
    play = [
        {
            "name": "Test play",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "tasks": prepared,
        }
    ]
    playbook = directory / "playbook.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        str(playbook),
    ]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    completed = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=ansible_environment(environment),
        cwd=directory,
        timeout=300,
        check=False,
    )
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return PlaybookRun(
        completed.returncode, completed.stdout, completed.stderr, results
    )
