"""simulate_set / simulate_session / the simulate command: API, truth format, coverage."""
import json

import numpy as np
import pytest

from kotdevice.cli import main
from kotdevice.errors import KotError
from kotdevice.rawcsv import read_csv
from kotdevice.sim import (EXERCISE_VARIANTS, REST_ACTIVITIES, default_workout, simulate_session,
                           simulate_set)


def test_same_seed_same_result_and_other_seed_differs():
    a = simulate_set("squat", 3, seed=5, rate_hz=100)
    b = simulate_set("squat", 3, seed=5, rate_hz=100)
    c = simulate_set("squat", 3, seed=6, rate_hz=100)
    assert np.array_equal(a.imu.accel_g, b.imu.accel_g) and np.array_equal(a.imu.t_s, b.imu.t_s)
    assert a.truth == b.truth
    assert len(c.imu) != len(a.imu) or not np.array_equal(a.imu.gyro_dps, c.imu.gyro_dps)


@pytest.mark.parametrize("leg,rot", [("left", 25.0), ("right", -28.0)])
def test_true_lateral_axis_gives_the_true_angle(leg, rot):
    # the truth's lateral axis (sensor frame) with the ideal gravity direction must read the
    # true tibial angle through the engine's own projection - at rest and deep in a squat
    from kotdevice.motion.mount import angles_deg, tibial_angle_deg

    spec = {"leg": leg, "mount": {"rotation_about_shin_deg": rot, "tilt_frontal_deg": 9.0},
            "items": [{"kind": "set", "exercise": "squat", "variant": "deep", "reps": 2}]}
    res = simulate_session(spec, seed=3, rate_hz=100)
    r = res.truth_right_axis
    assert r.shape == (len(res.imu), 3) and np.allclose(np.linalg.norm(r, axis=1), 1.0)
    up = res.clean.accel_g / np.linalg.norm(res.clean.accel_g, axis=1, keepdims=True)
    i = np.searchsorted(res.imu.t_s, [1.0, res.truth["sets"][0]["rep_list"][0]["peak_s"]])
    for k in i:
        assert tibial_angle_deg(up[k], r[k]) == pytest.approx(res.truth_angle_deg[k], abs=0.3)
    # the per-sample form (one axis per up vector) agrees
    assert angles_deg(up[i], r[i])[0] == pytest.approx(res.truth_angle_deg[i], abs=0.3)
    assert res.truth_angle_deg[i[1]] > res.truth_angle_deg[i[0]] + 20  # the squat is deep


def test_result_shapes_and_truth_format():
    res = simulate_set("squat", 6, variant="split_squat", tempo="quick", seed=2, rate_hz=200, partials=1)
    n = len(res.imu)
    assert res.truth_angle_deg.shape == (n,) and res.truth_frontal_deg.shape == (n,)
    assert np.all(np.diff(res.imu.t_s) > 0)
    tr = json.loads(json.dumps(res.truth))  # JSON-able as is
    assert tr["total_reps"] == 6 and len(tr["sets"]) == 1
    s = tr["sets"][0]
    assert (s["exercise"], s["variant"], s["reps"]) == ("squat", "split_squat", 6)
    for r in s["rep_list"]:
        assert r["start_s"] < r["peak_s"] < r["end_s"]
        assert set(r) >= {"start_s", "end_s", "peak_angle_deg", "partial", "rom_deg", "start_angle_deg",
                          "peak_frontal_deg"}
        i = np.searchsorted(res.imu.t_s, r["peak_s"])
        assert res.truth_angle_deg[i] == pytest.approx(r["peak_angle_deg"], abs=0.5)
    assert s["start_s"] == s["rep_list"][0]["start_s"] and s["end_s"] == s["rep_list"][-1]["end_s"]
    # sessions begin with >= 2 s of quiet standing, nothing in it
    assert s["start_s"] > 2.0 and tr["rests"][0]["activities"][0]["kind"] == "stand"
    assert res.imu.t_s[0] == 0.0 and np.sum(res.imu.t_s < 2.0) >= 2.0 * 200 - 1


@pytest.mark.parametrize("exercise,variant", [(e, v) for e, vs in EXERCISE_VARIANTS.items() for v in vs])
def test_every_exercise_and_variant_generates_its_reps(exercise, variant):
    res = simulate_set(exercise, 5, variant=variant, seed=1, rate_hz=100)
    s = res.truth["sets"][0]
    assert s["reps"] == 5 and s["exercise"] == exercise and s["variant"] == variant
    assert all(r["rom_deg"] > (1.5 if exercise == "tib_raise" else 10) for r in s["rep_list"])
    assert not any(r["partial"] for r in s["rep_list"])


