"""Numba kernel of the motion engine's per-sample work (see ``engine.py``).

One function walks a chunk in order over a small float64 state vector, so any split of a
stream into chunks gives bit-identical results. Per sample it:

1. learns the mount: the principal axis of the gyro (projected perpendicular to "up", so the
   yaw and most of the axial strap jitter drop out) is the knee's flexion axis = the leg's
   lateral ("right") axis in the sensor frame. A long window (stable) and a short window
   (re-adjusted strap) are kept; a short-window axis far from the long one re-learns.
2. projects the fusion's up vector onto the sagittal / frontal planes -> the angles;
3. low-passes the angle and runs a hysteresis turning-point detector on it. Turning points
   (plus per-segment statistics) go to an event buffer that the Python layer turns into
   reps and sets; there are only a few per second, so Python's cost there is negligible.
"""
from __future__ import annotations

import math

import numpy as np
from kotdevice.motion._jit import njit

RAD2DEG = 180.0 / math.pi

# ---- state layout (float64) ------------------------------------------------------------
R = 0            # 3: lateral ("right") axis in the sensor frame, as used for the angles
P = 3            # 3: power-iteration vector of the long scatter matrix
PS = 6           # 3: power-iteration vector of the short scatter matrix
SL = 9           # 6: long gyro scatter (xx, xy, xz, yy, yz, zz), deg^2/s
SS = 15          # 6: short gyro scatter
MT_L = 21        # motion seconds in the long window
MT_S = 22        # motion seconds in the short window (decays)
LEARNED = 23     # 1 once the axis is learned (or a saved mount was given)
LAST_RELEARN = 24
LAST_T = 25
F1 = 26          # first low-pass stage of the tibial angle
F2 = 27          # detection angle (second stage)
INIT_F = 28
DIR = 29         # 0 = looking for the first swing, +1 seeking a max, -1 seeking a min
EXT = 30         # running extreme in the current direction (dir * angle)
EXT_REF = 31     # value at which EXT_T was last moved (arrival within tol)
EXT_T = 32
T_LAST = 33      # last time within tol of the running extreme
SET_REF = 34     # settle detector reference value (the fused angle, not the detection angle)
SET_START = 35   # when the fused angle last moved out of the settle band
SETTLED = 36
SETTLED_V = 37
PREV_EXT = 38    # last emitted opposite extreme (as an angle, not dir-scaled)
AMP = 39         # typical swing size (deg)
RAW_EXT = 40     # running extreme of the unfiltered angle (dir-scaled)
FRONT_EXT = 41   # frontal angle at the running extreme
SEG_RPOS = 42    # max positive sagittal rate in the segment (dps)
SEG_RNEG = 43    # max negative sagittal rate magnitude (dps)
SEG_ACC = 44     # max ||a| - 1 g| in the segment
SEG_FMAX = 45
SEG_FMIN = 46
MIN_V = 47       # dir = 0 bookkeeping
MIN_T = 48
MIN_TL = 49
MAX_V = 50
MAX_T = 51
MAX_TL = 52
LAST_ANG = 53
LAST_FRO = 54
FR1 = 55         # frontal low-pass
FR2 = 56
MIN_RAW = 57
MAX_RAW = 58
MIN_FR = 59
MAX_FR = 60
HOLD_T0 = 61     # arrival the settle was timed from: the still-held report (how 3) counts from it
# 62: free
AX_ON = 63       # 1 while an axial-rotation episode (strap being turned?) is under way
AX_PSI = 64      # integrated rotation about sensor X in the episode (deg)
AX_PERP = 65     # integrated rotation perpendicular to X in the episode (deg)
AX_QUIET = 66    # time the axial rate has been quiet (s)
AX_DUR = 67
EXT_UP = 68      # 3: up vector at the running extreme (to re-project it if the mount changes)
MIN_UP = 71      # 3
MAX_UP = 74      # 3
RATE1 = 77       # sagittal rate low-pass (impact spikes must not look like fast swings)
RATE2 = 78
LPW1 = 79        # 3: low-pass of the gyro perpendicular to up (learning input), stage 1
LPW2 = 82        # 3: stage 2
HELD = 85        # 1 once the running extreme was reported as held for C_HOLD_S
T_INIT = 86      # time the detector started (its first half second is the filters' warm-up)
# Departure stack: the suffix minima of the detection angle, (value, time) pairs with rising
# values. "The last time the angle was at or below x" is then one lookup, so the moment a rep
# really left its start (x = start + a share of its own ROM) is known even when the start
# position was reached long before and drifted a little (see departure_times).
DEP_N = 87       # number of pairs in use
# 512 rising entries DEP_Q apart span 128 deg: a rep's whole way out, from its start, stays
# in the stack (160 spanned 40 deg; a deeper squat lost its start, and with it when it left)
DEP_CAP = 512
DEP_V = 88       # DEP_CAP values
DEP_T = DEP_V + DEP_CAP  # DEP_CAP times
DEP_Q = 0.25     # deg: values closer than this share one entry (bounds the stack)
# the mirror image (suffix maxima, stored negated): "the last time at or above x" = when a
# rep left its peak on the way back
DEPX_N = DEP_T + DEP_CAP
DEPX_V = DEPX_N + 1
DEPX_T = DEPX_V + DEP_CAP
STATE_SIZE = DEPX_T + DEP_CAP

