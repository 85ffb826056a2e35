"""simulate_set / simulate_session: athlete → rigid-shin physics → IMU error model → samples
plus ground truth."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from kotdevice.errors import KotError
from kotdevice.samples import ImuBlock
from kotdevice.sim import geometry, jitter, motion
from kotdevice.sim.imu_errors import ErrorParams, apply_errors, draw_errors, sample_times

TRUTH_VERSION = 1
EXERCISE_VARIANTS = {
    "squat": tuple(motion.SQUAT_VARIANTS),
    "tib_raise": (None,),
    "backward_walk": motion.WALK_VARIANTS,
}


@dataclass
class SimResult:
    imu: ImuBlock  # measured samples (errors, jitter, drops, quantisation)
    truth_angle_deg: np.ndarray  # per measured sample
    truth_frontal_deg: np.ndarray
    # the leg's lateral axis (wearer's right, horizontal, across the foot) in the sensor frame,
    # per measured sample: the sagittal plane an ideal mount calibration would find
    truth_right_axis: np.ndarray
    truth: dict  # the JSON ground truth
    rate_hz: float
    physical: ImuBlock = field(repr=False)  # even grid, errors but no quantisation/clipping/drops
    clean: ImuBlock = field(repr=False)  # ideal physics at the measured sample times
    ideal_even: ImuBlock = field(repr=False)  # ideal physics on the even grid of ``physical``

    def source(self, block_size: int = 32, *, errors: bool = True) -> Iterator[ImuBlock]:
        """Motion source for the sensor layer's SimBus: the physical signal on an even grid at
        ``rate_hz`` in blocks, unquantised and unclipped (the emulated chip does that), with the
        sensor's noise/bias/scale errors unless ``errors=False`` (then ideal physics)."""
        if block_size < 1:
            raise KotError("block_size must be >= 1")
        blk = self.physical if errors else self.ideal_even
        for i in range(0, len(blk), block_size):
            yield blk.slice(i, i + block_size)

    def __len__(self) -> int:
        return len(self.imu)


# ---- specs -----------------------------------------------------------------------------------

def default_workout() -> dict:
    """The realistic demo session used by ``kotdevice run --sim``: reps start within seconds,
    sets of squats and tibialis raises with real rest between them."""
    return {
        "leg": "right",
        "items": [
            {"kind": "rest", "activities": [{"kind": "stand", "duration_s": 3.0}]},
            {"kind": "set", "exercise": "squat", "variant": "bodyweight", "reps": 10, "tempo": "quick"},
            {"kind": "rest", "activities": [{"kind": "walk", "duration_s": 8}, {"kind": "stand", "duration_s": 6}]},
            {"kind": "set", "exercise": "tib_raise", "reps": 15, "tempo": "normal"},
            {"kind": "rest", "activities": [{"kind": "sit_stand", "duration_s": 14}, {"kind": "fidget", "duration_s": 5}]},
            {"kind": "set", "exercise": "squat", "variant": "split_squat", "reps": 8, "tempo": "normal", "partials": 1},
            {"kind": "rest", "activities": [{"kind": "strap_adjust", "duration_s": 3}, {"kind": "walk", "duration_s": 6},
                                            {"kind": "stand", "duration_s": 4}]},
            {"kind": "set", "exercise": "squat", "variant": "heel_elevated", "reps": 10, "tempo": "slow",
             "fatigue": 0.6},
            {"kind": "rest", "activities": [{"kind": "stand", "duration_s": 8}]},
            {"kind": "set", "exercise": "tib_raise", "reps": 12, "tempo": "quick", "fatigue": 0.5},
            {"kind": "rest", "activities": [{"kind": "walk", "duration_s": 5}, {"kind": "stand", "duration_s": 3}]},
            {"kind": "set", "exercise": "backward_walk", "variant": "sled_drag", "reps": 10},
            {"kind": "rest", "activities": [{"kind": "stand", "duration_s": 5}]},
        ],
    }


