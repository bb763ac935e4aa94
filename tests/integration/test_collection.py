"""The collection builds, installs offline and documents its modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devtools.collection_tree import REPO_ROOT
from tests.support.playbook import ansible_environment

MODULES = ("apply", "plan", "status", "verify", "env_file")
BIN = Path(sys.executable).parent


def _run(argv: list[str], environment: dict[str, str]) -> str:
    completed = subprocess.run(
        argv, capture_output=True, text=True, env=environment, check=False, timeout=300
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    return completed.stdout


@pytest.mark.parametrize("module", MODULES)
def test_module_doc_renders(module: str) -> None:
    output = _run(
        [str(BIN / "ansible-doc"), f"busdk.database.{module}"], ansible_environment()
    )
    assert f"busdk.database.{module}" in output
    assert "deployment_id" in output
    assert "EXAMPLES" in output
    assert "RETURN VALUES" in output


def test_tarball_installs_offline(tmp_path: Path) -> None:
    environment = ansible_environment()
    _run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "build",
            str(REPO_ROOT),
            "--output-path",
            str(tmp_path),
        ],
        environment,
    )
    tarball = next(tmp_path.glob("busdk-database-*.tar.gz"))
    installed = tmp_path / "installed"
    # With the working tree on the collections path, ansible-galaxy resolves the
    # tarball against that copy instead of installing it.
    environment.pop("ANSIBLE_COLLECTIONS_PATH")
    _run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "install",
            "--offline",
            str(tarball),
            "-p",
            str(installed),
        ],
        environment,
    )
    environment["ANSIBLE_COLLECTIONS_PATH"] = str(installed)

    listing = _run([str(BIN / "ansible-doc"), "-l", "busdk.database"], environment)

    for module in MODULES:
        assert f"busdk.database.{module}" in listing
    root = installed / "ansible_collections" / "busdk" / "database"
    assert (root / "roles" / "bootstrap" / "tasks" / "main.yml").exists()
    assert not (root / "bus_shim").exists()
    assert not (root / ".venv").exists()