# ---- settings layout ---------------------------------------------------------------------
C_W_MIN = 0          # dps: gyro (perpendicular to up) above this is "motion" for learning
C_TAU_LONG = 1       # s of motion
C_TAU_SHORT = 2
C_ADOPT_MT = 3       # s of motion before the first learned axis is used
C_PLANAR = 4         # lambda1 / trace needed to adopt / refine the axis
C_RELEARN_COS = 5    # cos of the angle that means "re-adjusted"
C_RELEARN_PLANAR = 6
C_RELEARN_MT = 7
C_RELEARN_COOLDOWN = 8
C_TAU_DET = 9        # s: each of the two low-pass stages of the detection angle
C_H_MIN = 10         # deg: smallest hysteresis
C_H_REL = 11         # hysteresis as a fraction of the typical swing
C_H_MAX = 12
C_TOL_MIN = 13       # deg: arrival/leave band around an extreme
C_TOL_REL = 14
C_SETTLE_MIN = 15    # deg
C_SETTLE_T = 16      # s: an extreme held this long is reported without waiting to leave it
C_AMP_TAU = 17       # s: the typical swing decays toward the floor between sets
C_GAP = 18           # s: a dt above this resets the low-passes
C_LEARN = 19         # 1 = learn/refine the mount automatically
C_W_CAP = 20         # dps: faster learning input counts as if at this rate (0 = no cap)
C_AX_ON_DPS = 21     # axial rate that starts a strap-turn episode
C_AX_MIN_DEG = 22    # net turn about X that counts as a strap re-adjustment
C_AX_PERP_RATIO = 23 # ... while the rest of the sensor turned at most this much (relative)
C_AX_MAX_S = 24      # episodes longer than this are movement, not a strap turn
C_TAU_LEARN = 25     # s: low-pass of the learning input (strap/soft-tissue jitter is 3-20 Hz)
C_HOLD_S = 26        # s: a settled extreme still held this long is reported again (how = 3)
C_SIZE = 27

# ---- event buffer columns ----------------------------------------------------------------
E_KIND = 0       # +1 max, -1 min
E_HOW = 1        # 0 = confirmed by leaving, 1 = confirmed by holding (settled), 2 = left after
                 # settling, 3 = still held C_HOLD_S after its arrival
E_T = 2          # time of the extreme
E_V = 3          # detection-angle value at the extreme
E_TCONF = 4      # sample time of the confirmation (when it became known)
E_TFIRST = 5     # arrival: first time within tol of the extreme
E_TLAST = 6      # leave: last time within tol of the extreme (at confirmation)
E_RAW = 7        # extreme of the unfiltered angle in this phase
E_FRONT = 8      # frontal angle at the extreme
E_RPOS = 9       # segment stats (since the previous reported extreme)
E_RNEG = 10
E_ACC = 11
E_FMAX = 12
E_FMIN = 13
E_H = 14         # hysteresis in force
# (column 15 is free.) Rows with E_KIND == 0 are mount changes (_emit_mount): E_HOW = 0
# learned, 1 re-learned after a re-adjustment, 2 strap turned about the shin (E_H = the turn)
E_UP = 16        # 3: up vector (sensor frame) at the extreme
E_R = 19         # 3: the lateral axis in use when the row was written
E_DEP_LO = 22    # max rows: the segment's starting minimum (detection angle) ...
E_DEP = 23       # ... E_NDEP times: last time at or below lo + j/E_NDEP * (E_V - lo);
                 # min rows: the same for the negated angle (last time at or above)
E_NDEP = 32
E_NCOL = E_DEP + E_NDEP


def new_state() -> np.ndarray:
    s = np.zeros(STATE_SIZE)
    s[R + 1] = 1.0  # nominal mount: +Y is the wearer's right
    s[P + 1] = 1.0
    s[PS + 1] = 1.0
    s[LAST_T] = np.nan
    s[LAST_RELEARN] = -1e9
    return s


@njit(cache=True, inline="always")
def _sym_mul(S, o, x, y, z):
    return (S[o] * x + S[o + 1] * y + S[o + 2] * z,
            S[o + 1] * x + S[o + 3] * y + S[o + 4] * z,
            S[o + 2] * x + S[o + 4] * y + S[o + 5] * z)


