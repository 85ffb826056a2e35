"""The tempo sweep's generator draws what it says, and its table scores what the engine counted."""
from __future__ import annotations

import numpy as np

from kotdevice.bench import tempo


def test_sweep_sessions_carry_their_reps_and_the_table_scores_them(capsys):
    rng = np.random.default_rng(7)
    case = tempo.draw_case(rng, "squat")
    blk, truth, _ = tempo.synth_session(case)
    assert truth == [case["reps"], case["reps"]]
    dt = np.diff(blk.t_s)
    assert abs(np.median(dt) - 1.0 / case["rate_hz"]) < 1e-6
    # at rest the accelerometer reads 1 g
    assert abs(np.linalg.norm(blk.accel_g[: int(case["rate_hz"])], axis=1).mean() - 1.0) < 0.02

    class Args:
        cases, seed = 1, 7
    assert tempo.run(Args) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| squat |") or ln.startswith("| tib_raise |")]
    assert [r.split("|")[1].strip() for r in rows[:2]] == ["squat", "tib_raise"]
    assert all(r.split("|")[2].strip() == "2" for r in rows[:2])  # two sets per session
    # the exact column is the share of sets counted right, as the sweep itself recorded them
    res = tempo.sweep(1, 7)
    for row, name in zip(rows[:2], ("squat", "tib_raise")):
        (r,) = [x for x in res if x["exercise"] == name]
        right = sum(n == m and ex == name for (ex, n), m in zip(r["got"], r["truth"])) \
            if len(r["got"]) == len(r["truth"]) else 0
        assert row.split("|")[3].strip() == f"{100 * right / 2:.1f} %"
    # the peak table scores the squat session's reps against the generator's true peaks,
    # with the engine's gyro-scale learning on and off
    (sq,) = [x for x in res if x["exercise"] == "squat"]
    assert sq["exact"] and len(sq["peak_err"]) == sum(sq["truth"]) == len(sq["peak_err_fixed"])
    row = next(ln for ln in out.splitlines() if ln.startswith(f"| {sq['gyro_scale']} | 1 |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2] == str(sum(sq["truth"]))
    assert cells[3] == f"{np.mean(np.abs(sq['peak_err'])):.2f}°"
    assert cells[5] == f"{np.mean(np.abs(sq['peak_err_fixed'])):.2f}°"


def test_raise_sessions_begin_standing_and_lean_back_to_the_wall_before_each_set():
    # CONTRACTS §1: every session begins with quiet standing
    rng = np.random.default_rng(3)
    case = tempo.draw_case(rng, "tib")
    blk, truth, _ = tempo.synth_session(case)

    def gravity_at(t0, t1):
        m = (blk.t_s >= t0) & (blk.t_s < t1)
        g = blk.accel_g[m].mean(axis=0)
        return g / np.linalg.norm(g)

    lean = np.degrees(np.arccos(np.clip(gravity_at(0.0, 2.0) @ gravity_at(5.2, 5.9), -1, 1)))
    assert abs(lean - (3.0 - case["base_deg"])) < 1.0
