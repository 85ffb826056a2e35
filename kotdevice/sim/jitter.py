"""Soft tissue, strap resonance and impacts: the part that makes real shins messy.

Magnitudes follow REAL-SIGNALS §6–§10: band-limited gyro/accel jitter with a 6–12 Hz hump,
in bursts that scale with how fast the shin moves, axial gyro ringing after foot contacts and
sharp accelerometer spikes. All in the shin frame (x up the tibia, y right, z anterior).
"""
from __future__ import annotations

import numpy as np

# Per-axis RMS at envelope 1 (a brisk squat): (band_lo_hz, band_hi_hz, gyro dps (x,y,z), accel g (x,y,z))
# x = axial (worst gyro), y = lateral/sagittal-rate axis (rep axis), z = anterior (frontal-plane rotation)
BANDS = (
    (3.0, 8.0, (6.0, 1.4, 4.0), (0.012, 0.045, 0.012)),
    (8.0, 20.0, (6.0, 1.4, 2.0), (0.025, 0.012, 0.025)),
)
HUMP_HZ = 9.0


def band_noise(rng, n: int, fs: float, lo: float, hi: float, ncols: int = 3, shape: str = "hump") -> np.ndarray:
    """Unit-RMS noise limited to [lo, hi] Hz, spectrum bulging around HUMP_HZ (strap/soft
    tissue resonance) or falling as 1/f ("pink", slow postural sway)."""
    nf = n // 2 + 1
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec = rng.normal(size=(nf, ncols)) + 1j * rng.normal(size=(nf, ncols))
    if shape == "pink":
        w = 1.0 / np.sqrt(np.maximum(f, lo))
    else:
        w = np.exp(-0.5 * (np.log(np.maximum(f, 1e-3) / HUMP_HZ) / 0.6) ** 2)
    w *= (f >= lo) & (f <= hi)
    x = np.fft.irfft(spec * w[:, None], n=n, axis=0)
    rms = np.sqrt(np.mean(x**2, axis=0))
    return x / np.where(rms > 0, rms, 1.0)


def envelope(theta_deg: np.ndarray, inten: np.ndarray, fs: float) -> np.ndarray:
    """Jitter strength: bursts when the shin moves fast (early descent, push up), calm at the
    bottom (REAL-SIGNALS §8), scaled by the activity's intensity."""
    rate = np.abs(np.gradient(theta_deg) * fs)
    k = max(1, int(0.05 * fs))
    rate = np.convolve(rate, np.ones(k) / k, mode="same")
    return inten * (0.35 + 1.1 * np.minimum(rate / 60.0, 2.0))


# contact kind -> (accel peak g, accel freq Hz, accel decay s, axial ring dps, ring freq Hz, ring decay s)
CONTACTS = {
    "heel": (0.8, 30.0, 0.015, 90.0, 15.0, 0.10),
    "toe": (0.55, 28.0, 0.015, 60.0, 14.0, 0.09),
    "tap": (1.0, 25.0, 0.02, 40.0, 14.0, 0.08),
    "push": (0.45, 20.0, 0.03, 25.0, 12.0, 0.06),
    "forefoot": (0.35, 35.0, 0.010, 8.0, 16.0, 0.04),
    "hand": (0.25, 18.0, 0.03, 20.0, 10.0, 0.05),
}


def contact_signals(rng, n: int, fs: float, contacts) -> tuple[np.ndarray, np.ndarray]:
    """Damped oscillations after each contact: accel mostly along the shin (shock travels up
    the tibia), gyro ringing mostly about the shin's long axis."""
    acc = np.zeros((n, 3))
    rate = np.zeros((n, 3))
    for t0, kind, scale in contacts:
        a_pk, a_f, a_tau, r_pk, r_f, r_tau = CONTACTS[kind]
        i0 = int(round(t0 * fs))
        m = int(6 * max(a_tau, r_tau) * fs)
        i1 = min(n, i0 + m)
        if i0 >= n or i1 <= i0:
            continue
        tt = np.arange(i1 - i0) / fs
        ph = rng.uniform(0, 2 * np.pi, 2)
        sa = np.sin(2 * np.pi * a_f * tt) * np.exp(-tt / a_tau)
        dir_a = np.array([1.0, rng.normal(0, 0.25), rng.normal(0.4, 0.2)])
        acc[i0:i1] += scale * a_pk * sa[:, None] * dir_a
        sr = np.sin(2 * np.pi * r_f * tt + ph[0]) * np.exp(-tt / r_tau) * np.minimum(1, tt / 0.005)
        dir_r = np.array([1.0, rng.normal(0, 0.2), rng.normal(0, 0.3)])
        rate[i0:i1] += scale * r_pk * sr[:, None] * dir_r
    return acc, rate


def jitter_signals(rng, env, fs: float, contacts):
    """(extra accel in g, extra rotation rate in dps), shin frame, on the fine grid."""
    n = len(env)
    env = env[:, None]
    acc = np.zeros((n, 3))
    rate = np.zeros((n, 3))
    for lo, hi, g_rms, a_rms in BANDS:
        rate += env * band_noise(rng, n, fs, lo, hi) * np.array(g_rms)
        acc += env * band_noise(rng, n, fs, lo, hi) * np.array(a_rms)
    ca, cr = contact_signals(rng, n, fs, contacts)
    return acc + ca, rate + cr


# Whole-shin translation at 1.5–6 Hz (foot rocking, heel lift, soft tissue sliding): it moves
# the accelerometer without rotating the gyro, a main source of the 5–9 deg accel-vs-gyro
# tilt disagreement in squats (REAL-SIGNALS §4). World frame (forward, left, up), g RMS at env 1.
TRANSLATION_G = (0.065, 0.03, 0.04)
TRANSLATION_BAND_HZ = (1.5, 6.0)


def base_translation(rng, env: np.ndarray, fs: float) -> np.ndarray:
    """Displacement (m) whose second derivative is band-limited acceleration of the
    given RMS scaled by the envelope; integrated in the frequency domain so it never drifts."""
    n = len(env)
    if n < 64:
        return np.zeros((n, 3))
    acc = band_noise(rng, n, fs, TRANSLATION_BAND_HZ[0], TRANSLATION_BAND_HZ[1], shape="pink") * np.array(TRANSLATION_G) * 9.80665
    # capped: in violent moves the big accelerations come from the rotation and the contacts
    acc *= np.minimum(env, 2.0)[:, None]
    f = np.fft.rfftfreq(n, 1.0 / fs)
    A = np.fft.rfft(acc, axis=0)
    h = np.where(f >= 0.7, -1.0 / np.maximum((2 * np.pi * f) ** 2, 1e-9), 0.0)
    return np.fft.irfft(A * h[:, None], n=n, axis=0)


def sway(rng, n: int, fs: float) -> np.ndarray:
    """Postural sway and relaxed axial wander (deg) for theta, phi, psi: standing still is
    clean but never frozen (REAL-SIGNALS §1)."""
    x = band_noise(rng, n, fs, 0.05, 1.0, shape="pink") if n > 16 else np.zeros((n, 3))
    return x * np.array([0.15, 0.15, 0.5])
