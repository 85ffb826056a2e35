"""Set-level metrics from the reps of a set (pure, no I/O)."""
from __future__ import annotations

import numpy as np


def set_metrics(reps) -> dict:
    """mean/max peak angle, tempo consistency (coefficient of variation of rep durations),
    and a few extras for the replay JSON."""
    if not reps:
        return {"mean_peak_deg": None, "max_peak_deg": None, "tempo_cv": None}
    peaks = np.array([r.peak_angle_deg for r in reps], dtype=np.float64)
    durs = np.array([r.end_s - r.start_s for r in reps], dtype=np.float64)
    cv = float(np.std(durs) / np.mean(durs)) if len(durs) > 1 and np.mean(durs) > 0 else 0.0
    return {
        "mean_peak_deg": round(float(np.mean(peaks)), 2),
        "max_peak_deg": round(float(np.max(peaks)), 2),
        "tempo_cv": round(cv, 4),
        "mean_rom_deg": round(float(np.mean([r.rom_deg for r in reps])), 2),
        "mean_tut_s": round(float(np.mean([r.tut_s for r in reps])), 3),
        "partial_reps": int(sum(1 for r in reps if r.partial)),
        "max_wobble_deg": round(float(max(r.peak_frontal_deg for r in reps)), 2),
    }
