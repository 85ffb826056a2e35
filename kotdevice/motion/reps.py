"""From turning points of the tibial angle to rep candidates, and their exercise.

The kernel reports the angle's turning points (a hysteresis relative to the recent swing
size, so jitter inside a rep is ignored) with segment statistics. A *candidate rep* is a
swing away from a start position and back: start extreme -> furthest extreme -> an extreme
that came back most of the way. Shallow intermediate wiggles (a pause in the descent, a
wobble at the bottom) stay inside the rep because the return test is relative to its own
range of motion.

Candidates are tracked in both directions (knee forward = +1, shin back = -1); which one
counts is the exercise's business (``classify``). Pure logic, no I/O, a few calls per rep.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from kotdevice.motion import _engine_kernels as K
from kotdevice.motion.mount import tibial_angle_deg


@dataclass
class Extreme:
    kind: int  # +1 max, -1 min (of the tibial angle)
    how: int
    t: float
    v: float  # detection (low-passed) angle
    t_conf: float
    t_first: float
    t_last: float
    raw: float  # unfiltered angle's extreme in this phase
    front: float
    rpos: float
    rneg: float
    acc: float
    fmax: float
    fmin: float
    up: tuple = (1.0, 0.0, 0.0)
    # max rows: the last time the angle was at or below dep_lo + j/len(dep) * (dep_hi - dep_lo)
    dep_lo: float = math.nan
    dep_hi: float = math.nan
    dep: tuple = ()

    def reproject(self, right_axis) -> None:
        """The mount changed: recompute this extreme's angle from its up vector (the
        low-pass offset between the detection and raw values is kept)."""
        new = tibial_angle_deg(np.asarray(self.up), np.asarray(right_axis))
        dv = new - self.raw
        self.v += dv
        sg = 1.0 if self.kind > 0 else -1.0  # min rows keep their table negated
        self.dep_lo += sg * dv
        self.dep_hi += sg * dv
        self.raw = new

    @property
    def dep_step(self) -> float:
        """Spacing of the departure table's levels (deg; 0 without a table)."""
        return (self.dep_hi - self.dep_lo) / len(self.dep) if self.dep else 0.0

    def departure(self, x: float) -> float:
        """Max rows: last time (before this max) the angle was at or below x; min rows:
        last time before this min it was at or above x. To the table's resolution (rounded
        to a level on the safe side of x); nan if unknown."""
        if self.kind < 0:
            x = -x
        n = len(self.dep)
        span = self.dep_hi - self.dep_lo
        if n == 0 or not (span > 0.0) or x < self.dep_lo:
            return math.nan
        j = min(n - 1, int((x - self.dep_lo) / span * n))
        return self.dep[j]

    @staticmethod
    def from_row(row: np.ndarray) -> "Extreme":
        return Extreme(
            int(row[K.E_KIND]), int(row[K.E_HOW]), float(row[K.E_T]), float(row[K.E_V]),
            float(row[K.E_TCONF]), float(row[K.E_TFIRST]), float(row[K.E_TLAST]),
            float(row[K.E_RAW]), float(row[K.E_FRONT]), float(row[K.E_RPOS]),
            float(row[K.E_RNEG]), float(row[K.E_ACC]), float(row[K.E_FMAX]), float(row[K.E_FMIN]),
            (float(row[K.E_UP]), float(row[K.E_UP + 1]), float(row[K.E_UP + 2])),
            float(row[K.E_DEP_LO]) * (1.0 if row[K.E_KIND] > 0 else -1.0),
            float(row[K.E_V]) * (1.0 if row[K.E_KIND] > 0 else -1.0),
            tuple(float(x) for x in row[K.E_DEP:K.E_DEP + K.E_NDEP]) if row[K.E_KIND] != 0 else (),
        )


DEPART_FRAC = 0.05  # a rep has left its start once 5 % of its own ROM is covered
DEPART_MIN_DEG = 0.5
HOLD_BAND_MIN_DEG = 0.5  # smallest band a held extreme may wobble in
DEPART_SLACK_FRAC = 0.15  # how far up the ROM a departure may be looked for