def test_knee_to_wall_and_rest_activities_are_not_reps():
    acts = [{"kind": k, "duration_s": 6} for k in REST_ACTIVITIES]
    res = simulate_session({"items": [{"kind": "rest", "activities": acts}, {"kind": "knee_to_wall", "attempts": 3}]},
                           seed=3, rate_hz=100)
    assert res.truth["total_reps"] == 0 and res.truth["sets"] == []
    kinds = [a["kind"] for a in res.truth["rests"][-1]["activities"]]
    assert set(REST_ACTIVITIES) <= set(kinds)
    (test,) = res.truth["tests"]
    assert len(test["attempts"]) == 3
    mx = test["max_angle_deg"]
    assert mx == max(a["angle_deg"] for a in test["attempts"])
    assert mx > res.truth["stand_angle_deg"] + 20
    for a in test["attempts"]:
        w = (res.imu.t_s > a["hold_start_s"]) & (res.imu.t_s < a["hold_start_s"] + a["hold_s"])
        assert np.ptp(res.truth_angle_deg[w]) < 2.0  # held


def test_left_and_right_legs_wobble_to_opposite_sides():
    signs = {}
    for leg in ("left", "right"):
        vals = []
        for seed in range(3):
            res = simulate_set("squat", 4, variant="deep", leg=leg, seed=seed, rate_hz=100)
            for r in res.truth["sets"][0]["rep_list"]:
                i0, ip = np.searchsorted(res.imu.t_s, [r["start_s"], r["peak_s"]])
                vals.append(res.truth_frontal_deg[ip] - res.truth_frontal_deg[i0])
        signs[leg] = np.median(vals)
    # the knee drifts medially: toward the wearer's right for a left leg
    assert signs["left"] > 0.5 and signs["right"] < -0.5


@pytest.mark.parametrize("rate", [50, 1000])
def test_rates_and_the_sensor_layer_source(rate):
    res = simulate_set("tib_raise", 3, seed=0, rate_hz=rate)
    dur = res.truth["duration_s"]
    lost = sum(g["samples_lost"] for g in res.truth["gaps"])
    assert len(res.imu) + lost == pytest.approx(dur * rate, abs=2)
    assert np.median(np.diff(res.imu.t_s)) == pytest.approx(1 / rate, rel=0.02)
    blocks = list(res.source(block_size=64))
    assert all(len(b) <= 64 for b in blocks) and len(blocks) > 1
    t = np.concatenate([b.t_s for b in blocks])
    assert np.allclose(np.diff(t), 1 / rate)  # even grid, no drops: the emulated chip has its own clock
    acc = np.concatenate([b.accel_g for b in blocks])
    lsb = 8.0 / 32768
    assert not np.allclose(acc / lsb, np.round(acc / lsb))  # not quantised
    ideal = np.concatenate([b.gyro_dps for b in res.source(256, errors=False)])
    q = t < 2.0
    # the error-free stream has no gyro bias at rest; the physical one has the drawn bias
    assert np.abs(ideal[q].mean(0)).max() < 0.3 < np.abs(res.physical.gyro_dps[q].mean(0)).max()


def test_default_workout_has_reps_in_the_first_minute_and_rest_between_sets():
    res = simulate_session(None, seed=0, rate_hz=100)
    sets = res.truth["sets"]
    assert len(sets) >= 4 and {s["exercise"] for s in sets} >= {"squat", "tib_raise"}
    assert sets[0]["rep_list"][0]["start_s"] < 15 and sum(
        r["end_s"] < 60 for s in sets for r in s["rep_list"]) >= 10
    for a, b in zip(sets, sets[1:]):
        assert b["start_s"] - a["end_s"] > 5
    assert default_workout()["items"]  # a plain, editable spec


@pytest.mark.parametrize("kw,msg", [
    (dict(exercise="plank"), "unknown exercise"),
    (dict(exercise="squat", variant="sumo"), "unknown variant"),
    (dict(exercise="squat", rate_hz=20), "rate must be between"),
    (dict(exercise="squat", reps=0), "reps must be"),
    (dict(exercise="squat", tempo="fast"), "unknown tempo"),
])
def test_bad_input_is_one_clear_error(kw, msg):
    ex = kw.pop("exercise")
    with pytest.raises(KotError, match=msg):
        simulate_set(ex, **{"reps": 3, **kw})


