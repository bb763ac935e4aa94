"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test (``--venv`` and the sanity virtual environments) bootstraps pip into
each new virtual environment by running ``get-pip-<version>.py``, which it
downloads once and caches as ``~/.ansible/test/cache/get_pip_<version>.py``.
That download fails on machines that reach only a package index, so this script
is installed at the cache path instead. It installs the pip wheel bundled with
Python (``ensurepip``). Then it runs ``python -m pip install`` with the arguments
ansible-test passed (for example ``pip==24.2``), so the requested pip version
still comes from the package index.
"""

from __future__ import annotations

import ensurepip
import importlib.util
import os
import subprocess
import sys

# Options of the real get-pip.py that ``pip install`` does not accept. They ask
# get-pip.py not to add setuptools or wheel. ensurepip never adds wheel, but on
# Python 3.11 and older it adds setuptools, which main() removes again.
GET_PIP_ONLY_OPTIONS = frozenset({"--no-setuptools", "--no-wheel"})


def main(argv: list[str]) -> int:
    """Bootstrap pip, then install the requested packages with it."""
    # ensurepip.bootstrap() deletes every PIP_* variable from os.environ and sets
    # PIP_CONFIG_FILE to os.devnull, which drops the index, proxy and CA settings
    # of this machine. Copy the environment first and give the copy to the
    # install step.
    environment = dict(os.environ)
    had_setuptools = importlib.util.find_spec("setuptools") is not None
    ensurepip.bootstrap()

    if "--no-setuptools" in argv and not had_setuptools:
        uninstall = [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet"]
        result = subprocess.run(
            [*uninstall, "setuptools"], env=environment, check=False
        )
        if result.returncode != 0:
            return result.returncode

    pip_arguments = [arg for arg in argv if arg not in GET_PIP_ONLY_OPTIONS]
    if all(arg.startswith("-") for arg in pip_arguments):
        return 0

    command = [sys.executable, "-m", "pip", "install", *pip_arguments]
    return subprocess.run(command, env=environment, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
