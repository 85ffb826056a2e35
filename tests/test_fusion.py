"""Tests of the tilt fusion core (kotdevice.motion.fusion)."""
from __future__ import annotations

import numpy as np
import pytest

from kotdevice.bench.tilt import default_broad_dir
from kotdevice.motion.fusion import FusionSettings, TiltFusion

BROAD = default_broad_dir()


def rodrigues(v, axis, angle_rad):
    """Rotate vector v about unit axis by angle."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return v * c + np.cross(axis, v) * s + axis * np.dot(axis, v) * (1 - c)


def simulate(t_s, gyro_dps, up0):
    """Exact 'up' in the sensor frame for a body rate held over each sample's interval
    (t[i-1], t[i]], the same convention the filter integrates with. Returns up (n,3)."""
    n = len(t_s)
    up = np.empty((n, 3))
    v = np.asarray(up0, float) / np.linalg.norm(up0)
    up[0] = v
    for i in range(1, n):
        w = np.radians(gyro_dps[i])
        wn = np.linalg.norm(w)
        if wn > 0:
            # a vector fixed in the world appears to rotate by -w in the sensor frame
            v = rodrigues(v, w / wn, -wn * (t_s[i] - t_s[i - 1]))
        up[i] = v
    return up


def angle_deg(a, b):
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    cr = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cr, np.sum(a * b, axis=-1)))


def tilted(deg_about_y, deg_about_x=0.0):
    v = np.array([0.0, 0.0, 1.0])
    v = rodrigues(v, np.array([0.0, 1.0, 0.0]), np.radians(deg_about_y))
    return rodrigues(v, np.array([1.0, 0.0, 0.0]), np.radians(deg_about_x))


def still_stream(up, seconds, rate_hz, rng=None, acc_noise_g=0.0, gyro_noise_dps=0.0,
                 bias_dps=(0.0, 0.0, 0.0)):
    n = int(round(seconds * rate_hz))
    t = np.arange(n) / rate_hz
    acc = np.tile(up, (n, 1))
    gyr = np.tile(np.asarray(bias_dps, float), (n, 1))
    if rng is not None:
        acc = acc + rng.normal(0, acc_noise_g, acc.shape)
        gyr = gyr + rng.normal(0, gyro_noise_dps, gyr.shape)
    return t, acc, gyr


@pytest.mark.parametrize("up_true", [tilted(0), tilted(35, 10), tilted(-80, 20), tilted(150, -40),
                                     np.array([1.0, 0.0, 0.0])])
def test_static_tilt_gives_exact_up(up_true):
    t, a, g = still_stream(up_true, 3.0, 200.0)
    out = TiltFusion().update(t, a, g)
    err = angle_deg(out.up, up_true)
    assert err.max() < 1e-6
    assert np.allclose(np.linalg.norm(out.up, axis=1), 1.0)


def test_noisy_start_is_usable_within_a_second():
    rng = np.random.default_rng(1)
    up_true = tilted(20, -12)
    t, a, g = still_stream(up_true, 3.0, 100.0, rng, acc_noise_g=0.01, gyro_noise_dps=0.3)
    out = TiltFusion().update(t, a, g)
    err = angle_deg(out.up, up_true)
    # one noisy sample alone is ~0.5 deg off; the warm-up averages the quiet start
    assert err[(t >= 1.0)].max() < 0.3
    assert err[t >= 2.5].max() < 0.2


@pytest.mark.parametrize("rate_hz", [50.0, 1000.0])
def test_gyro_rotation_tracking_when_accel_is_useless(rate_hz):
    """Accel stuck at the start value (e.g. a big sustained acceleration): over a 1.5 s, 60
    deg turn the gyro must carry the angle; accel alone would be off by 60 deg."""
    up0 = tilted(10, 5)
    t, _, _ = still_stream(up0, 4.5, rate_hz)
    g = np.zeros((len(t), 3))
    turning = (t > 3.0) & (t <= 4.5)
    g[turning] = np.array([0.0, 40.0, 0.0])
    truth = simulate(t, g, up0)
    a = np.tile(up0, (len(t), 1))  # stuck accelerometer
    out = TiltFusion().update(t, a, g)
    err = angle_deg(out.up, truth)
    assert angle_deg(a[-1], truth[-1]) > 50.0
    # the gravity low-pass lets a little of the false accel through (2nd-order lag of a ramp)
    assert err[-1] < 0.2 * angle_deg(a[-1], truth[-1])


@pytest.mark.parametrize("rate_hz", [50.0, 1000.0])
def test_tracks_consistent_rotation_at_any_rate(rate_hz):
    rng = np.random.default_rng(2)
    up0 = tilted(5, 0)
    n = int(12 * rate_hz)
    t = np.arange(n) / rate_hz
    # a squat-like sagittal swing (peak 90 dps) plus a slower frontal wobble
    g = np.column_stack([10 * np.sin(2 * np.pi * 0.3 * t), 90 * np.sin(2 * np.pi * 0.45 * t),
                         np.zeros(n)])
    g[t < 3] = 0.0
    truth = simulate(t, g, up0)
    a = truth + rng.normal(0, 0.02, truth.shape)
    gn = g + rng.normal(0, 0.3, g.shape)
    out = TiltFusion().update(t, a, gn)
    err = angle_deg(out.up, truth)
    assert np.sqrt(np.mean(err[t > 3] ** 2)) < 0.5
    assert err[t > 1.0].max() < 1.5  # the very first samples carry one sample's noise


def test_bias_learned_at_rest():
    rng = np.random.default_rng(3)
    bias = np.array([0.8, -1.5, 0.6])
    up_true = tilted(25, 15)
    t, a, g = still_stream(up_true, 12.0, 200.0, rng, acc_noise_g=0.01, gyro_noise_dps=0.3,
                           bias_dps=bias)
    f = TiltFusion()
    out = f.update(t, a, g)
    s = f.settings
    assert not out.still[t < s.rest_min_s * 0.9].any()
    assert out.still[t > s.rest_min_s + 0.5].all()
    assert np.abs(f.gyro_bias_dps - bias).max() < 0.05
    # the output rate is bias-corrected
    assert np.abs(out.gyro_dps[t > 10].mean(axis=0)).max() < 0.05
    assert angle_deg(out.up[-1], up_true) < 0.1


def test_slow_turn_is_not_learned_as_bias():
    """A steady 1 dps turn with the accel following it is motion, not bias: the accel moves
    too, so the sensor must not be judged still (the bias stays near zero)."""
    up0 = tilted(0)
    t, _, _ = still_stream(up0, 20.0, 100.0)
    g = np.tile([0.0, 3.0, 0.0], (len(t), 1))
    a = simulate(t, g, up0)
    f = TiltFusion()
    out = f.update(t, a, g)
    assert not out.still.any()
    assert abs(f.gyro_bias_dps[1]) < 0.1


def _perp_err_dps(bias_est, bias_true, up):
    e = np.asarray(bias_est) - bias_true
    u = up / np.linalg.norm(up)
    return float(np.linalg.norm(e - np.dot(e, u) * u))


def test_relaxed_stance_wandering_about_the_shin_still_learns_the_tilt_bias():
    """REAL-SIGNALS §1: a relaxed shin wanders about its own (near vertical) axis by a few
    dps. That turn moves nothing the tilt depends on, so the two horizontal bias components
    are still learned; judged by the whole gyro, the stance is never still."""
    rng = np.random.default_rng(5)
    rate = 100.0
    up0 = np.array([np.cos(np.radians(8)), 0.0, np.sin(np.radians(8))])  # shin 8 deg forward
    t, a, _ = still_stream(up0, 20.0, rate, rng, acc_noise_g=0.003)
    k = np.exp(-np.arange(100) / (0.1 * rate))  # ~1.5 Hz wide random wander, 4 dps RMS
    wander_dps = np.convolve(rng.normal(0, 1, len(t)), k)[:len(t)]
    wander_dps *= 4.0 / wander_dps.std()
    bias = np.array([0.5, -2.0, 1.0])
    g = wander_dps[:, None] * up0 + bias + rng.normal(0, 0.1, (len(t), 3))
    res = {}
    for on in (1.0, 0.0):
        f = TiltFusion(FusionSettings(rest_ignore_vertical_rate=0.94 * on))
        out = f.update(t, a, g)
        res[on] = (out, _perp_err_dps(f.gyro_bias_dps, bias, up0),
                   angle_deg(out.up[t > 10], up0).max())
    out_on, perp_on, tilt_on = res[1.0]
    out_off, perp_off, tilt_off = res[0.0]
    assert out_on.still.mean() < 0.2  # the whole gyro rarely looks still: the axial turn is real
    assert perp_on < 0.1 and tilt_on < 0.3
    assert perp_off > 1.0 and tilt_off > 2.0


def test_a_slow_sway_at_rest_is_not_learned_as_bias():
    """A standing shin sways: slow real turns, well under the rest thresholds. The
    accelerometer sees them turn, so the bias learned at rest discounts them."""
    rate = 100.0
    up0 = tilted(0)
    t = np.arange(int(40 * rate)) / rate
    # +-0.45 deg back and forth at 0.3 dps, with still spells between
    phase = t % 6.0
    rate_dps = np.where((phase >= 2.0) & (phase < 3.5), 0.3, 0.0) - np.where(phase >= 4.5, 0.3, 0.0)
    rate_dps[t < 4.0] = 0.0
    gt = np.column_stack([np.zeros_like(t), rate_dps, np.zeros_like(t)])
    a = simulate(t, gt, up0)
    err = {}
    for on in (1.0, 0.0):
        f = TiltFusion(FusionSettings(rest_sway_compensation=on, bias_rest_time_constant_s=0.5))
        bs = []
        for i in range(0, len(t), 10):
            f.update(t[i:i + 10], a[i:i + 10], gt[i:i + 10])
            bs.append(f.gyro_bias_dps[1])
        bs = np.array(bs)
        err[on] = float(np.sqrt(np.mean(bs[t[::10] > 6] ** 2)))
    assert err[1.0] < 0.02
    assert err[0.0] > 0.05


def test_bias_at_rest_averages_over_the_rest_seen_so_far():
    """The bias at rest is the mean of the rest seen so far (then a slow low-pass): the
    first rest gives it at once, and slow gyro noise (flicker, the part of sway the
    accelerometer misreads) is averaged rather than followed."""
    rng = np.random.default_rng(6)
    rate = 100.0
    up0 = tilted(10, 5)
    t, a, _ = still_stream(up0, 40.0, rate, rng, acc_noise_g=0.002)
    bias = np.array([0.3, -1.2, 0.8])
    slow = rng.normal(0, 1.0, (len(t), 3))
    k = np.exp(-np.arange(200) / (0.3 * rate))  # ~0.3 s correlated noise
    slow = np.column_stack([np.convolve(slow[:, j], k)[:len(t)] for j in range(3)])
    slow *= 0.4 / slow.std(axis=0)
    err = {}
    for tau in (4.0, 0.5):
        f = TiltFusion(FusionSettings(rest_min_s=0.5, bias_rest_time_constant_s=tau))
        bs = []
        for i in range(0, len(t), 10):
            f.update(t[i:i + 10], a[i:i + 10], bias + slow[i:i + 10])
            bs.append(f.gyro_bias_dps.copy())
        bs = np.array(bs)
        err[tau] = float(np.sqrt(np.mean((bs[t[::10] > 10] - bias) ** 2)))
    assert err[4.0] < 0.5 * err[0.5]
    # a second after rest is recognised (at 0.5 s) a clean bias is already there: the first
    # rest is a running mean, not a 4 s lag (that would leave ~80 % of it)
    f = TiltFusion(FusionSettings(rest_min_s=0.5, bias_rest_time_constant_s=4.0))
    m = t < 1.5
    f.update(t[m], a[m], np.tile(bias, (int(m.sum()), 1)))
    assert np.abs(f.gyro_bias_dps - bias).max() < 0.1 * np.abs(bias).max()


def test_bias_learned_in_motion():
    """With continual motion (no rest), the steady tilt correction reveals the horizontal
    gyro bias; a short motion-bias time constant makes it converge within the test."""
    rng = np.random.default_rng(4)
    rate = 100.0
    t = np.arange(int(120 * rate)) / rate
    gt = np.column_stack([30 * np.sin(2 * np.pi * 0.23 * t), 40 * np.sin(2 * np.pi * 0.31 * t),
                          20 * np.sin(2 * np.pi * 0.17 * t)])
    truth = simulate(t, gt, tilted(10, 10))
    bias = np.array([1.2, -0.9, 0.7])
    f = TiltFusion(FusionSettings(bias_motion_time_constant_s=10.0))
    out = f.update(t, truth + rng.normal(0, 0.01, truth.shape), gt + bias)
    assert not out.still.any()
    # the sign is right and most of it is found (the axis mostly vertical is observed least)
    assert np.linalg.norm(f.gyro_bias_dps - bias) < 0.3 * np.linalg.norm(bias)
    # and the tilt stays good
    assert angle_deg(out.up[t > 60], truth[t > 60]).max() < 1.0


def test_impact_spike_during_stillness_barely_moves_angle():
    rate = 400.0
    up_true = tilted(15, 8)
    t, a, g = still_stream(up_true, 8.0, rate)
    spike = (t >= 4.0) & (t < 4.03)
    a = a.copy()
    # an 8 g spike along the shin-forward axis (a heel strike / forefoot landing)
    a[spike] += np.array([2.0, 1.0, 8.0]) / np.linalg.norm([2.0, 1.0, 8.0]) * 8.0
    g = g.copy()
    out = TiltFusion().update(t, a, g)
    err = angle_deg(out.up, up_true)
    print("spike moved the angle by", err[t >= 4.0].max())
    assert err[t >= 4.0].max() < 0.2
    # without the clip the same spike moves it much more: the bound means something
    raw = TiltFusion(FusionSettings(accel_clip_g=100.0)).update(t, a, g)
    raw_err = angle_deg(raw.up, up_true)[t >= 4.0].max()
    print("unclipped:", raw_err)
    assert raw_err > 4 * err[t >= 4.0].max()


def test_jittered_timestamps():
    rng = np.random.default_rng(5)
    rate = 200.0
    n = int(10 * rate)
    dt = (1.0 / rate) * (1 + rng.uniform(-0.4, 0.4, n))
    t = np.cumsum(dt)
    g = np.column_stack([np.zeros(n), 80 * np.sin(2 * np.pi * 0.5 * t), np.zeros(n)])
    g[t < 3] = 0
    truth = simulate(t, g, tilted(12, 3))
    out = TiltFusion().update(t, truth, g)
    err = angle_deg(out.up, truth)
    assert err.max() < 0.5


def test_gap_reinitialises_from_accel():
    rate = 200.0
    up_before, up_after = tilted(0), tilted(45, 10)
    t1, a1, g1 = still_stream(up_before, 4.0, rate)
    t2, a2, g2 = still_stream(up_after, 3.0, rate)
    t2 = t2 + t1[-1] + 1.0  # a 1 s hole in the stream, the leg moved meanwhile
    f = TiltFusion()
    f.update(t1, a1, g1)
    assert f.n_resets == 1
    out = f.update(t2, a2, g2)
    assert f.n_resets == 2
    err = angle_deg(out.up, up_after)
    assert err.max() < 1e-6  # re-initialised from the accel, not dragged from before
    # a short drop-out (below gap_s) is integrated across, not a reset
    t3, a3, g3 = still_stream(up_after, 1.0, rate)
    f.update(t3 + t2[-1] + 0.1, a3, g3)
    assert f.n_resets == 2


def test_reset_after_gap_method():
    t, a, g = still_stream(tilted(30), 2.0, 100.0)
    f = TiltFusion()
    f.update(t, a, g)
    f.reset_after_gap()
    up2 = tilted(-20, 5)
    t2, a2, g2 = still_stream(up2, 0.1, 100.0)
    out = f.update(t2 + 2.0 + 0.01, a2, g2)
    assert angle_deg(out.up[0], up2) < 1e-6
    assert f.n_resets == 2


def _broad_segment(trial="t10", seconds=60.0):
    from kotdevice.bench.tilt import load_truth
    from kotdevice.rawcsv import iter_blocks
    from kotdevice.samples import ImuBlock

    if not (BROAD / f"{trial}.csv").exists():
        pytest.fail(f"BROAD data not found at {BROAD}: the project's shared/ belongs beside the "
                    "checkout (or set KOTDEVICE_BROAD_DIR)")
    blocks = []
    n = 0
    for b in iter_blocks(BROAD / f"{trial}.csv", block_size=4096):
        blocks.append(b)
        n += len(b)
        if b.t_s[-1] > seconds:
            break
    blk = ImuBlock.concat(blocks)
    k = int(np.searchsorted(blk.t_s, seconds))
    blk = blk.slice(0, k)
    true_up, mask = load_truth(BROAD / f"{trial}_truth.csv")
    return blk, true_up[:k], mask[:k]


def test_streaming_in_any_chunks_is_bit_identical():
    blk, _, _ = _broad_segment("t07", 40.0)
    whole = TiltFusion().update(blk.t_s, blk.accel_g, blk.gyro_dps)
    rng = np.random.default_rng(6)
    f = TiltFusion()
    ups, gs, ss = [], [], []
    i = 0
    while i < len(blk):
        k = int(rng.choice([1, 1, 2, 7, 16, 33, 500]))
        o = f.update(blk.t_s[i:i + k], blk.accel_g[i:i + k], blk.gyro_dps[i:i + k])
        ups.append(o.up)
        gs.append(o.gyro_dps)
        ss.append(o.still)
        i += k
    assert np.array_equal(np.concatenate(ups), whole.up)
    assert np.array_equal(np.concatenate(gs), whole.gyro_dps)
    assert np.array_equal(np.concatenate(ss), whole.still)


def test_checkpoint_restore_resumes_identically():
    blk, _, _ = _broad_segment("t07", 40.0)
    h = len(blk) // 2
    f = TiltFusion()
    f.update(blk.t_s[:h], blk.accel_g[:h], blk.gyro_dps[:h])
    saved = f.get_state()
    rest1 = f.update(blk.t_s[h:], blk.accel_g[h:], blk.gyro_dps[h:])
    g = TiltFusion()
    g.set_state(saved)
    rest2 = g.update(blk.t_s[h:], blk.accel_g[h:], blk.gyro_dps[h:])
    assert np.array_equal(rest1.up, rest2.up)
    with pytest.raises(ValueError, match="state"):
        g.set_state(np.zeros(3))


def test_broad_trial_segment_accuracy():
    """First 60 s of BROAD t10 (rest, then slow translations): real sensor, optical truth."""
    from kotdevice.bench.tilt import incl_rmse_deg

    blk, true_up, mask = _broad_segment("t10", 60.0)
    assert mask.sum() > 1000  # movement samples are scored
    est = TiltFusion().update(blk.t_s, blk.accel_g, blk.gyro_dps).up
    rmse = incl_rmse_deg(est, true_up, mask)
    assert rmse < 0.8
    # a naive accelerometer-only tilt is much worse on the same samples: the bound means something
    assert incl_rmse_deg(blk.accel_g, true_up, mask) > 2 * rmse


def test_bad_input_is_refused_or_skipped():
    f = TiltFusion()
    with pytest.raises(ValueError, match="accel_g"):
        f.update(np.zeros(3), np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="acc_time_constant_s"):
        FusionSettings(acc_time_constant_s=-1.0)
    # a NaN sample in the stream is held over, and does not poison what follows
    up = tilted(20)
    t, a, g = still_stream(up, 2.0, 100.0)
    a = a.copy()
    a[50] = np.nan
    out = f.update(t, a, g)
    assert np.all(np.isfinite(out.up))
    assert np.isnan(out.gyro_dps[50]).all()
    assert angle_deg(out.up, up).max() < 1e-6
    empty = f.update(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)))
    assert len(empty) == 0


def test_shin_like_squats_with_tangential_accel_and_jitter():
    """Squat-like shin swing about the ankle (REAL-SIGNALS.md §3-7): 90 dps peaks, the sensor
    0.22 m above the ankle (tangential + centripetal acceleration ~0.1 g, accel tilt ~6 deg
    off), strap jitter at 5-10 Hz in accel and gyro, a 16 deg frontal strap offset."""
    rng = np.random.default_rng(7)
    rate = 100.0
    t = np.arange(int(40 * rate)) / rate
    f_hz, peak_dps, r_m = 0.45, 90.0, 0.22
    w = np.where(t > 3, peak_dps * np.sin(2 * np.pi * f_hz * (t - 3)), 0.0)
    dw = np.where(t > 3, peak_dps * 2 * np.pi * f_hz * np.cos(2 * np.pi * f_hz * (t - 3)), 0.0)
    g_true = np.column_stack([np.zeros_like(t), w, np.zeros_like(t)])
    truth = simulate(t, g_true, tilted(-8, 16))
    # rigid-body acceleration of a point r along +X, rotating about Y (sensor frame), in g
    wr, ar = np.radians(w), np.radians(dw)
    lin = np.column_stack([-wr ** 2 * r_m, np.zeros_like(t), -ar * r_m]) / 9.81
    jit_a = np.column_stack([0.02 * np.sin(2 * np.pi * 9 * t), 0.06 * np.sin(2 * np.pi * 5 * t),
                             0.03 * np.sin(2 * np.pi * 11 * t)])
    acc = truth + lin + jit_a + rng.normal(0, 0.01, truth.shape)
    gyr = g_true + np.column_stack([6 * np.sin(2 * np.pi * 8 * t), rng.normal(0, 0.5, len(t)),
                                    4 * np.sin(2 * np.pi * 6 * t)])
    est = TiltFusion().update(t, acc, gyr).up
    moving = t > 5
    err = np.sqrt(np.mean(angle_deg(est, truth)[moving] ** 2))
    acc_err = np.sqrt(np.mean(angle_deg(acc, truth)[moving] ** 2))
    print(f"shin squats: fusion {err:.2f} deg RMS, accel alone {acc_err:.2f} deg")
    assert acc_err > 3.0
    assert err < 0.5


def _squats_with_holds(gyro_scale, reps=12, rate=100.0, seed=3):
    """Squat-like swings about sensor Y (35 deg, 1 s down, 0.6 s held at the bottom, 1 s up,
    0.8 s held standing), tangential acceleration of a sensor 0.22 m above the ankle, noise;
    the gyro reads ``gyro_scale`` x the true rate. Returns t, acc, gyr, true up, held mask."""
    rng = np.random.default_rng(seed)
    seg = [(3.0, 0.0, 0.0)] + [(1.0, 0.0, 35.0), (0.6, 35.0, 35.0), (1.0, 35.0, 0.0), (0.8, 0.0, 0.0)] * reps
    t_end = np.cumsum([s[0] for s in seg])
    t = np.arange(int(t_end[-1] * rate)) / rate
    th = np.zeros_like(t)
    held = np.zeros(len(t), bool)
    t0 = 0.0
    for (dur, a, b), t1 in zip(seg, t_end):
        m = (t >= t0) & (t < t1)
        x = (t[m] - t0) / dur
        th[m] = a + (b - a) * 0.5 * (1 - np.cos(np.pi * x))
        held[m] = a == b and t0 > 0  # a held moment after the quiet start
        t0 = t1
    w = np.gradient(th, t)
    g_true = np.column_stack([np.zeros_like(t), w, np.zeros_like(t)])
    truth = simulate(t, g_true, tilted(-5, 10))
    lin = np.column_stack([-np.radians(w) ** 2, np.zeros_like(t), -np.radians(np.gradient(w, t))]) * 0.22 / 9.81
    acc = truth + lin + rng.normal(0, 0.005, truth.shape)
    gyr = g_true * gyro_scale + rng.normal(0, 0.3, truth.shape)
    return t, acc, gyr, truth, held


def test_gyro_scale_is_learned_from_held_moments():
    """REAL-SIGNALS §5: a gyro reading ~10 % small. Pairs of held moments show it, and once
    corrected the held bottoms read right; a gyro within the chip's tolerance is left alone."""
    t, acc, gyr, truth, held = _squats_with_holds(0.9)
    learned = TiltFusion()
    est = learned.update(t, acc, gyr).up
    assert learned.gyro_scale_pairs >= 20
    assert learned.gyro_scale == pytest.approx(1 / 0.9, abs=0.02)
    fixed = TiltFusion(FusionSettings(gyro_scale_max_frac=0.0))
    est_fixed = fixed.update(t, acc, gyr).up
    assert fixed.gyro_scale == 1.0
    late = held & (t > t[-1] / 2)
    err = np.sqrt(np.mean(angle_deg(est, truth)[late] ** 2))
    err_fixed = np.sqrt(np.mean(angle_deg(est_fixed, truth)[late] ** 2))
    assert err_fixed > 1.0 and err < 0.5 * err_fixed, (err, err_fixed)

    t, acc, gyr, truth, held = _squats_with_holds(1.01)
    f = TiltFusion()
    f.update(t, acc, gyr)
    assert f.gyro_scale_pairs >= 20 and f.gyro_scale == 1.0  # within the dead band


