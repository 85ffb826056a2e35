"""Numba kernel of the tilt fusion (see ``fusion.py`` for the method and the settings).

One function walks a chunk of samples in order, reading and writing a small float64 state
vector, so any split of a stream into chunks gives bit-identical results. Everything is
scalar arithmetic (no temporary arrays) to stay near a microsecond per sample.
"""
from __future__ import annotations

import math

import numpy as np
from kotdevice.motion._jit import njit

# State vector layout (float64). Kept as data so get_state/set_state are one copy.
Q_GYR = 0      # 4: w,x,y,z  strapdown gyro quaternion, sensor -> almost-inertial frame I
Q_ACC = 4      # 4: w,x,y,z  tilt correction, I -> earth frame E (z up)
LP1 = 8        # 3: rate of the filtered accelerometer in frame I (g/s), low-pass state
LP2 = 11       # 3: low-passed accelerometer in frame I (g): the gravity direction
BIAS = 14      # 3: gyro bias estimate, sensor frame (dps)
REST_GYR = 17  # 3: short low-pass of raw gyro for rest detection (dps)
REST_ACC = 20  # 3: short low-pass of accel for rest detection (g)
REST_T = 23    # time the rest conditions have held (s)
LAST_T = 24    # previous sample time (s), NaN before the first sample
SINCE_INIT = 25  # time since (re)initialisation from the accelerometer (s)
INIT = 26      # 1.0 once initialised
N_RESETS = 27  # count of (re)initialisations (first sample + gaps)
ACT_MS = 28    # mean square of recent (clipped) accel deviation from gravity (g^2)
REST_REF = 29  # 3: accel low-pass when the current calm period began (g)
# gyro scale learning (see fusion.py, method 8)
GS_K = 32        # multiplier applied to the bias-corrected gyro (1 = as the chip says)
GS_SACC = 33     # sum over pairs of the turn the accelerometer saw (deg)
GS_SGYR = 34     # sum over pairs of the turn the gyro saw, at multiplier 1 (deg)
GS_NPAIRS = 35   # pairs used
GS_FAST = 36     # 3: fast low-pass of the accelerometer, sensor frame (g)
GS_VAR = 39      # low-passed squared deviation from it (g^2)
GS_CALM_T = 40   # how long the "held still" conditions have held (s)
GS_G = 41        # 3: gravity in frame I averaged over the current held-still moment (g)
GS_PAIRED = 44   # 1 once the current held-still moment has been paired with the previous
GS_PREV_OK = 45  # 1 while GS_PREV_* describe a held-still moment in the current frame I
GS_PREV_G = 46   # 3: the previous held-still moment's gravity in frame I (unit)
GS_PREV_Q = 49   # 4: q_gyr at its end
GS_PREV_T = 53   # its end time (s)
GS_WF = 54       # 3: fast low-pass of the corrected gyro (dps)
GS_W0 = 57       # 3: that low-pass when the current moment's averaging began (dps)
REST_T_TILT = 60  # time the rest conditions have held, ignoring rotation about the vertical (s)
BIAS_T = 61      # time the bias has been learned at rest so far (s)
# accelerometer calibration from held poses (see fusion.py, method 9)
AC_C = 62        # 9: correction matrix, row-major: accel used = AC_C (raw - AC_B)
AC_B = 71        # 3: accelerometer offset (g)
AW_T = 74        # current window: its length so far (s) ...
AW_N = 75        # ... samples ...
AW_SA = 76       # 3: ... sum of raw accel (g) ...
AW_SAN = 79      # ... sum of |a| and of |a|^2 ...
AW_SAN2 = 80
AW_SG = 81       # 3: ... sum of raw gyro and (84) of its squares, per axis
AW_SG2 = 84
AW_PREV = 87     # 3: the previous window's mean accel (g)
AW_PREV_OK = 90  # 1 when AW_PREV is a window of this stretch of stream
PO_SA = 91       # 3: the current held pose: sum of raw accel ...
PO_N = 94        # ... samples ...
PO_T = 95        # ... and length (s)
AC_NPOSES = 96   # poses used so far
AC_A = 97        # 45: normal matrix of the |a| fit, upper triangle row by row (weights in poses)
AC_Y = 142       # 9: its right-hand side
STATE_SIZE = 151
AC_NF = 9        # features of the fit: 1, ux, uy, uz, uy^2, uz^2, 2uxuy, 2uxuz, 2uyuz

