"""Fresh PostgreSQL 18 clusters with statement and connection logging."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from benchmarks.serverlog import LOGGING_CONF, LogCounts, LogSlice, parse_log
from devtools.pgcluster import ClusterState, start_cluster, stop_cluster, write_dsn_file

T = TypeVar("T")


@dataclass
class BenchCluster:
    """A running throwaway cluster plus a private work directory for one run."""

    state: ClusterState
    workdir: Path

    @property
    def log_path(self) -> Path:
        return Path(self.state.datadir) / "server.log"

    @property
    def admin_dsn_file(self) -> Path:
        """Path of a 0600 file containing the superuser URL."""
        path = self.workdir / "secrets" / "admin.dsn"
        if not path.exists():
            write_dsn_file(path, self.state.dsn())
        return path

    def measure(self, action: Callable[[], T]) -> tuple[T, float, LogCounts]:
        """Run ``action``; return its result, wall seconds and logged SQL counts."""
        log_slice = LogSlice(self.log_path)
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
        return result, seconds, parse_log(log_slice.read())


@contextlib.contextmanager
def fresh_cluster(version: str = "18") -> Iterator[BenchCluster]:
    """Start an empty cluster with statement logging; stop and remove it on exit."""
    state = start_cluster(version, extra_conf=LOGGING_CONF)
    workdir = Path(tempfile.mkdtemp(prefix="busdk-bench-"))
    workdir.chmod(0o700)
    try:
        yield BenchCluster(state=state, workdir=workdir)
    finally:
        stop_cluster(state)
        shutil.rmtree(workdir, ignore_errors=True)