def test_gyro_scale_needs_a_turn_and_forgets_across_gaps():
    """Held moments with no turn between them teach nothing; a gap restarts the pairing."""
    rng = np.random.default_rng(1)
    t, acc, gyr = still_stream(tilted(10), 30.0, 100.0, rng, 0.005, 0.3)
    f = TiltFusion()
    f.update(t, acc, gyr)
    assert f.gyro_scale_pairs == 0 and f.gyro_scale == 1.0
    # held at 0 deg, turned to 30 deg (seen by the gyro: one pair), held, then back at 0 deg
    # after a 1 s gap: the gyro never saw that turn, so it makes no second pair
    rate = 100.0
    t1, a1, g1 = still_stream(tilted(0), 3.0, rate, rng, 0.005, 0.3)
    tt = np.arange(1, int(rate) + 1) / rate
    g_turn = np.column_stack([np.zeros_like(tt), np.full_like(tt, 30.0), np.zeros_like(tt)])
    a_turn = simulate(np.r_[0.0, tt], np.r_[g_turn[:1], g_turn], tilted(0))[1:]
    t2, a2, g2 = still_stream(a_turn[-1], 3.0, rate, rng, 0.005, 0.3)
    t3, a3, g3 = still_stream(tilted(0), 3.0, rate, rng, 0.005, 0.3)
    f = TiltFusion()
    f.update(np.r_[t1, 3.0 + tt, 4.0 + t2, 8.0 + t3], np.r_[a1, a_turn, a2, a3], np.r_[g1, g_turn, g2, g3])
    assert f.n_resets == 2 and f.gyro_scale_pairs == 1 and f.gyro_scale == 1.0