# Settings vector layout (float64), filled from FusionSettings.
S_TAU_ACC = 0
S_WARMUP_RATIO = 1
S_GAP = 2
S_IMPACT = 3
S_REST_TAU = 4
S_REST_GYR = 5
S_REST_ACC = 6
S_REST_MIN_T = 7
S_BIAS_REST_TAU = 8
S_BIAS_MOTION_TAU = 9
S_BIAS_MAX = 10
S_CLIP_FACTOR = 11
S_ACT_TAU = 12
S_REST_DRIFT = 13
S_GS_MAX = 14
S_GS_DEADBAND = 15
S_GS_PRIOR = 16
S_GS_CALM_GYR = 17
S_GS_CALM_ACC = 18
S_GS_CALM_T = 19
S_GS_PAIR_MIN = 20
S_GS_PAIR_MAX_T = 21
S_GS_SETTLE = 22
S_GS_RATE_CHANGE = 23
S_GS_RETRO = 24
S_GS_PAIR_DISAGREE = 25
S_REST_TILT = 26
S_REST_SWAY = 27
S_AC_POSE_SIGMA = 28
S_AC_BIAS_SIGMA = 29
S_AC_SCALE_SIGMA = 30
S_AC_WINDOW = 31
S_AC_GYR_STD = 32
S_AC_ACC_STD = 33
S_AC_ACC_CHANGE = 34
S_AC_MIN_POSE = 35
S_AC_MAX_POSE = 36
SETTINGS_SIZE = 37

DEG = math.pi / 180.0


def new_state() -> np.ndarray:
    s = np.zeros(STATE_SIZE)
    s[Q_GYR] = 1.0
    s[Q_ACC] = 1.0
    s[LAST_T] = np.nan
    s[GS_K] = 1.0
    s[AC_C] = 1.0
    s[AC_C + 4] = 1.0
    s[AC_C + 8] = 1.0
    return s


@njit(cache=True)
def solve_accel_calibration(st, cfg):
    """The offset and the symmetric scale/cross-axis error that best explain the held poses'
    |a| (a linear least-squares fit with Gaussian priors at zero), turned into the correction
    applied to every sample. Writes AC_B and AC_C."""
    nf = AC_NF
    sp = cfg[S_AC_POSE_SIGMA]
    m = np.empty((nf, nf))
    v = np.empty(nf)
    k = AC_A
    for i in range(nf):
        for j in range(i, nf):
            m[i, j] = st[k] / (sp * sp)
            m[j, i] = m[i, j]
            k += 1
        v[i] = st[AC_Y + i] / (sp * sp)
    # priors: the common scale r free about 1, offsets and scale/cross-axis errors about 0
    m[0, 0] += 1e-6
    v[0] += 1e-6
    for i in range(1, 4):
        m[i, i] += 1.0 / cfg[S_AC_BIAS_SIGMA] ** 2
    for i in range(4, nf):
        m[i, i] += 1.0 / cfg[S_AC_SCALE_SIGMA] ** 2
    # Cholesky solve (m is symmetric positive definite by the priors)
    for j in range(nf):
        d = m[j, j]
        for k2 in range(j):
            d -= m[j, k2] * m[j, k2]
        d = math.sqrt(d)
        m[j, j] = d
        for i in range(j + 1, nf):
            e = m[i, j]
            for k2 in range(j):
                e -= m[i, k2] * m[j, k2]
            m[i, j] = e / d
    for i in range(nf):
        e = v[i]
        for k2 in range(i):
            e -= m[i, k2] * v[k2]
        v[i] = e / m[i, i]
    for i in range(nf - 1, -1, -1):
        e = v[i]
        for k2 in range(i + 1, nf):
            e -= m[k2, i] * v[k2]
        v[i] = e / m[i, i]
    r = v[0]
    st[AC_B] = v[1]
    st[AC_B + 1] = v[2]
    st[AC_B + 2] = v[3]
    # measured = r (I + E') true + b to first order, E' with a zero xx entry (r holds it)
    e_yy, e_zz, e_xy, e_xz, e_yz = v[4], v[5], v[6], v[7], v[8]
    st[AC_C] = 1.0 / r
    st[AC_C + 1] = -e_xy / r
    st[AC_C + 2] = -e_xz / r
    st[AC_C + 3] = -e_xy / r
    st[AC_C + 4] = (1.0 - e_yy) / r
    st[AC_C + 5] = -e_yz / r
    st[AC_C + 6] = -e_xz / r
    st[AC_C + 7] = -e_yz / r
    st[AC_C + 8] = (1.0 - e_zz) / r


@njit(cache=True)
def _add_pose(st, cfg):
    """One held pose (its mean raw accel) into the |a| fit, then re-solve."""
    n = st[PO_N]
    mx = st[PO_SA] / n
    my = st[PO_SA + 1] / n
    mz = st[PO_SA + 2] / n
    mn = math.sqrt(mx * mx + my * my + mz * mz)
    ux = mx / mn
    uy = my / mn
    uz = mz / mn
    f = (1.0, ux, uy, uz, uy * uy, uz * uz, 2.0 * ux * uy, 2.0 * ux * uz, 2.0 * uy * uz)
    w = min(st[PO_T] / cfg[S_AC_MAX_POSE], 1.0)
    k = AC_A
    for i in range(AC_NF):
        for j in range(i, AC_NF):
            st[k] += w * f[i] * f[j]
            k += 1
        st[AC_Y + i] += w * f[i] * mn
    st[AC_NPOSES] += 1.0
    solve_accel_calibration(st, cfg)


@njit(cache=True)
def _end_pose(st, cfg):
    if st[PO_T] >= cfg[S_AC_MIN_POSE]:
        _add_pose(st, cfg)
    st[PO_SA] = 0.0
    st[PO_SA + 1] = 0.0
    st[PO_SA + 2] = 0.0
    st[PO_N] = 0.0
    st[PO_T] = 0.0


