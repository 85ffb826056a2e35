"""`kotdevice calibrate` live on the simulated sensor: the wearer's protocol through the real
driver, saved where `kotdevice run` picks it up, and right from the first sample."""
from __future__ import annotations

import json
import sqlite3

import numpy as np

from kotdevice.cli import main
from kotdevice.device.runtime import MANUAL_MOUNT_KEY
from kotdevice.motion.engine import MotionEngine
from kotdevice.sim import simulate_set


def test_live_calibration_is_saved_for_the_device_and_fixes_the_quiet_start(tmp_path, capsys):
    db, out = tmp_path / "dev.db", tmp_path / "mount.json"
    assert main(["calibrate", "--sim", "--store", str(db), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == printed
    with sqlite3.connect(db) as con:
        (saved,) = con.execute("SELECT value FROM meta WHERE key = ?", (MANUAL_MOUNT_KEY,)).fetchone()
    assert json.loads(saved) == printed

    # The same simulated wearer: before any movement the engine cannot know how the strap is
    # turned, so the quiet start is far off without a calibration and close with it. (What is
    # left is the ~1-1.5 deg tilt of the learned flexion axis when the knee tracks inward.)
    athlete = simulate_set("squat", reps=3, depth_deg=25.0, lead_in_s=3.0, seed=7)
    quiet = athlete.imu.t_s < athlete.imu.t_s[0] + 2.5

    def quiet_rms_deg(mount):
        angle = MotionEngine(mount=mount).process(athlete.imu).tibial_angle_deg
        return np.sqrt(np.mean((angle[quiet] - athlete.truth_angle_deg[quiet]) ** 2))

    with_cal, without = quiet_rms_deg(printed), quiet_rms_deg(None)
    print(f"quiet-start tibial angle RMS error: {without:.1f} deg uncalibrated, {with_cal:.1f} deg calibrated")
    assert with_cal < 2.0 and with_cal < without / 2, (with_cal, without)


def test_live_calibration_without_the_movement_fails_with_one_line(tmp_path, capsys):
    # 2 s is only the quiet standing: the knee never moves forward in time.
    assert main(["calibrate", "--sim", "--store", str(tmp_path / "d.db"), "--seconds", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("kotdevice: error: no knee-forward movement seen in 2 s")


def test_calibrate_from_a_file_needs_out(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path / "x.csv")]) == 2
    assert "needs --out" in capsys.readouterr().err
