"""The motion engine: IMU blocks in; tibial angle, reps, sets and test results out.

Pipeline per block (all causal, chunk-size independent):
1. ``TiltFusion`` -> up vector (sensor frame), bias-corrected gyro.
2. ``_engine_kernels.engine_chunk`` (numba, per sample): mount learning, angle projection,
   low-pass, turning points.
3. Python, per turning point (a few per second): candidate reps (``reps.SwingTracker``),
   exercise detection, sets, metrics, knee-to-wall holds.

See docs/engine.md for the API contract with the device runtime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from kotdevice.motion import _engine_kernels as K
from kotdevice.motion.events import (
    EXERCISES, EngineState, GapEvent, KneeToWallEvent, MountEvent, RepEvent, SetEvent,
)
from kotdevice.motion.fusion import FusionSettings, TiltFusion
from kotdevice.motion.metrics import set_metrics
from kotdevice.motion.mount import Mount, rotation_about_shin_deg, tibial_angle_deg
from kotdevice.motion.reps import (
    Candidate, CountSettings, Extreme, SwingTracker, classify, fits_set, squat_variant, stride_like,
    turns_without_stopping,
)
from kotdevice.samples import Gap, ImuBlock

MODES = ("reps", "knee_to_wall")


@dataclass(frozen=True)
class EngineSettings:
    # Sessions start with only ~2 s of quiet standing (CONTRACTS §1), so rest must be
    # recognised within half a second: with the fusion's general 1 s a 1.5 dps bias leaves
    # the first set's angle ~2 deg off on the simulator's MPU-6050 model. (The bias is the
    # mean of the rest seen so far, so it is learned at once whatever its time constant.)
    fusion: FusionSettings = field(default_factory=lambda: FusionSettings(rest_min_s=0.5))
    counting: CountSettings = field(default_factory=CountSettings)
    learn_mount: bool = True
    # mount learning (see _engine_kernels)
    # Tibialis raises turn the shin at only 5-10 dps; a higher floor left a set of them
    # (and the angle of a session that starts with them) on the nominal, unrotated mount.
    learn_min_rate_dps: float = 8.0
    learn_rate_cap_dps: float = 15.0
    learn_lowpass_s: float = 0.1
    learn_long_s: float = 20.0
    learn_short_s: float = 1.5
    learn_adopt_s: float = 0.6
    learn_planarity: float = 0.6
    relearn_deg: float = 15.0
    relearn_planarity: float = 0.75
    relearn_motion_s: float = 1.0
    relearn_cooldown_s: float = 3.0
    # turning points
    detect_time_constant_s: float = 0.03
    hysteresis_min_deg: float = 0.5
    hysteresis_rel: float = 0.15
    hysteresis_max_deg: float = 6.0
    hold_band_min_deg: float = 0.4
    hold_band_rel: float = 0.04
    settle_min_deg: float = 0.2
    settle_s: float = 0.12
    # strap turned about the shin by hand (see _engine_kernels 1b)
    strap_turn_rate_dps: float = 10.0
    strap_turn_min_deg: float = 5.0
    strap_turn_perp_ratio: float = 0.5
    strap_turn_max_s: float = 2.5
    swing_memory_s: float = 2.0
    stand_window_s: float = 1.5  # the quiet start used as the standing reference
    # Out of a set, a still stance this long within restand_tol_deg of both the session's
    # first standing angle and the current reference becomes the standing reference: a
    # re-adjusted strap tilts a few degrees (not always with a turn about the shin the engine
    # would notice). A set's start pose is held ~1 s; sitting is ~10 deg forward, leaning at a
    # wall 12-20 deg back. A stance within half the tolerance of the first always becomes the
    # reference, so a wrong pick lasts only until the next real one.
    restand_still_s: float = 3.0
    restand_band_deg: float = 2.0  # "still": the angle stays within a band this wide
    restand_tol_deg: float = 7.0
    # knee-to-wall test
    ktw_min_hold_s: float = 1.0
    ktw_min_angle_deg: float = 10.0  # above the standing angle
    ktw_creep_deg: float = 2.0
    # a held maximum may dip this much and still be held (the knee eases off the wall a
    # little); wider than the turning points' hold band, which ends a hold at ~0.4 deg
    ktw_band_deg: float = 1.0

    def __post_init__(self):
        # time constants and ratios the kernels divide by: refused here, not as a
        # ZeroDivisionError mid-stream (or silent NaN without the JIT)
        for name in ("learn_long_s", "learn_short_s", "learn_lowpass_s", "detect_time_constant_s",
                     "hysteresis_rel", "hysteresis_min_deg", "swing_memory_s", "stand_window_s",
                     "restand_still_s", "restand_band_deg", "restand_tol_deg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"EngineSettings.{name} must be a finite number > 0, got {v!r}")

    def kernel_config(self) -> np.ndarray:
        c = np.zeros(K.C_SIZE)
        c[K.C_W_MIN] = self.learn_min_rate_dps
        c[K.C_W_CAP] = self.learn_rate_cap_dps
        c[K.C_TAU_LONG] = self.learn_long_s
        c[K.C_TAU_SHORT] = self.learn_short_s
        c[K.C_ADOPT_MT] = self.learn_adopt_s
        c[K.C_PLANAR] = self.learn_planarity
        c[K.C_RELEARN_COS] = math.cos(math.radians(self.relearn_deg))
        c[K.C_RELEARN_PLANAR] = self.relearn_planarity
        c[K.C_RELEARN_MT] = self.relearn_motion_s
        c[K.C_RELEARN_COOLDOWN] = self.relearn_cooldown_s
        c[K.C_TAU_DET] = self.detect_time_constant_s
        c[K.C_H_MIN] = self.hysteresis_min_deg
        c[K.C_H_REL] = self.hysteresis_rel
        c[K.C_H_MAX] = self.hysteresis_max_deg
        c[K.C_TOL_MIN] = self.hold_band_min_deg
        c[K.C_TOL_REL] = self.hold_band_rel
        c[K.C_SETTLE_MIN] = self.settle_min_deg
        c[K.C_SETTLE_T] = self.settle_s
        c[K.C_AMP_TAU] = self.swing_memory_s
        c[K.C_GAP] = self.fusion.gap_s  # the engine's filters restart where the fusion does
        c[K.C_LEARN] = 1.0 if self.learn_mount else 0.0
        c[K.C_AX_ON_DPS] = self.strap_turn_rate_dps
        c[K.C_AX_MIN_DEG] = self.strap_turn_min_deg
        c[K.C_AX_PERP_RATIO] = self.strap_turn_perp_ratio
        c[K.C_AX_MAX_S] = self.strap_turn_max_s
        c[K.C_TAU_LEARN] = self.learn_lowpass_s
        c[K.C_HOLD_S] = self.counting.step_hold_s
        return c


@dataclass(frozen=True)
class EngineOutput:
    t_s: np.ndarray
    tibial_angle_deg: np.ndarray
    frontal_angle_deg: np.ndarray
    events: list
    up: np.ndarray  # (n,3) the fusion's unit up direction, sensor frame (NaN rows: skipped)

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


@dataclass
class _OpenSet:
    exercise: str
    variant: str | None
    s: int
    index: int
    reps: list = field(default_factory=list)  # RepEvent
    roms: list = field(default_factory=list)
    holds: list = field(default_factory=list)  # seconds each rep held its peak
    gaps: list = field(default_factory=list)  # seconds between one rep's end and the next start
    rates: list = field(default_factory=list)  # each rep's fastest rate / its ROM (1/s)
    out_rates: list = field(default_factory=list)  # ... its fastest rate on the way out / ROM
    durations: list = field(default_factory=list)  # seconds each rep took
    last_end_s: float = 0.0
    base: Extreme | None = None  # where the last rep ended (re-projected if the mount changes)

    @property
    def base_angle(self) -> float | None:
        return None if self.base is None else self.base.v


class MotionEngine:
    def __init__(self, settings: EngineSettings | None = None, exercise: str | None = None,
                 mount: dict | None = None):
        self.settings = settings if settings is not None else EngineSettings()
        self._cfg = self.settings.kernel_config()
        self._fusion = TiltFusion(self.settings.fusion)
        self._k = K.new_state()
        self._exercise: str | None = None
        self.set_exercise(exercise)
        self._depth_target: float | None = None
        self._mode = "reps"
        self._leg = "unknown"
        self._mount_source = "auto"
        # Every counted exercise moves the shin forward from its start position (squat: knee
        # over toes; tibialis raise: up from leaning back; backward walk: the swing).
        self._tracker = SwingTracker(1)
        self._open: _OpenSet | None = None
        self._n_sets = 0
        self._t0: float | None = None
        self._up_sum = np.zeros(3)
        self._up_stand: np.ndarray | None = None
        self._mount_t_s = -math.inf  # when the mount last changed
        self._up_stand0: np.ndarray | None = None  # the session's first standing reference
        self._rs = np.zeros(K.RS_SIZE)  # still-stance scan (re-learns the reference)
        self._calibrating = False
        self._ktw: dict[str, float] = {}
        self._ktw_peak: Extreme | None = None
        self._ktw_short: Extreme | None = None  # a hold left early, timed on the way down
        self._last_motion_t = -1e9
        self._pending: Candidate | None = None
        self._ktw_wait: list[Extreme] = []
        self._unused: list[Candidate] = []  # the last few swings that started no set
        self._r_evt = self._k[K.R:K.R + 3].copy()
        self._learned = False
        self._last_walk_end_s = -math.inf
        self._state = EngineState()
        if mount is not None:
            self._load_mount(mount)

    # ---- configuration ---------------------------------------------------------------------
    def set_exercise(self, name: str | None) -> None:
        if name is not None and name not in EXERCISES:
            raise ValueError(f"unknown exercise {name!r}; expected one of {', '.join(EXERCISES)}")
        self._exercise = name

    def set_depth_target(self, deg: float | None) -> None:
        if deg is not None:
            try:
                deg = float(deg)
            except (TypeError, ValueError):
                raise ValueError(f"depth target must be a number of degrees, got {deg!r}") from None
            if not math.isfinite(deg) or not (0.0 < deg <= 90.0):
                raise ValueError(f"depth target must be between 0 and 90 degrees, got {deg!r}")
        self._depth_target = deg

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if mode != self._mode:
            # counting and the test never share a swing: each starts afresh from here
            self._tracker.reset()
            self._pending = None
            self._unused = []
        self._mode = mode
        self._ktw_peak = self._ktw_short = None

    def set_leg(self, leg: str | None) -> None:
        leg = leg or "unknown"
        if leg not in ("left", "right", "unknown"):
            raise ValueError(f"leg must be 'left' or 'right', got {leg!r}")
        self._leg = leg

    def start_calibration(self) -> None:
        """Forget the mount; the next quiet stance + knee-forward movement re-learns it and
        a MountEvent(reason="manual") reports it."""
        k = self._k
        k[K.SL:K.SL + 6] = 0.0
        k[K.SS:K.SS + 6] = 0.0
        k[K.MT_L] = 0.0
        k[K.MT_S] = 0.0
        k[K.LEARNED] = 0.0
        k[K.P:K.P + 3] = k[K.R:K.R + 3]
        k[K.PS:K.PS + 3] = k[K.R:K.R + 3]
        self._calibrating = True
        self._learned = False
        self._up_stand = self._up_stand0 = None
        self._up_sum[:] = 0.0
        self._t0 = None

    def _load_mount(self, d: dict) -> None:
        m = Mount.from_dict(d)
        r = np.asarray(m.right_axis, dtype=np.float64)
        self._k[K.R:K.R + 3] = r
        self._k[K.P:K.P + 3] = r
        self._k[K.PS:K.PS + 3] = r
        self._k[K.LEARNED] = 1.0
        self._r_evt = r.copy()
        self._learned = True
        if m.up_stand is not None:
            self._up_stand = self._up_stand0 = np.asarray(m.up_stand, dtype=np.float64)
        if m.leg != "unknown":
            self._leg = m.leg
        self._mount_source = "saved"

    def mount_dict(self) -> dict:
        r = self._k[K.R:K.R + 3]
        up = None if self._up_stand is None else tuple(float(x) for x in self._up_stand)
        return Mount(tuple(float(x) for x in r), up, self._leg, self._mount_source).to_dict()

    @property
    def gyro_scale(self) -> float:
        """The multiplier the fusion applies to the gyro (learned; 1.0 until shown otherwise)."""
        return self._fusion.gyro_scale

    @property
    def gyro_bias_dps(self) -> np.ndarray:
        """The fusion's current gyro bias estimate, sensor frame (deg/s)."""
        return self._fusion.gyro_bias_dps

    def gyro_scale_evidence(self) -> dict:
        return self._fusion.gyro_scale_evidence()

    def seed_gyro_scale(self, evidence: dict) -> None:
        """Start from an earlier run's gyro scale evidence (ValueError if it is malformed)."""
        self._fusion.seed_gyro_scale(evidence)

    @property
    def accel_offset_g(self) -> np.ndarray:
        """The accelerometer offset the fusion learned from held poses (g, sensor frame)."""
        return self._fusion.accel_offset_g

    def accel_calibration_evidence(self) -> dict:
        return self._fusion.accel_calibration_evidence()

    def seed_accel_calibration(self, evidence: dict) -> None:
        """Start from an earlier run's held poses (ValueError if the evidence is malformed)."""
        self._fusion.seed_accel_calibration(evidence)

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def stand_angle_deg(self) -> float | None:
        if self._up_stand is None:
            return None
        return tibial_angle_deg(self._up_stand, self._r_evt)

    def knee_to_wall_summary(self) -> dict:
        left = self._ktw.get("left")
        right = self._ktw.get("right")
        asym = None if left is None or right is None else round(left - right, 2)
        return {"left": left, "right": right, "unknown": self._ktw.get("unknown"),
                "asymmetry_deg": asym}

    # ---- streaming -----------------------------------------------------------------------------
    def process(self, block: ImuBlock) -> EngineOutput:
        n = len(block)
        if n == 0:
            z = np.zeros(0)
            return EngineOutput(z, z.copy(), z.copy(), [], np.zeros((0, 3)))
        fo = self._fusion.update(block.t_s, block.accel_g, block.gyro_dps)
        t = np.ascontiguousarray(block.t_s, dtype=np.float64)
        acc = np.ascontiguousarray(block.accel_g, dtype=np.float64)
        ang = np.empty(n)
        fro = np.empty(n)
        rate = np.empty(n)
        ev = np.empty((5 * n + 8, K.E_NCOL))  # a sample can emit up to 5 rows
        ne = K.engine_chunk(t, fo.up, fo.gyro_dps, acc, self._k, self._cfg, ang, fro, rate, ev)
        self._stand_reference(t, fo.up)
        events: list = []
        j = 0  # samples before j have been through the re-stand scan
        for i in range(ne):
            row = ev[i]
            # rows in time order; the scan catches up to each row's sample first, so a
            # re-learned reference applies from the same sample however the stream is chunked
            j = self._restand_upto(t, ang, fo, j, float(row[K.E_TCONF]))
            if row[K.E_KIND] == 0.0:
                events.extend(self._on_mount(row))
            else:
                # the axis as it was at this row (it is refined continuously in the kernel)
                self._r_evt = row[K.E_R:K.E_R + 3].copy()
                events.extend(self._on_extreme(Extreme.from_row(row)))
        self._restand_upto(t, ang, fo, j, math.inf)
        t_end = float(t[-1])
        events.extend(self._check_rest(t_end))
        moving = np.flatnonzero(np.abs(rate) > 20.0)
        if moving.size:
            self._last_motion_t = float(t[moving[-1]])
        self._update_state(t_end, float(ang[-1]), float(fro[-1]))
        return EngineOutput(t, ang, fro, events, fo.up)

    def process_gap(self, gap: Gap) -> list:
        events: list = [GapEvent(float(gap.start_s), float(gap.duration_s), int(gap.samples_lost),
                                 str(gap.reason))]
        # Nothing to reset here: the fusion and the engine's filters restart by themselves
        # when the next sample comes more than gap_s later; across a shorter gap the gyro
        # simply integrates the longer step (restarting from one accelerometer sample in
        # the middle of a rep would put the angle tens of degrees off).
        end = float(gap.start_s) + float(gap.duration_s)
        events.extend(self._check_rest(end))
        return events

    def finish(self) -> list:
        self._pending = None  # the stream ended before its hold was known: not counted
        events = self._close_set()
        for x in self._ktw_wait:  # never calibrated: report with the nominal mount
            events.extend(self._ktw_event(x))
        self._ktw_wait = []
        self._update_state(self._state.t_s, self._state.tibial_angle_deg,
                           self._state.frontal_angle_deg)
        return events

    # ---- internals ---------------------------------------------------------------------------
    def _stand_reference(self, t: np.ndarray, up: np.ndarray) -> None:
        if self._up_stand is not None:
            return
        if self._t0 is None:
            self._t0 = float(t[0])
        sel = (t < self._t0 + self.settings.stand_window_s) & np.all(np.isfinite(up), axis=1)
        if np.any(sel):
            self._up_sum += up[sel].sum(axis=0)
        if t[-1] >= self._t0 + self.settings.stand_window_s and np.linalg.norm(self._up_sum) > 0:
            self._up_stand = self._up_stand0 = self._up_sum / np.linalg.norm(self._up_sum)

    def _restand_upto(self, t: np.ndarray, ang: np.ndarray, fo, j: int, t_to: float) -> int:
        """Run the re-stand scan over this block's samples from j up to time t_to; returns
        the next index to scan."""
        k = int(np.searchsorted(t, t_to, side="right")) if math.isfinite(t_to) else len(t)
        if k <= j:
            return j
        if self._up_stand0 is None or self._mode != "reps":
            self._rs[K.RS_ON] = 0.0
            return k
        # Scan only from when the data fix it, however the stream is chunked: after the first
        # stance (the reference exists from then on; a saved one from the start), and out of
        # any set - which is closed at a block's end but over by rest from a time the turning
        # points fix.
        j0 = j
        if self._t0 is not None:
            j0 = max(j0, int(np.searchsorted(t, self._t0 + self.settings.stand_window_s, side="left")))
        if self._open is not None:
            j0 = max(j0, int(np.searchsorted(t, self._set_closes_at(), side="right")))
        if j0 > j:
            self._rs[K.RS_ON] = 0.0  # a stance is only taken whole
            j = j0
        s = self.settings
        ref = tibial_angle_deg(self._up_stand0, self._r_evt)
        while j < k:
            i = K.restand_scan(t, ang, fo.up, j, k, self._rs, s.restand_still_s, s.restand_band_deg,
                               s.restand_tol_deg, ref, s.fusion.gap_s)
            if i < 0:
                break
            # ... and near the current reference too, or close to the first stance (see
            # EngineSettings.restand_tol_deg: a chair after a strap re-tilt)
            mean = self._rs[K.RS_ANG] / self._rs[K.RS_N]
            if abs(mean - tibial_angle_deg(self._up_stand, self._r_evt)) <= s.restand_tol_deg \
                    or abs(mean - ref) <= 0.5 * s.restand_tol_deg:
                u = self._rs[K.RS_UP:K.RS_UP + 3]
                self._up_stand = u / np.linalg.norm(u)
            self._rs[K.RS_ON] = 0.0  # the next stance starts afresh
            j = i + 1
        return k

    def _on_mount(self, row: np.ndarray) -> list:
        r = np.array([row[K.E_V], row[K.E_RAW], row[K.E_FRONT]])
        if row[K.E_HOW] == 0.0:
            reason = "manual" if self._calibrating else "initial"
            if self._calibrating:
                self._mount_source = "manual"
            self._calibrating = False
        else:
            reason = "readjusted"
            self._mount_source = "auto"
            if row[K.E_HOW] == 2.0 and self._up_stand is not None:
                # the enclosure was turned by psi about its X axis: the standing gravity
                # direction in sensor coordinates turned by -psi, like the lateral axis
                a = -math.radians(float(row[K.E_H]))
                c, sn = math.cos(a), math.sin(a)
                rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -sn], [0.0, sn, c]])
                self._up_stand = rot @ self._up_stand
                self._up_stand0 = rot @ self._up_stand0
        self._r_evt = r.copy()
        self._learned = True
        self._mount_t_s = float(row[K.E_T])
        # turning points already seen were projected with the old axis
        self._tracker.reproject(r)
        if self._open is not None and self._open.base is not None:
            self._open.base.reproject(r)  # (idempotent: the tracker may hold it too)
        out = [MountEvent(float(row[K.E_T]), reason, round(rotation_about_shin_deg(r), 2), self._leg)]
        for x in self._ktw_wait:
            x.reproject(r)
            out.extend(self._ktw_event(x))
        self._ktw_wait = []
        return out

    def _resolve_pending(self, e: Extreme) -> list:
        """Settle a stride-like candidate: held at its end for step_hold_s = a step rep."""
        c = self._pending
        if c is None:
            return []
        # the kernel reports (how = 3) an extreme still held step_hold_s after its arrival;
        # leaving it first (or anything else) means it moved straight on
        if e.kind == c.end.kind and e.how == 1:
            return []  # settled again a little further on: still at the end position
        held = e.kind == c.end.kind and e.how == 3
        self._pending = None
        if held:
            c.end.t_conf = e.t_conf
        return self._on_candidate(c, held=held)

    def _on_extreme(self, e: Extreme) -> list:
        out: list = []

        out.extend(self._resolve_pending(e))
        out.extend(self._check_rest(e.t_conf))
        if self._mode == "knee_to_wall":
            out.extend(self._ktw_feed(e))
            return out
        c = self._tracker.feed(e)
        if c is not None:
            out.extend(self._on_candidate(c))
        return out

    def _on_candidate(self, c: Candidate, held: bool | None = None) -> list:
        cs = self.settings.counting
        out: list = []
        kind = self._kind(c)
        op = self._open
        in_set = op is not None and c.start_s - op.last_end_s <= self._rest_gap_s(op.exercise)
        in_squat_set = in_set and op.exercise == "squat"
        if in_set and op.exercise == "backward_walk" and kind in ("walk", "squat") and stride_like(c, cs):
            # a stride of a walk in progress may be a little less lopsided than a first one
            kind = "backward_walk"
        elif (kind == "squat" and self._gait_like(c) and self._exercise != "squat" and not in_squat_set) \
                or (kind == "walk" and self._exercise in (None, "squat") and self._starts_like_a_step(c)):
            # Fast and short like a stride: a step-up/down stops on the step, walking goes
            # straight on. Decide once the end position has been held (or left) long enough.
            # (Also a swing called walking only for leaning behind standing like a heel
            # strike, which started standing still: a strap re-tilted since the standing
            # reference was taken makes standing on a step read that way.)
            if held is None:
                self._pending = c
                return out
            if not held:
                kind = "walk"
            elif c.start_s - self._last_walk_end_s < cs.walk_continue_s:
                return out  # straight after a stride: the end of the walk, not a rep
            elif not self._started_still(c):
                # a step rep starts from standing still too; the last stride of a walk
                # starts from a heel strike
                kind = "walk"
            else:
                kind = "squat"
        if op is not None and not in_set:
            out.extend(self._close_set())
            op = None
        if kind == "walk":
            self._last_walk_end_s = c.end_s
        if op is not None:
            if kind == "walk":
                # walking away (forward gait) ends the set; it never counts
                out.extend(self._close_set())
                return out
            typical = float(np.median(op.roms))
            if len(op.reps) <= cs.grow_reps and kind == op.exercise:
                # a set's first rep or two may be shallow tries: a full rep after them, which
                # would start a set by itself, continues this one rather than being lost
                typical = max(typical, c.rom / cs.in_set_max_frac)
            if fits_set(c, op.exercise, op.s, typical, cs, op.base_angle) and (
                    kind is None or kind == op.exercise or self._exercise is not None
                    or self._paced_like_set(op, c)) \
                    and self._in_rhythm(op, c, typical):
                out.append(self._add_rep(op, c))
                return out
            if kind is None or kind == op.exercise:
                return out
            out.extend(self._close_set())
        if kind is None or kind == "walk":
            # kept in case a set starts right after it (a forward-looking "walk" may be
            # a backward walk's first stride, leaning in from standing)
            if kind is None or stride_like(c, cs):
                self._unused = self._unused[-(cs.lookback_reps - 1):] + [c]
            else:
                self._unused = []
            return out
        variant = squat_variant(c, self.stand_angle_deg) if kind == "squat" else None
        self._open = _OpenSet(kind, variant, c.s, self._n_sets)
        self._n_sets += 1
        # The swings just before, from where each next one started, were this set's first
        # reps (partial ones, too shallow to start a set on their own; a first stride less
        # lopsided than the rest): count them now that the set is known - reported late,
        # together with this rep.
        back, nxt = [], c
        for r in reversed(self._unused):
            if not self._set_lead_in(r, nxt, c, kind, first=not back):
                break
            back.append(r)
            nxt = r
        self._unused = []
        for r in reversed(back):
            rep = self._add_rep(self._open, r)
            rep = replace(rep, detected_s=round(max(rep.detected_s, c.detected_s), 3))
            self._open.reps[-1] = rep
            out.append(rep)
        out.append(self._add_rep(self._open, c))
        return out

    def _in_rhythm(self, op: _OpenSet, c: Candidate, typical: float) -> bool:
        """Reps of a set look alike in time: a peak held far longer than any rep held
        its peak is a posture, and a shallow (partial-sized) swing counts only in the set's
        rhythm - after a pause longer than the set's usual one it is fidgeting in the rest."""
        cs = self.settings.counting
        if c.peak_hold_s > cs.set_hold_factor * max(max(op.holds), cs.set_hold_floor_s) + cs.set_hold_slack_s:
            return False
        # ... and lasting about as long (sitting down on a bench after the last rep is slow)
        if c.duration > cs.set_dur_factor * max(op.durations) + cs.set_hold_slack_s:
            return False
        # ... and in pace (fastest rate per degree of ROM, 1/s): a stride-fast swing after
        # slow reps is walking off
        rates = [r for r in op.rates if math.isfinite(r)]
        if rates and max(c.rpos, c.rneg) / max(c.rom, 1.0) > cs.set_pace_factor * max(rates):
            return False
        gaps = op.gaps or [cs.set_gap_default_s]
        if c.start_s - op.last_end_s > max(cs.set_gap_min_s, cs.set_gap_factor * float(np.median(gaps))):
            # resuming after a pause longer than the set's usual one: a shallow swing is
            # fidgeting in the rest, and a swing going out far quicker than the set's reps
            # did is walking off (a first stride), not the next rep
            if c.rom < cs.partial_frac * typical:
                return False
            out_rates = [r for r in op.out_rates if math.isfinite(r)]
            if out_rates and c.out_rate / max(c.rom, 1.0) > cs.resume_pace_factor * float(np.median(out_rates)):
                return False
        return True

    def _set_lead_in(self, r: Candidate, nxt: Candidate, c: Candidate, kind: str,
                     first: bool) -> bool:
        """Was swing ``r``, which ended just before ``nxt`` started, a lead-in rep of the set
        that ``c`` starts? It fits the set from where ``nxt`` started, and its peak was not
        held far longer than c's (that is standing still before the set, seen through a
        not yet learned mount). Further back than one swing it must also look like c: a
        shallow first try is one swing, a run of them is reps done alike."""
        cs = self.settings.counting
        ok = (r.s == c.s and 0.0 <= nxt.start_s - r.end_s <= cs.first_rep_lookback_s
              and fits_set(r, kind, c.s, c.rom, cs, nxt.start.v)
              and r.peak_hold_s <= cs.set_hold_factor * max(c.peak_hold_s, cs.set_hold_floor_s)
              and (kind in ("squat", "tib_raise")
                   or (kind == "backward_walk" and stride_like(r, cs))))
        if ok and not first:
            ok = r.rom >= cs.lookback_rom_frac * c.rom \
                and 1.0 / cs.lookback_dur_factor <= r.duration / c.duration <= cs.lookback_dur_factor
        return ok

    def _paced_like_set(self, op: _OpenSet, c: Candidate) -> bool:
        """A swing that alone would look like another exercise, but as long and as quick per
        degree as the set's own reps, is the set's next rep (a squat dropping a little
        quicker than it rises is no first backward stride: strides are shorter and quicker
        than any squat rep)."""
        cs = self.settings.counting
        rates = [r for r in op.rates if math.isfinite(r)]
        return bool(rates) \
            and c.duration >= cs.paced_dur_frac * float(np.median(op.durations)) \
            and max(c.rpos, c.rneg) / max(c.rom, 1.0) \
            <= cs.paced_rate_factor * float(np.median(rates))

    def _started_still(self, c: Candidate) -> bool:
        """Its start was a held position (at least step_hold_s), not a turn in motion."""
        return not (c.start.how == 0
                    and c.start.t_last - c.start.t_first < self.settings.counting.step_hold_s)

    def _starts_like_a_step(self, c: Candidate) -> bool:
        """A squat-family swing (a step rep) but for where it starts or ends against the
        standing reference, and starting from standing still."""
        return self._started_still(c) and classify(
            c, self.stand_angle_deg, self.settings.counting, heel_walk=False) == "squat"

    def _gait_like(self, c: Candidate) -> bool:
        cs = self.settings.counting
        return (c.rom >= cs.gait_min_rom_deg and c.duration <= cs.walk_max_s
                and max(c.rpos, c.rneg) >= cs.walk_min_rate_dps
                and turns_without_stopping(c, cs))

    def _kind(self, c: Candidate) -> str | None:
        """Exercise of a candidate that would start a set (forced exercise respected)."""
        stand = self.stand_angle_deg
        k = classify(c, stand, self.settings.counting)
        if self._exercise is None:
            return k
        ex = self._exercise
        if k == ex or k == "walk":
            return k
        cs = self.settings.counting
        if ex == "squat" and c.s > 0 and c.rom >= cs.squat_min_rom_deg * 0.75 \
                and cs.squat_min_s * 0.5 <= c.duration <= cs.squat_max_s and k != "walk":
            return ex
        if ex == "tib_raise" and cs.tib_min_rom_deg <= c.rom <= cs.tib_max_rom_deg * 1.5 \
                and c.duration <= cs.tib_max_s and (c.start.how == 1
                                                    or c.start.t_last - c.start.t_first >= 0.4):
            return ex
        if ex == "backward_walk" and c.s > 0 and c.rom >= cs.gait_min_rom_deg * 0.75 \
                and c.duration <= cs.gait_max_s * 1.5:
            return ex
        return None

    def _add_rep(self, op: _OpenSet, c: Candidate) -> RepEvent:
        if op.reps:
            op.gaps.append(max(0.0, c.start_s - op.last_end_s))
        op.roms.append(abs(c.peak.raw - c.start.v))
        op.holds.append(c.peak_hold_s)
        # rates of a rep during which the mount was (re)learned were measured about the old
        # axis, part of them not at all: no measure of the set's pace
        sure = not (c.start_s <= self._mount_t_s <= c.end_s)
        op.rates.append(max(c.rpos, c.rneg) / max(c.rom, 1.0) if sure else math.nan)
        op.out_rates.append(c.out_rate / max(c.rom, 1.0) if sure else math.nan)
        op.durations.append(c.duration)
        op.last_end_s = c.end_s
        op.base = c.end
        typical = float(np.median(op.roms))
        rep = self._rep_event(op, c, len(op.reps) + 1, typical)
        op.reps.append(rep)
        return rep

    def _partial(self, exercise: str, rom: float, start: float, typical: float) -> bool:
        frac = self.settings.counting.partial_frac
        if rom < frac * typical:
            return True
        tgt = self._depth_target
        if tgt is not None:
            # squat/stride: the target is the bottom angle; tibialis raise: the raise itself
            target_rom = tgt if exercise == "tib_raise" else tgt - start
            if target_rom > 0 and rom < frac * target_rom:
                return True
        return False

    def _rep_event(self, op: _OpenSet, c: Candidate, idx: int, typical: float) -> RepEvent:
        start_s = c.start_s
        end_s = max(c.end_s, start_s)
        t_bot0 = min(max(c.peak.t_first, start_s), end_s)
        t_bot1 = min(max(c.peak.t_last, t_bot0), end_s)
        peak = c.peak.raw  # the unfiltered angle: the low-pass would shave fast peaks
        rom = abs(peak - c.start.v)
        return RepEvent(
            exercise=op.exercise, variant=op.variant, set_index=op.index, rep_index=idx,
            start_s=round(start_s, 3), end_s=round(end_s, 3), peak_angle_deg=round(peak, 2),
            rom_deg=round(rom, 2), eccentric_s=round(t_bot0 - start_s, 3),
            pause_s=round(t_bot1 - t_bot0, 3), concentric_s=round(end_s - t_bot1, 3),
            tut_s=round(end_s - start_s, 3), peak_frontal_deg=round(c.wobble, 2),
            partial=self._partial(op.exercise, rom, c.start.v, typical), detected_s=round(c.detected_s, 3),
        )

    def _set_closes_at(self) -> float:
        """The open set is over by rest at any time after this (given the turning points seen
        so far; it changes only when one arrives). The rest lasts until the next movement
        starts, not until it is recognised: a slow paused rep (3 s down, 3 s hold, 2 s up) is
        not a rest before its own end. A swing out that never comes back stops holding the
        set open after max_rep_s."""
        op = self._open
        t_close = op.last_end_s + self._rest_gap_s(op.exercise)
        t0 = self._tracker.swing_started_s()
        if t0 is not None and t0 <= t_close:
            t_close = max(t_close, t0 + self._tracker.max_rep_s)
        return t_close

    def _check_rest(self, t_now: float) -> list:
        if self._open is not None and t_now > self._set_closes_at():
            return self._close_set()
        return []

    def _rest_gap_s(self, exercise: str) -> float:
        return self.settings.counting.rest_gap_s.get(exercise, 8.0)

    def _close_set(self) -> list:
        op = self._open
        self._open = None
        if op is None or not op.reps:
            return []
        typical = float(np.median(op.roms))
        reps = tuple(replace(r, partial=self._partial(op.exercise, r.rom_deg,
                                                      r.peak_angle_deg - r.rom_deg, typical))
                     for r in op.reps)
        m = set_metrics(reps)
        return [SetEvent(op.exercise, op.variant, op.index, reps[0].start_s, reps[-1].end_s, reps,
                         m["mean_peak_deg"], m["max_peak_deg"], m["tempo_cv"])]

    def _ktw_feed(self, e: Extreme) -> list:
        """Knee-to-wall: a held forward maximum (lunge to the wall) is one measurement."""
        ks = self.settings
        if e.kind == -1:
            # on the way down: a hold that looked short because the knee dipped a little
            # while at the wall is timed to when the angle really left it (the valley's table
            # says when it was last within ktw_band_deg of the held maximum)
            x = self._ktw_short
            if x is None or e.v > x.v - ks.ktw_band_deg:
                return []
            self._ktw_short = None
            t_end = e.departure(x.v - ks.ktw_band_deg)
            if not (x.t_last < t_end <= e.t_first) or t_end - x.t_first < ks.ktw_min_hold_s:
                return []
            return self._ktw_measured(replace(x, t_last=t_end))
        if e.how == 1:
            prev = self._ktw_peak or self._ktw_short
            if prev is not None and abs(e.v - prev.v) <= ks.ktw_creep_deg:
                # a held lunge creeping a little deeper (or back after a dip) is one hold,
                # timed from its start
                e = replace(e, t_first=prev.t_first)
            self._ktw_peak = e
            self._ktw_short = None
            return []
        held = self._ktw_peak
        # leaving it: after it settled (how 2) - or after it crept on a little past the settled
        # level and was left before settling again (how 0)
        if e.how in (0, 2) and held is not None:
            held.t_last = e.t_last
            self._ktw_peak = None
            if held.t_last - held.t_first < ks.ktw_min_hold_s:
                self._ktw_short = held
                return []
            return self._ktw_measured(held)
        return []

    def _ktw_measured(self, held: Extreme) -> list:
        if not self._learned:
            # the sagittal plane is not known yet: report it once the mount is learned
            # (re-projected from its up vector)
            self._ktw_wait.append(held)
            return []
        return self._ktw_event(held)

    def _ktw_event(self, x: Extreme) -> list:
        stand = self.stand_angle_deg or 0.0
        if x.raw - stand < self.settings.ktw_min_angle_deg:
            return []
        leg = self._leg
        ang = round(float(x.raw), 2)
        prev = self._ktw.get(leg)
        self._ktw[leg] = ang if prev is None else max(prev, ang)
        return [KneeToWallEvent(round(x.t_last, 3), leg, ang, round(x.t_last - x.t_first, 3))]

    def _update_state(self, t: float, ang: float, fro: float) -> None:
        st = self._state
        st.t_s = t
        st.tibial_angle_deg = ang
        st.frontal_angle_deg = fro
        op = self._open
        if self._mode == "knee_to_wall":
            st.activity = "test"
        elif op is not None:
            st.activity = "in_set"
        elif t - self._last_motion_t < 1.0:
            st.activity = "moving"
        else:
            st.activity = "idle"
        st.exercise = op.exercise if op is not None else self._exercise
        st.set_index = op.index if op is not None else None
        st.reps_in_set = len(op.reps) if op is not None else 0
        st.calibrated = bool(self._k[K.LEARNED] > 0.0)
        st.extra = {"mode": self._mode, "variant": op.variant if op is not None else None,
                    "stand_angle_deg": self.stand_angle_deg, "leg": self._leg}


def run_file(blocks, settings: EngineSettings | None = None, exercise: str | None = None,
             mount: dict | None = None, on_output=None):
    """Run the engine over an iterable of ImuBlocks; returns (events, engine).

    ``on_output(EngineOutput)`` receives each block's output (angle series, up vectors) so
    nothing whole-file is kept here.
    """
    eng = MotionEngine(settings, exercise=exercise, mount=mount)
    events: list = []
    for b in blocks:
        out = eng.process(b)
        events.extend(out.events)
        if on_output is not None:
            on_output(out)
    events.extend(eng.finish())
    return events, eng
