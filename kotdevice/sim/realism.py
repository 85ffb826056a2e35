"""Measure the simulator against REAL-SIGNALS.md: one table row per published magnitude,
the real range beside the simulated median and spread over several seeds. Also the
generation speed. Used by ``kotdevice bench sim_realism``."""
from __future__ import annotations

import sys
import time

import numpy as np

from kotdevice.sim.session import simulate_session, simulate_set

RATE = 400.0
STRAIGHT = {"rotation_about_shin_deg": 0.0, "tilt_sagittal_deg": 0.0, "tilt_frontal_deg": 0.0}


def band_rms(x, fs, lo, hi=None):
    X = np.fft.rfft(x - x.mean(0), axis=0)
    f = np.fft.rfftfreq(len(x), 1 / fs)
    X[~((f >= lo) & (f <= (hi or fs)))] = 0
    return np.sqrt(np.mean(np.fft.irfft(X, n=len(x), axis=0) ** 2, axis=0))


def window(res, a, b):
    t = res.imu.t_s
    return (t >= a) & (t <= b)


def sag_rate(res):
    return np.gradient(res.truth_angle_deg, res.imu.t_s)


def set_metrics(res) -> dict:
    """The REAL-SIGNALS measurements of one set (the first) of a simulated session."""
    s = res.truth["sets"][0]
    q = window(res, s["start_s"], s["end_s"])
    a = np.linalg.norm(res.imu.accel_g[q], axis=1)
    f = res.imu.accel_g
    tilt = np.degrees(np.arctan2(-f[:, 2], f[:, 0]))  # straight strap: sagittal plane = x-z
    off = np.median((tilt - res.truth_angle_deg)[res.imu.t_s < 2])
    e = (tilt - res.truth_angle_deg - off)[q]
    rate = sag_rate(res)
    peaks = [np.abs(rate[window(res, r["start_s"], r["end_s"])]).max() for r in s["rep_list"]]
    g = res.clean.gyro_dps[q]
    roms = np.array([r["rom_deg"] for r in s["rep_list"] if not r["designed_partial"]])
    # swing of the (4 Hz low-passed) accelerometer tilt relative to the true swing, per rep
    F = np.fft.rfft(f, axis=0)
    F[np.fft.rfftfreq(len(f), 1 / RATE) > 4.0] = 0
    fl = np.fft.irfft(F, n=len(f), axis=0)
    tilt_lp = np.degrees(np.arctan2(-fl[:, 2], fl[:, 0]))
    swing = []
    for r in s["rep_list"]:
        w = window(res, r["start_s"], r["end_s"])
        swing.append(np.ptp(tilt_lp[w]) / np.ptp(res.truth_angle_deg[w]))
    starts = np.array([r["start_s"] for r in s["rep_list"]])
    # the gyro-integrated swing (sagittal = sensor y with a straight strap; bias from the
    # quiet start) against the true swing, per rep: REAL-SIGNALS §5's "~10 % smaller"
    t = res.imu.t_s
    gy = res.imu.gyro_dps[:, 1] - res.imu.gyro_dps[t < 2, 1].mean()
    ang_gyro = np.concatenate([[0.0], np.cumsum(0.5 * (gy[1:] + gy[:-1]) * np.diff(t))])
    gyro_swing = []
    for r in s["rep_list"]:
        w = window(res, r["start_s"], r["end_s"])
        gyro_swing.append(np.ptp(ang_gyro[w]) / np.ptp(res.truth_angle_deg[w]))
    return {
        "a_p1": np.percentile(a, 1), "a_p99": np.percentile(a, 99), "a_min": a.min(), "a_max": a.max(),
        "hf_mg": 1000 * np.linalg.norm(band_rms(res.imu.accel_g[q], RATE, 3.0)),
        "tilt_rms": np.sqrt(np.mean(e**2)), "tilt_max": np.abs(e).max(),
        "peak_rate": float(np.median(peaks)),
        "ax38": band_rms(g, RATE, 3, 8)[0], "ax820": band_rms(g, RATE, 8, 20)[0],
        "fr38": band_rms(g, RATE, 3, 8)[2], "sag3": band_rms(g, RATE, 3, 40)[1],
        "lat38_mg": 1000 * band_rms(res.imu.accel_g[q], RATE, 3, 8)[1],
        "s2s": float(np.mean(np.diff(starts))) if len(starts) > 1 else np.nan,
        "rom_cv": 100 * roms.std() / roms.mean(),
        "rom": float(np.median(roms)),
        "swing_pct": 100 * (float(np.median(swing)) - 1),
        "gyro_swing": float(np.median(gyro_swing)),
    }


def _fmt(vals, nd=2):
    v = np.asarray(vals, float)
    return f"{np.median(v):.{nd}f} [{v.min():.{nd}f}–{v.max():.{nd}f}]"


