"""Load generation for the shim measurement, with an in-process stand-in."""

import contextlib
import time

import pytest

from benchmarks.desired import DesiredState
from benchmarks.shim import (
    LoadResult,
    ShimSetup,
    load_factory,
    measure_load,
    run_shim_benchmark,
)


def test_measure_load_counts_requests():
    calls = []

    def send(kind):
        calls.append(kind)
        time.sleep(0.001)
        return {"ok": True}

    result = measure_load(send, "plan", workers=1, clients=2, duration=0.2)
    assert result.requests > 10
    assert result.failures == 0
    assert result.requests_per_second > 0
    assert set(calls) == {"plan"}
    assert result.percentile(0.5) >= 1.0


def test_measure_load_counts_failures():
    def send(kind):
        raise RuntimeError("worker not running")

    result = measure_load(
        send, "status", workers=1, clients=1, duration=0.05, warmup_requests=0
    )
    assert result.requests == 0
    assert result.failures > 0
    assert result.first_error == "RuntimeError: worker not running"


def test_percentile_of_known_latencies():
    result = LoadResult(
        kind="plan",
        workers=1,
        clients=1,
        requests=100,
        failures=0,
        seconds=1.0,
        latencies_ms=[float(value) for value in range(1, 101)],
    )
    assert result.percentile(0.5) == pytest.approx(50.5, abs=0.5)
    assert result.percentile(0.99) == pytest.approx(99.0, abs=1.0)


def test_load_factory_rejects_malformed_spec():
    with pytest.raises(ValueError, match="MODULE:CALLABLE"):
        load_factory("benchmarks.shim")


def test_load_factory_imports_callable():
    assert load_factory("benchmarks.shim:measure_load") is measure_load


def test_run_shim_benchmark_uses_each_worker_count(tmp_path):
    started = []

    @contextlib.contextmanager
    def factory(setup):
        started.append(setup.workers)
        yield lambda kind: {"kind": kind}

    def setup_for_workers(workers):
        return ShimSetup(
            workers=workers,
            admin_dsn="postgresql://127.0.0.1/postgres",
            admin_dsn_file=tmp_path / "admin.dsn",
            desired=DesiredState(1),
            workdir=tmp_path,
            dsn_output_dir=tmp_path / "dsn",
        )

    results = run_shim_benchmark(
        factory, setup_for_workers, duration=0.05, progress=lambda message: None
    )
    assert started == [1, 2]
    assert [(r.kind, r.workers, r.clients) for r in results] == [
        ("plan", 1, 2),
        ("status", 1, 2),
        ("plan", 2, 4),
        ("status", 2, 4),
    ]
