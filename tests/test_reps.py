"""Rep candidates from turning points, and what a lone candidate looks like."""
from __future__ import annotations

from dataclasses import replace

import pytest

from kotdevice.motion.reps import Candidate, CountSettings, Extreme, SwingTracker, classify


def ext(kind, how, t, v, t_first=None, t_last=None, rpos=0.0, rneg=0.0):
    return Extreme(kind, how, t, v, t + 0.1, t if t_first is None else t_first,
                   t if t_last is None else t_last, v, 0.0, rpos, rneg, 0.0, 0.0, 0.0)


def feed_all(tr, seq):
    return [c for c in (tr.feed(e) for e in seq) if c is not None]


def test_out_and_back_is_a_rep_with_leave_and_arrival_times():
    tr = SwingTracker(1)
    seq = [ext(-1, 0, 0.0, 2.0, t_first=0.0, t_last=1.0), ext(1, 0, 2.0, 32.0, t_first=1.9, t_last=2.3),
           ext(-1, 1, 3.2, 2.5)]
    (c,) = feed_all(tr, seq)
    assert c.start_s == 1.0 and c.end_s == 3.2
    assert c.rom == pytest.approx(30.0)
    assert c.peak.t_first == 1.9 and c.peak.t_last == 2.3


def test_a_wobble_on_the_way_up_stays_inside_one_rep():
    tr = SwingTracker(1)
    seq = [ext(-1, 0, 0.0, 0.0), ext(1, 0, 1.0, 30.0), ext(-1, 0, 1.3, 26.0),  # not back
           ext(1, 0, 1.6, 31.0), ext(-1, 1, 2.6, 0.5)]
    (c,) = feed_all(tr, seq)
    assert c.peak.v == 31.0 and c.start.v == 0.0


def test_not_returning_is_no_rep_and_a_long_sit_rebases():
    tr = SwingTracker(1)
    # sit down: 0 -> 16 -> held at 10 for 20 s -> stand up 15 -> 0
    seq = [ext(-1, 0, 0.0, 0.0), ext(1, 0, 1.2, 16.0), ext(-1, 1, 2.4, 10.0),
           ext(-1, 2, 2.4, 10.0, t_first=2.4, t_last=22.0), ext(1, 0, 23.0, 15.0),
           ext(-1, 1, 24.3, 0.0)]
    cands = feed_all(tr, seq)
    # only the stand-up part is left (start at the seat), and it is small
    assert len(cands) == 1 and cands[0].start.v == 10.0 and cands[0].rom == pytest.approx(5.0)
    assert classify(cands[0], 0.0, CountSettings()) is None


def test_a_small_held_step_before_the_rep_is_its_start():
    tr = SwingTracker(1)
    # stand at 0, settle into a heel-elevated stance at 9 deg, then squat to 40 and back to 9
    seq = [ext(-1, 0, 0.0, 0.0), ext(1, 1, 2.0, 9.0, t_last=2.0),
           ext(1, 2, 2.0, 9.0, t_first=2.0, t_last=3.0), ext(1, 1, 4.0, 40.0), ext(-1, 1, 5.2, 9.5)]
    (c,) = feed_all(tr, seq)
    assert c.start.v == 9.0 and c.start_s == 3.0 and c.rom == pytest.approx(31.0)


def _cand(rom, dur, rpos, rneg, start=0.0, end_held=True):
    s = ext(-1, 1, 0.0, start, t_first=-1.0, t_last=0.0)  # rested there for a second
    p = ext(1, 0, dur / 2, start + rom)
    e = ext(-1, 1 if end_held else 0, dur, start + 0.5)
    return Candidate(1, s, p, e, rpos, rneg, 0.3, 0.0, 0.0)


def test_classify_by_physics():
    cs = CountSettings()
    stand = 5.0
    # backward walking: fast swing forward, slower stance back
    assert classify(_cand(30, 1.0, 160, 100, start=5), stand, cs) == "backward_walk"
    # forward walking: fast swing back to a heel strike behind the standing angle
    assert classify(_cand(45, 1.0, 130, 220, start=-3), stand, cs) == "walk"
    # a step-up: fast push back up, but from a forward start and stopping at the top
    assert classify(_cand(30, 1.2, 90, 200, start=13), stand, cs) == "squat"
    # a slow squat
    assert classify(_cand(30, 4.0, 35, 45, start=5), stand, cs) == "squat"
    # a tibialis raise: small, from leaning back against the wall
    assert classify(_cand(4, 1.5, 10, 8, start=-10), stand, cs) == "tib_raise"
    # the same small movement while standing upright is fidgeting
    assert classify(_cand(4, 1.5, 10, 8, start=5), stand, cs) is None
    # a knee bounce shallower than any rep
    assert classify(_cand(5, 0.6, 30, 30, start=5), stand, cs) is None


