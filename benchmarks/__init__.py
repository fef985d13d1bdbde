"""Benchmarks: frazil, Icechunk and plain Zarr side by side in one run.

Run ``python -m benchmarks`` (full, under 20 minutes on 2 cores) or
``python -m benchmarks --quick`` (every workload tiny; the test suite runs it).
"""