@njit(cache=True, inline="always")
def _scatter_add(S, o, x, y, z, w):
    """Add w * v v^T to the symmetric 3x3 stored at o as (xx, xy, xz, yy, yz, zz)."""
    S[o] += x * x * w
    S[o + 1] += x * y * w
    S[o + 2] += x * z * w
    S[o + 3] += y * y * w
    S[o + 4] += y * z * w
    S[o + 5] += z * z * w


@njit(cache=True)
def _power_step(st, so, po):
    """One power iteration of the scatter at so on the vector at po; returns lambda1/trace."""
    x, y, z = _sym_mul(st, so, st[po], st[po + 1], st[po + 2])
    n = math.sqrt(x * x + y * y + z * z)
    tr = st[so] + st[so + 3] + st[so + 5]
    if n <= 1e-12 or tr <= 1e-12:
        return 0.0
    st[po] = x / n
    st[po + 1] = y / n
    st[po + 2] = z / n
    # Rayleigh quotient of the unit vector = lambda1 estimate
    return n / tr


@njit(cache=True)
def _adopt(st, po, ux, uy, uz):
    """R <- vector at po, signed so that forward = up x right points out of the skin (+Z)."""
    x = st[po]
    y = st[po + 1]
    z = st[po + 2]
    fz = ux * y - uy * x
    if abs(fz) > 0.2:
        if fz < 0:
            x, y, z = -x, -y, -z
    elif x * st[R] + y * st[R + 1] + z * st[R + 2] < 0:
        x, y, z = -x, -y, -z
    st[R] = x
    st[R + 1] = y
    st[R + 2] = z


@njit(cache=True, inline="always")
def _perp(vx, vy, vz, ux, uy, uz):
    """v minus its component along the unit vector u."""
    vu = vx * ux + vy * uy + vz * uz
    return vx - vu * ux, vy - vu * uy, vz - vu * uz


@njit(cache=True, inline="always")
def _unit_perp(rx, ry, rz, ux, uy, uz):
    """r perpendicular to up u, normalised; ok is False when r is (nearly) along u."""
    hx, hy, hz = _perp(rx, ry, rz, ux, uy, uz)
    hn = math.sqrt(hx * hx + hy * hy + hz * hz)
    if hn < 1e-9:
        return 0.0, 0.0, 0.0, False
    return hx / hn, hy / hn, hz / hn, True


@njit(cache=True, inline="always")
def _angles(ux, uy, uz, hx, hy, hz):
    """(tibial, frontal) angle in degrees of up u for the unit horizontal lateral axis h."""
    # forward = up x right; its X component is x_s . forward
    fx = uy * hz - uz * hy
    return math.atan2(fx, ux) * RAD2DEG, math.atan2(hx, ux) * RAD2DEG


@njit(cache=True, inline="always")
def _proj(ux, uy, uz, rx, ry, rz):
    """(tibial, frontal) angle in degrees of up u for the lateral axis r (sensor frame)."""
    hx, hy, hz, ok = _unit_perp(rx, ry, rz, ux, uy, uz)
    if not ok:
        return math.nan, math.nan
    return _angles(ux, uy, uz, hx, hy, hz)


@njit(cache=True)
def project_many(up, right, tib_out, fro_out):
    """_proj over up vectors (n,3) with one lateral axis (1,3) or one per up vector (n,3)."""
    one = right.shape[0] == 1
    for i in range(up.shape[0]):
        j = 0 if one else i
        tib_out[i], fro_out[i] = _proj(up[i, 0], up[i, 1], up[i, 2],
                                       right[j, 0], right[j, 1], right[j, 2])


@njit(cache=True)
def _shift_angles(st, d_ang, d_fro):
    """The lateral axis changed: move every stored angle by the change it makes now, so
    the detector sees no step (the turning points themselves are re-projected in Python)."""
    if not (math.isfinite(d_ang) and math.isfinite(d_fro)):
        return
    for k in (F1, F2, PREV_EXT, SET_REF, MIN_V, MAX_V, MIN_RAW, MAX_RAW):
        st[k] += d_ang
    d = st[DIR]
    if d != 0.0:
        st[EXT] += d * d_ang
        st[EXT_REF] += d * d_ang
        st[RAW_EXT] += d * d_ang
        st[SETTLED_V] += d * d_ang
    for k in (FR1, FR2, FRONT_EXT, SEG_FMAX, SEG_FMIN, MIN_FR, MAX_FR):
        st[k] += d_fro
    for k in range(int(st[DEP_N])):
        st[DEP_V + k] += d_ang
    for k in range(int(st[DEPX_N])):
        st[DEPX_V + k] -= d_ang