def test_a_lone_swing_that_ends_seated_is_no_squat():
    """Sitting down: standing -> 16 deg (the overshoot) -> seated 9 deg forward and held
    (REAL-SIGNALS §11). A squat comes back up to where it started."""
    cs = CountSettings()

    def swing(end_v):
        s = ext(-1, 1, 0.0, 0.0, t_first=-1.0, t_last=0.0)
        p = ext(1, 0, 1.2, 16.0)
        e = ext(-1, 1, 2.4, end_v, t_first=2.4, t_last=6.0)
        return Candidate(1, s, p, e, 25.0, 20.0, 0.3, 0.0, 0.0)

    assert classify(swing(9.0), 0.0, cs) is None
    assert classify(swing(9.0), 0.0, replace(cs, squat_return_frac=1.0)) == "squat"
    assert classify(swing(1.5), 0.0, cs) == "squat"
    # a first step-up from the floor ends in its stance on the box: fast, so still a squat
    fast = swing(9.0)
    fast.rneg = 130.0
    assert classify(fast, 0.0, cs) == "squat"


def test_a_sit_down_and_straight_back_up_is_no_squat():
    """Stand -> overshoot 16 -> seated 11 -> overshoot 16.5 -> stand: one slow swing with two
    peaks and a deep dip between them (REAL-SIGNALS §11). A squat with a wobbly bottom dips
    a little."""
    cs = CountSettings()

    def sit(seat, rate=25.0):  # (the seat is left before it would make a new start)
        tr = SwingTracker(1)
        seq = [ext(-1, 1, 0.0, 0.0, t_first=-1.0, t_last=0.0), ext(1, 1, 1.2, 16.0, rpos=rate),
               ext(-1, 1, 2.0, seat, t_last=2.3), ext(1, 1, 3.8, 16.5),
               ext(-1, 1, 5.0, 0.5, rneg=rate)]
        (c,) = feed_all(tr, seq)
        return c

    c = sit(11.0)
    assert c.n_peaks == 2 and c.dip_deg == pytest.approx(5.0)
    assert classify(c, 0.0, cs) is None
    assert classify(c, 0.0, replace(cs, sit_dip_frac=1.0)) == "squat"
    assert classify(sit(15.0), 0.0, cs) == "squat"  # a 1 deg wobble at the bottom


def test_a_slow_rep_that_settles_part_way_back_is_still_a_rep():
    # raise 0 -> 2 deg, come back and settle at 1.1 (held 0.7 s: looks like a new start),
    # then creep on back to -0.1: the given-up swing is completed, not lost
    tr = SwingTracker(1)
    seq = [ext(-1, 1, 0.0, 0.0, t_first=-1.0, t_last=0.0), ext(1, 1, 0.8, 2.0),
           ext(-1, 1, 2.0, 1.1, t_first=2.0, t_last=2.7), ext(-1, 1, 3.0, -0.1)]
    (c,) = feed_all(tr, seq)
    assert c.start.v == 0.0 and c.peak.v == 2.0 and c.end.v == -0.1


def test_an_end_that_creeps_the_rest_of_the_way_while_held_is_the_rep_end():
    # a 3 deg partial raise comes back to 50 % and settles, creeps on to 60 % while held for
    # 2 s and is then left: that was the rep's end, not a new start with the rep given up
    tr = SwingTracker(1)
    seq = [ext(-1, 1, 0.0, 0.0, t_first=-1.0, t_last=0.0), ext(1, 1, 1.0, 3.0),
           ext(-1, 1, 2.0, 1.5, t_first=2.0, t_last=2.1),
           ext(-1, 2, 2.0, 1.2, t_first=2.0, t_last=4.0)]
    (c,) = feed_all(tr, seq)
    assert c.start.v == 0.0 and c.peak.v == 3.0 and c.end.v == 1.2
    assert tr.start is not None and tr.start.v == 1.2 and tr.peak is None


def test_a_held_step_that_crept_before_the_rise_is_the_reps_start():
    # stand at 0, step into a stance at 10 held (settled at 2.0 s, creeping a little until it
    # left at 3.6 s - no further settle report), then a 15 deg swing: the stance is its start
    import math

    tr = SwingTracker(1)
    n = 32
    rise = replace(ext(1, 1, 4.5, 25.0), dep_lo=10.0, dep_hi=25.0,
                   dep=tuple(3.6 + 0.02 * j for j in range(n)))
    seq = [ext(-1, 1, 0.0, 0.0, t_first=-1.0, t_last=0.5), ext(1, 1, 2.0, 10.0, t_last=2.1),
           rise, ext(-1, 1, 5.6, 10.3)]
    (c,) = feed_all(tr, seq)
    assert c.start.v == 10.0 and c.rom == pytest.approx(15.0)
    assert math.isclose(c.dep_s, 3.6, abs_tol=0.05)


