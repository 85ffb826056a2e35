"""Tilt fusion: accelerometer + gyroscope -> the unit "up" direction in the sensor frame.

Inclination only (no heading, no magnetometer), causal, sample by sample, free of I/O.

Usage::

    from kotdevice.motion.fusion import TiltFusion, FusionSettings
    f = TiltFusion(FusionSettings())            # every setting explicit, units in the names
    out = f.update(t_s, accel_g, gyro_dps)      # (n,), (n,3) g, (n,3) deg/s -> FusionOutput
    out.up        # (n,3) unit up direction in the sensor frame, one row per input sample
    out.gyro_dps  # (n,3) bias-corrected angular rate
    out.still     # (n,) bool: sensor judged still (the bias is being learned)
    f.gyro_bias_dps        # (3,) current bias estimate (deg/s)
    f.reset_after_gap()    # force a re-initialisation from the next sample's accelerometer
    f.gyro_scale           # the multiplier applied to the gyro (learned; see 8. below)
    s = f.get_state(); f.set_state(s)   # checkpoint / restore (a copy of a small array)

Feeding a stream in chunks of any size (one sample, a FIFO burst, the whole file) gives
bit-identical results: the numba kernel walks samples in order over a small state vector.

Method (after the ideas of VQF, Laidig & Seel 2023, implemented independently):

1. Strapdown: the bias-corrected gyro is integrated (exact quaternion exponential, each
   sample's own dt) into ``q_gyr``, sensor -> an almost-inertial frame I.
2. The accelerometer is rotated into I and low-pass filtered there (2nd-order Butterworth,
   cut-off sqrt(2)/(2 pi ``acc_time_constant_s``) as VQF's tauAcc, discretised exactly for
   each sample's dt). In I, gravity is (almost) constant while the motion's
   accelerations, tangential shin acceleration and 6-12 Hz strap jitter average out, so the
   filtered vector is a clean gravity direction whatever the sensor does.
3. A tilt correction ``q_acc`` (I -> earth) is updated every sample so that the filtered
   gravity is exactly vertical; up = (q_acc q_gyr)* z.
4. Impacts: before a sample enters the low-pass, its pull on the gravity estimate is clipped
   to ``accel_clip_g`` + ``accel_clip_activity_factor`` x the recent RMS pull (time constant
   ``activity_time_constant_s``, fed the clipped values). In quiet stance an 8 g heel strike
   is cut to ~0.2 g; in sustained vigorous motion the clip opens and the filter stays linear
   (clipping skewed but zero-mean accelerations would bias the tilt; rejecting samples by
   |a| does, badly, on BROAD's fast-translation trial).
5. Rest detection: the raw gyro and accel stay within ``rest_gyro_dps`` / ``rest_accel_g`` of
   their ``rest_filter_s`` low-passes, the gyro mean is below ``gyro_bias_max_dps``, and the
   accel direction has not turned by ``rest_accel_drift_deg`` (a slow steady turn is not a
   bias), for ``rest_min_s``: the sensor is still and the bias is learned from the gyro's
   mean - the mean of all the rest seen so far, then a low-pass
   (``bias_rest_time_constant_s``), less the sway the accelerometer sees turning
   (``rest_sway_compensation``). A stance still but for its rate about the vertical learns
   the two horizontal components (``rest_ignore_vertical_rate``).
6. In motion, the steady part of the tilt correction is gyro bias seen through the
   accelerometer: it is integrated into the bias with ``bias_motion_time_constant_s`` (0
   disables), clipped to ``gyro_bias_max_dps``.
7. Start and gaps: the first sample, and any sample more than ``gap_s`` after the previous,
   re-initialise the orientation from the accelerometer (the bias is kept). The low-pass time
   constant then grows as ``warmup_ratio`` x time since initialisation up to
   ``acc_time_constant_s``, i.e. the quiet start is averaged rather than one sample trusted.

8. Gyro scale: between two held moments (gyro near zero and steady, accelerometer calm and
   ~1 g) the accelerometer measures how far the shin turned, the strapdown quaternion how
   far the gyro says; the ratio of their sums over all pairs (prior at 1, a dead band,
   ``gyro_scale_*`` / ``scale_*`` settings) multiplies the gyro from then on. REAL-SIGNALS
   §5: real shin gyros read ~10 % small.

9. Accelerometer calibration: in a held pose (windows of ``accel_cal_window_s`` in a row
   whose raw gyro and |a| show only noise and whose mean accel stays put) the accelerometer
   reads gravity alone, so |a| must be 1 g. Each pose's mean adds one row to a linear
   least-squares fit of |a| = r + u.b + u'E'u (u the pose's direction, b the offset, E' the
   symmetric scale / cross-axis error less the common scale r), with Gaussian priors at zero
   (``accel_cal_offset_sigma_g``, ``accel_cal_scale_sigma``) and ``accel_cal_pose_sigma_g``
   per pose. Every sample is then corrected before use: a = (I - E')(raw - b) / r. Poses at
   different shin angles (standing, a held squat bottom, the lean back to the wall) are what
   separate the forward offset, the one the tibial angle reads, from the common scale; the
   fit is fed raw values only, so it never sees its own correction. The normal equations
   are sums: a later run can start from them (``seed_accel_calibration``).

Non-finite samples are skipped (up held, gyro_dps NaN) so a glitch cannot poison the state;
a time stamp that does not increase is held too.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from kotdevice.motion import _fusion_kernels as _k


@dataclass(frozen=True)
class FusionSettings:
    """Every tuning knob of TiltFusion, with its unit in the name. Defaults are the tuned ones."""

    # Low-pass time constant of gravity in the almost-inertial frame. Longer = more immune to
    # motion accelerations, but gyro errors (bias, scale) live longer.
    acc_time_constant_s: float = 3.0
    # After (re)initialisation the time constant is this fraction of the elapsed time.
    warmup_ratio: float = 0.5
    # A dt longer than this is a gap: re-initialise from the accelerometer.
    gap_s: float = 0.25
    # Largest pull one sample may exert on the gravity estimate (impacts are clipped to it).
    accel_clip_g: float = 0.2
    # ... plus this many times the recent RMS accel deviation (so vigorous motion stays linear)
    accel_clip_activity_factor: float = 3.0
    # time constant of that recent RMS
    activity_time_constant_s: float = 0.5
    # Rest detection: raw gyro and accel within these of their rest_filter_s low-passes ...
    rest_filter_s: float = 0.5
    rest_gyro_dps: float = 2.0
    rest_accel_g: float = 0.05
    rest_min_s: float = 1.0  # ... for this long
    # ... and the low-passed accel direction turned less than this during the calm period,
    # so a slow steady turn is not mistaken for gyro bias
    rest_accel_drift_deg: float = 0.5
    # With the shin's axis (sensor +X) within acos(this) of vertical, a stance still but for
    # its rate about the vertical (a relaxed shin wanders about its axis) learns the two
    # horizontal bias components; 0: only a fully still sensor learns the bias.
    rest_ignore_vertical_rate: float = 0.94
    # 1: the bias learned at rest discounts the slow turn the accelerometer sees; 0: not.
    rest_sway_compensation: float = 1.0
    # Gyro bias: at rest, the mean of all the rest seen so far, then a low-pass with this
    # time constant (the first stance is learned at once, later sway averages out) ...
    bias_rest_time_constant_s: float = 4.0
    # ... and in motion from the steady tilt correction (0 disables).
    bias_motion_time_constant_s: float = 300.0
    # Largest bias believed (MEMS zero-rate offsets are a few deg/s).
    gyro_bias_max_dps: float = 5.0
    # Gyro scale, learned from pairs of held-still moments (0 disables): at most this far
    # from 1 ...
    gyro_scale_max_frac: float = 0.2
    # ... left at 1 while the estimate is within this of 1 (and only the excess applied) ...
    gyro_scale_deadband_frac: float = 0.03
    # ... with a prior at 1 worth this much turn (deg: one 20 deg pair).
    gyro_scale_prior_deg: float = 20.0
    # A held-still moment: bias-corrected gyro below this, the accelerometer's jitter about
    # its 0.1 s low-pass below this (RMS) and |a| within 5 % of 1 g ...
    scale_still_gyro_dps: float = 6.0
    scale_still_accel_g: float = 0.025
    # ... for this long after the first scale_still_settle_s (whose accelerometer is not used).
    scale_still_settle_s: float = 0.05
    scale_still_min_s: float = 0.12
    # ... and its (0.05 s low-passed) rate changed by less than this meanwhile (a slow
    # reversal is not held: the shin accelerates through it).
    scale_still_rate_change_dps: float = 2.0
    # A pair counts if the shin turned at least this much between the two moments, in
    # at most this long (gyro bias would otherwise weigh in).
    scale_pair_min_deg: float = 10.0
    scale_pair_max_s: float = 8.0
    # ... and the two turns within this fraction of each other (else something moved).
    scale_pair_max_disagree_frac: float = 0.35
    # When the scale changes, add the turn the old one missed since the previous held moment
    # (1) or let the gravity low-pass absorb it (0).
    gyro_scale_retro: float = 1.0
    # Accelerometer calibration from held poses (method 9; accel_cal_pose_sigma_g = 0
    # disables): how far one pose's |a| may be off 1 g beyond the chip's own errors ...
    accel_cal_pose_sigma_g: float = 0.002
    # ... and the prior spread of the chip's offset and of its scale / cross-axis error
    accel_cal_offset_sigma_g: float = 0.03
    accel_cal_scale_sigma: float = 0.005
    # A held window (this long): raw gyro varies less than this (std, each axis), |a| less
    # than this (std: the accelerometer's noise passes, a wobble does not), and the mean
    # accel moved less than this since the previous window.
    accel_cal_window_s: float = 0.25
    accel_cal_still_gyro_dps: float = 1.5
    accel_cal_still_norm_g: float = 0.012
    accel_cal_still_change_g: float = 0.005
    # Consecutive held windows make a pose of at least / at most this long.
    accel_cal_min_pose_s: float = 0.25
    accel_cal_max_pose_s: float = 2.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"FusionSettings.{f.name} must be a finite number >= 0, got {v!r}")
        for name in ("acc_time_constant_s", "rest_filter_s", "bias_rest_time_constant_s",
                     "gap_s", "warmup_ratio", "activity_time_constant_s", "accel_cal_offset_sigma_g",
                     "accel_cal_scale_sigma", "accel_cal_window_s", "accel_cal_max_pose_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FusionSettings.{name} must be > 0")

    def as_array(self) -> np.ndarray:
        cfg = np.zeros(_k.SETTINGS_SIZE)
        cfg[_k.S_TAU_ACC] = self.acc_time_constant_s
        cfg[_k.S_WARMUP_RATIO] = self.warmup_ratio
        cfg[_k.S_GAP] = self.gap_s
        cfg[_k.S_IMPACT] = self.accel_clip_g
        cfg[_k.S_REST_TAU] = self.rest_filter_s
        cfg[_k.S_REST_GYR] = self.rest_gyro_dps
        cfg[_k.S_REST_ACC] = self.rest_accel_g
        cfg[_k.S_REST_MIN_T] = self.rest_min_s
        cfg[_k.S_BIAS_REST_TAU] = self.bias_rest_time_constant_s
        cfg[_k.S_BIAS_MOTION_TAU] = self.bias_motion_time_constant_s
        cfg[_k.S_BIAS_MAX] = self.gyro_bias_max_dps
        cfg[_k.S_CLIP_FACTOR] = self.accel_clip_activity_factor
        cfg[_k.S_ACT_TAU] = self.activity_time_constant_s
        cfg[_k.S_REST_DRIFT] = self.rest_accel_drift_deg
        cfg[_k.S_GS_MAX] = self.gyro_scale_max_frac
        cfg[_k.S_GS_DEADBAND] = self.gyro_scale_deadband_frac
        cfg[_k.S_GS_PRIOR] = self.gyro_scale_prior_deg
        cfg[_k.S_GS_CALM_GYR] = self.scale_still_gyro_dps
        cfg[_k.S_GS_CALM_ACC] = self.scale_still_accel_g
        cfg[_k.S_GS_CALM_T] = self.scale_still_min_s
        cfg[_k.S_GS_PAIR_MIN] = self.scale_pair_min_deg
        cfg[_k.S_GS_PAIR_MAX_T] = self.scale_pair_max_s
        cfg[_k.S_GS_SETTLE] = self.scale_still_settle_s
        cfg[_k.S_GS_RATE_CHANGE] = self.scale_still_rate_change_dps
        cfg[_k.S_GS_RETRO] = self.gyro_scale_retro
        cfg[_k.S_GS_PAIR_DISAGREE] = self.scale_pair_max_disagree_frac
        cfg[_k.S_REST_TILT] = self.rest_ignore_vertical_rate
        cfg[_k.S_REST_SWAY] = self.rest_sway_compensation
        cfg[_k.S_AC_POSE_SIGMA] = self.accel_cal_pose_sigma_g
        cfg[_k.S_AC_BIAS_SIGMA] = self.accel_cal_offset_sigma_g
        cfg[_k.S_AC_SCALE_SIGMA] = self.accel_cal_scale_sigma
        cfg[_k.S_AC_WINDOW] = self.accel_cal_window_s
        cfg[_k.S_AC_GYR_STD] = self.accel_cal_still_gyro_dps
        cfg[_k.S_AC_ACC_STD] = self.accel_cal_still_norm_g
        cfg[_k.S_AC_ACC_CHANGE] = self.accel_cal_still_change_g
        cfg[_k.S_AC_MIN_POSE] = self.accel_cal_min_pose_s
        cfg[_k.S_AC_MAX_POSE] = self.accel_cal_max_pose_s
        return cfg


@dataclass(frozen=True)
class FusionOutput:
    up: np.ndarray        # (n,3) unit up direction, sensor frame
    gyro_dps: np.ndarray  # (n,3) bias-corrected angular rate (deg/s)
    still: np.ndarray     # (n,) bool

    def __len__(self) -> int:
        return int(self.up.shape[0])


class TiltFusion:
    """Causal accel+gyro inclination filter. See the module docstring."""

    def __init__(self, settings: FusionSettings | None = None):
        self.settings = settings if settings is not None else FusionSettings()
        self._cfg = self.settings.as_array()
        self._state = _k.new_state()

    def update(self, t_s, accel_g, gyro_dps) -> FusionOutput:
        t = np.ascontiguousarray(t_s, dtype=np.float64)
        a = np.ascontiguousarray(accel_g, dtype=np.float64)
        g = np.ascontiguousarray(gyro_dps, dtype=np.float64)
        n = t.shape[0] if t.ndim == 1 else -1
        if n < 0 or a.shape != (n, 3) or g.shape != (n, 3):
            raise ValueError(
                f"TiltFusion.update: need t_s (n,), accel_g (n,3), gyro_dps (n,3); "
                f"got {t.shape}, {a.shape}, {g.shape}"
            )
        up = np.empty((n, 3))
        gyr = np.empty((n, 3))
        still = np.empty(n, dtype=np.bool_)
        if n:
            _k.fuse_chunk(t, a, g, self._state, self._cfg, up, gyr, still)
        return FusionOutput(up, gyr, still)

    def update_block(self, block) -> FusionOutput:
        """Convenience for a kotdevice.samples.ImuBlock."""
        return self.update(block.t_s, block.accel_g, block.gyro_dps)

    @property
    def gyro_bias_dps(self) -> np.ndarray:
        return self._state[_k.BIAS:_k.BIAS + 3].copy()

    @property
    def gyro_scale(self) -> float:
        """The multiplier applied to the gyro (1.0 until pairs of held-still moments show
        the chip reads more than the dead band off)."""
        return float(self._state[_k.GS_K])

    @property
    def gyro_scale_pairs(self) -> int:
        return int(self._state[_k.GS_NPAIRS])

    def gyro_scale_evidence(self) -> dict:
        """What the multiplier was learned from (to carry it to the next run: the scale is
        the chip's, not the session's)."""
        st = self._state
        return {"accel_turn_deg": float(st[_k.GS_SACC]), "gyro_turn_deg": float(st[_k.GS_SGYR]),
                "pairs": int(st[_k.GS_NPAIRS])}

    def seed_gyro_scale(self, evidence: dict, max_turn_deg: float = 400.0) -> None:
        """Start from an earlier run's evidence, weighed down to at most ``max_turn_deg`` of
        gyro turn (twenty 20 deg pairs) so that a swapped sensor is learned afresh within a
        session. ValueError names what is wrong with ``evidence``."""
        try:
            acc, gyr = float(evidence["accel_turn_deg"]), float(evidence["gyro_turn_deg"])
            n = int(evidence["pairs"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"gyro scale evidence needs accel_turn_deg, gyro_turn_deg and pairs: {e}") from None
        if not (np.isfinite(acc) and np.isfinite(gyr)) or gyr < 0 or n < 0 or (gyr > 0 and not 0.5 < acc / gyr < 2.0):
            raise ValueError(f"gyro scale evidence out of range: {evidence!r}")
        w = min(1.0, max_turn_deg / gyr) if gyr > 0 else 1.0
        self._state[_k.GS_SACC] = acc * w
        self._state[_k.GS_SGYR] = gyr * w
        self._state[_k.GS_NPAIRS] = n
        if self.settings.gyro_scale_max_frac > 0:
            _k.apply_gyro_scale(self._state, self._cfg)

    @property
    def accel_offset_g(self) -> np.ndarray:
        """The accelerometer offset learned from held poses (g, sensor frame; 0 until shown)."""
        return self._state[_k.AC_B:_k.AC_B + 3].copy()

    @property
    def accel_correction(self) -> np.ndarray:
        """(3,3) matrix applied after the offset: accel used = M @ (raw - offset)."""
        return self._state[_k.AC_C:_k.AC_C + 9].reshape(3, 3).copy()

    @property
    def accel_cal_poses(self) -> int:
        return int(self._state[_k.AC_NPOSES])

    def accel_calibration_evidence(self) -> dict:
        """The held poses' fit as sums (to carry to the next run: the errors are the chip's)."""
        st = self._state
        return {"normal": [float(x) for x in st[_k.AC_A:_k.AC_A + 45]],
                "rhs": [float(x) for x in st[_k.AC_Y:_k.AC_Y + _k.AC_NF]],
                "poses": int(st[_k.AC_NPOSES])}

    def seed_accel_calibration(self, evidence: dict, max_poses: float = 40.0) -> None:
        """Start from an earlier run's held poses, weighed down to at most ``max_poses`` full
        poses so a session of its own outweighs them (a swapped or warmed-up chip is learned
        afresh). ValueError names what is wrong with ``evidence``."""
        try:
            a = np.asarray(evidence["normal"], dtype=np.float64)
            y = np.asarray(evidence["rhs"], dtype=np.float64)
            n = int(evidence["poses"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"accel calibration evidence needs normal, rhs and poses: {e}") from None
        if a.shape != (45,) or y.shape != (_k.AC_NF,) or not (np.all(np.isfinite(a)) and np.all(np.isfinite(y))):
            raise ValueError("accel calibration evidence: normal must be 45 and rhs 9 finite numbers")
        w_total = a[0]  # the (1, 1) entry: the summed pose weights
        if n < 0 or w_total < 0 or (w_total > 0 and not 0.9 < y[0] / w_total < 1.1):
            raise ValueError(f"accel calibration evidence out of range (poses {n}, weight {w_total:.3g})")
        w = min(1.0, max_poses / w_total) if w_total > 0 else 1.0
        self._state[_k.AC_A:_k.AC_A + 45] = a * w
        self._state[_k.AC_Y:_k.AC_Y + _k.AC_NF] = y * w
        self._state[_k.AC_NPOSES] = n
        if self.settings.accel_cal_pose_sigma_g > 0 and w_total > 0:
            _k.solve_accel_calibration(self._state, self._cfg)

    @property
    def up(self) -> np.ndarray:
        """The current up direction (NaN before the first sample)."""
        out = np.empty((1, 3))
        if self._state[_k.INIT] == 0.0:
            out[:] = np.nan
        else:
            _k._write_up(self._state, out, 0)
        return out[0]

    @property
    def still(self) -> bool:
        return bool(self._state[_k.REST_T] >= self.settings.rest_min_s)

    @property
    def n_resets(self) -> int:
        """How many times the filter (re)initialised from the accelerometer (start + gaps)."""
        return int(self._state[_k.N_RESETS])

    def reset_after_gap(self) -> None:
        """Re-initialise from the next sample's accelerometer (keeps the gyro bias)."""
        self._state[_k.INIT] = 0.0

    def set_gyro_bias_dps(self, bias_dps) -> None:
        """Seed the bias (e.g. from a previous session)."""
        b = np.asarray(bias_dps, dtype=np.float64)
        if b.shape != (3,) or not np.all(np.isfinite(b)):
            raise ValueError(f"gyro bias must be 3 finite numbers, got {bias_dps!r}")
        self._state[_k.BIAS:_k.BIAS + 3] = b

    def get_state(self) -> np.ndarray:
        return self._state.copy()

    def set_state(self, state) -> None:
        s = np.asarray(state, dtype=np.float64)
        if s.shape != (_k.STATE_SIZE,):
            raise ValueError(f"TiltFusion state must have shape ({_k.STATE_SIZE},), got {s.shape}")
        self._state = s.copy()
