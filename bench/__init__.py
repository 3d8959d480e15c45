"""Benchmarks against peers and the same-traffic roofline (see bench/README.md)."""