def test_a_stance_held_1_3_s_before_the_first_rep_is_its_start():
    # after walking (a valley at 14.7) the athlete steps onto the heels' wedge (25.1, settled
    # at 93.55 s) and squats from it at 94.9 s to 43.7 and back: a stance held 1.35 s - under
    # the 1.5 s of a rest - is the rep's start. The rise's table (levels 0.9 deg apart)
    # rounds the stance's own level down to one the angle last had before the stance.
    tr = SwingTracker(1)
    dep = tuple(93.0 + 0.03 * j for j in range(12)) + tuple(94.9 + 0.03 * j for j in range(20))
    rise = replace(ext(1, 1, 95.8, 43.7), dep_lo=14.7, dep_hi=43.7, dep=dep)
    seq = [ext(-1, 1, 91.6, 14.7, t_last=92.4), ext(1, 1, 93.55, 25.1, t_last=93.63),
           rise, ext(-1, 1, 96.6, 24.8)]
    (c,) = feed_all(tr, seq)
    assert c.start.v == 25.1 and c.rom == pytest.approx(18.6)


def test_a_start_a_degree_below_the_shifted_departure_table_still_finds_when_it_left():
    # a mount learned mid-swing shifts the kernel's table by one offset while the start is
    # re-projected exactly: the table's first level (17.3) then sits above the start (16.6)
    start = ext(1, 1, 195.6, 16.6, t_first=195.6, t_last=195.75)
    peak = replace(ext(1, 1, 201.5, 50.9), dep_lo=17.3, dep_hi=50.9,
                   dep=(192.8,) + tuple(201.0 + 0.015 * j for j in range(31)))
    c = Candidate(1, start, peak, ext(-1, 1, 202.0, 17.3), 200.0, 200.0, 0.0, 0.0, 0.0)
    assert c.dep_s == pytest.approx(201.0)


def test_a_rep_after_a_posture_change_starts_at_the_last_valley():
    # stand at 0, step into a stance at 12 (a bump up to 15 on the way), then a 40 deg swing
    # that comes back to the stance: the rep is the swing from the stance, not from standing
    tr = SwingTracker(1)
    seq = [ext(-1, 1, 0.0, 0.0), ext(1, 0, 1.0, 15.0), ext(-1, 0, 1.5, 12.0, rpos=0.0),
           ext(1, 0, 2.0, 52.0, rpos=150.0), ext(-1, 1, 2.6, 12.5, rneg=90.0)]
    (c,) = feed_all(tr, seq)
    assert c.start.v == 12.0 and c.rom == pytest.approx(40.0) and c.n_peaks == 1
    assert c.rpos == 150.0 and c.rneg == 90.0


def test_departure_table_gives_when_the_rep_really_left_its_start():
    # a stance reached at t=1 s drifts within 1 deg until t=5 s, then a 30 deg rep: the
    # rep starts at ~5 s (5 % of its ROM), not when the stance was reached
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion._synth import imu_from_angles, rep_profile

    rate = 100.0
    t = np.arange(0.0, 14.0, 1.0 / rate)
    theta, _ = rep_profile(t, [5.0, 7.5, 10.0], [30.0, 30.0, 30.0])
    theta += np.where(t < 5.0, 0.8 * np.clip(t - 2.0, 0.0, 1.0), 0.8)  # a slight drift first
    blk, _, _ = imu_from_angles(t, theta, seed=1)
    eng = MotionEngine(mount={"right_axis": [0.0, 1.0, 0.0]})
    ev = eng.process(blk).events + eng.finish()
    sets = [e for e in ev if type(e).__name__ == "SetEvent"]
    assert len(sets) == 1 and len(sets[0].reps) == 3
    assert abs(sets[0].reps[0].start_s - 5.0) < 0.3


def test_partial_in_the_sets_rhythm_counts_but_a_bounce_in_the_rest_does_not():
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion._synth import imu_from_angles, rep_profile

    t = np.arange(0.0, 30.0, 0.01)
    starts = [3.0, 5.2, 7.4, 9.6, 11.8, 16.0]
    amps = [30.0, 30.0, 30.0, 30.0, 10.0, 9.0]  # a partial rep in rhythm, then a knee bounce
    theta, _ = rep_profile(t, starts, amps)
    blk, _, _ = imu_from_angles(t, theta, seed=2)
    eng = MotionEngine(mount={"right_axis": [0.0, 1.0, 0.0]})
    ev = eng.process(blk).events + eng.finish()
    (s,) = [e for e in ev if type(e).__name__ == "SetEvent"]
    assert len(s.reps) == 5
    assert [r.partial for r in s.reps] == [False, False, False, False, True]


