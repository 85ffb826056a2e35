"""Regenerate the scenario gallery of docs/sim.md: ``python -m kotdevice.sim.gallery DIR``."""
from __future__ import annotations

import sys
from pathlib import Path

from kotdevice.sim.plot import plot_result
from kotdevice.sim.session import simulate_session, simulate_set

SETS = [
    ("squat_bodyweight_quick", dict(exercise="squat", variant="bodyweight", tempo="quick", reps=8)),
    ("squat_deep_slow", dict(exercise="squat", variant="deep", tempo="slow", reps=5, partials=1)),
    ("squat_heel_elevated_pause", dict(exercise="squat", variant="heel_elevated", tempo="pause", reps=5)),
    ("squat_split_squat_fatigue", dict(exercise="squat", variant="split_squat", tempo="normal", reps=10, fatigue=1.0)),
    ("squat_step_up", dict(exercise="squat", variant="step_up", tempo="normal", reps=6)),
    ("squat_step_down", dict(exercise="squat", variant="step_down", tempo="normal", reps=6)),
    ("tib_raise_quick", dict(exercise="tib_raise", tempo="quick", reps=12, partials=1)),
    ("tib_raise_slow", dict(exercise="tib_raise", tempo="slow", reps=6)),
    ("backward_walk", dict(exercise="backward_walk", variant="walk", reps=10)),
    ("sled_drag", dict(exercise="backward_walk", variant="sled_drag", reps=8)),
    ("knee_to_wall", dict(exercise="knee_to_wall", reps=3)),
]
REST = {"items": [{"kind": "rest", "activities": [
    {"kind": "stand", "duration_s": 3}, {"kind": "walk", "duration_s": 8}, {"kind": "sit_stand", "duration_s": 14},
    {"kind": "fidget", "duration_s": 8}, {"kind": "strap_adjust", "duration_s": 4}, {"kind": "stand", "duration_s": 3}]}]}


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, kw in SETS:
        kw = dict(kw)
        ex, reps = kw.pop("exercise"), kw.pop("reps")
        res = simulate_set(ex, reps, seed=1, rate_hz=200, **kw)
        plot_result(res, out / f"{name}.png", title=f"{name.replace('_', ' ')} ({res.truth['leg']} leg, seed 1)")
        print(f"gallery: {name}.png", file=sys.stderr)
    res = simulate_session(REST, seed=2, rate_hz=200)
    plot_result(res, out / "rest_activities.png", title="between sets: stand, walk, sit/stand, fidget, strap re-adjust")
    a = next(x for x in res.truth["rests"][0]["activities"] if x["kind"] == "walk")
    plot_result(res, out / "rest_walk_zoom.png", title="walking about: heel strikes and axial ringing (zoom)",
                t_range=(a["start_s"] + 2, a["start_s"] + 5))
    res = simulate_session(None, seed=0, rate_hz=200)
    plot_result(res, out / "default_workout.png", title="default workout (kotdevice run --sim), seed 0")
    print("gallery: done", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/gallery")
