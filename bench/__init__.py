"""Benchmarks: `make bench-*` targets. They print tables; they never assert on time."""
