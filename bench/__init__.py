"""Benchmarks for mm: run them all with ``./scripts/bench`` (see docs/performance.md).

A package so one benchmark can reuse another's input generator (``bench.ingest_throughput``)
when the scripts run as ``python bench/<name>.py`` from the project root.
"""