def _draw_session_defaults(spec: dict, rng) -> dict:
    if not isinstance(spec, dict):
        raise KotError("a session spec must be a dict / JSON object")
    s = copy.deepcopy(spec)
    if not isinstance(s.get("items", []), list):
        raise KotError("session spec 'items' must be a list")
    if not isinstance(s.get("mount") or {}, dict):
        raise KotError("session spec 'mount' must be an object")
    s.setdefault("leg", str(rng.choice(["left", "right"])))
    if s["leg"] not in ("left", "right"):
        raise KotError(f"leg must be 'left' or 'right', not {s['leg']!r}")
    s.setdefault("sensor_distance_m", float(rng.uniform(0.2, 0.25)))
    s.setdefault("tissue_offset_m", float(rng.uniform(0.02, 0.04)))
    m = dict(s.get("mount") or {})
    m.setdefault("rotation_about_shin_deg", float(rng.uniform(-30, 30)))
    m.setdefault("tilt_sagittal_deg", float(rng.normal(3.0, 5.0)))
    m.setdefault("tilt_frontal_deg", float(rng.choice([-1, 1]) * rng.uniform(3, 14)))
    s["mount"] = {k: _num(v, k) for k, v in m.items()}
    if not 0.05 <= _num(s["sensor_distance_m"], "sensor_distance_m") <= 0.45:
        raise KotError("sensor_distance_m must be between 0.05 and 0.45 m")
    s.setdefault("stand_theta_deg", float(rng.normal(4.0, 2.5)))
    s.setdefault("stand_phi_deg", float(rng.normal(0.0, 2.0)))
    s.setdefault("items", [])
    items = s["items"]
    # the contract: every session begins with >= 2 s of quiet standing
    first = items[0] if items else None
    if not (first and first.get("kind") == "rest" and first.get("activities")
            and first["activities"][0].get("kind") == "stand"
            and float(first["activities"][0].get("duration_s", 0)) >= 2.0):
        items.insert(0, {"kind": "rest", "activities": [{"kind": "stand", "duration_s": 2.5}]})
    return s


KINEMATICS = {"valgus_scale": 1.0, "rotation_scale": 1.0}


def check_kinematics(k) -> dict:
    """The spec's "kinematics" {valgus_scale, rotation_scale}: multipliers (0-3) on how far the
    knee drifts medially and the tibia rotates internally per degree of flexion."""
    if k is None:
        return dict(KINEMATICS)
    if not isinstance(k, dict):
        raise KotError("session spec 'kinematics' must be an object")
    out = dict(KINEMATICS)
    for name, v in k.items():
        if name not in KINEMATICS:
            raise KotError(f"unknown kinematics parameter {name!r} (known: {', '.join(KINEMATICS)})")
        x = _num(v, name)
        if not 0.0 <= x <= 3.0:
            raise KotError(f"kinematics {name} must be between 0 and 3, not {v!r}")
        out[name] = x
    return out


def _check_set(it: dict) -> None:
    ex = it.get("exercise")
    if ex not in EXERCISE_VARIANTS:
        raise KotError(f"unknown exercise {ex!r} (known: {', '.join(EXERCISE_VARIANTS)}, knee_to_wall)")
    var = it.get("variant")
    if var is not None and var not in EXERCISE_VARIANTS[ex]:
        raise KotError(f"unknown variant {var!r} for {ex} (known: {', '.join(v for v in EXERCISE_VARIANTS[ex] if v)})")
    reps = it.get("reps", 10)
    if not isinstance(reps, (int, np.integer)) or not 1 <= reps <= 200:
        raise KotError(f"reps must be an integer from 1 to 200, not {reps!r}")
    if it.get("tempo", "normal") not in motion.TEMPOS:
        raise KotError(f"unknown tempo {it.get('tempo')!r} (known: {', '.join(motion.TEMPOS)})")
    if not 0.0 <= _num(it.get("fatigue", 0.0), "fatigue") <= 1.0:
        raise KotError("fatigue must be between 0 and 1")
    p = it.get("partials", 0)
    if not isinstance(p, (int, np.integer)) or p < 0:
        raise KotError(f"partials must be a non-negative integer, not {p!r}")
    d = it.get("depth_deg")
    if d is not None:
        lo, hi = (0.5, 15.0) if ex == "tib_raise" else (5.0, 80.0)
        if not lo <= _num(d, "depth_deg") <= hi:
            raise KotError(f"depth_deg for {ex} must be between {lo:g} and {hi:g} degrees, not {d!r}")


