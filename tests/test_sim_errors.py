"""The IMU error model's statistics match its parameters."""
from dataclasses import replace

import numpy as np
import pytest

from kotdevice.errors import KotError
from kotdevice.sim.imu_errors import (
    ErrorParams, apply_errors, clip_quantize, draw_errors, sample_times, temperature_c)

ZERO = ErrorParams().ideal()


def _run(p, n=40000, rate=400.0, seed=1, a=None, g=None):
    rng = np.random.default_rng(seed)
    drawn = draw_errors(p, rng)
    t = np.arange(n) / rate
    a = np.zeros((n, 3)) if a is None else a
    g = np.zeros((n, 3)) if g is None else g
    return drawn, t, *apply_errors(p, drawn, t, a, g, rate, rng)


@pytest.mark.parametrize("chip", ["mpu6050", "lsm6dso"])
def test_white_noise_matches_the_noise_density(chip):
    base = ErrorParams.for_chip(chip)
    p = replace(ZERO, accel_noise_density_g_rthz=base.accel_noise_density_g_rthz,
                gyro_noise_density_dps_rthz=base.gyro_noise_density_dps_rthz)
    rate = 400.0
    _, _, a, g = _run(p, rate=rate)
    for x, dens in ((a, p.accel_noise_density_g_rthz), (g, p.gyro_noise_density_dps_rthz)):
        assert np.std(x, axis=0) == pytest.approx(np.full(3, dens * np.sqrt(rate / 2)), rel=0.05)
        # flat one-sided PSD at density^2 (periodogram averaged over the band)
        X = np.fft.rfft(x[:, 0])
        psd = 2 * np.abs(X[1:-1]) ** 2 / (rate * len(x))
        assert np.sqrt(psd.mean()) == pytest.approx(dens, rel=0.05)


def test_drawn_biases_have_the_configured_spread_and_appear_in_the_output():
    p = replace(ZERO, gyro_bias_sigma_dps=1.5, accel_bias_sigma_g=0.012, gyro_noise_density_dps_rthz=0.005)
    rng = np.random.default_rng(5)
    gb = np.array([draw_errors(p, rng).gyro_bias_dps for _ in range(800)])
    ab = np.array([draw_errors(p, rng).accel_bias_g for _ in range(800)])
    assert gb.std() == pytest.approx(1.5, rel=0.08) and abs(gb.mean()) < 0.15
    assert ab.std() == pytest.approx(0.012, rel=0.08)
    drawn, _, a, g = _run(p)
    assert np.mean(g, axis=0) == pytest.approx(drawn.gyro_bias_dps, abs=0.005)
    assert np.mean(a, axis=0) == pytest.approx(drawn.accel_bias_g, abs=1e-4)


def test_bias_random_walk_variance_grows_with_time():
    p = replace(ZERO, gyro_bias_rw_dps_rts=0.01)
    ends = []
    for seed in range(60):
        _, t, _, g = _run(p, n=2000, rate=100.0, seed=seed)
        ends.append(g[-1])
    ends = np.array(ends)
    T = 2000 / 100.0
    assert ends.std() == pytest.approx(0.01 * np.sqrt(T), rel=0.15)


def test_scale_and_cross_axis_errors_multiply_the_true_signal():
    p = replace(ZERO, gyro_scale_sigma=0.02, gyro_cross_sigma=0.01)
    true = np.tile([100.0, -50.0, 20.0], (10, 1))
    drawn, _, _, g = _run(p, n=10, g=true)
    assert np.allclose(g, true @ drawn.gyro_M.T)
    assert not np.allclose(drawn.gyro_M, np.eye(3))
    assert np.abs(np.diag(drawn.gyro_M) - 1).max() < 0.1


