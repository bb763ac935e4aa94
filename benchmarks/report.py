"""Measurements, their summaries over repeats, and the printed tables."""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import asdict, dataclass, field

from benchmarks.shim import LoadResult

# Display names of approaches and phases, in table order.
APPROACHES = {
    "ansible": "ansible-playbook baseline",
    "floor": "floor (psycopg)",
    "community": "community.postgresql",
    "ours": "busdk.database (Ansible)",
    "core": "busdk.database core (in-process)",
}
PHASES = {
    "ping": "one ping task",
    "check_empty": "check mode, empty cluster",
    "plan_empty": "plan, empty cluster",
    "first": "first run from empty",
    "noop": "no-op re-run",
    "check": "check mode, converged",
    "plan": "plan, converged",
    "status": "status, converged",
    "inspect_empty": "inspection, empty cluster",
    "inspect": "inspection, converged",
}

# Floor phase that each phase of ours is compared with.
FLOOR_COUNTERPART = {
    "first": "first",
    "noop": "inspect",
    "check": "inspect",
    "plan": "inspect",
    "status": "inspect",
    "check_empty": "inspect_empty",
    "plan_empty": "inspect_empty",
}


@dataclass
class Measurement:
    """One timed run of one phase of one approach at one size."""

    approach: str
    phase: str
    size: int
    repeat: int
    seconds: float
    ok: bool
    counts: dict[str, int] = field(default_factory=dict)
    changed: bool | None = None
    change_count: int | None = None
    change_unit: str = ""
    failure: str = ""
    # One-minute load average right after the run. Values above the CPU count
    # mean other processes competed for the CPUs during the run.
    load: float = 0.0


@dataclass
class Summary:
    """Median and range of one (approach, phase, size) over its repeats."""

    approach: str
    phase: str
    size: int
    runs: int
    failed_runs: int
    median: float
    minimum: float
    maximum: float
    counts: dict[str, int]
    counts_vary: bool
    changed: list[bool | None]
    change_counts: list[int | None]
    change_unit: str
    failure: str
    max_load: float


def summarize(measurements: list[Measurement]) -> list[Summary]:
    """Group measurements by approach, phase and size, in table order."""
    groups: dict[tuple[str, str, int], list[Measurement]] = {}
    for item in measurements:
        groups.setdefault((item.approach, item.phase, item.size), []).append(item)
    summaries = []
    for (approach, phase, size), items in groups.items():
        seconds = [item.seconds for item in items]
        first_counts = items[0].counts
        failures = [item.failure for item in items if not item.ok]
        summaries.append(
            Summary(
                approach=approach,
                phase=phase,
                size=size,
                runs=len(items),
                failed_runs=len(failures),
                median=statistics.median(seconds),
                minimum=min(seconds),
                maximum=max(seconds),
                counts=first_counts,
                counts_vary=any(item.counts != first_counts for item in items),
                changed=[item.changed for item in items],
                change_counts=[item.change_count for item in items],
                change_unit=items[0].change_unit,
                max_load=max(item.load for item in items),
                failure=failures[0] if failures else "",
            )
        )
    approach_order = list(APPROACHES)
    phase_order = list(PHASES)
    summaries.sort(
        key=lambda s: (
            s.size,
            approach_order.index(s.approach),
            phase_order.index(s.phase),
        )
    )
    return summaries


