"""Small synthetic shin signals for the engine's own tests and `bench tempo` (not the
athlete simulator).

Rigid rotation of a strapped sensor under gravity, with a chosen strap rotation/tilt, plus
white noise and optional 6-12 Hz jitter bursts (``add_movement_jitter``). Deterministic for
a given seed.
"""
from __future__ import annotations

import numpy as np

from kotdevice.samples import ImuBlock


def _rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def shin_to_world(theta_deg: np.ndarray, phi_deg: np.ndarray) -> np.ndarray:
    """Shin frames (n,3,3), columns = shin x (up the tibia), y (right), z (anterior), in the
    world (forward, left, up). theta/phi are exactly the shared tibial/frontal angles."""
    th = np.radians(theta_deg)
    ph = np.radians(phi_deg)
    x = np.stack([np.tan(th), -np.tan(ph), np.ones_like(th)], axis=1)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    fwd = np.array([1.0, 0.0, 0.0])
    z = fwd[None, :] - (x @ fwd)[:, None] * x
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=2)


def mount_matrix(rot_about_x_deg: float, tilt_sag_deg: float = 0.0, tilt_front_deg: float = 0.0):
    """Sensor axes in the shin frame (strap rotated about X last: X itself only tilts)."""
    return _rz(np.radians(tilt_front_deg)) @ _ry(-np.radians(tilt_sag_deg)) @ _rx(np.radians(rot_about_x_deg))


def imu_from_angles(t_s: np.ndarray, theta_deg: np.ndarray, phi_deg: np.ndarray | None = None,
                    rot_about_x_deg=0.0, tilt_sag_deg: float = 0.0, tilt_front_deg: float = 0.0,
                    gyro_noise_dps: float = 0.3, accel_noise_g: float = 0.008, seed: int = 0,
                    radius_m: float = 0.22):
    """IMU block and the truth (tibial, frontal) of the sensor X axis for an angle trajectory on
    a fine, even grid ``t_s``. ``rot_about_x_deg`` and ``tilt_sag_deg`` may be arrays (strap
    re-adjusted: turned about the shin, tilted)."""
    n = len(t_s)
    dt = float(t_s[1] - t_s[0])
    phi = np.zeros(n) if phi_deg is None else np.asarray(phi_deg, float)
    Rs = shin_to_world(np.asarray(theta_deg, float), phi)
    rot = np.broadcast_to(np.asarray(rot_about_x_deg, float), (n,))
    # mount_matrix(0, sag, front) = Rz(front) @ Ry(-sag), with sag per sample
    b = -np.radians(np.broadcast_to(np.asarray(tilt_sag_deg, float), (n,)))
    Ry = np.zeros((n, 3, 3))
    Ry[:, 0, 0], Ry[:, 0, 2], Ry[:, 1, 1], Ry[:, 2, 0], Ry[:, 2, 2] = np.cos(b), np.sin(b), 1.0, -np.sin(b), np.cos(b)
    base = _rz(np.radians(tilt_front_deg)) @ Ry
    a = np.radians(rot)
    c, s = np.cos(a), np.sin(a)
    Rx = np.zeros((n, 3, 3))
    Rx[:, 0, 0] = 1.0
    Rx[:, 1, 1], Rx[:, 1, 2], Rx[:, 2, 1], Rx[:, 2, 2] = c, -s, s, c
    R = np.einsum("nij,njk,nkl->nil", Rs, base, Rx)
    # the sensor sits radius_m up the shin from the ankle (tangential acceleration)
    p = radius_m * Rs[:, :, 0]
    acc_w = np.gradient(np.gradient(p, dt, axis=0), dt, axis=0) / 9.80665
    f_w = acc_w + np.array([0.0, 0.0, 1.0])
    acc = np.einsum("nji,nj->ni", R, f_w)
    Rd = np.gradient(R, dt, axis=0)
    W = np.einsum("nki,nkj->nij", R, Rd)
    w = 0.5 * np.stack([W[:, 2, 1] - W[:, 1, 2], W[:, 0, 2] - W[:, 2, 0], W[:, 1, 0] - W[:, 0, 1]], 1)
    gyr = np.degrees(w)
    rng = np.random.default_rng(seed)
    acc = acc + rng.normal(0, accel_noise_g, acc.shape)
    gyr = gyr + rng.normal(0, gyro_noise_dps, gyr.shape)
    x = R[:, :, 0]
    tib = np.degrees(np.arctan2(x[:, 0], x[:, 2]))
    fro = np.degrees(np.arctan2(-x[:, 1], x[:, 2]))
    return ImuBlock(np.asarray(t_s, float), acc, gyr), tib, fro