def _departure(start: Extreme, peak: Extreme, s: int) -> float:
    if s <= 0 or not peak.dep:
        return math.nan
    rom = peak.v - start.v
    x = start.v + max(DEPART_FRAC * rom, DEPART_MIN_DEG)
    t = peak.departure(x)
    # A mount learned between the start and the peak shifts the kernel's table by one offset
    # and re-projects the start exactly, so the two may disagree by a degree: a level the
    # angle last left before the start then stands for the next one it left after it.
    while t < start.t_first and x + peak.dep_step <= start.v + DEPART_SLACK_FRAC * rom:
        x += peak.dep_step
        t = peak.departure(x)
    if not (start.t_first <= t <= peak.t_first):
        return math.nan
    return t


def _held_until(p: Extreme, e: Extreme, s: int) -> float:
    """When a held extreme p was left for the further one e in the same direction: the
    angle may creep a little along the plateau first, which the settle reports do not
    follow; e's departure table says when it last was within the hold band of p."""
    # one table level further: the lookup rounds toward e's start, which may fall below p
    t = e.departure(p.v + s * (HOLD_BAND_MIN_DEG + e.dep_step))
    return t if p.t_last < t <= e.t_first else p.t_last


@dataclass
class Candidate:
    """One swing out and back, in the tracker's polarity (s = +1 knee forward)."""

    s: int
    start: Extreme
    peak: Extreme
    end: Extreme
    rpos: float  # largest forward (+) sagittal rate during the rep (dps)
    rneg: float  # largest backward rate magnitude
    acc: float  # largest ||a| - 1 g|
    fmax: float
    fmin: float
    n_peaks: int = 1  # separate turning points toward the peak (1 = one clean swing)
    dip_deg: float = 0.0  # deepest fall back from the peak so far between its turning points
    dep_s: float = math.nan  # when the angle really left the start (see _departure)

    def __post_init__(self):
        self.dep_s = _departure(self.start, self.peak, self.s)

    @property
    def peak_hold_s(self) -> float:
        """How long the peak was held: from reaching within 3.5 % of the ROM (at least 0.5 deg)
        of it to leaving its hold band - a trembling, creeping hold counts whole."""
        p = self.peak
        t0, t1 = p.t_first, p.t_last
        band = max(HOLD_BAND_MIN_DEG, 0.035 * self.rom)
        if self.s > 0 and p.dep:
            ta = p.departure(p.v - band)
            if self.start.t_first <= ta < t0:
                t0 = ta
        if self.s > 0 and self.end.dep:
            tb = self.end.departure(p.v - band)
            if t1 < tb <= self.end.t_first:
                t1 = tb
        return t1 - t0

    def _mid80_s(self, x: Extreme, t_from: float, t_to: float) -> float | None:
        """Seconds between the 10 % and 90 % levels of the ROM, from the departure table of
        ``x`` (the peak: the way out; the end: the way back), within [t_from, t_to]."""
        if self.s <= 0 or not x.dep:
            return None
        a = self.start.v
        r = self.peak.v - a
        ta, tb = x.departure(a + 0.1 * r), x.departure(a + 0.9 * r)
        if x is not self.peak:
            ta, tb = tb, ta  # the way back passes 90 % first
        if not (t_from - 1e-9 <= ta <= tb <= t_to + 1e-9):
            return None
        return tb - ta

    def mid_out_s(self) -> float | None:
        """Seconds the way out took from 10 % to 90 % of the ROM (None if unknown)."""
        return self._mid80_s(self.peak, self.start.t_first, self.peak.t_first)

    def mid_back_s(self) -> float | None:
        """Seconds the way back took from 90 % to 10 % of the ROM (None if unknown)."""
        return self._mid80_s(self.end, self.peak.t_first, self.end.t_first)

    @property
    def start_s(self) -> float:
        # the start position's hold band was left at start.t_last, but a start reached long
        # before (a posture taken, then a slight drift) is left for real only when the rep
        # starts: take the later of the two
        d = self.dep_s
        return self.start.t_last if not (d > self.start.t_last) else d

    @property
    def end_s(self) -> float:
        return self.end.t_first

    @property
    def detected_s(self) -> float:
        return self.end.t_conf

    @property
    def start_angle(self) -> float:
        return self.start.v

    @property
    def rom(self) -> float:
        return abs(self.peak.v - self.start.v)

    @property
    def duration(self) -> float:
        return self.end_s - self.start_s

    @property
    def wobble(self) -> float:
        return max(abs(self.fmax - self.start.front), abs(self.fmin - self.start.front))

    @property
    def out_rate(self) -> float:
        """Peak rate of the outward half (toward the peak)."""
        return self.rpos if self.s > 0 else self.rneg

    @property
    def back_rate(self) -> float:
        return self.rneg if self.s > 0 else self.rpos


