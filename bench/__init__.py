"""Benchmarks (run by hand, never as timed tests). See bench/README.md."""
