"""The accuracy-benchmark corpus: many simulated sessions across the parameter space, split
into ``tune/`` and ``holdout/``. The holdout comes from the same generator with different seeds
and also from parameter ranges the tuning part never sees (strap rotation beyond ±20°,
sensor further up the shin, other output rates, the other chip, stronger fatigue, a depth
target), to show whether an algorithm generalises rather than memorises."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from kotdevice.errors import KotError
from kotdevice.sim.motion import REST_ACTIVITIES, SQUAT_VARIANTS, TEMPOS, WALK_VARIANTS
from kotdevice.sim.output import write_result
from kotdevice.sim.session import simulate_session

# every (exercise, variant) the corpus cycles through, so each appears many times
SET_KINDS = [("squat", v) for v in SQUAT_VARIANTS] + [("tib_raise", None)] * 2 + [
    ("backward_walk", v) for v in WALK_VARIANTS]

SPLITS = {
    # split: rates, |strap rotation| range, sensor distance range, chips, max fatigue, depth target?
    "tune": dict(rates=(50, 100, 200, 400, 500), rot=(0, 20), dist=(0.20, 0.235), chips=("mpu6050",),
                 fatigue=0.5, target_p=0.0),
    "holdout": dict(rates=(75, 200, 250, 800, 1000), rot=(20, 30), dist=(0.235, 0.25),
                    chips=("mpu6050", "lsm6dso"), fatigue=1.0, target_p=0.3),
}


def session_spec(rng: np.random.Generator, split: str, first_kind: int) -> tuple[dict, float]:
    """A random session (spec, rate) for ``split``; ``first_kind`` rotates the set kinds so
    every exercise/variant appears evenly across the corpus."""
    p = SPLITS[split]
    rate = float(rng.choice(p["rates"]))
    rot = float(rng.choice([-1, 1]) * rng.uniform(*p["rot"]))
    spec = {
        "leg": str(rng.choice(["left", "right"])),
        "sensor_distance_m": float(rng.uniform(*p["dist"])),
        "mount": {"rotation_about_shin_deg": rot},
        "error_model": {"chip": str(rng.choice(p["chips"]))},
        "items": [{"kind": "rest", "activities": [{"kind": "stand", "duration_s": float(rng.uniform(2.5, 5))}]}],
    }
    n_sets = int(rng.integers(4, 7))
    for k in range(n_sets):
        ex, var = SET_KINDS[(first_kind + k) % len(SET_KINDS)]
        reps = int(rng.integers(4, 13)) if ex != "backward_walk" else int(rng.integers(6, 16))
        item = {"kind": "set", "exercise": ex, "variant": var, "reps": reps,
                "tempo": str(rng.choice(TEMPOS)), "fatigue": float(rng.uniform(0, p["fatigue"])),
                "partials": int(rng.choice([0, 0, 1, 2])) if ex != "backward_walk" and reps >= 6 else 0}
        if p["target_p"] and rng.random() < p["target_p"] and ex != "backward_walk":
            item["depth_deg"] = float(rng.uniform(3, 6)) if ex == "tib_raise" else float(rng.uniform(30, 44))
        spec["items"].append(item)
        acts = [{"kind": str(a), "duration_s": float(rng.uniform(3, 12))}
                for a in rng.choice(REST_ACTIVITIES, size=int(rng.integers(1, 4)), replace=False)]
        spec["items"].append({"kind": "rest", "activities": acts})
    if rng.random() < 0.2:
        spec["items"].append({"kind": "knee_to_wall", "attempts": int(rng.integers(1, 4))})
        spec["items"].append({"kind": "rest", "activities": [{"kind": "stand", "duration_s": 3.0}]})
    return spec, rate


def generate_corpus(out_dir: str | Path, sessions: int = 60, seed: int = 0, progress=sys.stderr,
                    holdout_frac: float = 0.3, error_overrides: dict | None = None,
                    kinematics: dict | None = None) -> dict:
    """``error_overrides``: error-model parameters set in every session (e.g. the
    accelerometer's static errors at 0, to measure what they cost); ``kinematics``: the
    session spec's multipliers on knee valgus / tibial rotation (0 turns one off). The
    sessions are otherwise the same as without them."""
    out = Path(out_dir)
    try:
        for split in SPLITS:
            (out / split).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise KotError(f"{out}: cannot create corpus directory: {e.strerror or e}") from None
    n_hold = max(1, int(round(sessions * holdout_frac)))
    n_tune = sessions - n_hold
    rng = np.random.default_rng([seed, 7919])
    manifest = {"seed": seed, "error_overrides": dict(error_overrides or {}),
                "kinematics": dict(kinematics or {}), "sessions": [],
                "splits": {k: {kk: list(vv) if isinstance(vv, tuple) else vv for kk, vv in v.items()}
                           for k, v in SPLITS.items()}}
    t0 = time.monotonic()
    totals = {"sets": 0, "reps": 0, "samples": 0}
    for i in range(sessions):
        split = "tune" if i < n_tune else "holdout"
        spec, rate = session_spec(rng, split, first_kind=i * 3)
        if error_overrides:
            spec["error_model"] = {**spec["error_model"], **error_overrides}
        # holdout seeds live in a different range from tuning seeds
        sseed = seed * 100_003 + i + (0 if split == "tune" else 50_000)
        res = simulate_session(spec, seed=sseed, rate_hz=rate, kinematics=kinematics)
        name = f"{split}/s{i:03d}.csv"
        write_result(res, out / name)
        nsets = len(res.truth["sets"])
        totals["sets"] += nsets
        totals["reps"] += res.truth["total_reps"]
        totals["samples"] += len(res.imu)
        manifest["sessions"].append(dict(file=name, split=split, seed=sseed, rate_hz=rate, leg=spec["leg"],
                                         chip=spec["error_model"]["chip"], sets=nsets,
                                         reps=res.truth["total_reps"], duration_s=res.truth["duration_s"],
                                         strap_rotation_deg=round(spec["mount"]["rotation_about_shin_deg"], 2)))
        if progress is not None:
            el = time.monotonic() - t0
            print(f"corpus: {i + 1}/{sessions} {name} {rate:g} Hz, {nsets} sets, "
                  f"{res.truth['total_reps']} reps, {res.truth['duration_s']:.0f} s "
                  f"[{el:.0f} s elapsed, ~{el / (i + 1) * (sessions - i - 1):.0f} s left]",
                  file=progress, flush=True)
    manifest["totals"] = totals
    with open(out / "manifest.json", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
    return manifest
