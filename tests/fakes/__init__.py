"""Fakes of external services for tests and benchmarks (real protocols, local only)."""
