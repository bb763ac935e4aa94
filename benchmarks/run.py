"""Benchmark busdk.database against community.postgresql and a psycopg floor.

Run from the repository root:

    .venv/bin/python benchmarks/run.py [--sizes 1,10,50,200] [--repeats 3] [--quick]

Every measurement starts from a fresh PostgreSQL 18 cluster on 127.0.0.1 with
statement and connection logging, so the SQL counts come from the server log.
BENCHMARKS.md describes each row and records a run.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import itertools
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Running the file directly puts benchmarks/ on sys.path, not the root.
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import community, core, floor, ours, report  # noqa: E402
from benchmarks.ansible_runner import (  # noqa: E402
    ANSIBLE_PACKAGE_VERSION,
    PlaybookRun,
    ensure_community_postgresql,
    run_playbook,
    write_inventory,
)
from benchmarks.cluster import BenchCluster, fresh_cluster  # noqa: E402
from benchmarks.desired import DesiredState  # noqa: E402
from benchmarks.machine import describe_machine, load_average  # noqa: E402
from benchmarks.report import Measurement  # noqa: E402
from benchmarks.serverlog import LogCounts  # noqa: E402
from benchmarks.shim import (  # noqa: E402
    ShimFactory,
    ShimSetup,
    load_factory,
    run_shim_benchmark,
    shim_unavailable_reason,
)

T = TypeVar("T")

DEFAULT_SIZES = [1, 10, 50, 200]
QUICK_SIZES = [1, 10]
APPROACH_NAMES = ["ansible", "floor", "core", "ours", "community", "shim"]
RESULTS_DIR = REPO_ROOT / ".cache" / "bench-results"
DEFAULT_SHIM_FACTORY = "benchmarks.shim_events:events_api_client"


def log(message: str) -> None:
    """Print a timestamped progress line at once."""
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


class Recorder:
    """Collects measurements and prints one progress line for each."""

    def __init__(self) -> None:
        self.measurements: list[Measurement] = []
        self.notes: list[str] = []

    def add(self, measurement: Measurement) -> Measurement:
        measurement.load = os.getloadavg()[0]
        self.measurements.append(measurement)
        counts = measurement.counts
        detail = (
            f"{counts.get('statements', 0)} statements, "
            f"{counts.get('connections', 0)} connections"
            if counts
            else "no SQL counted"
        )
        status = "ok" if measurement.ok else f"FAILED: {measurement.failure[:300]}"
        log(
            f"  {report.APPROACHES[measurement.approach]} / "
            f"{report.PHASES[measurement.phase]} N={measurement.size}: "
            f"{measurement.seconds:.3f} s, {detail}, {status}"
        )
        return measurement

    def note(self, message: str) -> None:
        log(f"note: {message}")
        self.notes.append(message)


def _record_playbook(
    recorder: Recorder,
    approach: str,
    phase: str,
    size: int,
    repeat: int,
    cluster: BenchCluster,
    action: Callable[[], PlaybookRun],
) -> PlaybookRun:
    run, seconds, counts = cluster.measure(action)
    change_count, change_unit = run.change_count()
    recorder.add(
        Measurement(
            approach=approach,
            phase=phase,
            size=size,
            repeat=repeat,
            seconds=seconds,
            ok=run.ok,
            counts=counts.as_dict(),
            changed=run.changed,
            change_count=change_count,
            change_unit=change_unit,
            failure="" if run.ok else run.failure(),
        )
    )
    return run


def _verify_converged(
    recorder: Recorder, cluster: BenchCluster, desired: DesiredState, label: str
) -> None:
    """Check with the floor inspection that a first run reached the desired state."""
    inspection = floor.inspect(cluster.state, desired)
    if not inspection.converged:
        recorder.note(f"{label} N={desired.size} did not converge: {inspection}")
        recorder.measurements[-1].ok = False
        recorder.measurements[-1].failure = "desired state not reached"


def measure_ansible_baseline(recorder: Recorder, repeats: int) -> None:
    """Time ansible-playbook with one ping task: Ansible's fixed cost per run."""
    with fresh_cluster() as cluster:
        playbook = cluster.workdir / "ping.yml"
        playbook.write_text(
            "- name: Ping\n  hosts: localhost\n  gather_facts: false\n"
            "  tasks:\n    - name: Ping\n      ansible.builtin.ping:\n"
        )
        inventory = write_inventory(cluster.workdir / "inventory.ini")
        for repeat in range(1, repeats + 1):
            log(f"ansible baseline, repeat {repeat}/{repeats}")
            _record_playbook(
                recorder,
                "ansible",
                "ping",
                0,
                repeat,
                cluster,
                lambda: run_playbook(playbook, inventory, cluster.workdir),
            )