@njit(cache=True)
def _reset_pose_windows(st, cfg):
    """Start and gaps: a window or pose must not straddle a hole in the stream."""
    _end_pose(st, cfg)
    for k in range(AW_T, AW_PREV_OK + 1):
        st[k] = 0.0


@njit(cache=True)
def _watch_poses(st, cfg, dt, ax, ay, az, anorm, gx, gy, gz):
    """Held poses from the raw signals, in windows of S_AC_WINDOW: a window is held when the
    gyro barely varies, |a| shows only noise and its mean accel is where the previous
    window's was. Consecutive held windows make one pose (split at S_AC_MAX_POSE)."""
    st[AW_T] += dt
    st[AW_N] += 1.0
    st[AW_SA] += ax
    st[AW_SA + 1] += ay
    st[AW_SA + 2] += az
    st[AW_SAN] += anorm
    st[AW_SAN2] += anorm * anorm
    st[AW_SG] += gx
    st[AW_SG + 1] += gy
    st[AW_SG + 2] += gz
    st[AW_SG2] += gx * gx
    st[AW_SG2 + 1] += gy * gy
    st[AW_SG2 + 2] += gz * gz
    if st[AW_T] < cfg[S_AC_WINDOW]:
        return
    n = st[AW_N]
    mx = st[AW_SA] / n
    my = st[AW_SA + 1] / n
    mz = st[AW_SA + 2] / n
    san = st[AW_SAN] / n
    var_an = st[AW_SAN2] / n - san * san
    var_g = 0.0
    for k in range(3):
        mg = st[AW_SG + k] / n
        var_g = max(var_g, st[AW_SG2 + k] / n - mg * mg)
    held = (n >= 3.0 and st[AW_PREV_OK] != 0.0
            and var_g < cfg[S_AC_GYR_STD] ** 2 and var_an < cfg[S_AC_ACC_STD] ** 2
            and (mx - st[AW_PREV]) ** 2 + (my - st[AW_PREV + 1]) ** 2
            + (mz - st[AW_PREV + 2]) ** 2 < cfg[S_AC_ACC_CHANGE] ** 2)
    if held:
        st[PO_SA] += st[AW_SA]
        st[PO_SA + 1] += st[AW_SA + 1]
        st[PO_SA + 2] += st[AW_SA + 2]
        st[PO_N] += n
        st[PO_T] += st[AW_T]
        if st[PO_T] >= cfg[S_AC_MAX_POSE]:
            _end_pose(st, cfg)
    else:
        _end_pose(st, cfg)
    st[AW_PREV] = mx
    st[AW_PREV + 1] = my
    st[AW_PREV + 2] = mz
    st[AW_PREV_OK] = 1.0
    for k in range(AW_T, AW_PREV):
        st[k] = 0.0


@njit(cache=True, inline="always")
def _rot(qw, qx, qy, qz, vx, vy, vz):
    """v' = q v q* (rotate a vector by a unit quaternion)."""
    # t = 2 * (q_vec x v); v' = v + w t + q_vec x t
    tx = 2.0 * (qy * vz - qz * vy)
    ty = 2.0 * (qz * vx - qx * vz)
    tz = 2.0 * (qx * vy - qy * vx)
    return (vx + qw * tx + (qy * tz - qz * ty),
            vy + qw * ty + (qz * tx - qx * tz),
            vz + qw * tz + (qx * ty - qy * tx))


@njit(cache=True)
def _init_from_acc(st, ax, ay, az):
    """Reset orientation so the measured specific force is 'up'; heading is arbitrary."""
    st[Q_GYR] = 1.0
    st[Q_GYR + 1] = 0.0
    st[Q_GYR + 2] = 0.0
    st[Q_GYR + 3] = 0.0
    n = math.sqrt(ax * ax + ay * ay + az * az)
    ux = ax / n
    uy = ay / n
    uz = az / n
    # shortest rotation taking u to +z: axis u x z = (uy, -ux, 0), q = [1+uz, uy, -ux, 0]/norm
    w = 1.0 + uz
    if w < 1e-9:  # upside down: rotate 180 deg about x
        st[Q_ACC] = 0.0
        st[Q_ACC + 1] = 1.0
        st[Q_ACC + 2] = 0.0
        st[Q_ACC + 3] = 0.0
    else:
        qn = math.sqrt(w * w + uy * uy + ux * ux)
        st[Q_ACC] = w / qn
        st[Q_ACC + 1] = uy / qn
        st[Q_ACC + 2] = -ux / qn
        st[Q_ACC + 3] = 0.0
    for k in range(3):
        st[LP1 + k] = 0.0
        st[LP2 + k] = (ax, ay, az)[k]
        st[REST_ACC + k] = (ax, ay, az)[k]
    st[REST_T] = 0.0
    st[REST_T_TILT] = 0.0
    st[ACT_MS] = 0.0
    # frame I starts afresh: a held-still moment from before cannot be compared with later ones
    st[GS_PREV_OK] = 0.0
    st[GS_CALM_T] = 0.0
    st[GS_PAIRED] = 0.0
    st[GS_VAR] = 0.0
    for k in range(3):
        st[GS_FAST + k] = (ax, ay, az)[k]
    st[SINCE_INIT] = 0.0
    st[INIT] = 1.0
    st[N_RESETS] += 1.0