@pytest.mark.parametrize("tilt_sag_deg", [-16.0, 16.0])
def test_a_strap_tilted_16_deg_sagittally_changes_no_count(tilt_sag_deg):
    # REAL-SIGNALS §2: standing can read 0-18 deg off. Standing at -13 is still standing
    # (every session begins so, CONTRACTS §1): shallow squats from it are squats, and raises
    # after leaning back 14 deg to the wall are raises
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion._synth import _ramp, imu_from_angles, rep_profile

    t = np.arange(0.0, 50.0, 0.002)
    theta, _ = rep_profile(t, [3.0 + 3.5 * k for k in range(6)], [11.0] * 6, down_s=1.4,
                           hold_s=0.3, up_s=1.3, base=3.0)
    theta += -14.0 * (_ramp((t - 28.0) / 1.5) - _ramp((t - 47.0) / 1.5))
    raises, _ = rep_profile(t, [31.0 + 2.2 * k for k in range(6)], [4.0] * 6, down_s=0.7,
                            hold_s=0.3, up_s=0.5)
    blk, _, _ = imu_from_angles(t, theta + raises, rot_about_x_deg=10.0, tilt_sag_deg=tilt_sag_deg,
                                tilt_front_deg=4.0, seed=3)
    eng = MotionEngine()
    ev = eng.process(blk).events + eng.finish()
    sets = [(e.exercise, len(e.reps)) for e in ev if type(e).__name__ == "SetEvent"]
    assert sets == [("squat", 6), ("tib_raise", 6)]


@pytest.mark.parametrize("down_s,hold_s,up_s,gap_s,rate_hz", [
    (0.9, 0.0, 0.9, 0.1, 50.0),  # quick, as fast down as up, no pause: not a walking stride
    (0.7, 0.0, 0.85, 0.1, 200.0),  # ... even dropping into it a little faster than coming up
    (3.0, 3.0, 2.5, 1.0, 100.0),  # slow 3-3-3 tempo: 8.5 s reps are still reps of one set
])
def test_squat_tempos_beyond_the_simulator(down_s, hold_s, up_s, gap_s, rate_hz, amp_deg=38.0):
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion._synth import imu_from_angles, rep_profile

    period = down_s + hold_s + up_s + gap_s
    t = np.arange(0.0, 4.0 + 7 * period + 4.0, 0.001)
    starts = [3.0 + k * period for k in range(7)]
    theta, _ = rep_profile(t, starts, [amp_deg] * 7, down_s=down_s, hold_s=hold_s, up_s=up_s, base=3.0)
    blk, _, _ = imu_from_angles(t, theta, rot_about_x_deg=-15.0, tilt_front_deg=5.0, seed=5)
    step = int(round(1000.0 / rate_hz))
    blk = blk.slice(0, len(blk)) if step == 1 else type(blk)(blk.t_s[::step], blk.accel_g[::step],
                                                            blk.gyro_dps[::step])
    eng = MotionEngine()
    ev = eng.process(blk).events + eng.finish()
    sets = [e for e in ev if type(e).__name__ == "SetEvent"]
    assert [(s.exercise, len(s.reps)) for s in sets] == [("squat", 7)]


def _stance_session(tilt_from_deg, tilt_to_deg, dip_base_deg, seed=7):
    """Standing (shin at 2 deg), a squat set (the mount is learned), a rest in which the strap
    may be re-tilted (no turn about the shin) while standing, then three small held dips
    behind standing that rise ~3.5 deg each, like raises at a wall (``dip_base_deg`` is the
    shin's angle at the bottom of the dips). Returns (block at 100 Hz, true sensor angles)."""
    import numpy as np

    from kotdevice.motion._synth import _ramp, imu_from_angles, rep_profile

    t = np.arange(0.0, 45.0, 0.001)
    theta, _ = rep_profile(t, [3.0 + 2.4 * k for k in range(6)], [30.0] * 6, base=2.0)
    # the dips: lean back to the base, then rise and settle again, three times
    theta += (dip_base_deg - 2.0) * (_ramp((t - 30.0) / 0.8) - _ramp((t - 40.0) / 0.8))
    dips, _ = rep_profile(t, [31.5, 34.0, 36.5], [3.5] * 3, down_s=0.5, hold_s=0.5, up_s=0.5)
    theta += dips
    tilt = tilt_from_deg + (tilt_to_deg - tilt_from_deg) * _ramp((t - 20.0) / 0.6)
    blk, tib, _ = imu_from_angles(t, theta, None, 15.0, tilt, 4.0, seed=seed)
    idx = np.arange(0, len(t), 10)
    return type(blk)(blk.t_s[idx], blk.accel_g[idx], blk.gyro_dps[idx]), tib[idx]