@dataclass
class SwingTracker:
    """Builds candidates of one polarity from the stream of extremes."""

    s: int
    min_rom_deg: float = 0.5
    return_frac: float = 0.55
    max_rep_s: float = 15.0
    rebase_hold_s: float = 0.6
    rebase_frac: float = 0.2  # ... having come back at least this share (not a slow start back)
    rest_hold_s: float = 1.5  # held this long anywhere: a rest, the next rep starts from there
    creep_frac: float = 0.1  # a held peak creeping back this share of its swing is still held
    step_rise_frac: float = 0.5  # ... if what follows a held step rises this share of the step
    stance_hold_s: float = 1.0  # ... and the step was held this long (getting into a stance)
    start: Extreme | None = None
    peak: Extreme | None = None
    _held: dict = field(default_factory=dict)
    _iv: Extreme | None = None
    _ivpeak: Extreme | None = None
    _stats: list = field(default_factory=lambda: [0.0, 0.0, 0.0, -1e9, 1e9, 0, -1])
    _lastv: Extreme | None = None  # the latest valley between the start and the peak
    # (start, peak, stats, when it left the start) of a swing given up by a rebase part-way back
    _prev: tuple | None = None

    def reset(self) -> None:
        self.start = None
        self.peak = None
        self._prev = None
        self._held = {}
        self._reset_stats()

    def reproject(self, right_axis) -> None:
        seen = set()
        for x in (self.start, self.peak, *self._held.values()):
            if x is not None and id(x) not in seen:
                seen.add(id(x))
                x.reproject(right_axis)

    def _reset_stats(self) -> None:
        # rates, acc, frontal range, then: how many separate peaks since the start, last
        # kind, deepest dip between them
        self._stats = [0.0, 0.0, 0.0, -1e9, 1e9, 0, -self.s, 0.0]
        self._iv = self._ivpeak = None  # intermediate valley bookkeeping (see feed)
        self._lastv = None

    def swing_started_s(self) -> float | None:
        """When the swing in progress (out from its start, not yet back) left its start;
        None when no swing is under way. A swing given up on a plateau (a long-held bottom
        that crept a little) is still under way: it may yet come back as a rep (see _prev)."""
        t = [] if self._prev is None else [self._prev[3]]
        if self.start is not None and self.peak is not None:
            t.append(self.start.t_last)
        return min(t) if t else None

    def _give_up(self, peak: Extreme, t: float) -> None:
        """Remember the swing given up at a rebase (the first one, while it can still end)."""
        pv = self._prev
        if pv is None or t - pv[3] > self.max_rep_s:
            # its time limit runs from when the angle left the start, not from a bump in
            # the standing before it that became the start
            left = _departure(self.start, peak, self.s)
            self._prev = (self.start, peak, list(self._stats),
                          left if math.isfinite(left) else self.start.t_last)

    def _acc(self, e: Extreme) -> None:
        st = self._stats
        st[0] = max(st[0], e.rpos)
        st[1] = max(st[1], e.rneg)
        st[2] = max(st[2], e.acc)
        st[3] = max(st[3], e.fmax)
        st[4] = min(st[4], e.fmin)

    def _resume_given_up(self, e: Extreme) -> Candidate | None:
        """A swing given up on a plateau (a long-held bottom that crept a little lower) that
        wobbled there and then went on back to its old start: the whole is one rep, from the
        old start, not a sub-degree swing off the plateau (which would lose the rep)."""
        pv = self._prev
        if pv is None or self.peak is None:
            return None
        p0, pk, st0, left = pv
        s = self.s
        if e.t_first - left > self.max_rep_s:
            return None
        prom = s * (pk.v - p0.v)
        band = max(HOLD_BAND_MIN_DEG, 0.035 * prom)  # Candidate.peak_hold_s's band
        if prom < self.min_rom_deg or not (
                # the plateau just below the given-up peak (not sitting well below a
                # stand-to-sit overshoot, nor above it), the wobble off it within the
                # peak's band, and back near the old start
                -band <= s * (pk.v - self.start.v) <= self.creep_frac * prom
                and abs(self.peak.v - pk.v) <= band
                and s * (pk.v - e.v) >= self.return_frac * prom):
            return None
        # one hold, wobbling: it lasted from reaching the first peak to leaving the last
        p = self.peak if s * self.peak.v > s * pk.v else pk
        p = replace(p, t_first=min(pk.t_first, self.peak.t_first),
                    t_last=max(pk.t_last, self.peak.t_last))
        c = self._given_up_rep(p0, p, st0, e)
        self.start, self.peak = e, None
        self._reset_stats()
        return c

    def _given_up_rep(self, p0: Extreme, pk: Extreme, st0: list, e: Extreme) -> Candidate:
        """The rep a given-up swing was after all: its statistics are those up to the give-up
        and those since (the way back, often its fastest part)."""
        st = self._stats
        self._prev = None
        return Candidate(self.s, p0, pk, e, max(st0[0], st[0]), max(st0[1], st[1]),
                         max(st0[2], st[2]), max(st0[3], st[3]), min(st0[4], st[4]),
                         n_peaks=int(st0[5]), dip_deg=st0[7])

    def _close_rep(self, e: Extreme) -> Candidate:
        """The angle came back from the peak to e: one rep."""
        s, st = self.s, self._stats
        lv, p = self._lastv, self.peak
        if lv is not None and lv.t < p.t and abs(e.v - lv.v) < abs(e.v - self.start.v) \
                and s * (p.v - lv.v) >= self.min_rom_deg:
            # it came back to the last valley before the peak, not to the start: the rep
            # is the one swing from there (what came before was a posture change)
            c = Candidate(s, lv, p, e, max(p.rpos, e.rpos), max(p.rneg, e.rneg),
                          max(p.acc, e.acc), max(p.fmax, e.fmax), min(p.fmin, e.fmin),
                          n_peaks=1)
        else:
            c = Candidate(s, self.start, p, e, st[0], st[1], st[2], st[3], st[4],
                          n_peaks=int(st[5]), dip_deg=st[7])
        self.start, self.peak = e, None
        self._reset_stats()
        self._prev = None
        return c

    def feed(self, e: Extreme) -> Candidate | None:
        s = self.s
        if e.how == 3:
            return None  # "still held": only the engine's step/stride decision uses it
        if e.how == 2:
            # left an extreme that had been reported as held: update its leave time
            x = self._held.get(e.kind)
            if x is not None:
                x.t_last = e.t_last
                held = x.t_last - x.t_first
                p = self.peak
                rom = 0.0 if p is None else s * (p.v - self.start.v)
                # a valley held on the way back from the peak:
                back = e.kind == -s and x is not self.start and p is not None and x.t > p.t
                if back and rom >= self.min_rom_deg and s * (p.v - e.v) >= self.return_frac * rom:
                    # ... that settled a little short of the way back and crept the rest
                    # while held: it was the rep's end after all
                    self._acc(e)
                    return self._close_rep(replace(e, how=1))
                if back and (
                        held >= self.rest_hold_s
                        or (held >= self.rebase_hold_s and s * (p.v - x.v) >= self.rebase_frac * rom)
                        # at rest on a plateau: held at the top, then barely lower, for long
                        or (x.t_last - p.t_first >= self.rest_hold_s
                            and s * (p.v - x.v) <= self.creep_frac * rom)):
                    # held for a while part-way back (sat down on a chair): a new start
                    # position; the way down to it was not a rep - unless the angle goes on
                    # back past the old start (a long paused bottom that crept): see _prev
                    if s * x.v > s * self.start.v:
                        self._give_up(p, x.t)
                    self.start, self.peak = x, None
                    self._reset_stats()
            self._acc(e)
            return None
        if e.how == 1:
            self._held[e.kind] = e
        if e.kind != self._stats[6]:
            self._stats[6] = e.kind
            if e.kind == s:
                self._stats[5] += 1
        is_peak = e.kind == s
        if is_peak:
            if self.start is None:
                return None
            self._acc(e)
            p = self.peak
            if self._iv is not None and (self._ivpeak is None or s * e.v >= s * self._ivpeak.v):
                self._ivpeak = e
            if p is None or s * e.v >= s * p.v:
                if p is not None and p.how == 1 and (
                        s * (e.v - p.v) > 2.0 * s * (p.v - self.start.v)
                        or (_held_until(p, e, s) - p.t_first >= self.stance_hold_s
                            and s * (e.v - p.v) >= self.step_rise_frac * s * (p.v - self.start.v))):
                    # the earlier held step was really the start position (the heel-elevated
                    # stance taken before the first rep; standing a while before a sled drag).
                    # A long-held bottom that only creeps a little deeper is still the rep's.
                    self.start = p
                    self._reset_stats()
                    self._acc(e)
                    self._stats[5] = 1
                    self._stats[6] = s
                self.peak = e
            return None
        # a valley (in this polarity)
        if self.start is None:
            self.start = e
            self._reset_stats()
            return None
        self._acc(e)
        if self.peak is None:
            pv = self._prev
            if pv is not None and s * e.v <= s * self.start.v:
                p0, pk, st, left = pv
                prom = s * (pk.v - p0.v)
                if e.t_first - left > self.max_rep_s:
                    self._prev = None
                elif prom >= self.min_rom_deg and s * (pk.v - e.v) >= self.return_frac * prom:
                    # the given-up swing went on back after all: it was a rep (a plateau
                    # that only crept a little lower keeps waiting for it)
                    c = self._given_up_rep(p0, pk, st, e)
                    self.start = e
                    self._reset_stats()
                    return c
            if s * e.v <= s * self.start.v or e.t - self.start.t_last > self.max_rep_s:
                self.start = e
                self._reset_stats()
            return None
        rom = s * (self.peak.v - self.start.v)
        ret = s * (self.peak.v - e.v)
        if e.t_first - self.start.t_last > self.max_rep_s:
            self.start, self.peak = e, None
            self._reset_stats()
            return None
        c = self._resume_given_up(e)
        if c is not None:
            return c
        if rom >= self.min_rom_deg and ret >= self.return_frac * rom:
            return self._close_rep(e)
        held = e.t_last - e.t_first
        if s * e.v <= s * self.start.v or held >= self.rest_hold_s or (
                held >= self.rebase_hold_s and ret >= self.rebase_frac * rom) or (
                e.t_last - self.peak.t_first >= self.rest_hold_s and ret <= self.creep_frac * rom):
            # back below the start, or held part-way back (sat down): a new start position.
            # Remember what was given up: a slow rep's end settles part-way back and then
            # creeps the rest of the way (see the peak None branch).
            if s * e.v > s * self.start.v:
                self._give_up(self.peak, e.t)
            self.start, self.peak = e, None
            self._reset_stats()
            self._iv = self._ivpeak = None
            return None
        self._lastv = e
        self._stats[7] = max(self._stats[7], s * (self.peak.v - e.v))
        # Swinging repeatedly between a new pair of levels (strides after a posture change
        # the detector did not see as a rest): two like valleys with a big swing between
        # them make the first one the start.
        iv, ivp = self._iv, self._ivpeak
        self._iv, self._ivpeak = e, None
        if iv is not None and ivp is not None:
            swing = s * (ivp.v - iv.v)
            if swing >= self.min_rom_deg and abs(e.v - iv.v) <= max(3.0, 0.15 * swing) \
                    and s * (ivp.v - e.v) >= self.return_frac * swing:
                st = self._stats
                c = Candidate(s, iv, ivp, e, st[0], st[1], st[2], st[3], st[4], n_peaks=1)
                self.start, self.peak = e, None
                self._reset_stats()
                self._iv = None
                return c
        return None


