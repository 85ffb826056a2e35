"""The simulated signals have the magnitudes of real shin recordings (REAL-SIGNALS.md)."""
import numpy as np
import pytest

from kotdevice.sim import simulate_session, simulate_set

# The same measurements `kotdevice bench sim_realism` reports.
from kotdevice.sim.realism import RATE, STRAIGHT, band_rms, sag_rate, window  # noqa: E402


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


def test_quick_squat_tempo_accel_and_rates(quick_squats):
    for res in quick_squats:
        s = res.truth["sets"][0]
        starts = np.array([r["start_s"] for r in s["rep_list"]])
        assert 1.9 <= np.diff(starts).mean() <= 2.7
        q = window(res, s["start_s"], s["end_s"])
        a = np.linalg.norm(res.imu.accel_g[q], axis=1)
        assert 0.72 <= np.percentile(a, 1) <= 0.9 and 1.08 <= np.percentile(a, 99) <= 1.3
        hf = np.linalg.norm(band_rms(res.imu.accel_g[q], RATE, 3.0))
        assert 0.040 <= hf <= 0.10  # 40–85 mg RMS above 3 Hz
        rate = np.abs(sag_rate(res))
        peaks = [rate[window(res, r["start_s"], r["end_s"])].max() for r in s["rep_list"]]
        assert 50 <= np.median(peaks) <= 105  # 55–100 dps
        g = res.clean.gyro_dps[q]  # straight strap: sensor x axial, y sagittal axis, z frontal
        ax38, ax820 = band_rms(g, RATE, 3, 8)[0], band_rms(g, RATE, 8, 20)[0]
        assert 3.5 < ax38 < 9 and 3.5 < ax820 < 9  # ~6 dps each
        assert band_rms(g, RATE, 3, 8)[2] > band_rms(g, RATE, 3, 20)[1]  # frontal > sagittal jitter


def test_accelerometer_tilt_disagrees_with_the_truth_like_a_real_shin(quick_squats):
    errs = []
    for res in quick_squats:
        s = res.truth["sets"][0]
        q = window(res, s["start_s"], s["end_s"])
        f = res.imu.accel_g
        tilt = np.degrees(np.arctan2(-f[:, 2], f[:, 0]))  # straight strap: sagittal plane is x-z
        e = (tilt - res.truth_angle_deg)[q]
        e -= np.median((tilt - res.truth_angle_deg)[res.imu.t_s < 2])  # sensor bias offset
        errs.append((np.sqrt(np.mean(e**2)), np.abs(e).max()))
    rms, mx = np.mean(errs, axis=0)
    assert 4.0 <= rms <= 10.0  # 5–9 deg RMS
    assert 12.0 <= mx <= 30.0  # spikes of 14–25 deg


def test_accelerometer_tilt_swings_wider_than_the_true_angle_in_quick_reps(quick_squats):
    # tangential acceleration at the turning points (sensor 0.2-0.25 m above the ankle)
    for res in quick_squats:
        f = res.clean.accel_g
        F = np.fft.rfft(f, axis=0)
        F[np.fft.rfftfreq(len(f), 1 / RATE) > 4.0] = 0
        fl = np.fft.irfft(F, n=len(f), axis=0)
        tilt = np.degrees(np.arctan2(-fl[:, 2], fl[:, 0]))
        ratios = [np.ptp(tilt[window(res, r["start_s"], r["end_s"])])
                  / np.ptp(res.truth_angle_deg[window(res, r["start_s"], r["end_s"])])
                  for r in res.truth["sets"][0]["rep_list"]]
        assert 1.12 <= np.median(ratios) <= 1.6  # 15-50 % wider


def test_jitter_comes_in_bursts_when_the_shin_moves_fast(quick_squats):
    res = quick_squats[0]
    s = res.truth["sets"][0]
    q = window(res, s["start_s"], s["end_s"])
    hf = np.zeros(len(res.imu))
    hf_all = res.clean.gyro_dps - 0
    X = np.fft.rfft(hf_all, axis=0)
    f = np.fft.rfftfreq(len(hf_all), 1 / RATE)
    X[f < 3] = 0
    hf = np.linalg.norm(np.fft.irfft(X, n=len(hf_all), axis=0), axis=1)
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
