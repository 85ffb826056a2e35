"""Rigid-shin kinematics: from shin pose trajectories to what an ideal IMU on it would read.

Pure numpy, no I/O. World frame of the leg: index 0 = forward (where the foot points),
1 = left, 2 = up (right-handed). Angles follow the shared definitions: the tibial angle is
atan2(x_s·forward, x_s·up) and the frontal angle atan2(x_s·right, x_s·up), with x_s the
sensor's +X axis in the world frame.
"""
from __future__ import annotations

import numpy as np

G_MPS2 = 9.80665
FORWARD = np.array([1.0, 0.0, 0.0])
UP = np.array([0.0, 0.0, 1.0])


def _norm(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def shin_frames(theta_deg, phi_deg, psi_deg) -> np.ndarray:
    """Shin (anatomical) frame in the world, (n,3,3), columns = shin x (up the tibia),
    y (wearer's right), z (anterior).

    theta: sagittal inclination (+ = knee forward), phi: frontal inclination (+ = knee to the
    wearer's right), both exactly as the shared angle definitions read them off the x axis;
    psi: axial rotation about x (+ = anterior surface turns to the wearer's left).
    """
    th = np.radians(np.asarray(theta_deg, float))
    ph = np.radians(np.asarray(phi_deg, float))
    ps = np.radians(np.asarray(psi_deg, float))
    n = th.shape[0]
    # x built from the tangents so that both angle definitions return theta and phi exactly
    x = _norm(np.stack([np.tan(th), -np.tan(ph), np.ones(n)], axis=1))
    z0 = _norm(FORWARD - (x @ FORWARD)[:, None] * x)
    xz = np.cross(x, z0)
    c, s = np.cos(ps)[:, None], np.sin(ps)[:, None]
    z = c * z0 + s * xz
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=2)


def rot_x(a):
    a = np.radians(np.asarray(a, float))
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a):
    a = np.radians(np.asarray(a, float))
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a):
    a = np.radians(np.asarray(a, float))
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def mount_matrix(rot_about_x_deg, tilt_sagittal_deg, tilt_frontal_deg) -> np.ndarray:
    """Sensor axes in the shin frame. tilt_sagittal + tips sensor X anteriorly (raises the
    tibial reading), tilt_frontal + tips it toward the wearer's right; the strap rotation about
    X is applied last so it never moves the X axis (CONTRACTS §1)."""
    return rot_z(tilt_frontal_deg) @ rot_y(-np.asarray(tilt_sagittal_deg, float)) @ rot_x(rot_about_x_deg)


def small_rotation(delta_rad: np.ndarray) -> np.ndarray:
    """Rodrigues: rotation vectors (n,3) to matrices (n,3,3)."""
    ang = np.linalg.norm(delta_rad, axis=1)
    k = np.where(ang[:, None] > 1e-12, delta_rad / np.maximum(ang, 1e-12)[:, None], 0.0)
    K = np.zeros((len(ang), 3, 3))
    K[:, 0, 1], K[:, 0, 2] = -k[:, 2], k[:, 1]
    K[:, 1, 0], K[:, 1, 2] = k[:, 2], -k[:, 0]
    K[:, 2, 0], K[:, 2, 1] = -k[:, 1], k[:, 0]
    s, c = np.sin(ang)[:, None, None], np.cos(ang)[:, None, None]
    return np.eye(3)[None] + s * K + (1 - c) * (K @ K)


def angles_from_frames(R_ws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tibial and frontal angle (deg) of the sensor X axis, shared definitions."""
    x = R_ws[:, :, 0]
    tib = np.degrees(np.arctan2(x[:, 0], x[:, 2]))
    front = np.degrees(np.arctan2(-x[:, 1], x[:, 2]))  # right = -left
    return tib, front


def ideal_imu(
    dt_s: float,
    R_ws: np.ndarray,
    p_sensor_m: np.ndarray,
    extra_accel_s_g: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Specific force (g) and angular rate (dps) in the sensor frame of an ideal IMU with
    orientation ``R_ws`` (sensor→world) at world position ``p_sensor_m``, on an even grid.

    f = R^T (p'' − g_vec), g_vec pointing down, so at rest f points up with length 1 g.
    ω from R^T dR/dt (antisymmetric part), which carries the sensor's whole rotation.
    The grid must be fine (≈1 kHz) for the finite differences to be accurate.
    """
    acc = np.gradient(np.gradient(p_sensor_m, dt_s, axis=0), dt_s, axis=0)
    f_w = acc + np.array([0.0, 0.0, G_MPS2])
    f_s = np.einsum("nji,nj->ni", R_ws, f_w) / G_MPS2
    if extra_accel_s_g is not None:
        f_s = f_s + extra_accel_s_g
    Rdot = np.gradient(R_ws, dt_s, axis=0)
    W = np.einsum("nki,nkj->nij", R_ws, Rdot)
    w = 0.5 * np.stack([W[:, 2, 1] - W[:, 1, 2], W[:, 0, 2] - W[:, 2, 0], W[:, 1, 0] - W[:, 0, 1]], axis=1)
    return f_s, np.degrees(w)