@njit(cache=True)
def _emit(ev, ne, kind, how, st, t_conf, h):
    if ne >= ev.shape[0]:
        return ne
    d = st[DIR]
    ev[ne, E_KIND] = kind
    ev[ne, E_HOW] = how
    ev[ne, E_T] = st[EXT_T]
    ev[ne, E_V] = d * st[EXT]
    ev[ne, E_TCONF] = t_conf
    ev[ne, E_TFIRST] = st[EXT_T]
    ev[ne, E_TLAST] = st[T_LAST]
    ev[ne, E_RAW] = d * st[RAW_EXT]
    ev[ne, E_FRONT] = st[FRONT_EXT]
    ev[ne, E_RPOS] = st[SEG_RPOS]
    ev[ne, E_RNEG] = st[SEG_RNEG]
    ev[ne, E_ACC] = st[SEG_ACC]
    ev[ne, E_FMAX] = st[SEG_FMAX]
    ev[ne, E_FMIN] = st[SEG_FMIN]
    ev[ne, E_H] = h
    ev[ne, E_UP] = st[EXT_UP]
    ev[ne, E_UP + 1] = st[EXT_UP + 1]
    ev[ne, E_UP + 2] = st[EXT_UP + 2]
    ev[ne, E_R] = st[R]
    ev[ne, E_R + 1] = st[R + 1]
    ev[ne, E_R + 2] = st[R + 2]
    if kind > 0.0:
        lo = st[PREV_EXT]
        hi = d * st[EXT]
        ev[ne, E_DEP_LO] = lo
        for j in range(E_NDEP):
            ev[ne, E_DEP + j] = _dep_lookup(st, DEP_N, DEP_V, DEP_T, lo + (hi - lo) * j / E_NDEP)
    else:
        lo = -st[PREV_EXT]
        hi = st[EXT]  # = -(the minimum)
        ev[ne, E_DEP_LO] = st[PREV_EXT]
        for j in range(E_NDEP):
            ev[ne, E_DEP + j] = _dep_lookup(st, DEPX_N, DEPX_V, DEPX_T, lo + (hi - lo) * j / E_NDEP)
    return ne + 1


@njit(cache=True)
def _emit_mount(ev, ne, how, st, t, turn_deg):
    """Mount-change row (E_KIND 0): the new lateral axis R in E_V/E_RAW/E_FRONT."""
    if ne >= ev.shape[0]:
        return ne
    ev[ne, :] = 0.0
    ev[ne, E_HOW] = how
    ev[ne, E_H] = turn_deg
    ev[ne, E_T] = t
    ev[ne, E_TCONF] = t
    ev[ne, E_V] = st[R]
    ev[ne, E_RAW] = st[R + 1]
    ev[ne, E_FRONT] = st[R + 2]
    return ne + 1


@njit(cache=True, inline="always")
def _dep_push(st, on, ov, ot, v, t):
    n = int(st[on])
    while n > 0 and st[ov + n - 1] >= v:
        n -= 1
    if n > 0 and v < st[ov + n - 1] + DEP_Q:
        st[ot + n - 1] = t
    else:
        if n >= DEP_CAP:
            # drop the oldest half (64+ deg below anything a rep will ask about)
            h = DEP_CAP // 2
            for k in range(DEP_CAP - h):
                st[ov + k] = st[ov + h + k]
                st[ot + k] = st[ot + h + k]
            n = DEP_CAP - h
        st[ov + n] = v
        st[ot + n] = t
        n += 1
    st[on] = n


@njit(cache=True)
def _dep_lookup(st, on, ov, ot, x):
    """Last time the stacked value was at or below x (nan if never, as far as kept)."""
    n = int(st[on])
    for k in range(n - 1, -1, -1):
        if st[ov + k] <= x:
            return st[ot + k]
    return math.nan


@njit(cache=True)
def _start_extremum(st, d, v, t, ang, fro, ux, uy, uz):
    """Begin tracking the next turning point, heading in direction d from value v."""
    st[EXT] = d * v
    st[EXT_REF] = d * v
    st[EXT_T] = t
    st[T_LAST] = t
    st[RAW_EXT] = d * ang
    st[FRONT_EXT] = fro
    st[EXT_UP] = ux
    st[EXT_UP + 1] = uy
    st[EXT_UP + 2] = uz
    st[SET_REF] = ang
    st[SET_START] = t
    st[HOLD_T0] = t
    st[SETTLED] = 0.0
    st[HELD] = 0.0


@njit(cache=True)
def _reset_seg(st, fr):
    st[SEG_RPOS] = 0.0
    st[SEG_RNEG] = 0.0
    st[SEG_ACC] = 0.0
    st[SEG_FMAX] = fr
    st[SEG_FMIN] = fr


