"""Set-level metrics from the reps of a set (pure, no I/O)."""
from __future__ import annotations

import numpy as np


def set_metrics(reps) -> dict:
    """mean/max peak angle and tempo consistency (coefficient of variation of rep
    durations) - the SetEvent fields."""
    if not reps:
        return {"mean_peak_deg": None, "max_peak_deg": None, "tempo_cv": None}
    peaks = np.array([r.peak_angle_deg for r in reps], dtype=np.float64)
    durs = np.array([r.end_s - r.start_s for r in reps], dtype=np.float64)
    cv = float(np.std(durs) / np.mean(durs)) if len(durs) > 1 and np.mean(durs) > 0 else 0.0
    return {
        "mean_peak_deg": round(float(np.mean(peaks)), 2),
        "max_peak_deg": round(float(np.max(peaks)), 2),
        "tempo_cv": round(cv, 4),
    }
