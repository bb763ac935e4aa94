"""Facts about the machine and software versions, printed with every run."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

from devtools.pgcluster import find_bindir


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    kib = int(line.split()[1])
                    return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def _postgres_version() -> str:
    bindir = find_bindir("18")
    if bindir is None:
        return "not found"
    result = subprocess.run(
        [str(bindir / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> dict[str, str]:
    """Return CPU count and model, memory, OS and the versions that matter."""
    return {
        "cpus": str(os.cpu_count()),
        "cpu model": _cpu_model(),
        "memory": _memory(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": _postgres_version(),
        "ansible-core": _package_version("ansible-core"),
        "psycopg": _package_version("psycopg"),
        "load average": load_average(),
    }


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages, because other work skews timings."""
    averages = os.getloadavg()
    return " ".join(f"{value:.2f}" for value in averages)
