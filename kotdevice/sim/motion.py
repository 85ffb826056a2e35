"""The athlete: shin pose trajectories for exercises and between-set activities.

Everything is built on a fine, even time grid (FINE_HZ) as the shin's sagittal angle theta,
frontal angle phi, axial rotation psi, the ankle position, a jitter-intensity envelope and a
list of foot/hand contacts. Pure numpy; the rigid-body physics is in ``geometry``.

Each generator starts from the track's current pose and returns to a standing-like pose, with
zero velocity and acceleration at the joins (minimum-jerk ramps), so segments chain smoothly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FINE_HZ = 1000.0

# Tempo presets for squat-like reps: (eccentric, bottom pause, concentric, top pause) seconds.
# "quick" = self-paced reps of 1.9–2.7 s start to start (REAL-SIGNALS §3).
SQUAT_TEMPOS = {
    "quick": (0.95, 0.08, 0.72, 0.35),
    "normal": (1.4, 0.3, 1.0, 0.7),
    "slow": (3.0, 0.8, 1.5, 1.0),
    "pause": (1.5, 2.0, 1.0, 0.8),
}
# Tibialis raise: (raise, hold at top, lower, rest on the floor)
TIB_TEMPOS = {
    "quick": (0.4, 0.1, 0.45, 0.35),
    "normal": (0.6, 0.4, 0.8, 0.6),
    "slow": (1.0, 1.0, 2.2, 0.8),
    "pause": (0.6, 2.0, 0.9, 0.6),
}
TEMPOS = tuple(SQUAT_TEMPOS)

# Squat variants: start pose above standing (deg), default bottom angle above standing (deg),
# concentric speed factor (<1 = faster push up), jitter intensity, contact at the bottom.
SQUAT_VARIANTS = {
    "bodyweight": dict(base=0.0, depth=28.0, conc=1.0, inten=1.0, tap=None),
    "deep": dict(base=0.0, depth=36.0, conc=1.0, inten=1.0, tap=None),
    "heel_elevated": dict(base=9.0, depth=38.0, conc=1.0, inten=1.0, tap=None),
    "split_squat": dict(base=8.0, depth=35.0, conc=1.0, inten=1.2, tap=None),
    "step_up": dict(base=8.0, depth=37.0, conc=0.34, inten=1.6, tap="tap"),
    "step_down": dict(base=0.0, depth=33.0, conc=0.30, inten=1.7, tap="tap"),
}
WALK_VARIANTS = ("walk", "sled_drag")
REST_ACTIVITIES = ("stand", "walk", "sit_stand", "fidget", "strap_adjust")


def min_jerk(tau: np.ndarray) -> np.ndarray:
    return tau**3 * (10 - 15 * tau + 6 * tau**2)


@dataclass
class Track:
    """Accumulates the fine-grid trajectories and the ground-truth annotations."""

    rng: np.random.Generator
    leg: str  # "left" | "right"
    stand_theta: float
    stand_phi: float
    mount: tuple[float, float, float]  # (rot about X, sagittal tilt, frontal tilt) deg
    fs: float = FINE_HZ
    theta: list = field(default_factory=list)
    phi: list = field(default_factory=list)
    psi: list = field(default_factory=list)
    ankle: list = field(default_factory=list)
    inten: list = field(default_factory=list)
    mounts: list = field(default_factory=list)
    contacts: list = field(default_factory=list)  # (t_s, kind, scale)
    sets: list = field(default_factory=list)
    rests: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    mount_changes: list = field(default_factory=list)
    n: int = 0
    # multipliers on the drawn knee valgus and tibial rotation coupling (1 = as drawn; 0 turns
    # a coupling off without changing any other draw, to measure what it costs)
    valgus_scale: float = 1.0
    rotation_scale: float = 1.0

    def __post_init__(self):
        self.cur_theta = self.stand_theta
        self.cur_phi = self.stand_phi
        self.cur_psi = 0.0
        self.cur_ankle = np.array([0.0, 0.0, 0.0])
        self.cur_mount = np.array(self.mount, float)

    @property
    def side(self) -> float:
        return 1.0 if self.leg == "right" else -1.0

    @property
    def t(self) -> float:
        return self.n / self.fs

    def _ns(self, dur_s: float) -> int:
        return max(1, int(round(dur_s * self.fs)))

    # -- primitives -------------------------------------------------------------------------
    def add(self, theta, inten, *, phi=None, psi=None, ankle=None, mount=None,
            valgus=0.0, rot=0.0):
        """Append samples. Without explicit phi/psi they follow theta: the knee drifts medially
        (valgus, deg per deg of theta) and the tibia rotates internally (rot) as it flexes."""
        theta = np.asarray(theta, float)
        m = theta.shape[0]
        d = theta - self.cur_theta
        if phi is None:
            phi = self.cur_phi - self.side * valgus * self.valgus_scale * d  # medial = toward the other leg
        if psi is None:
            psi = self.cur_psi + self.side * rot * self.rotation_scale * d
        phi = np.broadcast_to(np.asarray(phi, float), (m,))
        psi = np.broadcast_to(np.asarray(psi, float), (m,))
        if ankle is None:
            ankle = np.broadcast_to(self.cur_ankle, (m, 3))
        if mount is None:
            mount = np.broadcast_to(self.cur_mount, (m, 3))
        self.theta.append(theta)
        self.phi.append(np.array(phi))
        self.psi.append(np.array(psi))
        self.ankle.append(np.array(ankle))
        self.mounts.append(np.array(mount))
        self.inten.append(np.broadcast_to(np.asarray(inten, float), (m,)).copy())
        self.cur_theta, self.cur_phi, self.cur_psi = float(theta[-1]), float(phi[-1]), float(psi[-1])
        self.cur_ankle = np.array(ankle[-1], float)
        self.cur_mount = np.array(mount[-1], float)
        self.n += m

    def ramp(self, target: float, dur_s: float, inten: float, **kw):
        m = self._ns(dur_s)
        tau = np.arange(1, m + 1) / m
        self.add(self.cur_theta + (target - self.cur_theta) * min_jerk(tau), inten, **kw)

    def hold(self, dur_s: float, inten: float = 0.05):
        self.add(np.full(self._ns(dur_s), self.cur_theta), inten)

    def move_pose(self, theta: float, phi: float, psi: float, dur_s: float, inten: float = 0.4):
        """Smooth move of all three angles (getting into / out of position)."""
        m = self._ns(dur_s)
        s = min_jerk(np.arange(1, m + 1) / m)
        self.add(
            self.cur_theta + (theta - self.cur_theta) * s, inten,
            phi=self.cur_phi + (phi - self.cur_phi) * s,
            psi=self.cur_psi + (psi - self.cur_psi) * s,
        )

    def to_stand(self, dur_s: float = 1.2, inten: float = 0.3):
        self.move_pose(self.stand_theta, self.stand_phi, 0.0, dur_s, inten)

    def contact(self, kind: str, scale: float = 1.0, at_s: float | None = None):
        self.contacts.append((self.t if at_s is None else at_s, kind, scale))

    def arrays(self):
        cat = np.concatenate
        return (cat(self.theta), cat(self.phi), cat(self.psi), cat(self.ankle), cat(self.inten), cat(self.mounts))


# ---- exercises ------------------------------------------------------------------------------

def _rep_factors(rng, reps: int, partials: int, fatigue: float):
    """Per-rep depth and duration multipliers: ~5 % depth (capped at 13 %) and ~4 % duration
    variation (REAL-SIGNALS §12), fatigue that slows and shallows late reps, and partial reps
    at 30–60 % of the typical ROM, preferably late in the set."""
    depth = np.clip(rng.normal(1.0, 0.05, reps), 0.87, 1.13)
    dur = np.clip(rng.normal(1.0, 0.04, reps), 0.9, 1.1)
    prog = np.arange(reps) / max(1, reps - 1)
    depth *= 1 - 0.06 * fatigue * prog
    conc_slow = 1 + 0.4 * fatigue * prog**1.5
    partial = np.zeros(reps, bool)
    partials = min(partials, max(0, reps - 2))
    if partials:
        w = 0.5 + prog
        idx = rng.choice(reps, size=partials, replace=False, p=w / w.sum())
        partial[idx] = True
        depth[idx] = rng.uniform(0.3, 0.6, partials)
    return depth, dur, conc_slow, partial


def squat_set(tr: Track, variant: str, reps: int, tempo: str, depth_deg: float | None,
              partials: int, fatigue: float) -> dict:
    rng = tr.rng
    v = SQUAT_VARIANTS[variant]
    base = tr.stand_theta + v["base"] + rng.normal(0, 1.0)
    peak = depth_deg if depth_deg is not None else tr.stand_theta + v["depth"] + rng.normal(0, 3.0)
    if peak <= base + 5:
        from kotdevice.errors import KotError
        raise KotError(f"depth_deg={peak:.1f} is not deeper than the {variant} start pose ({base:.1f} deg)")
    te, tb, tc, tt = SQUAT_TEMPOS[tempo]
    if variant in ("step_up", "step_down"):
        # violent: the push back up (~200 dps) is about twice as fast as the descent whatever
        # the tempo; slow tempos only lengthen the lowering and the pause (REAL-SIGNALS §9)
        te = 0.6 * te / SQUAT_TEMPOS["quick"][0] * rng.uniform(0.9, 1.1)
        tc = v["conc"] * rng.uniform(0.9, 1.1)
    else:
        tc *= v["conc"]
    speed = rng.uniform(0.92, 1.08)
    valgus = abs(rng.normal(0.12, 0.06))
    rot = abs(rng.normal(0.12, 0.05))
    tr.move_pose(base, tr.stand_phi + rng.normal(0, 1.5), rng.normal(0, 2), rng.uniform(1.2, 2.0), 0.4)
    tr.hold(rng.uniform(0.6, 1.2), 0.05)
    depth_f, dur_f, conc_slow, partial = _rep_factors(rng, reps, partials, fatigue)
    rep_list = []
    for k in range(reps):
        start = tr.t
        rom = (peak - base) * depth_f[k]
        f = dur_f[k] / speed
        # shallow reps are also quicker
        pf = 0.6 + 0.4 * depth_f[k] if partial[k] else 1.0
        e, b, c = te * f * pf, tb * f, tc * f * pf * conc_slow[k]
        inten = v["inten"] * (1 + 0.4 * fatigue * k / max(1, reps - 1))
        tr.ramp(base + rom, e, inten, valgus=valgus, rot=rot)
        if v["tap"]:
            tr.contact(v["tap"], rng.uniform(0.7, 1.3))
        tr.hold(b, 0.3 * inten)
        tr.ramp(base, c, inten, valgus=valgus, rot=rot)
        rep_list.append(dict(start_s=start, end_s=tr.t, eccentric_s=e, pause_s=b, concentric_s=c,
                             designed_partial=bool(partial[k])))
        if v["tap"] == "tap" and variant == "step_up":
            tr.contact("push", rng.uniform(0.5, 1.0))
        tr.hold(tt * f, 0.08)
    tr.hold(rng.uniform(0.4, 1.0), 0.05)
    tr.to_stand(rng.uniform(1.0, 1.8))
    return dict(exercise="squat", variant=variant, tempo=tempo, depth_target_deg=depth_deg,
                designed_peak_deg=round(float(peak), 2), rep_list=rep_list)


def tib_raise_set(tr: Track, reps: int, tempo: str, depth_deg: float | None, partials: int,
                  fatigue: float) -> dict:
    """Back against a wall, feet forward: the shin leans back and each raise lifts it only
    2–6 deg (the ankle rides back as the foot pivots on the heel), then the forefoot lands."""
    rng = tr.rng
    base = tr.stand_theta - rng.uniform(12, 20)
    rom0 = depth_deg if depth_deg is not None else rng.uniform(3.0, 5.5)
    tu, th, tl, tz = TIB_TEMPOS[tempo]
    tr.move_pose(base, tr.stand_phi + rng.normal(0, 1.0), rng.normal(0, 2), rng.uniform(1.8, 2.6), 0.5)
    tr.hold(rng.uniform(0.8, 1.5), 0.05)
    depth_f, dur_f, conc_slow, partial = _rep_factors(rng, reps, partials, fatigue)
    rep_list = []
    for k in range(reps):
        start = tr.t
        f = dur_f[k]
        u, h, l = tu * f, th * f, tl * f * conc_slow[k]
        tr.ramp(base + rom0 * depth_f[k], u, 0.4, valgus=0.05, rot=0.1)
        tr.hold(h, 0.1)
        tr.ramp(base, l, 0.4, valgus=0.05, rot=0.1)
        end = tr.t
        tr.contact("forefoot", rng.uniform(0.7, 1.3) * (0.5 if tempo == "slow" else 1.0))
        rep_list.append(dict(start_s=start, end_s=end, eccentric_s=u, pause_s=h, concentric_s=l,
                             designed_partial=bool(partial[k])))
        tr.hold(tz * f, 0.05)
    tr.hold(rng.uniform(0.4, 1.0))
    tr.to_stand(rng.uniform(1.5, 2.2), 0.5)
    return dict(exercise="tib_raise", variant=None, tempo=tempo, depth_target_deg=depth_deg,
                rep_list=rep_list)


def _walk(tr: Track, strides: int, direction: float, swing_s: float, stance_s: float,
          th_contact: float, th_off: float, stride_m: float, contact_kind: str,
          inten: float, lift_m: float = 0.02) -> list[tuple[float, float]]:
    """Strides of the sensor leg. Each stride: swing (theta th_off→th_contact, ankle moves by
    direction*stride) then stance (th_contact→th_off, ankle planted). In swing the knee moves
    on a minimum-jerk path and the ankle hangs from it, so the sensor point's acceleration has
    both the knee's travel and the shin's rotation. Returns (swing start, stance end) per stride."""
    rng = tr.rng
    L = 0.42  # ankle-knee length (m)
    side = tr.side
    tr.move_pose(th_off, tr.stand_phi, 0.0, 0.45, inten * 0.5)
    spans = []
    for k in range(strides):
        f = rng.uniform(0.96, 1.04)
        sw, st = swing_s * f, stance_s * f
        a0 = tr.cur_ankle.copy()
        thc = th_contact + rng.normal(0, 1.5)
        m = tr._ns(sw)
        tau = np.arange(1, m + 1) / m
        s = min_jerk(tau)
        theta = tr.cur_theta + (thc - tr.cur_theta) * s
        step = direction * stride_m * rng.uniform(0.92, 1.08)
        knee0 = a0[0] + L * np.sin(np.radians(tr.cur_theta))
        knee1 = a0[0] + step + L * np.sin(np.radians(thc))
        knee_f = knee0 + (knee1 - knee0) * s
        ank = np.zeros((m, 3))
        ank[:, 0] = knee_f - L * np.sin(np.radians(theta))
        ank[:, 1] = a0[1]
        ank[:, 2] = a0[2] + lift_m * 64 * tau**3 * (1 - tau) ** 3
        ank[-1] = [a0[0] + step, a0[1], a0[2]]
        start = tr.t
        tr.add(theta, inten, ankle=ank,
               phi=tr.cur_phi + (tr.stand_phi + side * rng.normal(0, 1.5) - tr.cur_phi) * s,
               psi=tr.cur_psi + (side * rng.normal(3, 1.5) - tr.cur_psi) * s)
        tr.contact(contact_kind, rng.uniform(0.7, 1.3))
        # stance: planted foot, shin rotates over it; the tibia rotates back externally
        tr.ramp(th_off + rng.normal(0, 1.5), st, inten * 0.6, rot=0.08, valgus=0.04)
        spans.append((start, tr.t))
    return spans


def walk_set(tr: Track, variant: str, reps: int, tempo: str, depth_deg: float | None,
             partials: int, fatigue: float) -> dict:
    """Backward walking / sled drag: one rep = one stride of the sensor leg, from the start of
    its swing (foot leaves the ground) to the end of the following stance."""
    rng = tr.rng
    tf = {"quick": 0.85, "normal": 1.0, "slow": 1.3, "pause": 1.15}[tempo]
    if variant == "sled_drag":
        sw, st, thc, tho, stride, inten = 0.55, 0.95, 38.0, 12.0, 0.45, 1.0
    else:
        sw, st, thc, tho, stride, inten = 0.40, 0.62, 32.0, -4.0, 0.5, 0.9
    if depth_deg is not None:
        thc = depth_deg - tr.stand_theta
    spans = _walk(tr, reps, -1.0, sw * tf, st * tf, tr.stand_theta + thc, tr.stand_theta + tho,
                  stride, "toe", inten)
    tr.to_stand(0.8, 0.5)
    tr.hold(rng.uniform(0.5, 1.0))
    rep_list = [dict(start_s=a, end_s=b, eccentric_s=None, pause_s=None, concentric_s=None,
                     designed_partial=False) for a, b in spans]
    return dict(exercise="backward_walk", variant=variant, tempo=tempo, depth_target_deg=depth_deg,
                rep_list=rep_list)


def knee_to_wall(tr: Track, attempts: int) -> dict:
    """Weight-bearing lunge: lunge the knee toward the wall to a held maximum, a few attempts
    (usually creeping deeper as the foot is moved back)."""
    rng = tr.rng
    top = tr.stand_theta + rng.uniform(30, 45)
    tr.move_pose(tr.stand_theta + 8, tr.stand_phi, 0.0, 1.5, 0.4)
    tr.hold(rng.uniform(0.8, 1.5))
    out = []
    for k in range(attempts):
        target = top - (attempts - 1 - k) * rng.uniform(1.5, 4.0)
        start = tr.t
        tr.ramp(target, rng.uniform(1.3, 2.0), 0.8, valgus=0.1, rot=0.05)
        hold_start = tr.t
        hold = rng.uniform(2.0, 4.0)
        # a held maximum still trembles a little
        m = tr._ns(hold)
        wob = 0.4 * np.sin(2 * np.pi * rng.uniform(0.3, 0.7) * np.arange(m) / tr.fs)
        tr.add(target + wob * np.sin(np.pi * np.arange(1, m + 1) / m), 0.2)
        hold_end = tr.t
        tr.ramp(tr.stand_theta + 8, rng.uniform(0.8, 1.2), 0.6, valgus=0.1, rot=0.05)
        out.append(dict(start_s=start, hold_start_s=hold_start, hold_end_s=hold_end, end_s=tr.t,
                        designed_peak_deg=round(float(target), 2)))
        tr.hold(rng.uniform(1.5, 3.0))
    tr.to_stand(1.2)
    return dict(kind="knee_to_wall", leg=tr.leg, attempts=out)


# ---- between sets ---------------------------------------------------------------------------

def rest_activity(tr: Track, kind: str, dur_s: float) -> dict:
    rng = tr.rng
    start = tr.t
    info: dict = {}
    if kind == "stand":
        tr.hold(dur_s, 0.03)
    elif kind == "walk":
        strides = max(2, int(round(dur_s / 1.1)))
        _walk(tr, strides, 1.0, 0.42, 0.68, tr.stand_theta - 10, tr.stand_theta + 38, 0.62, "heel", 0.8)
        # last half step brings the feet together
        tr.to_stand(0.5, 1.0)
        tr.contact("heel", 0.6)
        tr.hold(0.5)
        info["strides"] = strides
    elif kind == "sit_stand":
        # slow and smooth (REAL-SIGNALS §11): seated shin ~10 deg forward, 4–7 deg overshoot
        over = rng.uniform(4, 7)
        seat = tr.stand_theta + rng.uniform(8, 12)
        tr.ramp(seat + over, rng.uniform(1.0, 1.4), 0.25, valgus=0.03)
        tr.ramp(seat, rng.uniform(0.8, 1.2), 0.2)
        sit = max(1.0, dur_s - 6.0)
        tr.hold(sit, 0.04)
        tr.ramp(seat + rng.uniform(4, 7), rng.uniform(0.8, 1.2), 0.25, valgus=0.03)
        tr.ramp(tr.stand_theta, rng.uniform(1.0, 1.4), 0.25)
        tr.to_stand(0.6, 0.1)
        info["seated_s"] = round(sit, 2)
    elif kind == "fidget":
        end = start + dur_s
        while tr.t < end - 1.0:
            what = rng.choice(["shift", "tap", "twist", "bounce"])
            if what == "shift":
                tr.ramp(tr.stand_theta + rng.uniform(-4, 6), rng.uniform(0.4, 1.0), 0.4, valgus=0.2)
                tr.hold(rng.uniform(0.2, 1.0))
                tr.ramp(tr.stand_theta, rng.uniform(0.4, 1.0), 0.4, valgus=0.2)
            elif what == "tap":
                for _ in range(int(rng.integers(2, 5))):
                    tr.ramp(tr.stand_theta - rng.uniform(2, 4), 0.15, 0.5)
                    tr.ramp(tr.stand_theta, 0.15, 0.5)
                    tr.contact("forefoot", rng.uniform(0.5, 1.0))
            elif what == "twist":
                m = tr._ns(rng.uniform(0.6, 1.2))
                s = np.sin(np.pi * np.arange(1, m + 1) / m)
                tr.add(np.full(m, tr.cur_theta), 0.5, psi=tr.cur_psi + rng.uniform(-12, 12) * s,
                       phi=tr.cur_phi + rng.uniform(-3, 3) * s)
            else:  # small knee bounce, shallower and quicker than any rep
                tr.ramp(tr.stand_theta + rng.uniform(3, 6), 0.3, 0.5)
                tr.ramp(tr.stand_theta, 0.3, 0.5)
            tr.hold(rng.uniform(0.3, 1.5))
        tr.hold(max(0.01, end - tr.t))
    elif kind == "strap_adjust":
        # hands grab the enclosure and turn it: a sudden change of the mount rotation
        tr.hold(rng.uniform(0.3, 0.6))
        old = tr.cur_mount.copy()
        new = old.copy()
        new[0] = float(np.clip(old[0] + rng.choice([-1, 1]) * rng.uniform(8, 25), -30, 30))
        new[1] = float(np.clip(old[1] + rng.normal(0, 2.0), -15, 15))
        new[2] = float(np.clip(old[2] + rng.normal(0, 2.0), -17, 17))
        m = tr._ns(rng.uniform(0.4, 0.9))
        s = min_jerk(np.arange(1, m + 1) / m)
        for _ in range(3):
            tr.contact("hand", rng.uniform(0.5, 1.0), at_s=tr.t + rng.uniform(0, m / tr.fs))
        tr.add(np.full(m, tr.cur_theta), 1.0, mount=old + (new - old) * s[:, None])
        tr.mount_changes.append(dict(t_s=round(tr.t, 4), rotation_about_shin_deg=round(float(new[0]), 2),
                                     tilt_sagittal_deg=round(float(new[1]), 2), tilt_frontal_deg=round(float(new[2]), 2)))
        tr.hold(max(0.3, dur_s - (tr.t - start)))
    else:
        from kotdevice.errors import KotError
        raise KotError(f"unknown rest activity {kind!r} (known: {', '.join(REST_ACTIVITIES)})")
    d = dict(kind=kind, start_s=round(start, 4), end_s=round(tr.t, 4))
    d.update(info)
    return d