def test_cli_writes_csv_truth_and_plot(tmp_path, capsys):
    out = tmp_path / "tib.csv"
    png = tmp_path / "tib.png"
    rc = main(["simulate", "--exercise", "tib_raise", "--reps", "15", "--tempo", "slow", "--out", str(out),
               "--plot", str(png), "--seed", "4", "--rate", "100"])
    assert rc == 0
    blk = read_csv(out)
    truth = json.loads((tmp_path / "tib.truth.json").read_text())
    assert truth["total_reps"] == 15 and truth["sets"][0]["tempo"] == "slow"
    lines = (tmp_path / "tib.truth.csv").read_text().splitlines()
    assert lines[0] == "t_s,tibial_angle_deg,frontal_angle_deg,right_x,right_y,right_z"
    assert len(lines) == len(blk) + 1
    assert float(lines[1].split(",")[0]) == blk.t_s[0]
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out == ""  # stdout stays clean


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["simulate", "--rate", "5000", "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rate" in err[0]
    bad = tmp_path / "spec.json"
    bad.write_text('{"items": [{"kind": "set", "exercise": "lunge"}]}')
    assert main(["simulate", "--spec", str(bad), "--out", str(tmp_path / "y.csv")]) == 2
    assert "unknown exercise" in capsys.readouterr().err
    bad.write_text("{nope")
    assert main(["simulate", "--spec", str(bad), "--out", str(tmp_path / "y.csv")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_corpus_split_and_manifest(tmp_path, capsys):
    assert main(["simulate", "--corpus", str(tmp_path / "c"), "--sessions", "2", "--seed", "9"]) == 0
    man = json.loads((tmp_path / "c" / "manifest.json").read_text())
    tune = [s for s in man["sessions"] if s["split"] == "tune"]
    hold = [s for s in man["sessions"] if s["split"] == "holdout"]
    assert len(tune) == 1 and len(hold) == 1
    assert abs(hold[0]["strap_rotation_deg"]) >= 20 > abs(tune[0]["strap_rotation_deg"])
    assert hold[0]["seed"] != tune[0]["seed"]
    for s in man["sessions"]:
        p = tmp_path / "c" / s["file"]
        truth = json.loads(p.with_name(p.name[:-4] + ".truth.json").read_text())
        assert truth["total_reps"] == s["reps"] > 0 and len(read_csv(p)) > 1000
    assert "corpus: 2/2" in capsys.readouterr().err


def test_corpus_with_an_error_model_override_is_the_same_sessions_without_that_error(tmp_path, capsys):
    # the accelerometer's offset set to 0 in every session: same sessions (same truth), the
    # drawn offset zero, the override in the manifest
    assert main(["simulate", "--corpus", str(tmp_path / "a"), "--sessions", "2", "--seed", "9"]) == 0
    assert main(["simulate", "--corpus", str(tmp_path / "b"), "--sessions", "2", "--seed", "9",
                 "--error", "accel_bias_sigma_g=0"]) == 0
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert man["error_overrides"] == {"accel_bias_sigma_g": 0.0}
    for s in man["sessions"]:
        ta, tb = (json.loads((tmp_path / d / s["file"].replace(".csv", ".truth.json")).read_text())
                  for d in ("a", "b"))
        assert ta["sets"] == tb["sets"]
        assert any(ta["error_model"]["drawn"]["accel_bias_g"])
        assert not any(tb["error_model"]["drawn"]["accel_bias_g"])
    capsys.readouterr()
    for bad, msg in (("accel_bias_sigma_g", "NAME=NUMBER"), ("accel_bias_sigma_g=none", "NAME=NUMBER"),
                     ("accel_wobble=0", "unknown error-model parameter")):
        assert main(["simulate", "--corpus", str(tmp_path / "c"), "--error", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0]


def test_kinematics_scales_the_knee_drift_and_tibial_turn_and_nothing_else():
    # valgus off: the knee no longer drifts in with depth (the frontal angle of a truly
    # straight strap stays put), the tibia no longer turns (the lateral axis stays put in
    # the sensor frame); every other draw is the same (same reps, same timing)
    spec = {"leg": "right", "mount": {"rotation_about_shin_deg": 0.0, "tilt_sagittal_deg": 0.0,
                                      "tilt_frontal_deg": 0.0},
            "items": [{"kind": "set", "exercise": "squat", "variant": "deep", "reps": 3}]}

    def bottom_change(res):
        t, tib = res.imu.t_s, res.truth_angle_deg
        r = res.truth["sets"][0]["rep_list"][1]
        i0 = int(np.searchsorted(t, r["start_s"]))
        ip = i0 + int(np.argmax(tib[i0:int(np.searchsorted(t, r["end_s"]))]))
        turn = np.degrees(np.arccos(np.clip(res.truth_right_axis[ip] @ res.truth_right_axis[i0], -1, 1)))
        return tib[ip] - tib[i0], res.truth_frontal_deg[ip] - res.truth_frontal_deg[i0], turn

    a = simulate_session(spec, seed=3, rate_hz=100)
    b = simulate_session({**spec, "kinematics": {"valgus_scale": 0, "rotation_scale": 0}}, seed=3, rate_hz=100)
    assert [r["start_s"] for r in a.truth["sets"][0]["rep_list"]] == \
        [r["start_s"] for r in b.truth["sets"][0]["rep_list"]]
    # the keyword overrides the spec's own entry (as errors= does its error model)
    c = simulate_session({**spec, "kinematics": {"valgus_scale": 1.0}}, seed=3, rate_hz=100,
                         kinematics={"valgus_scale": 0, "rotation_scale": 0})
    assert np.array_equal(b.imu.gyro_dps, c.imu.gyro_dps)
    rom_a, fr_a, turn_a = bottom_change(a)
    rom_b, fr_b, turn_b = bottom_change(b)
    assert rom_a > 25 and abs(rom_a - rom_b) < 1.0
    assert fr_a < -1.0 and abs(fr_b) < 0.6  # right leg: medial = toward the wearer's left
    assert turn_a > 2.0 and turn_b < 0.5 * turn_a  # (sway and tissue wobble remain)
    with pytest.raises(KotError, match="unknown kinematics parameter"):
        simulate_session({**spec, "kinematics": {"valgus": 0}}, rate_hz=50)
    with pytest.raises(KotError, match="between 0 and 3"):
        simulate_session({**spec, "kinematics": {"rotation_scale": -1}}, rate_hz=50)


def test_corpus_kinematics_override_is_recorded(tmp_path, capsys):
    assert main(["simulate", "--corpus", str(tmp_path / "k"), "--sessions", "2", "--seed", "9",
                 "--kinematics", "valgus_scale=0"]) == 0
    man = json.loads((tmp_path / "k" / "manifest.json").read_text())
    assert man["kinematics"] == {"valgus_scale": 0.0}
    capsys.readouterr()
    assert main(["simulate", "--corpus", str(tmp_path / "c"), "--kinematics", "valgus=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown kinematics parameter" in err[0]


@pytest.mark.parametrize("spec,msg", [
    ({"items": "squat"}, "must be a list"),
    ({"items": [{"kind": "rest", "activities": [{"kind": "nap", "duration_s": 3}]}]}, "unknown rest activity"),
    ({"items": [{"kind": "rest", "activities": [{"kind": "walk", "duration_s": -1}]}]}, "duration_s"),
    ({"items": [{"kind": "set", "exercise": "squat", "depth_deg": 200}]}, "depth_deg"),
    ({"items": [{"kind": "set", "exercise": "squat", "fatigue": "lots"}]}, "fatigue must be a number"),
    ({"items": [{"kind": "knee_to_wall", "attempts": 0}]}, "attempts"),
    ({"leg": "middle"}, "leg must be"),
    ({"mount": {"rotation_about_shin_deg": "x"}}, "must be a number"),
    ({"items": [{"kind": "dance"}]}, "unknown session item"),
])
def test_bad_session_specs_are_refused_clearly(spec, msg):
    with pytest.raises(KotError, match=msg):
        simulate_session(spec, rate_hz=50)


def test_cli_spec_keeps_its_error_model_unless_overridden(tmp_path):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"error_model": {"chip": "lsm6dso"},
                                "items": [{"kind": "set", "exercise": "tib_raise", "reps": 2}]}))
    out = tmp_path / "s.csv"
    assert main(["simulate", "--spec", str(spec), "--out", str(out), "--rate", "50"]) == 0
    params = json.loads((tmp_path / "s.truth.json").read_text())["error_model"]["params"]
    assert params["chip"] == "lsm6dso" and params["quantize"] is True
    assert main(["simulate", "--spec", str(spec), "--out", str(out), "--rate", "50", "--no-quantize"]) == 0
    params = json.loads((tmp_path / "s.truth.json").read_text())["error_model"]["params"]
    assert params["chip"] == "lsm6dso" and params["quantize"] is False
    blk = read_csv(out)
    assert len(blk) > 100
