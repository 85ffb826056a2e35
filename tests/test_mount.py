"""Mount calibration: the maths, the saved JSON, and the engine using a saved mount."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kotdevice.errors import KotError
from kotdevice.motion._synth import imu_from_angles, mount_matrix, shin_to_world, squat_session
from kotdevice.motion.engine import MotionEngine
from kotdevice.motion.events import MountEvent
from kotdevice.motion.mount import Mount, angles_deg, load_mount, rotation_about_shin_deg, save_mount


@pytest.mark.parametrize("rot", [-30.0, 0.0, 25.0])
def test_angles_from_up_and_lateral_axis_match_the_definitions(rot):
    rng = np.random.default_rng(0)
    th = rng.uniform(-25, 50, 200)
    ph = rng.uniform(-15, 15, 200)
    M = mount_matrix(rot, 3.0, -6.0)
    R = np.einsum("nij,jk->nik", shin_to_world(th, ph), M)  # sensor axes in the world
    up_s = R[:, 2, :]  # world up in sensor coordinates = third row
    x = R[:, :, 0]
    tib = np.degrees(np.arctan2(x[:, 0], x[:, 2]))
    fro = np.degrees(np.arctan2(-x[:, 1], x[:, 2]))
    # the leg's right axis (world -left) in sensor coordinates
    right_w = np.array([0.0, -1.0, 0.0])
    for i in range(0, 200, 7):
        a, f = angles_deg(up_s[i], R[i].T @ right_w)
        assert a[0] == pytest.approx(tib[i], abs=1e-9)
        assert f[0] == pytest.approx(fro[i], abs=1e-9)
    # pure flexion (no frontal change) turns about a fixed axis: one lateral axis serves all
    R0 = np.einsum("nij,jk->nik", shin_to_world(th, np.zeros(200)), M)
    right_s = R0[0].T @ right_w
    np.testing.assert_allclose(R0[-1].T @ right_w, right_s, atol=1e-9)
    x0 = R0[:, :, 0]
    a, _ = angles_deg(R0[:, 2, :], right_s)
    np.testing.assert_allclose(a, np.degrees(np.arctan2(x0[:, 0], x0[:, 2])), atol=1e-9)
    assert rotation_about_shin_deg(right_s) == pytest.approx(-rot, abs=7.0)


def test_mount_json_round_trip_and_validation(tmp_path):
    m = Mount((0.0, 0.9, 0.3), (0.99, 0.0, -0.1), "left", "manual")
    p = tmp_path / "mount.json"
    save_mount(p, m.to_dict())
    d = load_mount(p)
    back = Mount.from_dict(d)
    assert back.leg == "left" and back.source == "saved"
    # the directions survive (normalised; JSON keeps 6 decimals)
    r, up = np.array(m.right_axis), np.array(m.up_stand)
    np.testing.assert_allclose(back.right_axis, r / np.linalg.norm(r), atol=2e-6)
    np.testing.assert_allclose(back.up_stand, up / np.linalg.norm(up), atol=2e-6)
    assert back.rotation_about_shin_deg == pytest.approx(m.rotation_about_shin_deg, abs=1e-4)
    for bad, msg in [({"right_axis": [0, 0, 0]}, "zero"), ({"right_axis": "x"}, "3"),
                     ({"right_axis": [0, 1, 0], "leg": "middle"}, "leg"),
                     ({"right_axis": [0, 1, 0], "version": 9}, "version"), ([1, 2], "object")]:
        with pytest.raises(ValueError, match=msg):
            Mount.from_dict(bad)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(KotError, match="bad.json:1"):
        load_mount(tmp_path / "bad.json")
    with pytest.raises(KotError, match="cannot read"):
        load_mount(tmp_path / "missing.json")


def test_learned_mount_saved_and_reused_gives_angles_from_the_first_second():
    blk, truth = squat_session(rate_hz=100, reps=(5,), rot_about_x_deg=28, tilt_front_deg=15, seed=2)
    eng = MotionEngine()
    eng.process(blk)
    saved = json.loads(json.dumps(eng.mount_dict()))
    # a fresh engine without the mount is wrong at the start (the strap turn is unknown) ...
    first = blk.t_s < 2.5
    fresh = MotionEngine().process(blk.slice(0, int(first.sum()))).tibial_angle_deg
    with_mount = MotionEngine(mount=saved)
    a = with_mount.process(blk.slice(0, int(first.sum()))).tibial_angle_deg
    err_fresh = np.sqrt(np.mean((fresh[50:] - truth["tib"][first][50:]) ** 2))
    err_saved = np.sqrt(np.mean((a[50:] - truth["tib"][first][50:]) ** 2))
    assert err_saved < 0.5 < err_fresh


def test_explicit_calibration_reports_a_manual_mount():
    blk, _ = squat_session(rate_hz=100, reps=(3,), rot_about_x_deg=-18, seed=4)
    eng = MotionEngine()
    eng.start_calibration()
    ev = eng.process(blk).events
    manual = [e for e in ev if isinstance(e, MountEvent)]
    assert manual and manual[0].reason == "manual"
    d = eng.mount_dict()
    assert d["source"] == "manual" and d["rotation_about_shin_deg"] == pytest.approx(18, abs=5)
    assert "stand_angle_deg" in d


def test_either_leg_and_forward_sign():
    # the same knee-forward movement reads positive whatever the strap turn
    t = np.arange(0, 12, 0.001)
    th = np.where(t > 3, 25 * np.sin(np.pi * np.clip(t - 3, 0, 2) / 2) ** 2, 0.0)
    th = np.where(t > 5, 0.0, th) + np.where(t > 7, 30 * np.sin(np.pi * np.clip(t - 7, 0, 2) / 2) ** 2, 0.0)
    for rot in (-30, 30):
        blk, tib, _ = imu_from_angles(t, th, None, rot, 2.0, -12.0, seed=1)
        out = MotionEngine().process(blk.slice(0, len(blk)))
        late = t > 7
        assert np.max(out.tibial_angle_deg[late]) > 25
        assert np.sqrt(np.mean((out.tibial_angle_deg[late][::10] - tib[late][::10]) ** 2)) < 1.0