def realism_table(seeds: int = 4, progress=sys.stderr) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []

    def sets(**kw):
        out = []
        for s in range(seeds):
            out.append(set_metrics(simulate_set(seed=s, rate_hz=RATE, mount=STRAIGHT, **kw)))
            if progress:
                print(f"sim_realism: {kw.get('variant') or kw['exercise']} seed {s}", file=progress, flush=True)
        return {k: [m[k] for m in out] for k in out[0]}

    sq = sets(exercise="squat", reps=10, variant="bodyweight", tempo="quick")
    rows += [
        ("quick squat: rep start to start (s)", "1.9–2.7", _fmt(sq["s2s"])),
        ("squat: peak sagittal rate per rep (dps)", "55–100", _fmt(sq["peak_rate"], 0)),
        ("squat: |a| 1st percentile (g)", "~0.8", _fmt(sq["a_p1"])),
        ("squat: |a| 99th percentile (g)", "~1.25", _fmt(sq["a_p99"])),
        ("squat: accel RMS above 3 Hz (mg)", "40–85", _fmt(sq["hf_mg"], 0)),
        ("squat: accel tilt − true tilt, RMS (deg)", "5–9", _fmt(sq["tilt_rms"], 1)),
        ("squat: accel tilt − true tilt, max (deg)", "14–25", _fmt(sq["tilt_max"], 1)),
        ("quick squat: accel tilt swing wider than true (%)", "15–50", _fmt(sq["swing_pct"], 0)),
        ("squat: gyro-integrated swing ÷ true swing", "~0.9", _fmt(sq["gyro_swing"])),
        ("squat: axial gyro 3–8 Hz RMS (dps)", "~6", _fmt(sq["ax38"], 1)),
        ("squat: axial gyro 8–20 Hz RMS (dps)", "~6", _fmt(sq["ax820"], 1)),
        ("squat: frontal gyro 3–8 Hz RMS (dps)", "~4", _fmt(sq["fr38"], 1)),
        ("squat: sagittal gyro >3 Hz RMS (dps)", "~2", _fmt(sq["sag3"], 1)),
        ("squat: lateral accel 3–8 Hz RMS (mg)", "30–120", _fmt(sq["lat38_mg"], 0)),
        ("squat: depth variation rep to rep (CV %)", "~5 (≤13)", _fmt(sq["rom_cv"], 1)),
    ]
    sd = sets(exercise="squat", reps=8, variant="step_down", tempo="normal")
    rows += [
        ("step-down: peak sagittal rate (dps)", "150–300", _fmt(sd["peak_rate"], 0)),
        ("step-down: |a| min / max (g)", "0.3 / 2.3", f"{_fmt(sd['a_min'])} / {_fmt(sd['a_max'])}"),
        ("step-down: accel tilt error RMS (deg)", "10–18", _fmt(sd["tilt_rms"], 1)),
        ("step-down: accel tilt error max (deg)", "30–55", _fmt(sd["tilt_max"], 1)),
    ]
    tib = sets(exercise="tib_raise", reps=10, tempo="normal")
    rows.append(("tibialis raise: ROM (deg)", "2–6", _fmt(tib["rom"], 1)))

    walk_peak, walk_amin, walk_amax, ring, st_rate, st_a, st_over = [], [], [], [], [], [], []
    for s in range(seeds):
        res = simulate_session({"items": [{"kind": "rest", "activities": [
            {"kind": "stand", "duration_s": 3}, {"kind": "walk", "duration_s": 10},
            {"kind": "sit_stand", "duration_s": 15}]}]}, seed=s, rate_hz=RATE)
        acts = {a["kind"]: a for a in res.truth["rests"][0]["activities"]}
        w = window(res, acts["walk"]["start_s"], acts["walk"]["end_s"])
        walk_peak.append(np.abs(sag_rate(res)[w]).max())
        an = np.linalg.norm(res.imu.accel_g[w], axis=1)
        walk_amin.append(an.min())
        walk_amax.append(an.max())
        for c in res.truth["contacts"]:
            if c["kind"] == "heel" and acts["walk"]["start_s"] < c["t_s"] < acts["walk"]["end_s"] - 0.3:
                ring.append(band_rms(res.clean.gyro_dps[window(res, c["t_s"], c["t_s"] + 0.25)], RATE, 8, 40)[0])
        w = window(res, acts["sit_stand"]["start_s"], acts["sit_stand"]["end_s"])
        st_rate.append(np.abs(sag_rate(res)[w]).max())
        an = np.linalg.norm(res.clean.accel_g[w], axis=1)
        st_a.append((an.min(), an.max()))
        stand = np.median(res.truth_angle_deg[res.imu.t_s < 2])
        seat = np.median(res.truth_angle_deg[window(res, acts["sit_stand"]["start_s"] + 3, acts["sit_stand"]["end_s"] - 3)])
        st_over.append(seat - stand)
        if progress:
            print(f"sim_realism: rest activities seed {s}", file=progress, flush=True)
    st_a = np.array(st_a)
    rows += [
        ("walking: peak sagittal rate in swing (dps)", "200–400", _fmt(walk_peak, 0)),
        ("walking: |a| min / max (g)", "~0.3 / 2.2", f"{_fmt(walk_amin)} / {_fmt(walk_amax)}"),
        ("walking: axial ringing after heel strike, RMS (dps)", "20–70", _fmt(ring, 0)),
        ("sit/stand: peak shin rate (dps)", "20–30", _fmt(st_rate, 0)),
        ("sit/stand: |a| range (g)", "0.95–1.06", f"{st_a[:, 0].min():.2f}–{st_a[:, 1].max():.2f}"),
        ("seated shin vs standing (deg)", "~10", _fmt(st_over, 1)),
    ]
    return rows


def speed_table(progress=sys.stderr) -> list[tuple[str, str, str]]:
    rows = []
    for rate in (50, 200, 1000):
        t0 = time.process_time()
        res = simulate_session(None, seed=0, rate_hz=rate)
        cpu = time.process_time() - t0
        dur = res.truth["duration_s"]
        rows.append((f"{rate} Hz", f"{dur:.0f} s, {len(res.imu)} samples", f"{cpu:.2f} s CPU ({dur / cpu:.0f}× real time)"))
        if progress:
            print(f"sim_realism: speed {rate} Hz", file=progress, flush=True)
    return rows
