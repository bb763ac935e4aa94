"""Run ``ansible-test sanity`` on the collection without Docker or a get-pip download.

ansible-test works only inside ``.../ansible_collections/<namespace>/<name>/``.
This builds the collection with ``ansible-galaxy collection build`` (so the
``build_ignore`` list in galaxy.yml decides what is checked: exactly what ships)
and unpacks it under ``.cache/ansible-test/collections``. ansible-test runs there
with ``HOME`` set to ``.cache/ansible-test/home``, so its virtual environments
are reused across runs and nothing is written to the real home directory.
Before the run, the offline get-pip replacement ``tests/sanity/get_pip_offline.py``
is installed into that home's ansible-test cache.

Usage: ``python -m devtools.sanity [ansible-test sanity options]``, for example
``python -m devtools.sanity --test validate-modules``. The exit status is
ansible-test's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
WORK_ROOT = REPO_ROOT / ".cache" / "ansible-test"

# Sanity virtual environments live at
# <HOME>/.ansible/test/venv/sanity.<test>/<python>/<8 hex digits>/bin, and their
# console scripts break when the shebang line exceeds 127 characters (a limit
# ansible-test documents in create_sanity_virtualenv). With "#!" that suffix is
# at most 70 characters for the sanity tests of ansible-core 2.19 (measured for
# validate-modules), so 80 leaves a margin. A clone at a longer path uses a
# short home under /tmp instead.
SHEBANG_SUFFIX_MAX = 80
SHEBANG_MAX = 127


def choose_test_home() -> Path:
    """Return the HOME directory for ansible-test, inside the repository if it fits."""
    local = WORK_ROOT / "home"
    if len(str(local)) + SHEBANG_SUFFIX_MAX <= SHEBANG_MAX:
        return local
    return Path(tempfile.gettempdir()) / f"busdk-ansible-test-{os.getuid()}"


TEST_HOME = choose_test_home()
GET_PIP_REPLACEMENT = REPO_ROOT / "tests" / "sanity" / "get_pip_offline.py"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

# ansible-test keeps its own virtual environments and results here, so a
# rebuilt copy keeps them and a second run does not reinstall every tool.
KEPT_OUTPUT = Path("tests") / "output"


def bin_path(name: str) -> str:
    """Return the path of a console script installed next to this Python."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"error: {name} not found next to {sys.executable} or on PATH")
    return found


def bootstrap_pip_version() -> str:
    """Return the pip version that this ansible-test bootstraps into new venvs.

    The version is read from ansible-test's source because ansible-test offers
    no command that prints it. ansible-core 2.19 uses 24.2.
    """
    import ansible_test

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(
        r"default_packages = dict\(\s*pip='([0-9.]+)'", source.read_text()
    )
    if match is None:
        raise SystemExit(
            f"error: pip bootstrap version not found in {source}. "
            "Update bootstrap_pip_version() for this ansible-core release."
        )
    return match.group(1)


def install_get_pip_replacement() -> Path:
    """Copy the offline get-pip replacement to the path ansible-test reads."""
    version = bootstrap_pip_version().replace(".", "_")
    cache_path = TEST_HOME / ".ansible" / "test" / "cache" / f"get_pip_{version}.py"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(GET_PIP_REPLACEMENT, cache_path)
    return cache_path


def collection_identity() -> tuple[str, str]:
    """Return (namespace, name) from galaxy.yml."""
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    return str(galaxy["namespace"]), str(galaxy["name"])


def build_collection_copy(namespace: str, name: str) -> Path:
    """Build the collection and unpack it where ansible-test expects it.

    Everything in the previous copy except ``tests/output`` and ``.git`` is
    removed first, so files deleted from the working tree do not linger.
    """
    target = WORK_ROOT / "collections" / "ansible_collections" / namespace / name
    target.mkdir(parents=True, exist_ok=True)
    for entry in target.iterdir():
        if entry.name == ".git":
            continue
        if entry.name == "tests":
            for child in entry.iterdir():
                if child.name != KEPT_OUTPUT.name:
                    remove_path(child)
        else:
            remove_path(entry)

    with tempfile.TemporaryDirectory(prefix="busdk-sanity-") as build_dir:
        subprocess.run(
            [
                bin_path("ansible-galaxy"),
                "collection",
                "build",
                "--output-path",
                build_dir,
                str(REPO_ROOT),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            env=ansible_environment(),
        )
        (tarball,) = Path(build_dir).glob("*.tar.gz")
        with tarfile.open(tarball) as archive:
            archive.extractall(target, filter="data")

    # ansible-test lists the files to check with git when the directory is in a
    # work tree. The copy lies in a git-ignored folder of this repository, where
    # that list would be empty, so the copy gets a repository of its own.
    if not (target / ".git").exists():
        subprocess.run(["git", "init", "--quiet", str(target)], check=True)
    exclude = target / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text(f"/{KEPT_OUTPUT.as_posix()}/\n")
    return target


def remove_path(path: Path) -> None:
    """Delete a file, symlink or directory tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def ansible_environment() -> dict[str, str]:
    """Return the environment for ansible-galaxy and ansible-test.

    Collection search paths from the caller are dropped so that ansible-test
    checks only the unpacked copy, never a symlink to the working tree.
    """
    environment = dict(os.environ)
    for key in (
        "ANSIBLE_COLLECTIONS_PATH",
        "ANSIBLE_COLLECTIONS_PATHS",
        "ANSIBLE_HOME",
    ):
        environment.pop(key, None)
    environment["HOME"] = str(TEST_HOME)
    environment["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), environment.get("PATH", "")]
    )
    return environment


def main(argv: list[str] | None = None) -> int:
    """Build the copy, install the get-pip replacement and run the sanity tests."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.sanity",
        description="Run ansible-test sanity on the built collection, offline.",
        epilog="Other arguments are passed to 'ansible-test sanity'.",
    )
    parser.add_argument(
        "--python",
        default=PYTHON_VERSION,
        help="Python version for ansible-test (default: %(default)s, this interpreter)",
    )
    args, passthrough = parser.parse_known_args(argv)

    TEST_HOME.mkdir(parents=True, exist_ok=True)
    install_get_pip_replacement()
    namespace, name = collection_identity()
    copy = build_collection_copy(namespace, name)

    # --local runs the ansible-test of this virtual environment as the controller.
    # Each sanity test still gets its own virtual environment with the versions
    # that ansible-test pins, kept under TEST_HOME between runs.
    command = [
        bin_path("ansible-test"),
        "sanity",
        "--local",
        "--python",
        args.python,
        "--color",
        "no",
        *passthrough,
    ]
    print(f"Running {' '.join(command[1:])} in {copy}", flush=True)
    result = subprocess.run(command, cwd=copy, env=ansible_environment(), check=False)
    if result.returncode != 0:
        print(f"ansible-test output is under {copy / KEPT_OUTPUT}", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
