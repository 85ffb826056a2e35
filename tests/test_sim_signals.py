"""The simulated signals have the magnitudes of real shin recordings (REAL-SIGNALS.md)."""
import numpy as np
import pytest

from kotdevice.sim import simulate_session, simulate_set

# The same measurements `kotdevice bench sim_realism` reports.
from kotdevice.sim.realism import RATE, STRAIGHT, band_rms, sag_rate, set_metrics, window  # noqa: E402


@pytest.fixture(scope="module")
def quick_squats():
    return [simulate_set("squat", 10, variant="bodyweight", tempo="quick", seed=s, rate_hz=RATE, mount=STRAIGHT)
            for s in range(3)]


def test_quiet_standing_is_clean(quick_squats):
    for res in quick_squats:
        q = res.imu.t_s < 2.0
        a = np.linalg.norm(res.imu.accel_g[q], axis=1)
        assert np.percentile(np.abs(a - a.mean()), 99) < 0.02 and abs(a.mean() - 1) < 0.03
        g = res.imu.gyro_dps[q] - res.imu.gyro_dps[q].mean(0)
        assert 0.05 < g[:, 1].std() < 0.6 and 0.05 < g[:, 2].std() < 0.6  # gyro noise 0.1–0.5 dps
        assert g[:, 0].std() < 4.0  # the axial axis may wander by a few dps


@pytest.fixture(scope="module")
def quick_squat_metrics(quick_squats):
    return [set_metrics(res) for res in quick_squats]


def test_quick_squat_tempo_accel_and_rates(quick_squats, quick_squat_metrics):
    for res, m in zip(quick_squats, quick_squat_metrics):
        assert 1.9 <= m["s2s"] <= 2.7
        assert 0.72 <= m["a_p1"] <= 0.9 and 1.08 <= m["a_p99"] <= 1.3
        assert 40 <= m["hf_mg"] <= 100  # 40–85 mg RMS above 3 Hz
        assert 50 <= m["peak_rate"] <= 105  # 55–100 dps
        # straight strap: sensor x axial, y sagittal axis, z frontal
        assert 3.5 < m["ax38"] < 9 and 3.5 < m["ax820"] < 9  # ~6 dps each
        assert m["fr38"] > m["sag3"]  # frontal jitter > sagittal jitter


def test_accelerometer_tilt_disagrees_with_the_truth_like_a_real_shin(quick_squat_metrics):
    rms = np.mean([m["tilt_rms"] for m in quick_squat_metrics])
    mx = np.mean([m["tilt_max"] for m in quick_squat_metrics])
    assert 4.0 <= rms <= 10.0  # 5–9 deg RMS
    assert 12.0 <= mx <= 30.0  # spikes of 14–25 deg


def test_accelerometer_tilt_swings_wider_than_the_true_angle_in_quick_reps(quick_squat_metrics):
    # tangential acceleration at the turning points (sensor 0.2-0.25 m above the ankle).
    # Real shins: 15-50 % wider; the simulator sits at the top of that and a little above
    # (docs/sim.md: 50 [41-55] %), which this bound admits.
    for m in quick_squat_metrics:
        assert 15 <= m["swing_pct"] <= 60


def test_the_gyro_integrates_about_ten_percent_less_turn_than_the_shin_made(quick_squats, quick_squat_metrics):
    # REAL-SIGNALS §5: even after the tangential acceleration, real gyros came out ~10 % small
    for res, m in zip(quick_squats, quick_squat_metrics):
        gain = res.truth["error_model"]["drawn"]["gyro_gain"]
        assert 0.8 < gain < 1.0
        assert m["gyro_swing"] == pytest.approx(gain, abs=0.03)
    assert 0.85 < np.mean([m["gyro_swing"] for m in quick_squat_metrics]) < 0.95


def test_jitter_comes_in_bursts_when_the_shin_moves_fast(quick_squats):
    res = quick_squats[0]
    s = res.truth["sets"][0]
    q = window(res, s["start_s"], s["end_s"])
    g = res.clean.gyro_dps
    X = np.fft.rfft(g, axis=0)
    X[np.fft.rfftfreq(len(g), 1 / RATE) < 3] = 0
    hf = np.linalg.norm(np.fft.irfft(X, n=len(g), axis=0), axis=1)
    rate = np.abs(sag_rate(res))
    fast = q & (rate > 45)
    calm = q & (rate < 8)
    assert fast.sum() > 100 and calm.sum() > 50
    assert np.sqrt(np.mean(hf[fast] ** 2)) > 1.8 * np.sqrt(np.mean(hf[calm] ** 2))


