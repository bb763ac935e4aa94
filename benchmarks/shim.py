"""Request rate and latency of the event shim, measured through a client callable.

The harness does not know how to reach the shim. It loads a client factory
named ``MODULE:CALLABLE`` (``--shim-factory``). The factory receives a
``ShimSetup`` and returns a context manager that starts the shim with
``setup.workers`` workers against the benchmark cluster and yields a callable.
That callable takes a request kind (``"plan"`` or ``"status"``), sends one
request through the local Events API, blocks until the matching response
arrives and returns the response payload. It raises on a failed request.
"""

from __future__ import annotations

import importlib
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.desired import DesiredState

SendRequest = Callable[[str], object]


@dataclass(frozen=True)
class ShimSetup:
    """Inputs a shim client factory needs to start the shim for one measurement."""

    workers: int
    admin_dsn: str
    admin_dsn_file: Path
    desired: DesiredState
    workdir: Path
    # Where the shim writes DSN files. The desired state is already applied
    # with this directory, so plan requests find no changes.
    dsn_output_dir: Path


ShimFactory = Callable[[ShimSetup], AbstractContextManager[SendRequest]]


@dataclass
class LoadResult:
    """Throughput and latency of one request kind at one concurrency."""

    kind: str
    workers: int
    clients: int
    requests: int
    failures: int
    seconds: float
    latencies_ms: list[float]
    first_error: str = ""
    # Databases in the desired state of each request (0 when not known).
    size: int = 0

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Return the latency below which ``fraction`` of requests finished (ms)."""
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        cut_points = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        index = round(fraction * 100) - 1
        return cut_points[min(max(index, 0), len(cut_points) - 1)]


def shim_unavailable_reason() -> str | None:
    """Return why the shim cannot be measured, or None when bus_shim.worker imports."""
    try:
        importlib.import_module("bus_shim.worker")
    except ImportError as error:
        return f"bus_shim.worker cannot be imported ({error})"
    return None


def load_factory(spec: str) -> ShimFactory:
    """Import ``MODULE:CALLABLE`` and return the callable.

    Raises ValueError for a malformed spec and ImportError or AttributeError
    when the module or the callable is not found.
    """
    module_name, separator, attribute = spec.partition(":")
    if not separator or not module_name or not attribute:
        raise ValueError(f"Invalid shim factory {spec!r}: expected MODULE:CALLABLE")
    module = importlib.import_module(module_name)
    factory = getattr(module, attribute)
    if not callable(factory):
        raise ValueError(f"Invalid shim factory {spec!r}: {attribute} is not callable")
    return factory


def measure_load(
    send: SendRequest,
    kind: str,
    *,
    workers: int,
    clients: int,
    duration: float,
    warmup_requests: int = 5,
) -> LoadResult:
    """Send ``kind`` requests from ``clients`` threads for ``duration`` seconds.

    Each thread sends its next request as soon as the previous one returns (a
    closed loop), so the rate is the shim's throughput at that concurrency.
    ``warmup_requests`` requests are sent first and left out of the result.
    """
    for _ in range(warmup_requests):
        send(kind)
    latencies: list[float] = []
    failures = 0
    first_error = ""
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def client_loop() -> None:
        nonlocal failures, first_error
        local_latencies: list[float] = []
        local_failures = 0
        local_error = ""
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                send(kind)
            except Exception as error:
                local_failures += 1
                if not local_error:
                    local_error = f"{type(error).__name__}: {error}"
                continue
            local_latencies.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(local_latencies)
            failures += local_failures
            if local_error and not first_error:
                first_error = local_error

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return LoadResult(
        kind=kind,
        workers=workers,
        clients=clients,
        requests=len(latencies),
        failures=failures,
        seconds=seconds,
        latencies_ms=sorted(latencies),
        first_error=first_error,
    )


def run_shim_benchmark(
    factory: ShimFactory,
    setup_for_workers: Callable[[int], ShimSetup],
    *,
    worker_counts: tuple[int, ...] = (1, 2),
    kinds: tuple[str, ...] = ("plan", "status"),
    duration: float = 10.0,
    progress: Callable[[str], None] = print,
) -> list[LoadResult]:
    """Measure every request kind with each worker count.

    Two client threads per worker keep every worker busy while one response
    is in flight.
    """
    results = []
    for workers in worker_counts:
        setup = setup_for_workers(workers)
        with factory(setup) as send:
            for kind in kinds:
                progress(
                    f"shim: {kind} requests with {workers} worker(s), "
                    f"N={setup.desired.size}"
                )
                result = measure_load(
                    send, kind, workers=workers, clients=2 * workers, duration=duration
                )
                result.size = setup.desired.size
                results.append(result)
    return results