def measure_floor(recorder: Recorder, desired: DesiredState, repeats: int) -> None:
    for repeat in range(1, repeats + 1):
        log(f"N={desired.size} floor, repeat {repeat}/{repeats}")
        with fresh_cluster() as cluster:
            steps: list[tuple[str, Callable[[], object]]] = [
                ("inspect_empty", lambda: floor.inspect(cluster.state, desired)),
                (
                    "first",
                    lambda: floor.converge(
                        cluster.state,
                        desired,
                        "bench-floor-password",
                        cluster.workdir / "dsn-floor",
                    ),
                ),
                ("inspect", lambda: floor.inspect(cluster.state, desired)),
            ]
            for phase, action in steps:
                result, seconds, counts = cluster.measure(action)
                ok = True
                failure = ""
                if phase == "inspect" and not result.converged:
                    ok = False
                    failure = f"floor DDL did not converge: {result}"
                recorder.add(
                    Measurement(
                        "floor",
                        phase,
                        desired.size,
                        repeat,
                        seconds,
                        ok,
                        counts.as_dict(),
                        failure=failure,
                    )
                )


def measure_core(recorder: Recorder, desired: DesiredState, repeats: int) -> None:
    """Time plan, apply and status through busdk_database.service.handle."""
    reason = core.core_unavailable_reason()
    if reason is not None:
        recorder.note(f"core not measured: {reason}")
        return
    for repeat in range(1, repeats + 1):
        log(f"N={desired.size} busdk.database core, repeat {repeat}/{repeats}")
        with fresh_cluster() as cluster:
            admin_dsn_file = cluster.admin_dsn_file
            dsn_dir = cluster.workdir / "dsn-core"
            apply_options = {"dry_run": False, "confirm": True}
            steps: list[tuple[str, str, dict[str, object]]] = [
                ("plan_empty", "plan", {}),
                ("first", "apply", apply_options),
                ("noop", "apply", apply_options),
                ("plan", "plan", {}),
                ("status", "status", {}),
            ]
            for phase, operation, options in steps:
                response, seconds, counts = cluster.measure(
                    functools.partial(
                        core.call,
                        operation,
                        desired,
                        admin_dsn_file,
                        dsn_dir,
                        **options,
                    )
                )
                _add_core_measurement(
                    recorder, phase, desired, repeat, response, seconds, counts
                )
                if phase == "first" and response.get("ok"):
                    _verify_converged(recorder, cluster, desired, "core apply")


def _add_core_measurement(
    recorder: Recorder,
    phase: str,
    desired: DesiredState,
    repeat: int,
    response: dict[str, object],
    seconds: float,
    counts: LogCounts,
) -> None:
    ok = bool(response.get("ok"))
    changes = response.get("changes")
    failure = ""
    if not ok:
        diagnostics = response.get("diagnostics") or []
        failure = f"{response.get('error_class')}: {'; '.join(map(str, diagnostics))}"
    recorder.add(
        Measurement(
            "core",
            phase,
            desired.size,
            repeat,
            seconds,
            ok,
            counts.as_dict(),
            changed=bool(response.get("changed")) if "changed" in response else None,
            change_count=len(changes) if isinstance(changes, list) else None,
            change_unit="changes",
            failure=failure,
        )
    )