def test_a_learned_gyro_scale_also_corrects_the_turn_it_was_learned_from():
    """The first pair is the turn into the first held bottom: once it shows a gyro 10 % small,
    the turn it under-read gets what it missed, so that bottom reads right now, not after
    the 3 s gravity low-pass has caught up."""
    t, acc, gyr, truth, held = _squats_with_holds(0.9)
    first_bottom = (t > 4.3) & (t < 4.6)  # the first rep: down 3-4 s, held 4-4.6 s
    err = {}
    for retro in (1.0, 0.0):
        est = TiltFusion(FusionSettings(gyro_scale_retro=retro)).update(t, acc, gyr).up
        err[retro] = np.mean(angle_deg(est, truth)[first_bottom])
    assert err[0.0] > 1.5 and err[1.0] < 0.6 * err[0.0], err


def _held_poses(offset_g, matrix, angles_deg=(0, 30, -12, 20, 40, 5, 25, -8, 0), hold_s=1.5,
                rate=100.0, seed=4):
    """Holds at these shin angles (about sensor Y) joined by 1 s turns, after a 3 s quiet
    start; the accelerometer reads ``matrix @ true + offset_g`` plus noise. Returns t, acc,
    gyr, true up and the mask of the last hold."""
    rng = np.random.default_rng(seed)
    seg = [(3.0, angles_deg[0], angles_deg[0])]
    for a, b in zip(angles_deg[:-1], angles_deg[1:]):
        seg += [(1.0, a, b), (hold_s, b, b)]
    t_end = np.cumsum([s[0] for s in seg])
    t = np.arange(int(t_end[-1] * rate)) / rate
    th = np.zeros_like(t)
    t0 = 0.0
    for (dur, a, b), t1 in zip(seg, t_end):
        m = (t >= t0) & (t < t1)
        th[m] = a + (b - a) * 0.5 * (1 - np.cos(np.pi * (t[m] - t0) / dur))
        t0 = t1
    w = np.gradient(th, t)
    g_true = np.column_stack([np.zeros_like(t), w, np.zeros_like(t)])
    truth = simulate(t, g_true, np.array([1.0, 0.14, 0.05]))  # a shin: sensor +X up, Z forward
    acc = truth @ np.asarray(matrix).T + np.asarray(offset_g) + rng.normal(0, 0.004, truth.shape)
    gyr = g_true + rng.normal(0, 0.2, truth.shape)
    return t, acc, gyr, truth, t > t_end[-2] + 0.5