@dataclass(frozen=True)
class CountSettings:
    """Physically motivated limits (degrees of shin inclination, seconds, deg/s)."""

    squat_min_rom_deg: float = 10.0  # a first rep shallower than this is fidgeting
    # Sitting down is no squat (see sat_down): slower than this ...
    sit_max_rate_dps: float = 45.0
    # ... and ending farther than this fraction of its ROM from its start (seated, ~10 deg
    # forward of standing; a squat comes back up) ...
    squat_return_frac: float = 0.3
    # ... or with two peaks and a dip of more than this fraction of the ROM between them
    # (down to the seat, 4-7 deg below the overshoot, and straight back up)
    sit_dip_frac: float = 0.15
    squat_max_s: float = 12.0  # slow tempo reps with a pause (3-3-3 s, fatigued) stay below
    max_peaks_first: int = 2  # a set's first rep is one swing (a wobble at most), not a medley
    squat_min_s: float = 0.7
    tib_min_rom_deg: float = 1.5  # to start a set (a shallower first raise is counted
    # retroactively when the next one starts the set)
    tib_max_rom_deg: float = 10.0
    tib_lean_back_deg: float = 7.0  # base at least this far behind the standing angle
    tib_max_s: float = 6.0
    tib_min_s: float = 0.5
    tib_start_hold_s: float = 0.3  # a set of raises starts from resting against the wall
    max_peak_to_mean: float = 6.0  # fastest / mean rate of one clean swing (min-jerk: ~1.9)
    max_peak_to_mid_mean: float = 4.5  # ... over the middle 80 % of the way (min-jerk: 1.36)
    # from a start leaning back (which, with a re-tilted strap, may just be a shifted stance):
    # far beyond any tibialis raise, and not a movement off a wall (which never comes back)
    squat_from_lean_rom_deg: float = 20.0
    squat_from_lean_return: float = 0.15  # ... and back where it started (a rep, not a posture change)
    squat_from_lean_hold_s: float = 3.0  # ... not standing a while (stepped off the wall and back)
    # ... and from a few degrees behind standing at most: a strap re-tilted since the last
    # still stance shifts it by a few degrees, a wall lean is 12-20 deg back (from there it
    # is stepping off the wall, sitting down and going back)
    squat_from_lean_max_deg: float = 12.0
    gait_min_rom_deg: float = 15.0
    gait_max_s: float = 2.2
    walk_max_s: float = 3.2  # the first stride from standing is longer
    walk_continue_s: float = 0.5  # a stride-like swing this soon after walking is walking
    gait_min_rate_dps: float = 40.0  # backward walk / sled drag (told apart by asymmetry)
    walk_min_rate_dps: float = 100.0  # forward walking's swing back is at least this fast
    gait_asym: float = 1.15  # backward walk: the outward (swing) half this much faster
    gait_asym_dur: float = 1.25  # ... and (when known) its middle 80 % this much shorter,
    gait_asym_clear: float = 1.4  # ... unless its peak rate is this much faster
    gait_max_hold_s: float = 0.5  # a stride turns without stopping (simulated gait: <= 0.26 s)
    # a swing that looks like another exercise on its own (a squat dropping a little quicker
    # than it rises looks like a stride) is the set's next rep if it is at least this share
    # of the set's median rep long and at most this much quicker per degree
    paced_dur_frac: float = 0.75
    paced_rate_factor: float = 1.3
    gait_heel_strike_deg: float = 4.0  # forward walking: heel strike leans back this far
    step_hold_s: float = 0.25  # a step-up/down rep ends standing on the step this long
    base_tol_deg: float = 4.0  # a rep in a set starts where the last one ended, within this
    base_tol_frac: float = 0.3  # ... or this share of the typical ROM
    in_set_min_frac: float = 0.25  # in a set, reps down to this share of the typical ROM count
    in_set_max_frac: float = 3.0
    grow_reps: int = 2  # ... except after only this many reps (shallow first tries)
    partial_frac: float = 0.75
    # a set's rhythm (see MotionEngine._in_rhythm)
    set_hold_factor: float = 2.0
    set_hold_slack_s: float = 1.0
    set_hold_floor_s: float = 1.5  # a first rep's hold may read short: compare with at least this
    set_dur_factor: float = 1.6
    set_gap_factor: float = 2.5
    set_gap_min_s: float = 1.5
    set_gap_default_s: float = 1.0
    set_pace_factor: float = 2.0
    resume_pace_factor: float = 1.6  # after a pause, the way out no quicker than this x the set's
    # a swing ending at most this long before a set's first rep, from where that started, is
    # counted as the set's (partial) first rep once the set is known (MotionEngine._set_lead_in)
    first_rep_lookback_s: float = 2.5
    lookback_reps: int = 3  # ... up to this many swings back, each ending this soon before the next,
    lookback_rom_frac: float = 0.6  # ... and (beyond the first) this deep
    lookback_dur_factor: float = 1.5  # ... and about as long as the set's first recognised rep
    rest_gap_s: dict = field(default_factory=lambda: {"squat": 8.0, "tib_raise": 6.0,
                                                      "backward_walk": 4.0})


