"""Runnable benchmarks; results are recorded in docs/benchmarks.md. CI runs each with --smoke."""
