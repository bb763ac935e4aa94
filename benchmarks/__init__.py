"""Benchmark harness for the busdk.database collection (run ``benchmarks/run.py``)."""