@pytest.mark.parametrize("tilt_to_deg,dip_base_deg,want", [
    # the strap was tilted back 5 deg while standing: the dips lean 4.5 deg behind the new
    # stance (9.5 behind the old one) - not leaning against a wall
    (-5.0, -2.5, []),
    # the same dips with no re-tilt, 9.5 deg behind standing: raises at the wall
    (0.0, -7.5, [("tib_raise", 3)]),
])
def test_leaning_back_is_judged_against_the_stance_after_a_strap_re_tilt(tilt_to_deg, dip_base_deg, want):
    import numpy as np

    from kotdevice.motion.engine import MotionEngine

    blk, tib = _stance_session(0.0, tilt_to_deg, dip_base_deg)
    eng = MotionEngine()
    k = int(np.searchsorted(blk.t_s, 29.0))  # standing still after the (maybe) re-tilt
    ev = eng.process(blk.slice(0, k)).events
    stand_true = float(np.mean(tib[(blk.t_s > 24.0) & (blk.t_s < 29.0)]))
    assert abs(eng.stand_angle_deg - stand_true) < 1.0  # the reference has followed it
    ev += eng.process(blk.slice(k, len(blk))).events + eng.finish()
    sets = [(e.exercise, len(e.reps)) for e in ev if type(e).__name__ == "SetEvent"]
    assert sets == [("squat", 6)] + want


def test_a_strap_tilted_back_on_a_standing_shin_is_not_a_wall_lean_once_squats_started_there():
    # the standing shin reads -8 deg (strap tilted): the quiet start alone could be a session
    # begun leaning at the wall, but squats started from it - dips 4.5 deg behind are no raises
    from kotdevice.motion.engine import MotionEngine

    blk, _ = _stance_session(-10.0, -10.0, -2.5)
    eng = MotionEngine()
    ev = eng.process(blk).events + eng.finish()
    assert eng.stand_angle_deg < -7.0
    sets = [(e.exercise, len(e.reps)) for e in ev if type(e).__name__ == "SetEvent"]
    assert sets == [("squat", 6)]


def test_a_set_resumed_after_a_pause_takes_only_a_rep_in_its_own_pace():
    # step-downs: ~2 s each, out at ~78 dps, the push back up at ~195 dps. After a pause
    # much longer than the set's own, a swing going out twice as fast is walking off.
    from kotdevice.motion.engine import MotionEngine, _OpenSet

    def cand(t0, rom, rpos, rneg, dur=1.4):
        s = ext(-1, 1, t0, 8.0, t_first=t0 - 0.5, t_last=t0)
        p = ext(1, 0, t0 + dur / 2, 8.0 + rom)
        e = ext(-1, 1, t0 + dur, 8.5)
        return Candidate(1, s, p, e, rpos, rneg, 0.3, 0.0, 0.0)

    eng = MotionEngine()
    op = _OpenSet("squat", None, 1, 0)
    for k in range(5):
        eng._add_rep(op, cand(2.0 + 2.1 * k, 35.0 + k % 2, 78.0 + k, 195.0))
    last_end = op.last_end_s
    typical = 35.5
    quick = dict(rom=36.0, rpos=150.0, rneg=192.0, dur=0.9)
    assert eng._in_rhythm(op, cand(last_end + 0.7, **quick), typical)  # in the set's rhythm
    assert not eng._in_rhythm(op, cand(last_end + 7.0, **quick), typical)  # after a pause
    assert eng._in_rhythm(op, cand(last_end + 7.0, 35.0, 80.0, 190.0), typical)


def test_a_set_that_starts_with_a_shallow_try_keeps_it_and_every_full_rep_after():
    # first rep a 13 deg try, then full 40 deg reps: one set of 7 (the first full rep is
    # more than 3x the try - it once ended the set and was lost)
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion._synth import imu_from_angles, rep_profile

    t = np.arange(0.0, 40.0, 0.002)
    starts = [3.0 + 4.2 * k for k in range(7)]
    theta, _ = rep_profile(t, starts, [13.0] + [40.0] * 6, down_s=1.8, hold_s=0.6, up_s=1.5, base=3.0)
    blk, _, _ = imu_from_angles(t, theta, rot_about_x_deg=-12.0, tilt_front_deg=3.0, seed=11)
    eng = MotionEngine(mount={"right_axis": [0.0, 1.0, 0.0]})
    ev = eng.process(blk).events + eng.finish()
    sets = [e for e in ev if type(e).__name__ == "SetEvent"]
    assert [(s.exercise, len(s.reps)) for s in sets] == [("squat", 7)]
    assert [r.partial for r in sets[0].reps][1:] == [False] * 6