def measure_ours(recorder: Recorder, desired: DesiredState, repeats: int) -> bool:
    """Time busdk.database.apply through ansible-playbook.

    Returns False without measuring when plugins/modules/apply.py does not exist.
    """
    if not ours.apply_available():
        recorder.note(
            f"ours not measured at N={desired.size}: {ours.APPLY_MODULE} does not exist"
        )
        return False
    for repeat in range(1, repeats + 1):
        log(f"N={desired.size} busdk.database.apply, repeat {repeat}/{repeats}")
        with fresh_cluster() as cluster:
            workdir = cluster.workdir
            dsn_dir = workdir / "dsn-ours"
            playbook = ours.write_apply_playbook(
                workdir / "apply.yml", desired, cluster.admin_dsn_file, dsn_dir
            )
            inventory = write_inventory(workdir / "inventory.ini")
            phases = [
                ("check_empty", playbook, True),
                ("first", playbook, False),
                ("noop", playbook, False),
                ("check", playbook, True),
            ]
            if ours.plan_available():
                plan_playbook = ours.write_plan_playbook(
                    workdir / "plan.yml", desired, cluster.admin_dsn_file
                )
                phases.append(("plan", plan_playbook, False))
            for phase, path, check in phases:
                run = _record_playbook(
                    recorder,
                    "ours",
                    phase,
                    desired.size,
                    repeat,
                    cluster,
                    functools.partial(
                        run_playbook, path, inventory, workdir, check=check
                    ),
                )
                if phase == "first" and run.ok:
                    _verify_converged(
                        recorder, cluster, desired, "busdk.database.apply"
                    )
                    written = len(list(dsn_dir.glob("*"))) if dsn_dir.exists() else 0
                    if written < desired.size:
                        recorder.note(
                            f"busdk.database.apply N={desired.size} wrote {written} "
                            f"DSN files for {desired.size} databases"
                        )
    return True


def community_plan(
    size: int, repeats: int, large_repeats: int
) -> tuple[int, list[str]]:
    """Return the repeats and phases for community.postgresql at ``size``.

    Each community.postgresql loop item costs one module run, measured at 0.55
    to 0.75 s on the 2-core machine in BENCHMARKS.md, so larger sizes run fewer
    repeats and phases to keep the whole benchmark near half an hour.
    """
    phases = ["check_empty", "first", "noop", "check"]
    if size <= 10:
        return repeats, phases
    if size <= 50:
        return min(repeats, large_repeats), ["first", "noop", "check"]
    return min(repeats, large_repeats), ["first", "noop"]


def measure_community(
    recorder: Recorder, desired: DesiredState, repeats: int, large_repeats: int
) -> None:
    repeats, phases = community_plan(desired.size, repeats, large_repeats)
    skipped = [
        report.PHASES[name] for name in ("check_empty", "check") if name not in phases
    ]
    if skipped:
        recorder.note(
            f"community.postgresql N={desired.size}: {repeats} repeat(s), skipped "
            + ", ".join(skipped)
            + " to bound the run time"
        )
    for repeat in range(1, repeats + 1):
        log(f"N={desired.size} community.postgresql, repeat {repeat}/{repeats}")
        with fresh_cluster() as cluster:
            workdir = cluster.workdir
            playbook = community.write_playbook(
                workdir / "community.yml",
                desired,
                port=cluster.state.port,
                password=cluster.state.password,
                role_password="bench-community-password",
            )
            inventory = write_inventory(workdir / "inventory.ini")
            for phase in phases:
                run = _record_playbook(
                    recorder,
                    "community",
                    phase,
                    desired.size,
                    repeat,
                    cluster,
                    functools.partial(
                        run_playbook,
                        playbook,
                        inventory,
                        workdir,
                        check=phase.startswith("check"),
                    ),
                )
                if phase == "first" and run.ok:
                    _verify_converged(
                        recorder, cluster, desired, "community.postgresql"
                    )


