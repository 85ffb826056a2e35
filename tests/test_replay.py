"""`kotdevice replay` and `kotdevice calibrate` (CONTRACTS §3)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kotdevice.cli import main
from kotdevice.motion._synth import squat_session
from kotdevice.rawcsv import write_csv


@pytest.fixture(scope="module")
def session_csv(tmp_path_factory):
    blk, truth = squat_session(rate_hz=100, reps=(6, 4), rot_about_x_deg=15, partial_at={(0, 3)}, seed=12)
    p = tmp_path_factory.mktemp("replay") / "s.csv"
    write_csv(p, blk)
    return p, blk, truth


def test_replay_json_contract_on_stdout_only(session_csv, tmp_path):
    path, blk, truth = session_csv
    angles = tmp_path / "a.csv"
    p = subprocess.run([sys.executable, "-m", "kotdevice", "replay", str(path), "--json",
                        "--angles-out", str(angles)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # the whole of stdout is one JSON object
    assert p.stdout.count("\n") == 1
    assert doc["total_reps"] == sum(truth["reps"]) == sum(s["reps"] for s in doc["sets"])
    s0 = doc["sets"][0]
    assert s0["exercise"] == "squat" and s0["reps"] == len(s0["rep_list"]) == 6
    for r in s0["rep_list"]:
        assert {"start_s", "end_s", "peak_angle_deg", "partial"} <= set(r)
        assert r["start_s"] < r["end_s"]
    assert [r["partial"] for r in s0["rep_list"]] == [False, False, False, True, False, False]
    lines = angles.read_text().splitlines()
    assert lines[0] == "t_s,tibial_angle_deg" and len(lines) == len(blk) + 1
    t, a = map(float, lines[-1].split(","))
    assert t == pytest.approx(blk.t_s[-1], abs=1e-6) and abs(a - truth["tib"][-1]) < 2.0


def test_replay_forced_exercise_and_plot(session_csv, tmp_path, capsys):
    path, _, truth = session_csv
    png = tmp_path / "p.png"
    assert main(["replay", str(path), "--json", "--exercise", "squat", "--plot", str(png)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total_reps"] == sum(truth["reps"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replay_malformed_csv_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps\n0.0,0,0,1,0,0,0\n0.01,0,zero,1,0,0,0\n")
    assert main(["replay", str(bad), "--json"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "bad.csv:3" in err[0] and "ay_g" in err[0]
    assert main(["replay", str(tmp_path / "none.csv"), "--json"]) == 2


def test_calibrate_saves_a_mount_replay_accepts(session_csv, tmp_path, capsys):
    path, _, _ = session_csv
    out = tmp_path / "mount.json"
    assert main(["calibrate", str(path), "--out", str(out), "--leg", "left"]) == 0
    d = json.loads(out.read_text())
    assert d["source"] == "manual" and d["leg"] == "left"
    assert d["rotation_about_shin_deg"] == pytest.approx(-15, abs=6)
    capsys.readouterr()
    assert main(["replay", str(path), "--json", "--mount", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mount"]["leg"] == "left" and doc["total_reps"] == 10
    # a recording without any movement cannot calibrate
    still = tmp_path / "still.csv"
    still.write_text("t_s,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps\n" +
                     "".join(f"{i / 100:.2f},1,0,0,0.1,0,0\n" for i in range(400)))
    assert main(["calibrate", str(still), "--out", str(tmp_path / "m2.json")]) == 2
    assert "no knee-forward movement" in capsys.readouterr().err


def test_replay_reports_the_gyro_scale_it_learned(tmp_path, capsys):
    """A recording whose gyro reads 10 % small (REAL-SIGNALS §5), with held bottoms: the JSON
    says what the fusion learned, and from how many pairs."""
    from kotdevice.sim import simulate_set
    from kotdevice.sim.output import write_result

    res = simulate_set("squat", 6, tempo="pause", rate_hz=100, seed=3,
                       errors={"gyro_gain_mean": 0.9, "gyro_gain_sigma": 0.0})
    write_result(res, tmp_path / "s.csv")
    assert main(["replay", str(tmp_path / "s.csv"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gyro_scale"]["pairs"] >= 6 and doc["gyro_scale"]["applied"] == pytest.approx(1 / 0.9, abs=0.03)
    assert doc["total_reps"] == 6


def test_replay_reports_the_accelerometer_offset_it_learned(tmp_path, capsys):
    """A recording whose accelerometer reads 30 mg off along the shin's forward axis (a real
    MPU-6050 may be ±50 mg off), with held bottoms and standing between reps: the JSON says
    what offset the held poses showed, and from how many."""
    from kotdevice.sim import simulate_set
    from kotdevice.sim.output import write_result

    res = simulate_set("squat", 6, tempo="pause", rate_hz=100, seed=3,
                       mount={"rotation_about_shin_deg": 0, "tilt_sagittal_deg": 0, "tilt_frontal_deg": 0},
                       errors={"accel_bias_sigma_g": 0.0, "accel_scale_sigma": 0.0, "accel_cross_sigma": 0.0})
    res.imu.accel_g[:, 2] += 0.03
    write_result(res, tmp_path / "s.csv")
    assert main(["replay", str(tmp_path / "s.csv"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    cal = doc["accel_calibration"]
    assert cal["poses"] >= 6 and 0.015 < cal["offset_g"][2] < 0.04, cal
    assert doc["total_reps"] == 6