def _ramp(u):
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def rep_profile(t_s, starts, amps, down_s=0.9, hold_s=0.2, up_s=0.8, base=0.0):
    """Angle trace: base + one smooth out-hold-back excursion of amplitude amps[i] starting
    at starts[i]; down_s/hold_s/up_s are one value for all reps or one per rep. Returns
    (theta, list of (start, end) per rep)."""
    th = np.full(len(t_s), float(base))
    spans = []
    n = len(starts)
    for t0, a, d, h, u in zip(starts, amps, *(np.broadcast_to(np.asarray(x, float), (n,))
                                            for x in (down_s, hold_s, up_s))):
        th += a * (_ramp((t_s - t0) / d) - _ramp((t_s - t0 - d - h) / u))
        spans.append((t0, t0 + d + h + u))
    return th, spans


def add_movement_jitter(t_s, theta_deg, block: ImuBlock, rng) -> ImuBlock:
    """Soft-tissue / strap jitter (REAL-SIGNALS §6-8): 6-12 Hz gyro and 5-13 Hz accelerometer
    oscillations whose size follows the shin's rate (strongest when it moves fastest),
    axial gyro worst. ``t_s``/``theta_deg`` on the block's own grid."""
    env = np.clip(np.abs(np.gradient(theta_deg, t_s)) / 60.0, 0.0, 1.5)
    acc, gyr = block.accel_g.copy(), block.gyro_dps.copy()
    for ax, amp in ((0, 6.0), (1, 3.0), (2, 4.0)):
        gyr[:, ax] += amp * env * np.sin(2 * np.pi * rng.uniform(6, 12) * t_s + rng.uniform(0, 6.3))
    for ax, amp in ((1, 0.06), (2, 0.04), (0, 0.03)):
        acc[:, ax] += amp * env * np.sin(2 * np.pi * rng.uniform(5, 13) * t_s + rng.uniform(0, 6.3))
    return ImuBlock(block.t_s, acc, gyr)


def squat_session(rate_hz: float = 100.0, reps=(8,), amp_deg: float = 30.0, rest_s: float = 12.0,
                  period_s: float = 2.4, rot_about_x_deg=0.0, tilt_sag_deg: float = 3.0,
                  tilt_front_deg: float = 5.0, partial_at=(), seed: int = 0, lead_s: float = 3.0,
                  readjust_to_deg: float | None = None):
    """A few squat sets. Returns (block at rate_hz, truth dict)."""
    fine = 1000.0
    rng = np.random.default_rng(seed)
    starts, amps, sets = [], [], []
    t = lead_s
    for si, nrep in enumerate(reps):
        set_starts = []
        for k in range(nrep):
            a = amp_deg * (1 + 0.04 * rng.standard_normal())
            if (si, k) in partial_at:
                a *= 0.45
            starts.append(t)
            amps.append(a)
            set_starts.append(t)
            t += period_s * (1 + 0.03 * rng.standard_normal())
        sets.append(set_starts)
        t += rest_s
    dur = t + 2.0
    tf = np.arange(0.0, dur, 1.0 / fine)
    th, spans = rep_profile(tf, starts, amps)
    phi = 2.0 * np.sin(2 * np.pi * 0.3 * tf) * (th / max(amp_deg, 1e-6))
    rot = rot_about_x_deg
    if readjust_to_deg is not None and len(reps) > 1:
        t_adj = sets[1][0] - rest_s / 2
        # hands turn the enclosure over 0.6 s (a smooth ramp, as real hands do)
        rot = rot_about_x_deg + (readjust_to_deg - rot_about_x_deg) * _ramp((tf - t_adj) / 0.6)
    blk, tib, fro = imu_from_angles(tf, th, phi, rot, tilt_sag_deg, tilt_front_deg, seed=seed)
    step = max(1, int(round(fine / rate_hz)))
    idx = np.arange(0, len(tf), step)
    blk = ImuBlock(blk.t_s[idx], blk.accel_g[idx], blk.gyro_dps[idx])
    return blk, {"tib": tib[idx], "fro": fro[idx], "reps": [len(s) for s in sets],
                 "spans": spans, "amps": amps}