def test_temperature_drift_of_the_bias():
    p = replace(ZERO, gyro_bias_tempco_dps_per_c=0.04, temp_start_c=20.0, temp_end_c=32.0, temp_tau_s=30.0)
    drawn, t, _, g = _run(p, n=40000, rate=200.0)
    dT = temperature_c(p, t) - 20.0
    assert dT[-1] == pytest.approx(12.0, abs=0.02) and dT[0] == 0.0
    assert np.allclose(g, dT[:, None] * drawn.gyro_tempco_dps_per_c)


def test_clipping_and_quantisation_at_the_configured_full_scale():
    p = replace(ZERO, accel_fs_g=4.0, gyro_fs_dps=500.0, quantize=True, clip=True)
    a = np.array([[10.0, -10.0, 0.123456]])
    g = np.array([[900.0, -900.0, 1.23456]])
    qa, qg = clip_quantize(p, a, g)
    lsb_a, lsb_g = 4.0 / 32768, 500.0 / 32768
    assert qa[0, 0] == pytest.approx(4.0 - lsb_a) and qa[0, 1] == pytest.approx(-4.0)
    assert qg[0, 0] == pytest.approx(500.0 - lsb_g) and qg[0, 1] == pytest.approx(-500.0)
    assert qa[0, 2] / lsb_a == pytest.approx(round(qa[0, 2] / lsb_a), abs=1e-9)
    assert abs(qa[0, 2] - 0.123456) <= lsb_a / 2
    # the "no quantisation" path leaves values alone (the emulated chip quantises itself)
    ua, ug = clip_quantize(p, a, g, quantize=False, clip=False)
    assert ua[0, 0] == 10.0 and ug[0, 2] == 1.23456
    _, _, a2, g2 = _run(p, n=5, g=np.full((5, 3), 2000.0))
    assert np.all(g2 == pytest.approx(500.0 - lsb_g))


def test_sample_time_jitter_and_drops():
    p = replace(ZERO, period_jitter_frac=0.02, drop_prob=0.01, drop_burst_per_min=0.0)
    rng = np.random.default_rng(3)
    t, keep = sample_times(p, 600.0, 100.0, rng)
    dt = np.diff(t)
    assert np.all(dt > 0)
    assert np.std(dt) == pytest.approx(0.02 * 0.01 * np.sqrt(2), rel=0.1)
    lost = 1 - keep[200:].mean()  # the first 2 s (quiet standing) are never dropped
    assert lost == pytest.approx(0.01, rel=0.15)
    assert keep[:200].all()


def test_overrides_are_checked():
    assert ErrorParams.from_dict({"chip": "lsm6dso", "gyro_fs_dps": 2000}).gyro_fs_dps == 2000
    with pytest.raises(KotError, match="unknown error-model parameter"):
        ErrorParams.from_dict({"gyro_noise": 1})
    with pytest.raises(KotError, match="unknown chip"):
        ErrorParams.from_dict({"chip": "bmi160"})


def test_the_gyro_gain_is_drawn_last_and_scales_the_whole_gyro():
    """REAL-SIGNALS §5's gain: drawn with its spread, on top of the datasheet scale errors;
    without a spread nothing else drawn changes (old corpora regenerate exactly)."""
    p = replace(ErrorParams(), gyro_gain_mean=0.9, gyro_gain_sigma=0.03)
    rng = np.random.default_rng(2)
    gains = np.array([draw_errors(p, rng).gyro_gain for _ in range(800)])
    assert gains.mean() == pytest.approx(0.9, abs=0.004) and gains.std() == pytest.approx(0.03, rel=0.1)
    with_gain = draw_errors(p, np.random.default_rng(3))
    plain = draw_errors(replace(p, gyro_gain_mean=1.0, gyro_gain_sigma=0.0), np.random.default_rng(3))
    assert plain.gyro_gain == 1.0 and with_gain.gyro_gain != 1.0
    assert np.allclose(with_gain.gyro_M, with_gain.gyro_gain * plain.gyro_M)
    assert np.array_equal(with_gain.accel_M, plain.accel_M)
    assert ErrorParams().ideal().gyro_gain_mean == 1.0 and ErrorParams().ideal().gyro_gain_sigma == 0.0