def _num(v, name: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise KotError(f"{name} must be a number, not {v!r}") from None
    if not np.isfinite(x):
        raise KotError(f"{name} must be a finite number")
    return x


def _duration(a: dict) -> float:
    d = _num(a.get("duration_s", 5.0), "duration_s")
    if not 0.2 <= d <= 3600:
        raise KotError(f"rest activity duration_s must be between 0.2 and 3600 s, not {d:g}")
    return d


def _check_rate(rate_hz) -> float:
    r = float(rate_hz)
    if not 50.0 <= r <= 1000.0:
        raise KotError(f"rate must be between 50 and 1000 Hz, not {rate_hz}")
    return r


# ---- the engine ------------------------------------------------------------------------------

def simulate_session(spec: dict | None = None, seed: int = 0, rate_hz: float = 200,
                     *, errors: dict | ErrorParams | None = None,
                     kinematics: dict | None = None) -> SimResult:
    """Simulate a whole session. ``spec=None`` gives ``default_workout()``. Spec keys: ``leg``,
    ``mount`` {rotation_about_shin_deg, tilt_sagittal_deg, tilt_frontal_deg},
    ``kinematics`` {valgus_scale, rotation_scale}, ``sensor_distance_m``, ``stand_theta_deg``, ``error_model`` {ErrorParams fields, chip},
    ``items``: list of {"kind": "set", exercise, variant, reps, tempo, depth_deg, partials,
    fatigue} | {"kind": "rest", "activities": [{"kind": stand|walk|sit_stand|fidget|
    strap_adjust, "duration_s": s}]} | {"kind": "knee_to_wall", "attempts": n}. ``errors`` and
    ``kinematics`` override the spec's own "error_model" / "kinematics" entries."""
    rate = _check_rate(rate_hz)
    rng = np.random.default_rng(seed)
    spec = _draw_session_defaults(spec if spec is not None else default_workout(), rng)
    if isinstance(errors, ErrorParams):
        ep = errors
    else:
        ep = ErrorParams.from_dict({**(spec.get("error_model") or {}), **(errors or {})})
    m = spec["mount"]
    kin = check_kinematics({**check_kinematics(spec.get("kinematics")), **(kinematics or {})})
    tr = motion.Track(rng=rng, leg=spec["leg"], stand_theta=spec["stand_theta_deg"],
                      stand_phi=spec["stand_phi_deg"],
                      mount=(m["rotation_about_shin_deg"], m["tilt_sagittal_deg"], m["tilt_frontal_deg"]),
                      valgus_scale=kin["valgus_scale"], rotation_scale=kin["rotation_scale"])
    for it in spec["items"]:
        if not isinstance(it, dict):
            raise KotError(f"session item must be an object, not {it!r:.40}")
        kind = it.get("kind")
        if kind == "set":
            _check_set(it)
            ex = it["exercise"]
            var = it.get("variant") or EXERCISE_VARIANTS[ex][0]
            args = (int(it.get("reps", 10)), it.get("tempo", "normal"), it.get("depth_deg"),
                    int(it.get("partials", 0)), float(it.get("fatigue", 0.0)))
            if ex == "squat":
                rec = motion.squat_set(tr, var, *args)
            elif ex == "tib_raise":
                rec = motion.tib_raise_set(tr, *args)
            else:
                rec = motion.walk_set(tr, var, *args)
            tr.sets.append(rec)
        elif kind == "rest":
            start = tr.t
            acts = [motion.rest_activity(tr, a.get("kind"), _duration(a))
                    for a in it.get("activities") or [{"kind": "stand", "duration_s": 5.0}]]
            tr.rests.append(dict(start_s=round(start, 4), end_s=round(tr.t, 4), activities=acts))
        elif kind == "knee_to_wall":
            n = it.get("attempts", 3)
            if not isinstance(n, (int, np.integer)) or not 1 <= n <= 10:
                raise KotError(f"knee_to_wall attempts must be an integer from 1 to 10, not {n!r}")
            tr.tests.append(motion.knee_to_wall(tr, int(n)))
        else:
            raise KotError(f"unknown session item kind {kind!r} (set, rest, knee_to_wall)")
    tr.hold(1.0)
    return _render(tr, spec, ep, rate, rng, seed)


def simulate_set(exercise: str, reps: int = 10, *, variant: str | None = None, tempo: str = "normal",
                 depth_deg: float | None = None, rate_hz: float = 200, seed: int = 0,
                 partials: int = 0, fatigue: float = 0.0, leg: str | None = None,
                 mount: dict | None = None, errors: dict | ErrorParams | None = None,
                 lead_in_s: float = 3.0, tail_s: float = 2.0,
                 kinematics: dict | None = None) -> SimResult:
    """One set between quiet standing. ``exercise`` may also be ``knee_to_wall`` (reps =
    attempts). ``depth_deg``: bottom tibial angle for squats/strides, raise ROM for tib_raise."""
    if lead_in_s < 2.0:
        raise KotError("lead_in_s must be at least 2 s (sessions begin with quiet standing)")
    if exercise == "knee_to_wall":
        item = {"kind": "knee_to_wall", "attempts": reps}
    else:
        item = {"kind": "set", "exercise": exercise, "variant": variant, "reps": reps, "tempo": tempo,
                "depth_deg": depth_deg, "partials": partials, "fatigue": fatigue}
    spec = {"items": [{"kind": "rest", "activities": [{"kind": "stand", "duration_s": lead_in_s}]}, item,
                      {"kind": "rest", "activities": [{"kind": "stand", "duration_s": tail_s}]}]}
    if leg is not None:
        spec["leg"] = leg
    if mount is not None:
        spec["mount"] = mount
    return simulate_session(spec, seed=seed, rate_hz=rate_hz, errors=errors, kinematics=kinematics)


def _lowpass(x: np.ndarray, fs: float, fc: float) -> np.ndarray:
    """Zero-phase FFT low-pass with a cosine taper (the chip's digital low-pass before a low
    output rate, so impacts don't alias)."""
    n = x.shape[0]
    f = np.fft.rfftfreq(n, 1.0 / fs)
    w = np.clip((1.5 * fc - f) / (0.5 * fc), 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    mean = x.mean(axis=0)
    return np.fft.irfft(np.fft.rfft(x - mean, axis=0) * w[:, None], n=n, axis=0) + mean


def _interp(t_fine: np.ndarray, y: np.ndarray, t: np.ndarray) -> np.ndarray:
    if y.ndim == 1:
        return np.interp(t, t_fine, y)
    return np.stack([np.interp(t, t_fine, y[:, i]) for i in range(y.shape[1])], axis=1)


def _render(tr: motion.Track, spec: dict, ep: ErrorParams, rate: float, rng, seed: int) -> SimResult:
    fs = tr.fs
    theta, phi, psi, ankle, inten, mounts = tr.arrays()
    n = len(theta)
    sw = jitter.sway(rng, n, fs)
    theta = theta + sw[:, 0]
    phi = phi + sw[:, 1]
    psi = psi + sw[:, 2]
    R_wb = geometry.shin_frames(theta, phi, psi)
    env = jitter.envelope(theta, inten, fs)
    extra_acc_b, rate_b = jitter.jitter_signals(rng, env, fs, tr.contacts)
    ankle = ankle + jitter.base_translation(rng, env, fs)
    # wobble of the enclosure on the soft tissue as a real (small) rotation, so gyro and
    # orientation stay consistent: integrate the wobble rate, drop its slow drift
    delta = np.cumsum(np.radians(rate_b), axis=0) / fs
    k = int(0.5 * fs)
    kern = np.ones(k) / k
    for i in range(3):
        pad = np.pad(delta[:, i], (k, k), mode="edge")
        delta[:, i] -= np.convolve(pad, kern, mode="same")[k:-k]
    R_bs = geometry.mount_matrix(mounts[:, 0], mounts[:, 1], mounts[:, 2])
    R_ws = R_wb @ geometry.small_rotation(delta) @ R_bs
    r_b = np.array([spec["sensor_distance_m"], 0.0, spec["tissue_offset_m"]])
    p = ankle + R_wb @ r_b
    extra_s = np.einsum("nji,nj->ni", R_bs, extra_acc_b)  # shin frame -> sensor frame
    f_s, w_s = geometry.ideal_imu(1.0 / fs, R_ws, p, extra_s)
    tib, front = geometry.angles_from_frames(R_ws)
    right_s = -R_ws[:, 1, :]  # world +Y is the wearer's left; a row of R_ws = that axis in sensor coordinates
    if rate < 250:
        f_s = _lowpass(f_s, fs, 0.4 * rate)
        w_s = _lowpass(w_s, fs, 0.4 * rate)
    t_fine = np.arange(n) / fs
    dur = t_fine[-1]

    # measured stream: jittered times, errors on the full grid, then the dropped samples go
    t_meas, keep = sample_times(ep, dur - 1.0 / rate, rate, rng)
    a_true = _interp(t_fine, f_s, t_meas)
    g_true = _interp(t_fine, w_s, t_meas)
    drawn = draw_errors(ep, rng)
    erng = np.random.default_rng(rng.integers(2**63))
    a_m, g_m = apply_errors(ep, drawn, t_meas, a_true, g_true, rate, erng)
    imu = ImuBlock(t_meas[keep], a_m[keep], g_m[keep])
    clean = ImuBlock(t_meas[keep], a_true[keep], g_true[keep])
    ta = np.interp(t_meas[keep], t_fine, tib)
    tf = np.interp(t_meas[keep], t_fine, front)
    rs = _interp(t_fine, right_s, t_meas[keep])
    rs /= np.linalg.norm(rs, axis=1, keepdims=True)

    # even-grid physical source for SimBus (the emulated chip quantises/clips itself)
    t_even = np.arange(int(np.floor((dur - 1.0 / rate) * rate)) + 1) / rate
    a_e = _interp(t_fine, f_s, t_even)
    g_e = _interp(t_fine, w_s, t_even)
    a_p, g_p = apply_errors(ep, drawn, t_even, a_e, g_e, rate, np.random.default_rng(rng.integers(2**63)),
                            quantize=False)
    physical = ImuBlock(t_even, a_p, g_p)

    truth = _truth(tr, spec, ep, drawn, rate, seed, tib, front, t_meas, keep, dur)
    return SimResult(imu=imu, truth_angle_deg=ta, truth_frontal_deg=tf, truth_right_axis=rs,
                     truth=truth, rate_hz=rate,
                     physical=physical, clean=clean, ideal_even=ImuBlock(t_even, a_e, g_e))


def _r(x, nd=4):
    return None if x is None else round(float(x), nd)


def _truth(tr, spec, ep, drawn, rate, seed, tib, front, t_meas, keep, dur) -> dict:
    fs = tr.fs

    def at(t):
        return float(tib[min(len(tib) - 1, int(round(t * fs)))])

    sets = []
    total = 0
    for s in tr.sets:
        reps = []
        for r in s["rep_list"]:
            i0, i1 = int(round(r["start_s"] * fs)), int(round(r["end_s"] * fs))
            seg = tib[i0 : i1 + 1]
            start_angle = float(tib[i0])
            ipk = int(np.argmax(np.abs(seg - start_angle)))
            fr = front[i0 : i1 + 1]
            reps.append(dict(
                start_s=_r(r["start_s"]), end_s=_r(r["end_s"]), peak_angle_deg=_r(seg[ipk], 3),
                peak_s=_r((i0 + ipk) / fs), start_angle_deg=_r(start_angle, 3),
                rom_deg=_r(abs(seg[ipk] - start_angle), 3),
                peak_frontal_deg=_r(np.max(np.abs(fr - fr[0])), 3),
                eccentric_s=_r(r["eccentric_s"]), pause_s=_r(r["pause_s"]), concentric_s=_r(r["concentric_s"]),
                designed_partial=r["designed_partial"],
            ))
        roms = np.array([r["rom_deg"] for r in reps])
        med = float(np.median(roms)) if len(roms) else 0.0
        target = s.get("depth_target_deg")
        for r in reps:
            partial = r["rom_deg"] < 0.75 * med
            if target is not None:
                # tib_raise: the target is a ROM; squats/strides: a bottom angle. Same 75 % rule,
                # so normal rep-to-rep variation around the target never reads as partial.
                want = target if s["exercise"] == "tib_raise" else target - r["start_angle_deg"]
                partial = partial or r["rom_deg"] < 0.75 * want
            r["partial"] = bool(partial)
        durs = np.array([r["end_s"] - r["start_s"] for r in reps])
        total += len(reps)
        sets.append(dict(
            exercise=s["exercise"], variant=s["variant"], tempo=s["tempo"], reps=len(reps),
            start_s=reps[0]["start_s"], end_s=reps[-1]["end_s"], depth_target_deg=s.get("depth_target_deg"),
            median_rom_deg=_r(med, 3),
            tempo_cv=_r(float(np.std(durs) / np.mean(durs)) if len(durs) > 1 else 0.0),
            rep_list=reps,
        ))
    tests = []
    for tst in tr.tests:
        atts = []
        for a in tst["attempts"]:
            i0, i1 = int(round(a["hold_start_s"] * fs)), int(round(a["hold_end_s"] * fs))
            atts.append(dict(start_s=_r(a["start_s"]), end_s=_r(a["end_s"]), hold_start_s=_r(a["hold_start_s"]),
                             hold_s=_r(a["hold_end_s"] - a["hold_start_s"]),
                             angle_deg=_r(np.median(tib[i0:i1]), 3)))
        tests.append(dict(kind=tst["kind"], leg=tst["leg"], attempts=atts,
                          max_angle_deg=max(a["angle_deg"] for a in atts)))
    # dropped samples as gaps (sample-clock start, duration, count)
    gaps = []
    lost = np.flatnonzero(~keep)
    if len(lost):
        runs = np.split(lost, np.flatnonzero(np.diff(lost) > 1) + 1)
        for run in runs:
            gaps.append(dict(start_s=_r(t_meas[run[0]], 6), duration_s=_r(len(run) / rate, 6),
                             samples_lost=int(len(run))))
    m = spec["mount"]
    return dict(
        version=TRUTH_VERSION, seed=int(seed) if seed is not None else None, rate_hz=rate,
        duration_s=_r(dur), leg=spec["leg"], sensor_distance_m=_r(spec["sensor_distance_m"]),
        stand_angle_deg=_r(at(0.5), 3),
        mount={k: _r(v, 3) for k, v in m.items()},
        total_reps=total, sets=sets,
        rests=tr.rests, tests=tests, mount_changes=tr.mount_changes, gaps=gaps,
        contacts=[dict(t_s=_r(t), kind=k) for t, k, _ in tr.contacts],
        error_model=dict(params=ep.to_dict(), drawn=drawn.to_dict()),
    )