@njit(cache=True)
def _write_up(st, up, i):
    # up in the sensor frame = q_gyr* (q_acc* z)
    w, x, y, z = st[Q_ACC], st[Q_ACC + 1], st[Q_ACC + 2], st[Q_ACC + 3]
    ix, iy, iz = _rot(w, -x, -y, -z, 0.0, 0.0, 1.0)
    w, x, y, z = st[Q_GYR], st[Q_GYR + 1], st[Q_GYR + 2], st[Q_GYR + 3]
    sx, sy, sz = _rot(w, -x, -y, -z, ix, iy, iz)
    n = math.sqrt(sx * sx + sy * sy + sz * sz)
    up[i, 0] = sx / n
    up[i, 1] = sy / n
    up[i, 2] = sz / n


@njit(cache=True)
def _angle(ux, uy, uz, vx, vy, vz):
    cx = uy * vz - uz * vy
    cy = uz * vx - ux * vz
    cz = ux * vy - uy * vx
    return math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), ux * vx + uy * vy + uz * vz) / DEG


@njit(cache=True)
def apply_gyro_scale(st, cfg):
    """The multiplier from the pairs' sums, with a prior at 1 and a dead band. A ratio of
    sums, not least squares: a residual gyro bias adds to the turns one way and takes from
    them the other, which cancels in the sums but not in squares (least squares weighs the
    longer, over-read way down more, and read 3 % low on paused split squats)."""
    prior = cfg[S_GS_PRIOR]
    d = (st[GS_SACC] + prior) / (st[GS_SGYR] + prior) - 1.0
    # a scale within the chip's tolerance is better left alone than replaced by an estimate
    # that is itself ~1-2 % off; beyond twice the band the estimate is applied in full
    db = cfg[S_GS_DEADBAND]
    if db > 0.0:
        d *= min(max((abs(d) - db) / db, 0.0), 1.0)
    m = cfg[S_GS_MAX]
    st[GS_K] = 1.0 + min(max(d, -m), m)


@njit(cache=True, inline="always")
def _lowpass3(st, i, a, x, y, z):
    """One first-order low-pass step of the 3-vector at st[i:i+3] (gain a); returns it."""
    lx = st[i] + a * (x - st[i])
    ly = st[i + 1] + a * (y - st[i + 1])
    lz = st[i + 2] + a * (z - st[i + 2])
    st[i] = lx
    st[i + 1] = ly
    st[i + 2] = lz
    return lx, ly, lz