ACC_OFFSET = np.array([0.010, -0.006, 0.020])  # 20 mg forward: ~1.1 deg of tilt
ACC_MATRIX = np.array([[1.006, 0.004, -0.003], [0.002, 0.994, 0.001], [-0.001, 0.003, 1.004]])


def test_accelerometer_offset_is_learned_from_held_poses():
    """|a| is 1 g in every held pose; poses at different shin angles separate the forward
    offset (the one the tibial angle reads) from the common scale. The last standing hold
    then reads right where the uncalibrated filter is a degree off."""
    t, acc, gyr, truth, last = _held_poses(ACC_OFFSET, ACC_MATRIX)
    f = TiltFusion()
    est = f.update(t, acc, gyr).up
    off = TiltFusion(FusionSettings(accel_cal_pose_sigma_g=0.0))
    est_off = off.update(t, acc, gyr).up
    assert off.accel_cal_poses == 0 and np.array_equal(off.accel_offset_g, np.zeros(3))
    assert f.accel_cal_poses >= 9
    # the tilt in the plane of motion (x, z: the tibial angle's plane) at the last hold
    def sagittal_err(up):
        return abs(np.mean(np.degrees(np.arctan2(up[:, 2], up[:, 0]) - np.arctan2(truth[:, 2], truth[:, 0]))[last]))
    assert sagittal_err(est_off) > 0.9 and sagittal_err(est) < 0.3 * sagittal_err(est_off)