def turns_without_stopping(c: Candidate, cs: CountSettings) -> bool:
    """Gait never holds its turn (a squat with a held bottom does)."""
    return c.peak_hold_s <= cs.gait_max_hold_s


def stride_like(c: Candidate, cs: CountSettings) -> bool:
    """Backward-walk stride: fast, the swing (out) faster than the stance (back), and no
    pause at the turn (a squat going down a little quicker than it comes up holds its
    bottom; gait never stops there)."""
    return max(c.rpos, c.rneg) >= cs.gait_min_rate_dps and c.out_rate >= cs.gait_asym * c.back_rate \
        and turns_without_stopping(c, cs)


def symmetric_swing(c: Candidate, cs: CountSettings) -> bool:
    """Peak rates only a little lopsided, and the middle 80 % of the way out and of the way
    back took about as long: a squat going down about as fast as it comes up, whatever a
    jittery peak rate says. A stride's stance takes ~1.6x its swing. (A first stride from
    standing leans in slowly first, but its swing's peak rate is far above its stance's.)"""
    if c.out_rate >= cs.gait_asym_clear * c.back_rate:
        return False
    mo, mb = c.mid_out_s(), c.mid_back_s()
    return mo is not None and mb is not None and mb < cs.gait_asym_dur * mo


def sat_down(c: Candidate, cs: CountSettings) -> bool:
    """Sitting down (and perhaps straight back up), not a squat: slow (REAL-SIGNALS §11: peak
    shin rate 20-30 dps), and either ending seated, away from where it started, or dipping
    to the seat between the overshoots on the way down and on the way up."""
    if max(c.rpos, c.rneg) >= cs.sit_max_rate_dps:
        return False  # (a first step-up ends in its box stance too, but pushes off fast)
    return (abs(c.end.v - c.start.v) > cs.squat_return_frac * c.rom
            or (c.n_peaks >= 2 and c.dip_deg >= cs.sit_dip_frac * c.rom))


