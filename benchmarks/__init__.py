"""Benchmarks of npfp's hot paths against the machine's matrix-multiply throughput and
against an equivalent PyTorch CPU eager implementation.

Run ``python -m benchmarks --help`` (or ``npfp bench --help``); the measured numbers
and how to read them are in ``docs/performance.md``.  PyTorch is imported lazily and
only here: it is never a dependency of the library.
"""
from .runner import SIZES, WORKLOADS, format_table, main, run_benchmarks

__all__ = ["SIZES", "WORKLOADS", "format_table", "main", "run_benchmarks"]