def measure_shim(
    recorder: Recorder, factory_spec: str, sizes: list[int], duration: float
) -> list[report.LoadResult]:
    """Measure the shim through ``factory_spec`` when bus_shim.worker imports."""
    reason = shim_unavailable_reason()
    if reason is not None:
        print(f"shim: not available: {reason}", flush=True)
        recorder.notes.append(f"shim not measured: {reason}")
        return []
    factory = load_factory(factory_spec)
    results = []
    for size in sizes:
        results.extend(_measure_shim_size(factory, DesiredState(size), duration))
    return results


def _measure_shim_size(
    factory: ShimFactory, desired: DesiredState, duration: float
) -> list[report.LoadResult]:
    with fresh_cluster() as cluster:
        dsn_dir = cluster.workdir / "dsn-shim"
        response = core.call(
            "apply",
            desired,
            cluster.admin_dsn_file,
            dsn_dir,
            dry_run=False,
            confirm=True,
        )
        if not response.get("ok"):
            raise RuntimeError(
                f"Failed to converge before the shim measurement: {response}"
            )
        return run_shim_benchmark(
            factory,
            lambda workers: ShimSetup(
                workers=workers,
                admin_dsn=cluster.state.dsn(),
                admin_dsn_file=cluster.admin_dsn_file,
                desired=desired,
                workdir=cluster.workdir,
                dsn_output_dir=dsn_dir,
            ),
            duration=duration,
            progress=log,
        )


def guarded(
    recorder: Recorder, label: str, measure: Callable[..., T], *args: object
) -> T | None:
    """Run one measurement function and keep going if it raises.

    A failure late in a long run then still leaves every earlier result in
    the report. The error is printed with its traceback and listed in the notes.
    """
    try:
        return measure(*args)
    except Exception as error:
        traceback.print_exc()
        recorder.note(f"{label} stopped early: {type(error).__name__}: {error}")
        return None


def evaluate_targets(
    summaries: list[report.Summary], shim_results: list[report.LoadResult]
) -> list[list[str]]:
    """Return one row per target: what it requires, the measured value, the verdict."""

    def find(approach: str, phase: str, size: int) -> report.Summary | None:
        for summary in summaries:
            if (summary.approach, summary.phase, summary.size) == (
                approach,
                phase,
                size,
            ):
                return summary
        return None

    rows = []
    for phase in ("first", "noop"):
        ours_run = find("ours", phase, 50)
        community_run = find("community", phase, 50)
        requirement = (
            f"{report.PHASES[phase]}, N=50: >= 25x faster than community.postgresql"
        )
        if ours_run is None or community_run is None:
            missing = "ours" if ours_run is None else "community.postgresql"
            rows.append([requirement, f"{missing} not measured", "pending"])
        elif ours_run.failed_runs or community_run.failed_runs:
            rows.append([requirement, "a run failed", "not met"])
        else:
            speedup = community_run.median / ours_run.median
            verdict = "met" if speedup >= 25 else "not met"
            rows.append([requirement, f"{speedup:.2f}x", verdict])

    floor_sizes = sorted({s.size for s in summaries if s.approach == "floor"})
    for approach, phase in (("ours", "plan"), ("ours", "noop"), ("core", "plan")):
        for size in floor_sizes:
            measured = find(approach, phase, size)
            inspection = find("floor", "inspect", size)
            requirement = (
                f"{report.APPROACHES[approach]} {report.PHASES[phase]}, N={size}: "
                "within 2x of the floor inspection"
            )
            if measured is None or inspection is None:
                if approach == "ours" and phase == "noop":
                    rows.append([requirement, "not measured", "pending"])
                continue
            ratio = measured.median / inspection.median
            verdict = "met" if ratio <= 2 and not measured.failed_runs else "not met"
            rows.append([requirement, f"{ratio:.2f}x", verdict])

    for approach, phase in (("ours", "noop"), ("core", "plan")):
        reads = {
            s.size: s.counts["reads"]
            for s in summaries
            if s.approach == approach and s.phase == phase and s.counts
        }
        requirement = (
            f"{report.APPROACHES[approach]} {report.PHASES[phase]}: catalog reads "
            "per database do not grow with N"
        )
        if len(reads) < 3:
            rows.append([requirement, "fewer than 3 sizes measured", "pending"])
            continue
        sizes = sorted(reads)
        slopes = [(reads[b] - reads[a]) / (b - a) for a, b in itertools.pairwise(sizes)]
        verdict = "met" if max(slopes) - min(slopes) < 0.01 else "not met"
        shown = ", ".join(f"{slope:.2f}" for slope in slopes)
        rows.append([requirement, f"reads per added database: {shown}", verdict])

    plans = [r for r in shim_results if r.kind == "plan"]
    requirement = "shim: >= 200 plan responses/s with p99 < 50 ms"
    if not plans:
        rows.append([requirement, "not measured", "pending"])
    for result in plans:
        rate = result.requests_per_second
        p99 = result.percentile(0.99)
        verdict = (
            "met" if rate >= 200 and p99 < 50 and not result.failures else "not met"
        )
        rows.append(
            [
                f"{requirement} ({result.workers} worker(s), N={result.size})",
                f"{rate:.0f}/s, p99 {p99:.1f} ms",
                verdict,
            ]
        )
    return rows