def test_the_standing_reference_is_relearned_the_same_however_the_stream_is_chunked():
    # the still-stance scan runs between the kernel's event rows, and the set it must wait
    # for is over by rest from a time the data fix, not when a block happens to end
    import numpy as np

    from kotdevice.motion.engine import MotionEngine

    blk, _ = _stance_session(0.0, -5.0, -2.5)
    k = int(np.searchsorted(blk.t_s, 29.0))  # standing still after the re-tilt
    runs = []
    for chunk in (len(blk), 1, 25, 512):
        eng = MotionEngine()
        ev = []
        for i in range(0, len(blk), chunk):
            for a, b in ((i, min(i + chunk, k)), (max(i, k), i + chunk)):  # also cut at k
                if a < b:
                    ev += eng.process(blk.slice(a, b)).events
                    if b == k:
                        stand_at_k = eng.stand_angle_deg
        ev += eng.finish()
        runs.append(([e for e in ev if type(e).__name__ != "SetEvent"],
                     [(e.exercise, len(e.reps)) for e in ev if type(e).__name__ == "SetEvent"],
                     stand_at_k, eng.stand_angle_deg))
    assert all(r == runs[0] for r in runs[1:])
    assert runs[0][1] == [("squat", 6)]


def test_a_long_held_bottom_that_creeps_and_wobbles_is_one_rep_and_keeps_the_set_open():
    # 3 s hold at 45 deg creeping to 44.4 (a new start after 1.5 s), a 0.6 deg wobble off
    # it, then back to standing: one rep from standing - and while the bottom is held the
    # set is not over by rest (the given-up swing is still under way)
    tr = SwingTracker(1)
    seq = [ext(-1, 1, 0.0, 5.0, t_first=0.0, t_last=6.0), ext(1, 1, 8.0, 45.2, t_last=8.2),
           ext(1, 2, 8.0, 45.2, t_first=8.0, t_last=8.8), ext(-1, 1, 10.0, 44.4, t_last=10.1)]
    assert feed_all(tr, seq) == []
    assert tr.swing_started_s() == 6.0
    (c,) = feed_all(tr, [ext(-1, 2, 10.0, 44.4, t_first=10.0, t_last=10.8),
                         ext(1, 1, 11.0, 45.0, t_last=11.1), ext(-1, 1, 13.0, 5.2)])
    assert c.start.v == 5.0 and c.rom == pytest.approx(40.2)
    assert c.peak.t_first == 8.0 and c.peak.t_last == 11.1  # the whole wobbling hold


def test_sitting_below_a_stand_to_sit_overshoot_is_no_rep_with_its_stand_up():
    # stand 0 -> overshoot 14.6 -> seated 8.4 for 3 s -> overshoot 14.2 -> stand -1: the
    # seat is far below the first peak, so the stand-up is not the way back of one long rep
    tr = SwingTracker(1)
    seq = [ext(-1, 1, 0.0, 0.0, t_first=0.0, t_last=1.0), ext(1, 1, 2.0, 14.6, t_last=2.2),
           ext(-1, 1, 3.0, 8.4, t_last=3.1), ext(-1, 2, 3.0, 8.4, t_first=3.0, t_last=6.5),
           ext(1, 1, 7.5, 14.2, t_last=7.6), ext(-1, 1, 9.0, -1.0)]
    cands = feed_all(tr, seq)
    assert all(c.start.v == 8.4 for c in cands)  # only the stand-up, from the seat


def test_a_given_up_swing_times_out_from_when_it_left_not_from_a_bump_before_it():
    # standing at 4, a 1 deg bump at t=1 becomes the start; the rep leaves at t=8, holds a
    # creeping bottom, and is back at t=17.5 - 16.5 s after the bump but 9.5 s after leaving
    def peak_with_departure(t, v, left_s):
        p = ext(1, 1, t, v, t_last=t + 0.1)
        p.dep_lo, p.dep_hi, p.dep = 4.0, v, tuple([left_s] * 32)
        return p

    tr = SwingTracker(1)
    seq = [ext(-1, 1, 0.0, 4.0, t_last=0.5), ext(1, 1, 1.0, 5.0, t_last=1.5),
           ext(1, 2, 1.0, 5.0, t_first=1.0, t_last=1.6),
           peak_with_departure(10.0, 34.0, 8.0), ext(1, 2, 10.0, 34.0, t_first=10.0, t_last=11.0),
           ext(-1, 1, 12.0, 33.0, t_last=12.1), ext(-1, 2, 12.0, 33.0, t_first=12.0, t_last=14.0)]
    assert feed_all(tr, seq) == []
    (c,) = feed_all(tr, [ext(-1, 1, 17.5, 4.5)])
    assert c.start.v == 5.0 and c.rom == pytest.approx(29.0)