@njit(cache=True)
def _learn_gyro_scale(st, cfg, t, dt, ax, ay, az, anorm, cgx, cgy, cgz, iax, iay, iaz):
    """Gyro scale from pairs of held moments: between two, the accelerometer measures how
    far the shin turned (no motion acceleration when held), the strapdown quaternion how far
    the gyro says it turned. The ratio of their sums over all pairs, with a prior at 1 and a
    dead band, becomes the multiplier applied to the gyro."""
    a = 1.0 - math.exp(-dt / 0.1)
    fx, fy, fz = _lowpass3(st, GS_FAST, a, ax, ay, az)
    st[GS_VAR] += a * ((ax - fx) ** 2 + (ay - fy) ** 2 + (az - fz) ** 2 - st[GS_VAR])
    wfx, wfy, wfz = _lowpass3(st, GS_WF, 1.0 - math.exp(-dt / 0.05), cgx, cgy, cgz)
    calm = (cgx * cgx + cgy * cgy + cgz * cgz < cfg[S_GS_CALM_GYR] ** 2
            and st[GS_VAR] < cfg[S_GS_CALM_ACC] ** 2 and abs(anorm - 1.0) < 0.05)
    if calm and st[GS_CALM_T] > cfg[S_GS_SETTLE]:
        # a slow reversal passes the tests above, but the shin is accelerating through it
        # and the tangential acceleration tilts the accelerometer: a held moment's rate stays put
        calm = ((wfx - st[GS_W0]) ** 2 + (wfy - st[GS_W0 + 1]) ** 2
                + (wfz - st[GS_W0 + 2]) ** 2 < cfg[S_GS_RATE_CHANGE] ** 2)
    if not calm:
        st[GS_CALM_T] = 0.0
        st[GS_PAIRED] = 0.0
        return
    ct = st[GS_CALM_T] + dt
    st[GS_CALM_T] = ct
    # gravity in I: a running mean over the held-still moment after its first moments (the
    # tail of the deceleration into it tilts the accelerometer), then a 0.25 s low-pass
    settle = cfg[S_GS_SETTLE]
    if ct <= settle:
        st[GS_W0] = wfx
        st[GS_W0 + 1] = wfy
        st[GS_W0 + 2] = wfz
        return
    w = dt / min(ct - settle, 0.25)
    if ct - dt <= settle:
        w = 1.0
    st[GS_G] += w * (iax - st[GS_G])
    st[GS_G + 1] += w * (iay - st[GS_G + 1])
    st[GS_G + 2] += w * (iaz - st[GS_G + 2])
    if ct < settle + cfg[S_GS_CALM_T]:
        return
    gn = math.sqrt(st[GS_G] ** 2 + st[GS_G + 1] ** 2 + st[GS_G + 2] ** 2)
    gx = st[GS_G] / gn
    gy = st[GS_G + 1] / gn
    gz = st[GS_G + 2] / gn
    qw, qx, qy, qz = st[Q_GYR], st[Q_GYR + 1], st[Q_GYR + 2], st[Q_GYR + 3]
    if st[GS_PAIRED] == 0.0:
        st[GS_PAIRED] = 1.0
        if st[GS_PREV_OK] != 0.0 and t - ct - st[GS_PREV_T] <= cfg[S_GS_PAIR_MAX_T]:
            # the previous moment's gravity, in the sensor frame then and (per the gyro) now
            pgx, pgy, pgz = st[GS_PREV_G], st[GS_PREV_G + 1], st[GS_PREV_G + 2]
            pw, px, py, pz = st[GS_PREV_Q], st[GS_PREV_Q + 1], st[GS_PREV_Q + 2], st[GS_PREV_Q + 3]
            ux, uy, uz = _rot(pw, -px, -py, -pz, pgx, pgy, pgz)
            vx, vy, vz = _rot(qw, -qx, -qy, -qz, pgx, pgy, pgz)
            nx, ny, nz = _rot(qw, -qx, -qy, -qz, gx, gy, gz)
            turn_gyro = _angle(ux, uy, uz, vx, vy, vz) / st[GS_K]  # as the chip says
            turn_acc = _angle(ux, uy, uz, nx, ny, nz)
            if turn_acc >= cfg[S_GS_PAIR_MIN] and abs(turn_acc - turn_gyro) < cfg[S_GS_PAIR_DISAGREE] * turn_gyro:
                st[GS_SACC] += turn_acc
                st[GS_SGYR] += turn_gyro
                st[GS_NPAIRS] += 1.0
                k_old = st[GS_K]
                apply_gyro_scale(st, cfg)
                if cfg[S_GS_RETRO] > 0.0 and st[GS_K] != k_old:
                    # the turn since the previous moment was integrated with the old
                    # multiplier: add what it missed, about the same axis, so the angle is
                    # right now rather than once the gravity low-pass catches up
                    rw = pw * qw + px * qx + py * qy + pz * qz  # r = q_prev* (x) q_now
                    rx = pw * qx - px * qw - py * qz + pz * qy
                    ry = pw * qy + px * qz - py * qw - pz * qx
                    rz = pw * qz - px * qy + py * qx - pz * qw
                    rn = math.sqrt(rx * rx + ry * ry + rz * rz)
                    if rn > 1e-9:
                        extra = 2.0 * math.atan2(rn, rw) * (st[GS_K] / k_old - 1.0)
                        c = math.cos(0.5 * extra)
                        sn = math.sin(0.5 * extra) / rn
                        ex, ey, ez = rx * sn, ry * sn, rz * sn
                        # gravity of this moment, in the sensor frame (unchanged by the fix)
                        sx, sy, sz = _rot(qw, -qx, -qy, -qz, gx, gy, gz)
                        nw = qw * c - qx * ex - qy * ey - qz * ez
                        nx2 = qw * ex + qx * c + qy * ez - qz * ey
                        ny2 = qw * ey - qx * ez + qy * c + qz * ex
                        nz2 = qw * ez + qx * ey - qy * ex + qz * c
                        qn = math.sqrt(nw * nw + nx2 * nx2 + ny2 * ny2 + nz2 * nz2)
                        qw, qx, qy, qz = nw / qn, nx2 / qn, ny2 / qn, nz2 / qn
                        st[Q_GYR] = qw
                        st[Q_GYR + 1] = qx
                        st[Q_GYR + 2] = qy
                        st[Q_GYR + 3] = qz
                        gx, gy, gz = _rot(qw, qx, qy, qz, sx, sy, sz)
                        st[GS_G] = gx * gn
                        st[GS_G + 1] = gy * gn
                        st[GS_G + 2] = gz * gn
    st[GS_PREV_OK] = 1.0
    st[GS_PREV_T] = t
    st[GS_PREV_G] = gx
    st[GS_PREV_G + 1] = gy
    st[GS_PREV_G + 2] = gz
    st[GS_PREV_Q] = qw
    st[GS_PREV_Q + 1] = qx
    st[GS_PREV_Q + 2] = qy
    st[GS_PREV_Q + 3] = qz