def classify(c: Candidate, stand_angle: float | None, cs: CountSettings,
             heel_walk: bool = True) -> str | None:
    """The exercise a lone candidate looks like, or None (fidget, sit, walk forward...).
    Leaning back against a wall is measured from the standing angle: every session begins
    standing (CONTRACTS §1), and a strap can sit 18° off sagittally (REAL-SIGNALS §2), so
    the absolute angle says nothing about a wall. ``heel_walk=False``: what it would be if
    leaning back behind standing (a heel strike) did not make a fast swing forward walking."""
    dur = c.duration
    fastest = max(c.rpos, c.rneg)
    if c.s > 0 and c.rom >= cs.gait_min_rom_deg and dur <= cs.walk_max_s \
            and turns_without_stopping(c, cs):
        # gait: the swing phase is the fast half, and it never stops at the turn. Walking
        # backward the shin swings forward (angle rising) fast; walking forward it swings
        # back fast.
        if stride_like(c, cs) and not symmetric_swing(c, cs):
            return "backward_walk"
        # forward walking: the fast swing back ends at heel strike, where the shin leans
        # back behind its standing angle. (Whether a fast swing stops at the top - a step
        # rep - or goes straight on - a stride - is decided by the engine, which waits for it.)
        heel = None if stand_angle is None else stand_angle - cs.gait_heel_strike_deg
        if heel_walk and fastest >= cs.walk_min_rate_dps and dur <= cs.gait_max_s and (
                heel is None or c.start_angle <= heel or c.end.v <= heel):
            return "walk"
    # the way out is one smooth swing: its fastest moment is a few times its mean rate
    # (minimum jerk: 1.9x). A slow "descent" with stride-fast moments in it is several
    # movements run together (strap, walk, fidget). (The way back may be much faster:
    # the push up of a step-down.)
    mid = c.mid_out_s()
    if mid is not None:
        # middle 80 % of the way out (min-jerk: peak rate = 1.36x its mean rate there). Free
        # of where exactly the start was left and of a creep while holding the peak.
        if c.out_rate > cs.max_peak_to_mid_mean * 0.8 * c.rom / max(mid, 1e-3):
            return None
    else:
        out_s = max(c.peak.t_first - c.start_s, 1e-3)
        if c.out_rate > cs.max_peak_to_mean * c.rom / out_s:
            return None
    # leaning back against the wall, relative to standing
    lean = stand_angle is not None and c.start_angle <= stand_angle - cs.tib_lean_back_deg
    if lean and cs.tib_min_rom_deg <= c.rom <= cs.tib_max_rom_deg \
            and cs.tib_min_s <= dur <= cs.tib_max_s \
            and c.start.t_last - c.start.t_first >= cs.tib_start_hold_s:
        return "tib_raise"
    # (a squat starts standing or in its stance - not leaning back against a wall)
    if c.s > 0 and c.rom >= cs.squat_min_rom_deg and cs.squat_min_s <= dur <= cs.squat_max_s \
            and not sat_down(c, cs) \
            and c.n_peaks <= cs.max_peaks_first and (not lean or (
                c.rom >= cs.squat_from_lean_rom_deg
                and c.start_angle >= stand_angle - cs.squat_from_lean_max_deg
                and abs(c.end.v - c.start.v) <= cs.squat_from_lean_return * c.rom
                and c.peak_hold_s <= cs.squat_from_lean_hold_s)):
        return "squat"
    return None


