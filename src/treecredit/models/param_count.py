"""Parameter counts as people write them: 950, 19.8k, 1.81M, 135M, 1.7B."""

from __future__ import annotations


def parameter_count_text(n: float) -> str:
    """``n`` parameters with three significant digits and a k / M / B suffix (``19.8k``, not ``0.0M``)."""
    n = float(n)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale * 0.9995:  # 999,600 is 1M, not 1e+03k
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.0f}"