@njit(cache=True)
def fuse_chunk(t_s, acc_g, gyr_dps, st, cfg, up, gyr_out, still):
    """Process samples in order; writes up (n,3), gyr_out (n,3), still (n,)."""
    n = t_s.shape[0]
    tau_acc = cfg[S_TAU_ACC]
    rest_gyr2 = cfg[S_REST_GYR] ** 2  # per-chunk constants, out of the sample loop
    rest_acc2 = cfg[S_REST_ACC] ** 2
    rest_drift = cfg[S_REST_DRIFT] * DEG
    use_ac = cfg[S_AC_POSE_SIGMA] > 0.0
    for i in range(n):
        t = t_s[i]
        ax = acc_g[i, 0]
        ay = acc_g[i, 1]
        az = acc_g[i, 2]
        gx = gyr_dps[i, 0]
        gy = gyr_dps[i, 1]
        gz = gyr_dps[i, 2]
        anorm = math.sqrt(ax * ax + ay * ay + az * az)
        finite = (math.isfinite(t) and math.isfinite(anorm) and math.isfinite(gx)
                  and math.isfinite(gy) and math.isfinite(gz))
        if not finite or (st[INIT] == 0.0 and anorm < 1e-6):
            # unusable sample: hold the estimate so the stream keeps flowing
            gyr_out[i, 0] = math.nan
            gyr_out[i, 1] = math.nan
            gyr_out[i, 2] = math.nan
            still[i] = False
            if st[INIT] == 0.0:
                up[i, 0] = math.nan
                up[i, 1] = math.nan
                up[i, 2] = math.nan
            else:
                _write_up(st, up, i)
            continue
        # the accelerometer as calibrated so far (identity until held poses say otherwise);
        # the raw values feed the calibration itself, so it never sees its own output
        rawx = ax
        rawy = ay
        rawz = az
        rawn = anorm
        if use_ac:
            ox = ax - st[AC_B]
            oy = ay - st[AC_B + 1]
            oz = az - st[AC_B + 2]
            ax = st[AC_C] * ox + st[AC_C + 1] * oy + st[AC_C + 2] * oz
            ay = st[AC_C + 3] * ox + st[AC_C + 4] * oy + st[AC_C + 5] * oz
            az = st[AC_C + 6] * ox + st[AC_C + 7] * oy + st[AC_C + 8] * oz
            anorm = math.sqrt(ax * ax + ay * ay + az * az)
        bx = st[BIAS]
        by = st[BIAS + 1]
        bz = st[BIAS + 2]
        gk = st[GS_K]
        cgx = (gx - bx) * gk
        cgy = (gy - by) * gk
        cgz = (gz - bz) * gk
        gyr_out[i, 0] = cgx
        gyr_out[i, 1] = cgy
        gyr_out[i, 2] = cgz
        dt = t - st[LAST_T]
        if st[INIT] == 0.0 or dt > cfg[S_GAP]:
            # start or gap: integrating across the hole would be blind; restart from accel
            if anorm < 1e-6:
                still[i] = False
                _write_up(st, up, i)
                continue
            _init_from_acc(st, ax, ay, az)
            if use_ac:
                _reset_pose_windows(st, cfg)
            for k in range(3):
                st[REST_GYR + k] = (gx, gy, gz)[k]
            st[LAST_T] = t
            still[i] = False
            _write_up(st, up, i)
            continue
        if not dt > 0.0:
            # time not increasing: nothing to integrate; hold
            still[i] = st[REST_T] >= cfg[S_REST_MIN_T]
            _write_up(st, up, i)
            continue
        st[LAST_T] = t
        st[SINCE_INIT] += dt
        if use_ac:
            _watch_poses(st, cfg, dt, rawx, rawy, rawz, rawn, gx, gy, gz)

        # --- rest detection (raw gyro and accel against their short low-passes) ---
        # (after initialisation the low-passes start as running means, not from one sample)
        ar = 1.0 - math.exp(-dt / min(cfg[S_REST_TAU], st[SINCE_INIT]))
        rgx, rgy, rgz = _lowpass3(st, REST_GYR, ar, gx, gy, gz)
        pax = st[REST_ACC]
        pay = st[REST_ACC + 1]
        paz = st[REST_ACC + 2]
        rax, ray, raz = _lowpass3(st, REST_ACC, ar, ax, ay, az)
        dgyr2 = (gx - rgx) ** 2 + (gy - rgy) ** 2 + (gz - rgz) ** 2
        dacc2 = (ax - rax) ** 2 + (ay - ray) ** 2 + (az - raz) ** 2
        bmax = cfg[S_BIAS_MAX]
        # the slow gyro mean must be small enough to be a bias, not a slow turn
        # A relaxed stance wanders about the shin's axis (near vertical) by a few dps, which
        # turns nothing the tilt depends on: judged without that part, the stance is still
        # for the two bias components that matter (REAL-SIGNALS §1).
        acc_ok = (dacc2 < rest_acc2 and abs(rgx) < bmax and abs(rgy) < bmax
                  and abs(rgz) < bmax)
        calm = dgyr2 < rest_gyr2 and acc_ok
        tilt_calm = False
        # (|accel low-pass|: only a calm accelerometer leads to the uses below)
        ran = math.sqrt(rax * rax + ray * ray + raz * raz) if acc_ok else 1.0
        if cfg[S_REST_TILT] > 0.0 and acc_ok and rax > cfg[S_REST_TILT] * ran:
            vert = ((gx - rgx) * rax + (gy - rgy) * ray + (gz - rgz) * raz) / ran
            tilt_calm = dgyr2 - vert * vert < rest_gyr2
        if (calm or tilt_calm) and st[REST_T_TILT] >= cfg[S_REST_TAU]:
            # a slow turn passes the noise tests, and its rate would be learned as bias; but
            # then gravity drifts in the sensor frame: a still sensor's accel stays put
            px = st[REST_REF]
            py = st[REST_REF + 1]
            pz = st[REST_REF + 2]
            crx = py * raz - pz * ray
            cry = pz * rax - px * raz
            crz = px * ray - py * rax
            drift = math.atan2(math.sqrt(crx * crx + cry * cry + crz * crz),
                               px * rax + py * ray + pz * raz)
            if drift > rest_drift:
                calm = False
                tilt_calm = False
        if calm or tilt_calm:
            if st[REST_T_TILT] < cfg[S_REST_TAU]:
                # the reference is the low-pass once it has settled into this calm period
                st[REST_REF] = rax
                st[REST_REF + 1] = ray
                st[REST_REF + 2] = raz
            st[REST_T_TILT] += dt
        else:
            st[REST_T_TILT] = 0.0
        if calm:
            st[REST_T] += dt
        else:
            st[REST_T] = 0.0
        is_still = st[REST_T] >= cfg[S_REST_MIN_T]
        still[i] = is_still
        if is_still or st[REST_T_TILT] >= cfg[S_REST_MIN_T]:
            # At rest the raw rate is the bias: the mean of all the rest seen so far, then a
            # low-pass (the first stance is learned at once, the sway of later ones averages
            # out) ...
            st[BIAS_T] += dt
            if st[BIAS_T] < cfg[S_BIAS_REST_TAU]:
                ab = dt / st[BIAS_T]
            else:
                ab = 1.0 - math.exp(-dt / cfg[S_BIAS_REST_TAU])
            # ... less the slow turn (sway) the accelerometer sees: its low-pass turns as
            # -w x g, the same low-pass of w (REAL-SIGNALS §1: standing is never frozen).
            # Raw units: the chip reads w / k.
            dax = (rax - pax) / dt
            day = (ray - pay) / dt
            daz = (raz - paz) / dt
            # (over a short rest the accelerometer's own noise swamps a slow turn: phased in
            # over the first time constant of rest)
            wk = -cfg[S_REST_SWAY] * min(1.0, st[BIAS_T] / cfg[S_BIAS_REST_TAU]) / (
                ran * ran * gk * DEG)
            ex0 = rgx - bx - wk * (ray * daz - raz * day)
            ey0 = rgy - by - wk * (raz * dax - rax * daz)
            ez0 = rgz - bz - wk * (rax * day - ray * dax)
            if not is_still:
                # still but for the vertical: learn the bias across the vertical only
                ev = (ex0 * rax + ey0 * ray + ez0 * raz) / (ran * ran)
                ex0 -= ev * rax
                ey0 -= ev * ray
                ez0 -= ev * raz
            st[BIAS] = bx + ab * ex0
            st[BIAS + 1] = by + ab * ey0
            st[BIAS + 2] = bz + ab * ez0

        # --- strapdown integration: q_gyr <- q_gyr (x) exp(omega dt / 2) ---
        wx = cgx * DEG
        wy = cgy * DEG
        wz = cgz * DEG
        wn = math.sqrt(wx * wx + wy * wy + wz * wz)
        ang = wn * dt
        if ang > 1e-12:
            c = math.cos(0.5 * ang)
            s = math.sin(0.5 * ang) / wn
            dw = c
            dx = wx * s
            dy = wy * s
            dz = wz * s
            qw, qx, qy, qz = st[Q_GYR], st[Q_GYR + 1], st[Q_GYR + 2], st[Q_GYR + 3]
            nw = qw * dw - qx * dx - qy * dy - qz * dz
            nx = qw * dx + qx * dw + qy * dz - qz * dy
            ny = qw * dy - qx * dz + qy * dw + qz * dx
            nz = qw * dz + qx * dy - qy * dx + qz * dw
            qn = math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
            st[Q_GYR] = nw / qn
            st[Q_GYR + 1] = nx / qn
            st[Q_GYR + 2] = ny / qn
            st[Q_GYR + 3] = nz / qn

        # --- accelerometer low-pass in the almost-inertial frame I ---
        qw, qx, qy, qz = st[Q_GYR], st[Q_GYR + 1], st[Q_GYR + 2], st[Q_GYR + 3]
        iax, iay, iaz = _rot(qw, qx, qy, qz, ax, ay, az)
        if cfg[S_GS_MAX] > 0.0:
            _learn_gyro_scale(st, cfg, t, dt, ax, ay, az, anorm, cgx, cgy, cgz, iax, iay, iaz)
        # impacts: clip how far one sample may pull from the current gravity estimate. The
        # clip scales with the recent motion activity: in quiet stance a spike of several g
        # is cut to a fraction of a g, while during sustained vigorous motion the filter stays
        # linear so back-and-forth accelerations still average out (clipping skewed
        # accelerations would bias the tilt). The activity is fed the clipped deviation, so a
        # short spike cannot open the clip for itself.
        dx = iax - st[LP2]
        dy = iay - st[LP2 + 1]
        dz = iaz - st[LP2 + 2]
        dn2 = dx * dx + dy * dy + dz * dz
        clip = cfg[S_IMPACT] + cfg[S_CLIP_FACTOR] * math.sqrt(st[ACT_MS])
        if dn2 > clip * clip:
            f = clip / math.sqrt(dn2)
            iax = st[LP2] + f * dx
            iay = st[LP2 + 1] + f * dy
            iaz = st[LP2 + 2] + f * dz
            dn2 = clip * clip
        st[ACT_MS] += (1.0 - math.exp(-dt / cfg[S_ACT_TAU])) * (dn2 - st[ACT_MS])
        # after (re)initialisation the time constant grows from ~0, so the first seconds
        # average the quiet start instead of trusting one sample or lagging for tau_acc
        tau = st[SINCE_INIT] * cfg[S_WARMUP_RATIO]
        if tau > tau_acc:
            tau = tau_acc
        # 2nd-order Butterworth (damping 1/sqrt(2), natural frequency sqrt(2)/tau, as VQF's
        # tauAcc), discretised exactly for this sample's dt: the deviation from the (held)
        # input decays by the transition matrix Phi, so it is stable and correct at 50 Hz,
        # 1 kHz and under jitter. State: LP2 = filtered value, LP1 = its rate (g/s).
        if tau > 0.0:
            r = dt / tau
            e = math.exp(-r)
            c = math.cos(r)
            sn = math.sin(r)
            p11 = e * (c + sn)
            p12 = e * tau * sn
            p21 = -e * 2.0 * sn / tau
            p22 = e * (c - sn)
        else:
            p11 = 0.0
            p12 = 0.0
            p21 = 0.0
            p22 = 0.0
        yx = st[LP2] - iax
        yy = st[LP2 + 1] - iay
        yz = st[LP2 + 2] - iaz
        vx0 = st[LP1]
        vy0 = st[LP1 + 1]
        vz0 = st[LP1 + 2]
        l2x = iax + p11 * yx + p12 * vx0
        l2y = iay + p11 * yy + p12 * vy0
        l2z = iaz + p11 * yz + p12 * vz0
        st[LP1] = p21 * yx + p22 * vx0
        st[LP1 + 1] = p21 * yy + p22 * vy0
        st[LP1 + 2] = p21 * yz + p22 * vz0
        st[LP2] = l2x
        st[LP2 + 1] = l2y
        st[LP2 + 2] = l2z

        # --- tilt correction: rotate E so the filtered gravity is exactly vertical ---
        cw, cx, cy, cz = st[Q_ACC], st[Q_ACC + 1], st[Q_ACC + 2], st[Q_ACC + 3]
        ex, ey, ez = _rot(cw, cx, cy, cz, l2x, l2y, l2z)
        en = math.sqrt(ex * ex + ey * ey + ez * ez)
        if en > 1e-9:
            ex /= en
            ey /= en
            ez /= en
            w = 1.0 + ez
            if w > 1e-9:
                rn = math.sqrt(w * w + ey * ey + ex * ex)
                rw = w / rn
                rx = ey / rn
                ry = -ex / rn
                # correction q_r (rz = 0) applied on the left: q_acc <- q_r (x) q_acc
                nw = rw * cw - rx * cx - ry * cy
                nx = rw * cx + rx * cw + ry * cz
                ny = rw * cy - rx * cz + ry * cw
                nz = rw * cz + rx * cy - ry * cx
                qn = math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
                st[Q_ACC] = nw / qn
                st[Q_ACC + 1] = nx / qn
                st[Q_ACC + 2] = ny / qn
                st[Q_ACC + 3] = nz / qn
                tmb = cfg[S_BIAS_MOTION_TAU]
                if tmb > 0.0 and not is_still and st[SINCE_INIT] > tau_acc:
                    # in motion, a steady tilt correction is the gyro bias showing through:
                    # integrate it (slowly) into the bias. The correction rotated E by the
                    # angle vector 2*(rx,ry,0) over dt, i.e. the gyro drifted the other way.
                    fw, fx, fy, fz = st[Q_ACC], st[Q_ACC + 1], st[Q_ACC + 2], st[Q_ACC + 3]
                    gw, gx2, gy2, gz2 = st[Q_GYR], st[Q_GYR + 1], st[Q_GYR + 2], st[Q_GYR + 3]
                    # correction angle in E -> sensor frame (via I)
                    vx, vy, vz = _rot(fw, -fx, -fy, -fz, 2.0 * rx, 2.0 * ry, 0.0)
                    vx, vy, vz = _rot(gw, -gx2, -gy2, -gz2, vx, vy, vz)
                    k = 1.0 / (tmb * DEG)
                    nbx = st[BIAS] - k * vx
                    nby = st[BIAS + 1] - k * vy
                    nbz = st[BIAS + 2] - k * vz
                    st[BIAS] = min(max(nbx, -bmax), bmax)
                    st[BIAS + 1] = min(max(nby, -bmax), bmax)
                    st[BIAS + 2] = min(max(nbz, -bmax), bmax)
        _write_up(st, up, i)