@pytest.mark.parametrize("down_s,hold_s,up_s,gap_s,rate_hz,amp_deg", [
    (1.0, 1.0, 1.25, 0.0, 200.0, 38.0),  # dropping in quicker than coming up, bottom held 1 s
    (1.7, 1.0, 0.65, 0.0, 100.0, 44.0),  # a fast drive up from a held bottom: no walking stride
])
def test_a_held_bottom_is_never_a_stride(down_s, hold_s, up_s, gap_s, rate_hz, amp_deg):
    test_squat_tempos_beyond_the_simulator(down_s, hold_s, up_s, gap_s, rate_hz, amp_deg)


def _wall_session(amps, rot_deg=23.0, tilt_front_deg=13.0, base=-14.0, rate_hz=400.0,
                  up_s=0.8, hold_s=0.0, down_s=0.6, gap_s=1.0, sets=1, seed=4):
    """Standing 3 s at 3 deg, lean back to the wall, tibialis raises of ``amps`` (each set),
    back to standing for 6 s between sets. Returns the block at ``rate_hz``."""
    import numpy as np

    from kotdevice.motion._synth import _ramp, imu_from_angles, rep_profile

    period = up_s + hold_s + down_s + gap_s
    set_s = len(amps) * period
    t = np.arange(0.0, 6.0 + sets * (set_s + 10.0), 0.0005)
    theta = np.full(len(t), 3.0)
    starts = []
    for k in range(sets):
        t0 = 6.0 + k * (set_s + 10.0)
        theta += (base - 3.0) * (_ramp((t - (t0 - 2.5)) / 1.5) - _ramp((t - (t0 + set_s + 0.5)) / 1.5))
        starts += [t0 + i * period for i in range(len(amps))]
    raises, _ = rep_profile(t, starts, list(amps) * sets, down_s=up_s, hold_s=hold_s, up_s=down_s)
    blk, _, _ = imu_from_angles(t, theta + raises, rot_about_x_deg=rot_deg,
                                tilt_front_deg=tilt_front_deg, seed=seed)
    idx = np.arange(0, len(t), int(round(2000.0 / rate_hz)))
    return type(blk)(blk.t_s[idx], blk.accel_g[idx], blk.gyro_dps[idx])


def test_a_set_learning_the_mount_on_its_first_raises_measures_the_next_from_the_new_axis():
    # standing, then a slow lean back to the wall (too slow to learn the mount from), the
    # strap turned 23 deg and tilted 13: the raises teach the mount part-way through the
    # set, which shifts every angle by a few degrees - the set's "where the last rep ended"
    # with them (it once stayed in the old projection, the next raise did not start there,
    # and the set split)
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion._synth import _ramp, imu_from_angles, rep_profile

    t = np.arange(0.0, 36.0, 0.0005)
    theta = 3.0 - 17.0 * _ramp((t - 3.0) / 4.0)
    raises, _ = rep_profile(t, [8.0 + 2.35 * k for k in range(10)], [4.3] * 10, down_s=0.77,
                            hold_s=0.0, up_s=0.57)
    blk, _, _ = imu_from_angles(t, theta + raises, rot_about_x_deg=23.0, tilt_front_deg=13.0, seed=3)
    idx = np.arange(0, len(t), 5)
    eng = MotionEngine()
    ev = eng.process(type(blk)(blk.t_s[idx], blk.accel_g[idx], blk.gyro_dps[idx])).events
    ev += eng.finish()
    (mount,) = [e for e in ev if type(e).__name__ == "MountEvent"]
    assert 10.0 < mount.t_s < 25.0  # learned during the set
    sets = [(e.exercise, len(e.reps)) for e in ev if type(e).__name__ == "SetEvent"]
    assert sets == [("tib_raise", 10)]


def test_stepping_off_the_wall_and_back_between_sets_is_no_squat():
    from kotdevice.motion.engine import MotionEngine

    eng = MotionEngine()
    ev = eng.process(_wall_session([4.3] * 6, sets=2)).events + eng.finish()
    sets = [(e.exercise, len(e.reps)) for e in ev if type(e).__name__ == "SetEvent"]
    assert sets == [("tib_raise", 6)] * 2