def test_accelerometer_calibration_needs_held_poses():
    """A shin that never holds still (a slow steady turn) or holds one pose only teaches
    nothing that moves the tilt: no pose from the turn, and one pose leaves the offset at 0."""
    rate = 100.0
    t = np.arange(int(20 * rate)) / rate
    g = np.column_stack([np.zeros_like(t), np.full_like(t, 6.0), np.zeros_like(t)])
    a = simulate(t, g, tilted(0)) + ACC_OFFSET
    f = TiltFusion()
    f.update(t, a, g)
    assert f.accel_cal_poses == 0 and np.array_equal(f.accel_correction, np.eye(3))
    rng = np.random.default_rng(2)
    t, a, g = still_stream(tilted(10), 20.0, rate, rng, 0.004, 0.2)
    f = TiltFusion()
    est = f.update(t, a + ACC_OFFSET, g).up
    assert f.accel_cal_poses >= 5
    # one direction only: an offset across it looks like the tilt itself, and one along it
    # like the common scale, so nothing is learned and the filter reads the raw direction
    assert np.linalg.norm(f.accel_offset_g) < 0.001
    assert np.mean(angle_deg(est, tilted(10) + ACC_OFFSET)[-100:]) < 0.05


def test_accelerometer_calibration_streams_and_carries_to_the_next_run():
    t, acc, gyr, truth, last = _held_poses(ACC_OFFSET, ACC_MATRIX)
    whole = TiltFusion()
    up = whole.update(t, acc, gyr).up
    f = TiltFusion()
    i = 0
    ups = []
    rng = np.random.default_rng(3)
    while i < len(t):
        k = int(rng.choice([1, 3, 25, 256]))
        ups.append(f.update(t[i:i + k], acc[i:i + k], gyr[i:i + k]).up)
        i += k
    assert np.array_equal(np.concatenate(ups), up)

    ev = whole.accel_calibration_evidence()
    assert ev["poses"] == whole.accel_cal_poses
    nxt = TiltFusion()
    nxt.seed_accel_calibration(ev, max_poses=1000.0)
    assert np.allclose(nxt.accel_offset_g, whole.accel_offset_g, atol=1e-12)
    # weighed down: a few poses' worth still points the same way, just less sure
    light = TiltFusion()
    light.seed_accel_calibration(ev, max_poses=3.0)
    assert 0.0 < light.accel_offset_g[2] < whole.accel_offset_g[2]
    for bad in ({}, {"normal": [0.0] * 45, "rhs": [0.0] * 8, "poses": 1},
                {"normal": [1.0] * 45, "rhs": [5.0] * 9, "poses": 1}, {"normal": "x", "rhs": [], "poses": 0}):
        with pytest.raises(ValueError, match="accel calibration evidence"):
            TiltFusion().seed_accel_calibration(bad)