def fits_set(c: Candidate, exercise: str, s: int, typical_rom: float, cs: CountSettings,
             base_angle: float | None = None) -> bool:
    """Whether a candidate continues a set in progress (looser than starting one: partial
    reps count). ``base_angle``: where the set's last rep came back to; the next one starts
    there too (a fidget from another stance does not)."""
    if c.s != s:
        return False
    if base_angle is not None and abs(c.start_angle - base_angle) > max(
            cs.base_tol_deg, cs.base_tol_frac * typical_rom):
        return False
    r = c.rom
    if r < cs.in_set_min_frac * typical_rom or r > cs.in_set_max_frac * typical_rom:
        return False
    d = c.duration
    if exercise == "squat":
        return cs.squat_min_s * 0.5 <= d <= cs.squat_max_s
    if exercise == "tib_raise":
        return cs.tib_min_s * 0.8 <= d <= cs.tib_max_s
    if exercise == "backward_walk":
        return d <= cs.gait_max_s * 1.5
    return False


def squat_variant(c: Candidate, stand_angle: float | None) -> str:
    """A rough variant guess from one rep (extra information, not a contract field)."""
    if max(c.rpos, c.rneg) >= 150.0 or c.acc >= 0.6:
        return "step_up"
    if stand_angle is not None and c.start_angle >= stand_angle + 6.0:
        return "heel_elevated"
    if c.rom >= 40.0:
        return "deep"
    return "bodyweight"