def test_from_a_wall_lean_a_sit_down_and_back_is_no_squat_but_from_a_shifted_stance_it_is():
    # from the wall (18 deg behind standing): step off, sit, stand, back to the wall - 10 s,
    # two peaks, 34 deg; from a stance 5 deg behind (a strap re-tilted since the last still
    # stance) the same-sized swing is a squat
    cs, stand = CountSettings(), 6.0

    def medley(start):
        s0 = ext(-1, 1, 0.0, start, t_first=-1.0, t_last=0.0)
        p = ext(1, 1, 7.6, start + 34.0, t_first=7.3, t_last=7.9)
        e = ext(-1, 1, 10.0, start + 4.0)
        return Candidate(1, s0, p, e, 24.0, 22.0, 0.1, 0.0, 0.0, n_peaks=2)

    assert classify(medley(-12.0), stand, cs) is None
    assert classify(medley(1.0), stand, cs) == "squat"


def test_sitting_after_a_strap_re_tilt_is_not_taken_for_the_standing_reference():
    # standing reads 8 deg; the strap is re-tilted to read 3; then a 6 s sit (13 deg: within
    # 7 deg of the first stance, 10 deg from the current one) and standing again
    import numpy as np

    from kotdevice.motion._synth import _ramp, imu_from_angles
    from kotdevice.motion.engine import MotionEngine

    t = np.arange(0.0, 24.0, 0.01)
    tilt = 8.0 - 5.0 * _ramp((t - 5.0) / 0.6)
    theta = 10.0 * (_ramp((t - 10.0) / 1.5) - _ramp((t - 16.5) / 1.5))
    blk, _, _ = imu_from_angles(t, theta, None, 0.0, tilt, 6.0, seed=2)
    eng = MotionEngine()
    stand = []
    for i in range(0, len(t), 50):
        eng.process(blk.slice(i, i + 50))
        stand.append((t[min(i + 49, len(t) - 1)], eng.stand_angle_deg))
    after_re_tilt = [a for tt, a in stand if 9.5 <= tt <= 10.0]
    seated_on = [a for tt, a in stand if 16.0 <= tt <= 18.0]
    assert after_re_tilt and all(abs(a - 3.0) < 1.5 for a in after_re_tilt)
    assert seated_on and all(abs(a - 3.0) < 1.5 for a in seated_on), seated_on


def test_a_set_begun_with_two_shallow_raises_counts_them_once_it_is_recognised():
    # the first two raises (1.4 deg) are too small to start a set; the third starts it and
    # the two before, alike in time and from where each next one started, are its first reps
    from kotdevice.motion.engine import MotionEngine

    blk = _wall_session([1.4, 1.4] + [1.9] * 6, rot_deg=5.0, tilt_front_deg=2.0, base=-11.0,
                        rate_hz=100.0, up_s=1.0, hold_s=0.5, down_s=0.6, gap_s=1.4)
    eng = MotionEngine()
    ev = eng.process(blk).events + eng.finish()
    sets = [e for e in ev if type(e).__name__ == "SetEvent"]
    assert [(s.exercise, len(s.reps)) for s in sets] == [("tib_raise", 8)]
    assert [r.partial for r in sets[0].reps][:2] == [True, True]


def test_a_deep_rep_after_a_drifting_stance_starts_when_it_left():
    # the standing angle creeps 2 deg up before a 52 deg squat: the rep starts when the
    # shin really left (the departure stack keeps all of a deep rep's way out, not 40 deg)
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion._synth import _ramp, imu_from_angles, rep_profile

    t = np.arange(0.0, 25.0, 0.001)
    theta, spans = rep_profile(t, [12.0], [52.0], down_s=2.5, hold_s=1.0, up_s=1.85, base=3.0)
    theta += 2.0 * _ramp((t - 4.0) / 6.0) * (t < 12.0) + 2.0 * (t >= 12.0)
    blk, _, _ = imu_from_angles(t, theta, seed=8)
    blk = type(blk)(blk.t_s[::5], blk.accel_g[::5], blk.gyro_dps[::5])
    eng = MotionEngine(mount={"right_axis": [0.0, 1.0, 0.0]})
    ev = eng.process(blk).events + eng.finish()
    (rep,) = [e for e in ev if type(e).__name__ == "RepEvent"]
    # (a rep has left once 5 % of its ROM is covered: ~0.4 s into a 2.5 s descent)
    assert 11.9 < rep.start_s < 12.6
    assert 1.8 < rep.eccentric_s < 2.6
