"""Run ansible-playbook against localhost with project-local Ansible paths.

community.postgresql is taken from the ``ansible`` package on the Python package
index (a wheel that bundles the community collections), because Galaxy is not
reachable here. The wheel is downloaded once with pip and only
``ansible_collections/community/postgresql`` is extracted into the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from devtools.collection_tree import ensure_collection_tree

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_ROOT = REPO_ROOT / ".cache"
WHEEL_DIR = CACHE_ROOT / "bench-wheels"
COLLECTIONS_DIR = CACHE_ROOT / "bench-collections"
ANSIBLE_HOME = CACHE_ROOT / "bench-ansible-home"
CALLBACK_DIR = Path(__file__).resolve().parent / "callback_plugins"

# ansible 12.3.0 bundles community.postgresql 4.2.0, which supports psycopg 3.
ANSIBLE_PACKAGE_VERSION = "12.3.0"
COMMUNITY_POSTGRESQL_PREFIX = "ansible_collections/community/postgresql/"


class AnsibleSetupError(RuntimeError):
    """The community collection could not be downloaded or extracted."""


def ensure_community_postgresql() -> Path:
    """Return a collections path that contains community.postgresql.

    Downloads the ansible wheel with pip on first use and reuses it afterwards.
    """
    manifest = COLLECTIONS_DIR / COMMUNITY_POSTGRESQL_PREFIX / "MANIFEST.json"
    if manifest.exists():
        return COLLECTIONS_DIR
    wheel = _ensure_wheel()
    staging = COLLECTIONS_DIR.with_name(COLLECTIONS_DIR.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        members = [
            name
            for name in archive.namelist()
            if name.startswith(COMMUNITY_POSTGRESQL_PREFIX)
        ]
        if not members:
            raise AnsibleSetupError(f"{wheel} contains no community.postgresql")
        archive.extractall(staging, members)
    shutil.rmtree(COLLECTIONS_DIR, ignore_errors=True)
    staging.rename(COLLECTIONS_DIR)
    return COLLECTIONS_DIR


def _ensure_wheel() -> Path:
    pattern = f"ansible-{ANSIBLE_PACKAGE_VERSION}-py3-none-any.whl"
    wheel = WHEEL_DIR / pattern
    if wheel.exists():
        return wheel
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    print(f"downloading ansible=={ANSIBLE_PACKAGE_VERSION} with pip (once)", flush=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        f"ansible=={ANSIBLE_PACKAGE_VERSION}",
        "-d",
        str(WHEEL_DIR),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not wheel.exists():
        detail = (result.stderr or result.stdout).strip()[-1000:]
        raise AnsibleSetupError(
            f"pip download of ansible=={ANSIBLE_PACKAGE_VERSION} failed: {detail}"
        )
    return wheel


def ansible_environment(results_file: Path) -> dict[str, str]:
    """Return the environment for ansible-playbook with all state under .cache."""
    collection_paths = [
        str(ensure_collection_tree()),
        str(ensure_community_postgresql()),
    ]
    local_tmp = ANSIBLE_HOME / "tmp"
    local_tmp.mkdir(parents=True, exist_ok=True)
    # An empty configuration file keeps /etc/ansible/ansible.cfg and
    # ~/.ansible.cfg from changing the measurement.
    config = ANSIBLE_HOME / "ansible.cfg"
    if not config.exists():
        config.write_text("[defaults]\n")
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_HOME": str(ANSIBLE_HOME),
            "ANSIBLE_LOCAL_TEMP": str(local_tmp),
            "ANSIBLE_REMOTE_TEMP": str(local_tmp),
            "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(collection_paths),
            "ANSIBLE_COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH": "ignore",
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_results",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_CONFIG": str(config),
            "BENCH_RESULTS_FILE": str(results_file),
        }
    )
    return env


@dataclass
class PlaybookRun:
    """Wall time, exit code and per-task results of one ansible-playbook run."""

    seconds: float
    returncode: int
    tasks: list[dict[str, object]] = field(default_factory=list)
    output_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def changed(self) -> bool:
        return any(task.get("changed") for task in self.tasks)

    @property
    def changed_tasks(self) -> int:
        return sum(1 for task in self.tasks if task.get("changed"))

    def change_count(self) -> tuple[int, str]:
        """Return the number of changes and their unit.

        The unit is "changes" when a task returned a ``changes`` list (the
        busdk.database modules), otherwise "items": changed loop items, with a
        task without a loop counting as one item.
        """
        reported = [
            task["changes"]
            for task in self.tasks
            if isinstance(task.get("changes"), list)
        ]
        if reported:
            return sum(len(changes) for changes in reported), "changes"
        total = 0
        for task in self.tasks:
            if task.get("items"):
                total += int(task.get("items_changed") or 0)
            elif task.get("changed"):
                total += 1
        return total, "items"

    def failure(self) -> str:
        """Return "task: message" for the first failed task, or the output tail."""
        for task in self.tasks:
            if task.get("status") != "ok":
                return f"{task.get('task')}: {task.get('msg')}"
        return self.output_tail


def write_inventory(path: Path) -> Path:
    """Write a localhost inventory that runs modules with this interpreter.

    Interpreter discovery is not used because it fails for an explicit
    localhost inventory here.
    """
    path.write_text(
        "localhost ansible_connection=local "
        f"ansible_python_interpreter={sys.executable}\n"
    )
    return path


def run_playbook(
    playbook: Path,
    inventory: Path,
    workdir: Path,
    *,
    check: bool = False,
    timeout: float = 3600,
) -> PlaybookRun:
    """Run ``playbook`` once and return its wall time and task results."""
    results_file = workdir / "task-results.jsonl"
    results_file.unlink(missing_ok=True)
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        str(inventory),
        str(playbook),
    ]
    if check:
        command.append("--check")
    env = ansible_environment(results_file)

    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return PlaybookRun(
            seconds=time.perf_counter() - started,
            returncode=-1,
            output_tail=f"ansible-playbook timed out after {timeout:.0f} s",
        )
    seconds = time.perf_counter() - started

    tasks: list[dict[str, object]] = []
    if results_file.exists():
        for line in results_file.read_text().splitlines():
            if line.strip():
                tasks.append(json.loads(line))
    tail = (completed.stdout + completed.stderr).strip()[-2000:]
    return PlaybookRun(
        seconds=seconds, returncode=completed.returncode, tasks=tasks, output_tail=tail
    )