@njit(cache=True)
def engine_chunk(t_s, up, gyr, acc, st, cfg, ang_out, fro_out, rate_out, ev):
    """Walk one chunk. Writes the angles (n,) and the sagittal rate (n,); appends turning
    points and mount changes to ``ev``; returns the number of rows written."""
    ne = 0
    n = t_s.shape[0]
    amp_floor = cfg[C_H_MIN] / cfg[C_H_REL]
    for i in range(n):
        t = t_s[i]
        ux = up[i, 0]
        uy = up[i, 1]
        uz = up[i, 2]
        if not (math.isfinite(ux) and math.isfinite(uy) and math.isfinite(uz)):
            # the fusion skipped this sample: hold the outputs
            ang_out[i] = st[LAST_ANG]
            fro_out[i] = st[LAST_FRO]
            rate_out[i] = 0.0
            continue
        last_t = st[LAST_T]
        dt = 0.0
        first = not math.isfinite(last_t)
        if not first:
            dt = t - last_t
            if dt < 0.0:
                dt = 0.0
        st[LAST_T] = t
        gap = first or dt > cfg[C_GAP]
        if gap:
            dt = 0.0
        wx = gyr[i, 0]
        wy = gyr[i, 1]
        wz = gyr[i, 2]
        if not (math.isfinite(wx) and math.isfinite(wy) and math.isfinite(wz)):
            wx = 0.0
            wy = 0.0
            wz = 0.0

        # ---- 1. mount learning ----------------------------------------------------------
        r0x = st[R]
        r0y = st[R + 1]
        r0z = st[R + 2]
        px, py, pz = _perp(wx, wy, wz, ux, uy, uz)
        # The jitter of loaded movement (soft tissue, strap resonance, 3-20 Hz) is as strong
        # as the rep's own rotation in the off axes and biases a raw principal axis by
        # 10-15 deg; the reps themselves are below ~1.5 Hz, so learn from a low-pass.
        if gap:
            for k in range(3):
                st[LPW1 + k] = 0.0
                st[LPW2 + k] = 0.0
        else:
            al = dt / (cfg[C_TAU_LEARN] + dt)
            st[LPW1] += al * (px - st[LPW1])
            st[LPW1 + 1] += al * (py - st[LPW1 + 1])
            st[LPW1 + 2] += al * (pz - st[LPW1 + 2])
            st[LPW2] += al * (st[LPW1] - st[LPW2])
            st[LPW2 + 1] += al * (st[LPW1 + 1] - st[LPW2 + 1])
            st[LPW2 + 2] += al * (st[LPW1 + 2] - st[LPW2 + 2])
        px = st[LPW2]
        py = st[LPW2 + 1]
        pz = st[LPW2 + 2]
        wp2 = px * px + py * py + pz * pz
        if cfg[C_LEARN] > 0.0 and dt > 0.0 and wp2 > cfg[C_W_MIN] * cfg[C_W_MIN]:
            dl = math.exp(-dt / cfg[C_TAU_LONG])
            ds = math.exp(-dt / cfg[C_TAU_SHORT])
            for k in range(6):
                st[SL + k] *= dl
                st[SS + k] *= ds
            # The scatter weighs each sample by its rate squared, so a few violent pushes
            # (step-ups reach 200 dps, with their own off-axis wobble) would outvote a whole
            # set of slow reps; above the cap every second of motion counts the same. Not
            # for the first axis: that must come from the strongest movement, not from the
            # shuffling that precedes a set.
            wl = dt
            if cfg[C_W_CAP] > 0.0 and st[LEARNED] > 0.0 and wp2 > cfg[C_W_CAP] * cfg[C_W_CAP]:
                wl = dt * cfg[C_W_CAP] * cfg[C_W_CAP] / wp2
            _scatter_add(st, SL, px, py, pz, wl)
            _scatter_add(st, SS, px, py, pz, wl)
            st[MT_L] += dt
            st[MT_S] = st[MT_S] * ds + dt
            pl = _power_step(st, SL, P)
            ps = _power_step(st, SS, PS)
            if st[LEARNED] == 0.0:
                if st[MT_L] >= cfg[C_ADOPT_MT] and pl >= cfg[C_PLANAR]:
                    _adopt(st, P, ux, uy, uz)
                    st[LEARNED] = 1.0
                    ne = _emit_mount(ev, ne, 0.0, st, t, 0.0)
            else:
                cs = abs(st[PS] * st[R] + st[PS + 1] * st[R + 1] + st[PS + 2] * st[R + 2])
                if (st[MT_S] >= cfg[C_RELEARN_MT] and ps >= cfg[C_RELEARN_PLANAR]
                        and cs < cfg[C_RELEARN_COS]
                        and t - st[LAST_RELEARN] >= cfg[C_RELEARN_COOLDOWN]):
                    for k in range(6):
                        st[SL + k] = st[SS + k]
                    st[P] = st[PS]
                    st[P + 1] = st[PS + 1]
                    st[P + 2] = st[PS + 2]
                    st[MT_L] = st[MT_S]
                    st[LAST_RELEARN] = t
                    _adopt(st, P, ux, uy, uz)
                    ne = _emit_mount(ev, ne, 1.0, st, t, 0.0)
                elif pl >= cfg[C_PLANAR]:
                    _adopt(st, P, ux, uy, uz)

        # ---- 1b. strap turned about the shin (hands on the enclosure) -------------------------
        # A turn of the enclosure about its own X axis while the shin keeps still: the gyro
        # sees a net rotation about X alone. A vector fixed in the leg (the lateral axis), in
        # sensor coordinates, turns by the opposite angle - update it at once rather than
        # waiting for the next set to re-learn it. Twists of the leg return to where they
        # started (net ~0) and movement turns the other axes too, so neither triggers it.
        if cfg[C_LEARN] > 0.0 and dt > 0.0:
            wperp = math.sqrt(wy * wy + wz * wz)
            if st[AX_ON] == 0.0:
                if abs(wx) > cfg[C_AX_ON_DPS]:
                    st[AX_ON] = 1.0
                    st[AX_PSI] = wx * dt
                    st[AX_PERP] = wperp * dt
                    st[AX_QUIET] = 0.0
                    st[AX_DUR] = dt
            else:
                st[AX_PSI] += wx * dt
                st[AX_PERP] += wperp * dt
                st[AX_DUR] += dt
                if abs(wx) < 0.3 * cfg[C_AX_ON_DPS]:
                    st[AX_QUIET] += dt
                else:
                    st[AX_QUIET] = 0.0
                if st[AX_DUR] > cfg[C_AX_MAX_S]:
                    st[AX_ON] = 0.0
                elif st[AX_QUIET] >= 0.3:
                    st[AX_ON] = 0.0
                    psi = st[AX_PSI]
                    if (abs(psi) >= cfg[C_AX_MIN_DEG]
                            and st[AX_PERP] <= cfg[C_AX_PERP_RATIO] * abs(psi)
                            and st[LEARNED] > 0.0):
                        c = math.cos(-psi / RAD2DEG)
                        sn = math.sin(-psi / RAD2DEG)
                        for o in (R, P, PS):
                            y0 = st[o + 1]
                            z0 = st[o + 2]
                            st[o + 1] = c * y0 - sn * z0
                            st[o + 2] = sn * y0 + c * z0
                        # the old scatter describes the old mount: start afresh around R
                        for k in range(6):
                            st[SL + k] = 0.0
                            st[SS + k] = 0.0
                        st[MT_L] = 0.0
                        st[MT_S] = 0.0
                        st[LAST_RELEARN] = t
                        # E_H carries the turn (deg, about sensor +X)
                        ne = _emit_mount(ev, ne, 2.0, st, t, psi)

        # ---- 2. angles --------------------------------------------------------------------
        hx, hy, hz, ok = _unit_perp(st[R], st[R + 1], st[R + 2], ux, uy, uz)
        if not ok:
            ang_out[i] = st[LAST_ANG]
            fro_out[i] = st[LAST_FRO]
            rate_out[i] = 0.0
            continue
        ang, fro = _angles(ux, uy, uz, hx, hy, hz)
        if (st[R] != r0x or st[R + 1] != r0y or st[R + 2] != r0z) and st[INIT_F] != 0.0:
            # the axis changed on this sample: shift what the detector stored by the step
            # the change makes, so it sees none
            a0, f0 = _proj(ux, uy, uz, r0x, r0y, r0z)
            _shift_angles(st, ang - a0, fro - f0)
        # + = knee moving forward: a positive turn about 'right' tips up toward -forward
        rate = -(wx * hx + wy * hy + wz * hz)
        ang_out[i] = ang
        fro_out[i] = fro
        rate_out[i] = rate
        st[LAST_ANG] = ang
        st[LAST_FRO] = fro
        an = math.sqrt(acc[i, 0] ** 2 + acc[i, 1] ** 2 + acc[i, 2] ** 2)
        adev = abs(an - 1.0)
        if not math.isfinite(adev):
            adev = 0.0

        # ---- 3. low-pass + turning points --------------------------------------------------
        if gap or st[INIT_F] == 0.0:
            st[F1] = ang
            st[F2] = ang
            st[FR1] = fro
            st[FR2] = fro
            st[RATE1] = rate
            st[RATE2] = rate
        else:
            a = dt / (cfg[C_TAU_DET] + dt)
            st[F1] += a * (ang - st[F1])
            st[F2] += a * (st[F1] - st[F2])
            st[FR1] += a * (fro - st[FR1])
            st[FR2] += a * (st[FR1] - st[FR2])
            st[RATE1] += a * (rate - st[RATE1])
            st[RATE2] += a * (st[RATE1] - st[RATE2])
        rate_f = st[RATE2]
        v = st[F2]
        fr = st[FR2]
        _dep_push(st, DEP_N, DEP_V, DEP_T, v, t)
        _dep_push(st, DEPX_N, DEPX_V, DEPX_T, -v, t)
        if dt > 0.0:
            st[AMP] *= math.exp(-dt / cfg[C_AMP_TAU])
        if st[AMP] < amp_floor:
            st[AMP] = amp_floor
        h = cfg[C_H_REL] * st[AMP]
        if h > cfg[C_H_MAX]:
            h = cfg[C_H_MAX]
        tol = max(cfg[C_TOL_MIN], cfg[C_TOL_REL] * st[AMP])
        s_tol = max(cfg[C_SETTLE_MIN], cfg[C_TOL_REL] * st[AMP])

        if st[INIT_F] == 0.0 or (st[DIR] == 0.0 and t - st[T_INIT] < 0.5):
            # (re)start the search while the fusion and low-passes settle
            if st[INIT_F] == 0.0:
                st[T_INIT] = t
            st[INIT_F] = 1.0
            st[DIR] = 0.0
            st[MIN_V] = v
            st[MIN_T] = t
            st[MIN_TL] = t
            st[MAX_V] = v
            st[MAX_T] = t
            st[MAX_TL] = t
            st[MIN_RAW] = ang
            st[MAX_RAW] = ang
            st[MIN_FR] = fro
            st[MAX_FR] = fro
            for k, uk in enumerate((ux, uy, uz)):
                st[MIN_UP + k] = uk
                st[MAX_UP + k] = uk
            _reset_seg(st, fr)

        # segment statistics
        if rate_f > st[SEG_RPOS]:
            st[SEG_RPOS] = rate_f
        if -rate_f > st[SEG_RNEG]:
            st[SEG_RNEG] = -rate_f
        if adev > st[SEG_ACC]:
            st[SEG_ACC] = adev
        if fr > st[SEG_FMAX]:
            st[SEG_FMAX] = fr
        if fr < st[SEG_FMIN]:
            st[SEG_FMIN] = fr

        d = st[DIR]
        if d == 0.0:
            if v < st[MIN_V] - tol:
                st[MIN_T] = t
            if v < st[MIN_V]:
                st[MIN_V] = v
                st[MIN_RAW] = min(st[MIN_RAW], ang)
                st[MIN_FR] = fro
                st[MIN_UP] = ux
                st[MIN_UP + 1] = uy
                st[MIN_UP + 2] = uz
            if v - st[MIN_V] <= tol:
                st[MIN_TL] = t
            if v > st[MAX_V] + tol:
                st[MAX_T] = t
            if v > st[MAX_V]:
                st[MAX_V] = v
                st[MAX_RAW] = max(st[MAX_RAW], ang)
                st[MAX_FR] = fro
                st[MAX_UP] = ux
                st[MAX_UP + 1] = uy
                st[MAX_UP + 2] = uz
            if st[MAX_V] - v <= tol:
                st[MAX_TL] = t
            up_sw = v - st[MIN_V] >= h
            dn_sw = st[MAX_V] - v >= h
            if up_sw or dn_sw:
                if up_sw:
                    # report the minimum, then seek a maximum
                    st[DIR] = -1.0
                    st[EXT] = -st[MIN_V]
                    st[EXT_T] = st[MIN_T]
                    st[T_LAST] = st[MIN_TL]
                    st[RAW_EXT] = -st[MIN_RAW]
                    st[FRONT_EXT] = st[MIN_FR]
                    for k in range(3):
                        st[EXT_UP + k] = st[MIN_UP + k]
                    ne = _emit(ev, ne, -1.0, 0.0, st, t, h)
                    st[PREV_EXT] = st[MIN_V]
                    st[DIR] = 1.0
                else:
                    st[DIR] = 1.0
                    st[EXT] = st[MAX_V]
                    st[EXT_T] = st[MAX_T]
                    st[T_LAST] = st[MAX_TL]
                    st[RAW_EXT] = st[MAX_RAW]
                    st[FRONT_EXT] = st[MAX_FR]
                    for k in range(3):
                        st[EXT_UP + k] = st[MAX_UP + k]
                    ne = _emit(ev, ne, 1.0, 0.0, st, t, h)
                    st[PREV_EXT] = st[MAX_V]
                    st[DIR] = -1.0
                d = st[DIR]
                _start_extremum(st, d, v, t, ang, fro, ux, uy, uz)
                _reset_seg(st, fr)
            continue

        w = d * v
        if w > st[EXT]:
            st[EXT] = w
            st[FRONT_EXT] = fro
            st[EXT_UP] = ux
            st[EXT_UP + 1] = uy
            st[EXT_UP + 2] = uz
            # arrival time: when the angle first came within the hold band of where it ends
            # up (a creep by more than the band moves it on, tiny drift does not)
            if w > st[EXT_REF] + tol:
                st[EXT_REF] = w
                st[EXT_T] = t
        if d * ang > st[RAW_EXT]:
            st[RAW_EXT] = d * ang
        if st[EXT] - w <= tol:
            st[T_LAST] = t
        if st[SETTLED] > 0.0 and st[EXT] > st[SETTLED_V] + s_tol:
            st[SETTLED] = 0.0  # it went on past the held point: report again later
            st[HELD] = 0.0
        if (st[SETTLED] > 0.0 and st[HELD] == 0.0 and st[T_LAST] == t
                and t - min(st[EXT_T], st[HOLD_T0]) >= cfg[C_HOLD_S]):
            ne = _emit(ev, ne, d, 3.0, st, t, h)
            st[HELD] = 1.0
        # Settled = the fused angle itself has stayed in a small band for C_SETTLE_T. The
        # detection angle's two low-passes trail a fast return (a step-up's ~200 dps push)
        # by ~0.15 s before they are within the band, which made such reps late; the fused
        # angle is already smooth (gyro-integrated), so its stillness is the earlier sign.
        if abs(ang - st[SET_REF]) > s_tol:
            st[SET_REF] = ang
            st[SET_START] = t
        elif (st[SETTLED] == 0.0 and t - st[SET_START] >= cfg[C_SETTLE_T]
              and st[EXT] - w <= s_tol and st[EXT] - d * st[PREV_EXT] >= h):
            # the detection angle is still closing in on where the fused angle stopped:
            # that is the extreme's level, so closing in is neither a deeper extreme nor
            # a later arrival
            if d * ang > st[EXT]:
                st[EXT] = d * ang
                st[EXT_REF] = max(st[EXT_REF], d * ang)
            ne = _emit(ev, ne, d, 1.0, st, t, h)
            st[SETTLED] = 1.0
            st[SETTLED_V] = st[EXT]
            st[HOLD_T0] = st[SET_START]
            swing = st[EXT] - d * st[PREV_EXT]
            st[AMP] = 0.7 * st[AMP] + 0.3 * swing
            _reset_seg(st, fr)
        if st[EXT] - w >= h:
            how = 2.0 if st[SETTLED] > 0.0 else 0.0
            ne = _emit(ev, ne, d, how, st, t, h)
            if how == 0.0:
                swing = st[EXT] - d * st[PREV_EXT]
                if swing >= h:
                    st[AMP] = 0.7 * st[AMP] + 0.3 * swing
                _reset_seg(st, fr)
            st[PREV_EXT] = d * st[EXT]
            d = -d
            st[DIR] = d
            _start_extremum(st, d, v, t, ang, fro, ux, uy, uz)
    return ne