def test_rep_to_rep_variation_and_partials():
    res = simulate_set("squat", 14, variant="deep", tempo="normal", seed=4, partials=2, rate_hz=200)
    reps = res.truth["sets"][0]["rep_list"]
    full = np.array([r["rom_deg"] for r in reps if not r["designed_partial"]])
    cv = full.std() / full.mean()
    assert 0.02 <= cv <= 0.09  # ~5 %, never partial-looking
    assert np.min(full) > 0.8 * np.median(full)
    med = np.median([r["rom_deg"] for r in reps])
    part = [r for r in reps if r["designed_partial"]]
    assert len(part) == 2
    for r in part:
        assert 0.25 * med <= r["rom_deg"] <= 0.65 * med
    assert [r["partial"] for r in reps] == [r["designed_partial"] for r in reps]
    durs = np.array([r["end_s"] - r["start_s"] for r in reps if not r["designed_partial"]])
    assert 0.015 <= durs.std() / durs.mean() <= 0.08  # duration varies 3–6 %


def test_step_downs_are_violent():
    res = simulate_set("squat", 8, variant="step_down", tempo="normal", seed=2, rate_hz=RATE)
    s = res.truth["sets"][0]
    rate = sag_rate(res)
    down, up = [], []
    for r in s["rep_list"]:
        w = window(res, r["start_s"], r["end_s"])
        down.append(rate[w].max())
        up.append(-rate[w].min())
    assert 150 <= np.median(up) <= 300  # push back up ~200 dps
    assert np.median(up) > 1.5 * np.median(down)  # about twice as fast as the descent
    a = np.linalg.norm(res.imu.accel_g[window(res, s["start_s"], s["end_s"])], axis=1)
    assert a.max() > 1.8 and a.min() < 0.7  # |a| spans 0.3–2.3 g


@pytest.fixture(scope="module")
def rest_session():
    acts = [{"kind": "stand", "duration_s": 3}, {"kind": "walk", "duration_s": 10},
            {"kind": "sit_stand", "duration_s": 15}, {"kind": "fidget", "duration_s": 8},
            {"kind": "strap_adjust", "duration_s": 4}]
    return simulate_session({"items": [{"kind": "rest", "activities": acts}]}, seed=1, rate_hz=RATE)


def _act(res, kind):
    return next(a for a in res.truth["rests"][0]["activities"] if a["kind"] == kind)


def test_walking_swing_rates_heel_strikes_and_axial_ringing(rest_session):
    res = rest_session
    a = _act(res, "walk")
    w = window(res, a["start_s"], a["end_s"])
    assert 200 <= np.abs(sag_rate(res)[w]).max() <= 400
    an = np.linalg.norm(res.imu.accel_g[w], axis=1)
    assert an.min() < 0.5 and 1.8 < an.max() < 3.2  # ~0.3–2.2 g
    rings = []
    for c in res.truth["contacts"]:
        if c["kind"] == "heel" and a["start_s"] < c["t_s"] < a["end_s"] - 0.3:
            cw = window(res, c["t_s"], c["t_s"] + 0.25)
            rings.append(band_rms(res.clean.gyro_dps[cw], RATE, 8, 40)[0])
    assert len(rings) >= 5
    assert 20 <= np.median(rings) <= 70  # axial ringing 20–70 dps RMS


def test_sit_to_stand_is_slow_and_smooth(rest_session):
    res = rest_session
    a = _act(res, "sit_stand")
    w = window(res, a["start_s"], a["end_s"])
    assert 15 <= np.abs(sag_rate(res)[w]).max() <= 35  # 20–30 dps
    an = np.linalg.norm(res.clean.accel_g[w], axis=1)
    assert an.min() > 0.94 and an.max() < 1.07
    stand = np.median(res.truth_angle_deg[res.imu.t_s < 2])
    seated = np.median(res.truth_angle_deg[window(res, a["start_s"] + 3, a["end_s"] - 3)])
    assert 6 <= seated - stand <= 14  # ~10 deg more forward
    peak = res.truth_angle_deg[w].max()
    assert 3 <= peak - seated <= 9  # overshoot 4–7 deg


def test_strap_adjust_changes_the_mount_suddenly(rest_session):
    res = rest_session
    (mc,) = res.truth["mount_changes"]
    old = res.truth["mount"]["rotation_about_shin_deg"]
    assert 8 <= abs(mc["rotation_about_shin_deg"] - old) <= 25 or abs(mc["rotation_about_shin_deg"]) == 30
    t = res.imu.t_s
    g = res.clean.gyro_dps[(t > mc["t_s"] - 1.0) & (t <= mc["t_s"])]
    assert np.abs(g[:, 0]).max() > 15  # the turn happens about the shin axis, quickly


def test_tib_raise_small_rom_and_forefoot_landing():
    res = simulate_set("tib_raise", 12, tempo="quick", seed=6, rate_hz=RATE)
    s = res.truth["sets"][0]
    roms = [r["rom_deg"] for r in s["rep_list"]]
    assert 2.0 <= np.median(roms) <= 6.5
    assert all(r["start_angle_deg"] < res.truth["stand_angle_deg"] - 8 for r in s["rep_list"])  # leaning back
    an = np.linalg.norm(res.clean.accel_g, axis=1)
    spikes = [an[window(res, r["end_s"], r["end_s"] + 0.08)].max() for r in s["rep_list"]]
    assert np.median(spikes) > 1.1  # the short impact transient of the forefoot landing
