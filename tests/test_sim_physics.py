"""Rigid-shin physics of the simulator: gravity, gyro integration, static tilt, and the
tangential/centripetal terms for a known rotation."""
import numpy as np
import pytest

from kotdevice.sim import geometry, simulate_set
from kotdevice.sim.imu_errors import ErrorParams

IDEAL = ErrorParams().ideal()
FS = 1000.0


def _known_rotation(alpha_rad_s2=6.0, d=0.22, theta0_deg=5.0, dur=0.6, phi_deg=0.0, mount=(0.0, 0.0, 0.0)):
    t = np.arange(int(dur * FS)) / FS
    theta = np.radians(theta0_deg) + 0.5 * alpha_rad_s2 * t**2
    n = len(t)
    R_wb = geometry.shin_frames(np.degrees(theta), np.full(n, phi_deg), np.zeros(n))
    R_bs = geometry.mount_matrix(np.full(n, mount[0]), np.full(n, mount[1]), np.full(n, mount[2]))
    R_ws = R_wb @ R_bs
    p = R_wb @ np.array([d, 0.0, 0.0])  # ankle fixed at the origin
    f, w = geometry.ideal_imu(1.0 / FS, R_ws, p)
    return t, theta, f, w, R_ws


def test_tangential_and_centripetal_terms_match_the_analytic_values():
    alpha, d = 6.0, 0.22
    t, theta, f, w, _ = _known_rotation(alpha, d)
    thd = alpha * t
    g = geometry.G_MPS2
    # shin frame == sensor frame here: x up the tibia, z anterior
    want_x = (g * np.cos(theta) - d * thd**2) / g  # gravity minus centripetal (toward the ankle)
    want_z = (-g * np.sin(theta) + d * alpha) / g  # gravity plus tangential d*alpha
    sl = slice(5, -5)  # finite differences at the very ends are one-sided
    assert np.max(np.abs(f[sl, 0] - want_x[sl])) < 1e-3
    assert np.max(np.abs(f[sl, 2] - want_z[sl])) < 1e-3
    assert np.max(np.abs(f[sl, 1])) < 1e-6
    # centripetal at the end: d*w^2 = 0.22*3.6^2 = 2.85 m/s^2 -> clearly visible, right size
    assert d * thd[-6] ** 2 / g == pytest.approx(np.cos(theta[-6]) - f[-6, 0], abs=1e-3)
    assert d * thd[-6] ** 2 / g > 0.25
    # knee forward = rotation about the wearer's left = -y (sensor y points right)
    assert np.max(np.abs(w[sl, 1] + np.degrees(thd[sl]))) < 1e-2


def test_angle_definitions_read_theta_and_phi_exactly_and_ignore_rotation_about_x():
    th = np.array([-20.0, 0.0, 12.0, 45.0])
    ph = np.array([5.0, -10.0, 0.0, 14.0])
    for rot in (-30.0, 0.0, 25.0):
        R = geometry.shin_frames(th, ph, np.full(4, 7.0)) @ geometry.mount_matrix(np.full(4, rot), np.zeros(4), np.zeros(4))
        tib, front = geometry.angles_from_frames(R)
        assert np.allclose(tib, th, atol=1e-9) and np.allclose(front, ph, atol=1e-9)
    # a sagittal strap tilt shifts the reading (sensor X is the reference)
    R = geometry.shin_frames(np.zeros(1), np.zeros(1), np.zeros(1)) @ geometry.mount_matrix(0.0, 6.0, 0.0)
    assert geometry.angles_from_frames(R)[0][0] == pytest.approx(6.0)


def test_mount_rotation_moves_the_squat_axis_off_sensor_y():
    _, theta, f, w, _ = _known_rotation(mount=(25.0, 0.0, 0.0))
    axis = w[100] / np.linalg.norm(w[100])
    # rotation about the shin's lateral axis, seen 25 deg away from the sensor's Y in the Y-Z plane
    assert abs(axis[0]) < 1e-3
    assert np.degrees(np.arccos(abs(axis[1]))) == pytest.approx(25.0, abs=0.1)


@pytest.fixture(scope="module")
def ideal_squats():
    return simulate_set("squat", 4, variant="deep", tempo="pause", seed=11, rate_hz=400, errors=IDEAL,
                        mount={"rotation_about_shin_deg": 20.0, "tilt_sagittal_deg": 4.0, "tilt_frontal_deg": -9.0})


def test_at_rest_acceleration_is_one_g_plus_noise():
    res = simulate_set("squat", 2, seed=3, rate_hz=200)  # default, noisy sensor
    q = res.imu.t_s < 2.0
    a = np.linalg.norm(res.imu.accel_g[q], axis=1)
    assert abs(a.mean() - 1.0) < 0.03  # bias/scale errors of a real part
    assert a.std() < 0.01  # quiet standing: only noise and sway
    clean = np.linalg.norm(res.clean.accel_g[q], axis=1)
    assert np.max(np.abs(clean - 1.0)) < 0.005


def test_gyro_integral_about_the_lateral_axis_reproduces_the_true_angle_change(ideal_squats):
    res = ideal_squats
    t = res.imu.t_s
    rot = res.truth["mount"]["rotation_about_shin_deg"]
    # the shin's lateral (left) axis in sensor coordinates for this strap rotation
    left_s = -np.array([0.0, np.cos(np.radians(rot)), -np.sin(np.radians(rot))])
    rate = res.clean.gyro_dps @ left_s
    for rep in res.truth["sets"][0]["rep_list"]:
        i0 = np.searchsorted(t, rep["start_s"])
        i1 = np.searchsorted(t, rep["peak_s"])
        integ = np.trapezoid(rate[i0 : i1 + 1], t[i0 : i1 + 1])
        change = res.truth_angle_deg[i1] - res.truth_angle_deg[i0]
        assert change > 20
        assert integ == pytest.approx(change, rel=0.04)


def test_accelerometer_static_tilt_equals_the_true_angle(ideal_squats):
    res = ideal_squats
    t = res.imu.t_s
    f = res.clean.accel_g
    incl = np.degrees(np.arccos(f[:, 0] / np.linalg.norm(f, axis=1)))
    th, ph = np.radians(res.truth_angle_deg), np.radians(res.truth_frontal_deg)
    true_incl = np.degrees(np.arccos(1.0 / np.sqrt(1 + np.tan(th) ** 2 + np.tan(ph) ** 2)))
    windows = [t < 2.0]
    for rep in res.truth["sets"][0]["rep_list"]:  # the ~2 s bottom pauses are static too
        b0 = rep["start_s"] + rep["eccentric_s"]
        windows.append((t > b0 + 0.3) & (t < b0 + rep["pause_s"] - 0.3))
    for w in windows:
        assert w.sum() > 300
        # averaged over the hold, only zero-mean soft-tissue jitter is left
        assert np.mean(incl[w]) == pytest.approx(np.mean(true_incl[w]), abs=0.3)
        assert np.percentile(np.abs(incl[w] - true_incl[w]), 95) < 2.0