def _format_seconds(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _format_changed(summary: Summary) -> str:
    values = set(summary.changed)
    if values == {None}:
        return "-"
    if len(values) > 1:
        return "varies"
    count = summary.change_counts[0]
    if not summary.changed[0]:
        # A plan or dry run reports changes it would make without changing.
        return f"no ({count} {summary.change_unit} planned)" if count else "no"
    if count is None:
        return "yes"
    return f"yes ({count} {summary.change_unit})"


def _format_counts(counts: dict[str, int]) -> tuple[str, str]:
    if not counts:
        return "-", "-"
    statements = (
        f"{counts['statements']} = {counts['reads']}r+{counts['writes']}w"
        f"+{counts['session']}s+{counts['other']}o"
    )
    return statements, str(counts["connections"])


def summary_rows(summaries: list[Summary]) -> list[list[str]]:
    """Return table rows: N, approach, phase, times, SQL counts, changed, status."""
    rows = []
    for summary in summaries:
        statements, connections = _format_counts(summary.counts)
        if summary.counts_vary:
            statements += " (varies)"
        status = "ok"
        if summary.failed_runs:
            failure = summary.failure
            if len(failure) > FAILURE_WIDTH:
                failure = failure[: FAILURE_WIDTH - 3] + "..."
            status = f"FAILED {summary.failed_runs}/{summary.runs}: {failure}"
        time_range = (
            f"{_format_seconds(summary.minimum)} - {_format_seconds(summary.maximum)}"
        )
        rows.append(
            [
                str(summary.size) if summary.size else "-",
                APPROACHES[summary.approach],
                PHASES[summary.phase],
                _format_seconds(summary.median),
                time_range,
                str(summary.runs),
                statements,
                connections,
                _format_changed(summary),
                f"{summary.max_load:.1f}",
                status,
            ]
        )
    return rows


# Maximum characters of a failure message in the table. The JSON file keeps it whole.
FAILURE_WIDTH = 160

SUMMARY_HEADER = [
    "N",
    "approach",
    "phase",
    "median",
    "min - max",
    "runs",
    "statements (reads+writes+session+other)",
    "connections",
    "changed",
    "max load",
    "status",
]


def format_table(header: list[str], rows: list[list[str]], *, markdown: bool) -> str:
    """Return ``rows`` as a plain aligned table or as a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in rows:
            cells = [cell.replace("|", "\\|") for cell in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    widths = [len(title) for title in header]
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[index]) for index, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _lookup(
    summaries: list[Summary], approach: str, phase: str, size: int
) -> Summary | None:
    for summary in summaries:
        if (summary.approach, summary.phase, summary.size) == (approach, phase, size):
            return summary
    return None


def _ratio(numerator: Summary | None, denominator: Summary | None) -> str:
    if numerator is None or denominator is None:
        return "pending" if numerator is None else "-"
    if numerator.failed_runs or denominator.failed_runs:
        return "n/a (a run failed)"
    if denominator.median <= 0:
        return "-"
    return f"{numerator.median / denominator.median:.3g}x"


def ratio_rows(summaries: list[Summary], sizes: list[int]) -> list[list[str]]:
    """Return rows of ours / community.postgresql and ours / floor for each size.

    A ratio below 1 means ours is faster. "pending" means ours was not measured.
    """
    rows = []
    for approach in ("ours", "core"):
        for size in sizes:
            for phase, floor_phase in FLOOR_COUNTERPART.items():
                ours = _lookup(summaries, approach, phase, size)
                community = _lookup(summaries, "community", phase, size)
                floor = _lookup(summaries, "floor", floor_phase, size)
                if ours is None and approach == "core":
                    continue
                if ours is None and community is None:
                    continue
                rows.append(
                    [
                        str(size),
                        APPROACHES[approach],
                        PHASES[phase],
                        _ratio(ours, community) if community else "-",
                        f"{_ratio(ours, floor)} (vs {PHASES[floor_phase]})",
                    ]
                )
    return rows


RATIO_HEADER = ["N", "ours", "phase", "ours / community.postgresql", "ours / floor"]


def reads_per_database_rows(
    summaries: list[Summary], sizes: list[int]
) -> list[list[str]]:
    """Return catalog reads per run and per added database for no-op phases.

    The reads an approach adds for each extra database are the difference in
    reads between two sizes divided by the difference in N. A constant value
    across size pairs means reads grow linearly, one fixed set per database.
    """
    rows = []
    phases = [
        ("ours", "noop"),
        ("ours", "plan"),
        ("core", "plan"),
        ("community", "noop"),
        ("floor", "inspect"),
    ]
    ordered = sorted(sizes)
    for approach, phase in phases:
        reads = {}
        for size in ordered:
            summary = _lookup(summaries, approach, phase, size)
            if summary is not None and summary.counts:
                reads[size] = summary.counts["reads"]
        if not reads:
            continue
        measured = sorted(reads)
        slopes = []
        for smaller, larger in itertools.pairwise(measured):
            slope = (reads[larger] - reads[smaller]) / (larger - smaller)
            slopes.append(f"{smaller}->{larger}: {slope:.2f}")
        rows.append(
            [
                APPROACHES[approach],
                PHASES[phase],
                ", ".join(f"N={size}: {reads[size]}" for size in measured),
                "; ".join(slopes) or "-",
            ]
        )
    return rows


READS_HEADER = [
    "approach",
    "phase",
    "catalog reads per run",
    "reads per added database",
]


def shim_rows(results: list[LoadResult]) -> list[list[str]]:
    rows = []
    for result in results:
        rows.append(
            [
                str(result.size),
                result.kind,
                str(result.workers),
                str(result.clients),
                f"{result.requests_per_second:.1f}",
                f"{result.percentile(0.50):.1f}",
                f"{result.percentile(0.99):.1f}",
                f"{result.requests} ok, {result.failures} failed"
                + (f" ({result.first_error})" if result.first_error else ""),
            ]
        )
    return rows


SHIM_HEADER = [
    "N",
    "request",
    "workers",
    "clients",
    "requests/s",
    "p50 ms",
    "p99 ms",
    "requests",
]


def measurements_as_dicts(measurements: list[Measurement]) -> list[dict[str, object]]:
    return [asdict(item) for item in measurements]
