"""Slow, obvious per-token reference implementations: the test oracle and the benchmark baseline."""
