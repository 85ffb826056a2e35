"""Small statistics shared by the benchmarks (not a benchmark itself: the leading _ keeps it
out of ``kotdevice bench``)."""
from __future__ import annotations


def percentile(xs, q: float) -> float:
    """The q-th percentile of xs, NaN when there is nothing to measure."""
    import numpy as np

    return float(np.percentile(np.asarray(xs), q)) if len(xs) else float("nan")