TARGET_HEADER = ["target", "measured", "verdict"]


def parse_sizes(text: str) -> list[int]:
    """Parse "1,10,50" into [1, 10, 50] and raise ArgumentTypeError on invalid input."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid sizes {text!r}: expected comma-separated integers such as 1,10,50"
        ) from None
    if not sizes or any(size < 1 or size > 999 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"invalid sizes {text!r}: each size must be between 1 and 999"
        )
    return sorted(set(sizes))


def parse_approaches(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in APPROACH_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"invalid approaches {text!r}: choose from {','.join(APPROACH_NAMES)}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=(
            "Time busdk.database against community.postgresql and a psycopg floor "
            "on fresh local PostgreSQL 18 clusters."
        ),
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help="comma-separated numbers of databases (default 1,10,50,200)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs per approach and size for the median and range (default 3)",
    )
    parser.add_argument(
        "--community-large-repeats",
        type=int,
        default=1,
        help="maximum runs of community.postgresql for N above 10 (default 1)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: sizes 1,10 and one repeat unless given explicitly",
    )
    parser.add_argument(
        "--approaches",
        type=parse_approaches,
        default=APPROACH_NAMES,
        help=f"comma-separated subset of {','.join(APPROACH_NAMES)} (default all)",
    )
    parser.add_argument(
        "--shim-factory",
        default=DEFAULT_SHIM_FACTORY,
        metavar="MODULE:CALLABLE",
        help=(
            "client factory for the shim measurement, contract in benchmarks/shim.py "
            f"(default {DEFAULT_SHIM_FACTORY})"
        ),
    )
    parser.add_argument(
        "--shim-sizes",
        type=parse_sizes,
        default=[1, 10],
        help="comma-separated numbers of databases in the shim requests (default 1,10)",
    )
    parser.add_argument(
        "--shim-duration",
        type=float,
        default=10.0,
        help="seconds of load per request kind and worker count (default 10)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="print the Markdown tables of a saved results file and exit",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where the JSON and Markdown results go (default {RESULTS_DIR})",
    )
    return parser


def render_saved(path: Path) -> int:
    """Print the Markdown tables of a saved JSON result file with the current code."""
    try:
        saved = json.loads(path.read_text())
        measurements = [Measurement(**item) for item in saved["measurements"]]
        shim_results = [report.LoadResult(**item) for item in saved["shim"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(
            f"error: failed to read results file {path} ({error}). "
            "Pass a JSON file that benchmarks/run.py wrote.",
            file=sys.stderr,
        )
        return 1
    summaries = report.summarize(measurements)
    sizes = sorted({item.size for item in measurements if item.size})
    for title, header, rows in build_sections(summaries, sizes, shim_results):
        if rows:
            print(f"### {title}\n")
            print(report.format_table(header, rows, markdown=True))
            print()
    for note in saved.get("notes", []):
        print(f"- {note}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.render is not None:
        return render_saved(args.render)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeats = args.repeats or (1 if args.quick else 3)
    if repeats < 1 or args.community_large_repeats < 1:
        print(
            "error: --repeats and --community-large-repeats must be at least 1",
            file=sys.stderr,
        )
        return 2
    approaches = args.approaches
    started = time.perf_counter()
    started_at = datetime.datetime.now(datetime.UTC)

    machine = describe_machine()
    print("machine: " + "; ".join(f"{key} {value}" for key, value in machine.items()))
    log(f"sizes {sizes}, {repeats} repeat(s), approaches {','.join(approaches)}")
    if "community" in approaches:
        ensure_community_postgresql()
        log(f"community.postgresql from the ansible {ANSIBLE_PACKAGE_VERSION} package")

    recorder = Recorder()
    if "ansible" in approaches:
        guarded(
            recorder, "ansible baseline", measure_ansible_baseline, recorder, repeats
        )
    for size in sizes:
        desired = DesiredState(size)
        label = f"N={size}"
        if "floor" in approaches:
            guarded(
                recorder, f"floor {label}", measure_floor, recorder, desired, repeats
            )
        if "core" in approaches:
            guarded(recorder, f"core {label}", measure_core, recorder, desired, repeats)
        if "ours" in approaches:
            guarded(recorder, f"ours {label}", measure_ours, recorder, desired, repeats)
        if "community" in approaches:
            guarded(
                recorder,
                f"community.postgresql {label}",
                measure_community,
                recorder,
                desired,
                repeats,
                args.community_large_repeats,
            )
    shim_results: list[report.LoadResult] = []
    if "shim" in approaches:
        shim_results = (
            guarded(
                recorder,
                "shim",
                measure_shim,
                recorder,
                args.shim_factory,
                args.shim_sizes,
                args.shim_duration,
            )
            or []
        )

    elapsed = time.perf_counter() - started
    summaries = report.summarize(recorder.measurements)
    sections = build_sections(summaries, sizes, shim_results)
    print()
    for title, header, rows in sections:
        print(f"== {title}")
        print(report.format_table(header, rows, markdown=False) if rows else "(none)")
        print()
    for note in recorder.notes:
        print(f"note: {note}")
    final_load = load_average()
    print(f"load average at the end {final_load}")
    print(f"total run time {elapsed / 60:.1f} min")

    args.output_dir.mkdir(parents=True, exist_ok=True)
    stem = started_at.strftime("run-%Y%m%dT%H%M%SZ")
    json_path = args.output_dir / f"{stem}.json"
    json_path.write_text(
        json.dumps(
            {
                "started_at": started_at.isoformat(),
                "run_seconds": elapsed,
                "machine": machine,
                "final_load_average": final_load,
                "arguments": sys.argv[1:] if argv is None else argv,
                "notes": recorder.notes,
                "measurements": report.measurements_as_dicts(recorder.measurements),
                "shim": [vars(result) for result in shim_results],
            },
            indent=2,
        )
    )
    markdown_path = args.output_dir / f"{stem}.md"
    markdown_path.write_text(
        "\n\n".join(
            f"### {title}\n\n" + report.format_table(header, rows, markdown=True)
            for title, header, rows in sections
            if rows
        )
        + "\n"
    )
    print(f"results written to {json_path} and {markdown_path}")
    return 0


def build_sections(
    summaries: list[report.Summary],
    sizes: list[int],
    shim_results: list[report.LoadResult],
) -> list[tuple[str, list[str], list[list[str]]]]:
    """Return the titled tables of a run, in print order."""
    return [
        (
            "Wall time and SQL per run",
            report.SUMMARY_HEADER,
            report.summary_rows(summaries),
        ),
        (
            "Ratios (below 1 means ours is faster)",
            report.RATIO_HEADER,
            report.ratio_rows(summaries, sizes),
        ),
        (
            "Catalog reads",
            report.READS_HEADER,
            report.reads_per_database_rows(summaries, sizes),
        ),
        ("Shim", report.SHIM_HEADER, report.shim_rows(shim_results)),
        ("Targets", TARGET_HEADER, evaluate_targets(summaries, shim_results)),
    ]


if __name__ == "__main__":
    sys.exit(main())