# ---- standing reference, re-learned from still stances ------------------------------------
# A re-adjusted strap also tilts a few degrees, which moves the standing angle the tibialis-
# raise test (leaning back behind standing) compares against. Out of a set, the engine takes
# each still stance near the session's first one as the reference (see
# MotionEngine._restand_upto). Still = the angle stays within a small band; the fusion's
# stricter stillness (gyro-bias learning) comes and goes in relaxed standing.
RS_ON = 0        # 1 while a steady run is being accumulated
RS_T0 = 1        # its first sample's time
RS_LAST = 2      # the previous sample's time (a gap ends the run)
RS_N = 3
RS_ANG = 4       # sum of tibial angles over the run
RS_MIN = 5
RS_MAX = 6
RS_UP = 7        # 3: sum of up vectors over the run
RS_SIZE = 10


@njit(cache=True)
def restand_scan(t_s, ang, up, i0, i1, rs, min_s, band_deg, tol_deg, ref_deg, gap_s):
    """Advance the steady-run accumulator ``rs`` over samples i0..i1-1. Returns the index at
    which a run of at least ``min_s``, its angle within a ``band_deg`` band, whose mean
    tibial angle is within ``tol_deg`` of ``ref_deg`` is complete (its summed up vector is
    then in rs[RS_UP:]), or -1."""
    for i in range(i0, i1):
        a = ang[i]
        t = t_s[i]
        if not math.isfinite(a):
            rs[RS_ON] = 0.0
            continue
        if rs[RS_ON] != 0.0 and (t - rs[RS_LAST] > gap_s or max(rs[RS_MAX], a) - min(rs[RS_MIN], a) > band_deg):
            rs[RS_ON] = 0.0
        if rs[RS_ON] == 0.0:
            rs[RS_ON] = 1.0
            rs[RS_T0] = t
            rs[RS_N] = 0.0
            rs[RS_ANG] = 0.0
            rs[RS_MIN] = a
            rs[RS_MAX] = a
            rs[RS_UP] = rs[RS_UP + 1] = rs[RS_UP + 2] = 0.0
        rs[RS_LAST] = t
        rs[RS_N] += 1.0
        rs[RS_ANG] += a
        rs[RS_MIN] = min(rs[RS_MIN], a)
        rs[RS_MAX] = max(rs[RS_MAX], a)
        rs[RS_UP] += up[i, 0]
        rs[RS_UP + 1] += up[i, 1]
        rs[RS_UP + 2] += up[i, 2]
        if t - rs[RS_T0] >= min_s and abs(rs[RS_ANG] / rs[RS_N] - ref_deg) <= tol_deg:
            return i
    return -1
