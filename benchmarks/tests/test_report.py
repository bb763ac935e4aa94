"""Summaries, tables and target verdicts of the benchmark report."""

import json

from benchmarks import report
from benchmarks.report import Measurement
from benchmarks.run import evaluate_targets, render_saved

COUNTS = {
    "statements": 10,
    "reads": 4,
    "writes": 3,
    "session": 2,
    "other": 1,
    "connections": 2,
    "databases_connected": 2,
    "errors": 0,
}


def measurement(approach, phase, size, seconds, *, repeat=1, reads=4, ok=True):
    counts = dict(COUNTS, reads=reads)
    return Measurement(
        approach=approach,
        phase=phase,
        size=size,
        repeat=repeat,
        seconds=seconds,
        ok=ok,
        counts=counts,
        failure="" if ok else "boom",
    )


def test_summarize_median_and_range():
    items = [
        measurement("floor", "first", 10, seconds, repeat=index)
        for index, seconds in enumerate([3.0, 1.0, 2.0], start=1)
    ]
    (summary,) = report.summarize(items)
    assert summary.median == 2.0
    assert summary.minimum == 1.0
    assert summary.maximum == 3.0
    assert summary.runs == 3
    assert not summary.counts_vary


def test_summarize_flags_varying_counts():
    items = [
        measurement("floor", "first", 10, 1.0, reads=4),
        measurement("floor", "first", 10, 1.0, repeat=2, reads=5),
    ]
    (summary,) = report.summarize(items)
    assert summary.counts_vary


def test_summarize_counts_failed_runs():
    items = [
        measurement("community", "check_empty", 1, 1.0, ok=False),
        measurement("community", "check_empty", 1, 1.0, repeat=2),
    ]
    (summary,) = report.summarize(items)
    assert summary.failed_runs == 1
    assert summary.failure == "boom"


def test_summarize_orders_by_size_then_approach():
    items = [
        measurement("ours", "first", 10, 1.0),
        measurement("floor", "first", 10, 1.0),
        measurement("community", "first", 1, 1.0),
    ]
    order = [(s.size, s.approach) for s in report.summarize(items)]
    assert order == [(1, "community"), (10, "floor"), (10, "ours")]


def test_changed_column_for_plan():
    item = measurement("core", "plan_empty", 1, 0.1)
    item.changed = False
    item.change_count = 6
    item.change_unit = "changes"
    (summary,) = report.summarize([item])
    row = report.summary_rows([summary])[0]
    assert "no (6 changes planned)" in row


def test_ratio_rows_pending_without_ours():
    items = [
        measurement("community", "first", 50, 100.0),
        measurement("floor", "first", 50, 10.0),
    ]
    rows = report.ratio_rows(report.summarize(items), [50])
    assert rows[0][3] == "pending"


def test_ratio_rows_value():
    items = [
        measurement("community", "noop", 50, 100.0),
        measurement("floor", "inspect", 50, 0.5),
        measurement("ours", "noop", 50, 2.0),
    ]
    rows = report.ratio_rows(report.summarize(items), [50])
    assert rows[0][3] == "0.02x"
    assert rows[0][4].startswith("4x")


def test_markdown_table_escapes_pipes():
    text = report.format_table(["a", "b"], [["x|y", "z"]], markdown=True)
    assert "x\\|y" in text


def verdicts(rows):
    return {row[0]: row[2] for row in rows}


def test_targets_pending_without_ours():
    items = [measurement("community", "first", 50, 100.0)]
    rows = evaluate_targets(report.summarize(items), [])
    result = verdicts(rows)
    assert (
        result["first run from empty, N=50: >= 25x faster than community.postgresql"]
        == "pending"
    )
    assert result["shim: >= 200 plan responses/s with p99 < 50 ms"] == "pending"


def test_targets_speedup_met_and_not_met():
    items = [
        measurement("community", "first", 50, 100.0),
        measurement("ours", "first", 50, 2.0),
        measurement("community", "noop", 50, 100.0),
        measurement("ours", "noop", 50, 5.0),
    ]
    result = verdicts(evaluate_targets(report.summarize(items), []))
    first = "first run from empty, N=50: >= 25x faster than community.postgresql"
    noop = "no-op re-run, N=50: >= 25x faster than community.postgresql"
    assert result[first] == "met"
    assert result[noop] == "not met"


def test_targets_reads_linear_in_n():
    items = [
        measurement("core", "plan", size, 0.1, reads=4 + size) for size in (1, 10, 50)
    ]
    rows = evaluate_targets(report.summarize(items), [])
    (row,) = [row for row in rows if "catalog reads" in row[0] and "core" in row[0]]
    assert row[2] == "met"


def test_targets_reads_growing_per_database():
    items = [
        measurement("core", "plan", size, 0.1, reads=size * size)
        for size in (1, 10, 50)
    ]
    rows = evaluate_targets(report.summarize(items), [])
    (row,) = [row for row in rows if "catalog reads" in row[0] and "core" in row[0]]
    assert row[2] == "not met"


def test_render_saved_prints_tables(tmp_path, capsys):
    saved = {
        "measurements": [
            vars(measurement("floor", "inspect", 10, 0.2)),
            vars(measurement("core", "plan", 10, 0.3)),
        ],
        "shim": [],
        "notes": ["a note"],
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(saved))
    assert render_saved(path) == 0
    output = capsys.readouterr().out
    assert "### Wall time and SQL per run" in output
    assert "| 10 | busdk.database core (in-process) | plan, converged |" in output
    assert "- a note" in output


def test_render_saved_rejects_invalid_file(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text("{}")
    assert render_saved(path) == 1
    assert "failed to read results file" in capsys.readouterr().err
