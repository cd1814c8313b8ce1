"""Benchmarks: ``make bench`` (``python -m benchmarks``) runs every ``benchmarks/bench_*.py``.

Each module exposes ``run(argv: list[str]) -> None`` and prints its figures as ratios against a baseline
measured in the same run. Nothing here asserts timings; the test suite never does either.
"""
