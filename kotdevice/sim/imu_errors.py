"""The IMU error model: what the chip and its clock do to the ideal signals.

Defaults come from the datasheets (MPU-6050 rev 3.4 / LSM6DSO rev 2): noise densities,
initial offsets, sensitivity and cross-axis tolerances, full-scale ranges, 16-bit output.
Datasheet tolerances are treated as ~3 sigma; bias random walk and the temperature
coefficients are not datasheet minima/maxima but typical values for these MEMS parts.
Every field can be overridden (``ErrorParams.from_dict``/``replace``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from kotdevice.errors import KotError


@dataclass(frozen=True)
class ErrorParams:
    chip: str = "mpu6050"
    accel_noise_density_g_rthz: float = 400e-6  # MPU-6050: 400 µg/√Hz
    gyro_noise_density_dps_rthz: float = 0.005  # MPU-6050: 0.005 °/s/√Hz
    accel_bias_sigma_g: float = 0.012  # zero-g offset ±50..80 mg worst case; typical parts far less
    gyro_bias_sigma_dps: float = 1.5  # ZRO ±20 °/s worst case; ~1–3 °/s typical
    gyro_bias_rw_dps_rts: float = 0.004  # bias random walk (°/s per √s)
    accel_bias_rw_g_rts: float = 2e-5
    accel_bias_tempco_g_per_c: float = 0.0005  # ±35 mg over 0–70 °C
    gyro_bias_tempco_dps_per_c: float = 0.03  # ZRO ±20 °/s over −40..85 °C (worst)
    accel_scale_sigma: float = 0.01  # sensitivity tolerance ±3 %
    gyro_scale_sigma: float = 0.01  # ±3 %
    accel_cross_sigma: float = 0.006  # cross-axis ±2 %
    gyro_cross_sigma: float = 0.006
    # REAL-SIGNALS §5: on real shins the gyro-integrated turn came out ~10 % smaller than the
    # accelerometer's, even after its tangential acceleration was accounted for. Modelled as
    # one gain on the whole gyro per session (device), beyond the datasheet's scale error.
    gyro_gain_mean: float = 0.90
    gyro_gain_sigma: float = 0.03
    accel_fs_g: float = 8.0
    gyro_fs_dps: float = 1000.0
    bits: int = 16
    quantize: bool = True  # False when the output feeds an emulated chip that quantises itself
    clip: bool = True
    temp_start_c: float = 24.0  # the strap warms toward skin temperature
    temp_end_c: float = 31.0
    temp_tau_s: float = 300.0
    period_jitter_frac: float = 0.01  # sigma of sample-time jitter, fraction of the period
    drop_prob: float = 2e-4  # chance that any one sample is lost
    drop_burst_per_min: float = 0.5  # FIFO-overflow-like bursts of lost samples
    drop_burst_max: int = 25

    @staticmethod
    def for_chip(chip: str, **overrides) -> "ErrorParams":
        base = CHIPS.get(chip)
        if base is None:
            raise KotError(f"unknown chip {chip!r} (known: {', '.join(sorted(CHIPS))})")
        return replace(base, **overrides) if overrides else base

    @staticmethod
    def from_dict(d: dict | None) -> "ErrorParams":
        d = dict(d or {})
        chip = d.pop("chip", "mpu6050")
        names = {f.name for f in fields(ErrorParams)}
        bad = sorted(set(d) - names)
        if bad:
            raise KotError(f"unknown error-model parameter(s): {', '.join(bad)}")
        return ErrorParams.for_chip(chip, **d)

    def to_dict(self) -> dict:
        return asdict(self)

    def ideal(self) -> "ErrorParams":
        """No errors at all (for physics checks)."""
        return replace(
            self, accel_noise_density_g_rthz=0.0, gyro_noise_density_dps_rthz=0.0,
            accel_bias_sigma_g=0.0, gyro_bias_sigma_dps=0.0, gyro_bias_rw_dps_rts=0.0,
            accel_bias_rw_g_rts=0.0, accel_bias_tempco_g_per_c=0.0, gyro_bias_tempco_dps_per_c=0.0,
            accel_scale_sigma=0.0, gyro_scale_sigma=0.0, accel_cross_sigma=0.0, gyro_cross_sigma=0.0,
            gyro_gain_mean=1.0, gyro_gain_sigma=0.0, quantize=False, clip=False, period_jitter_frac=0.0,
            drop_prob=0.0, drop_burst_per_min=0.0,
        )


CHIPS = {
    "mpu6050": ErrorParams(),
    "lsm6dso": ErrorParams(
        chip="lsm6dso",
        accel_noise_density_g_rthz=70e-6,  # high-performance mode
        gyro_noise_density_dps_rthz=0.0038,
        accel_bias_sigma_g=0.007,  # ±20 mg
        gyro_bias_sigma_dps=0.35,  # ±1 °/s
        gyro_bias_rw_dps_rts=0.0015,
        accel_bias_rw_g_rts=1e-5,
        accel_bias_tempco_g_per_c=0.0001,  # ±0.1 mg/°C
        gyro_bias_tempco_dps_per_c=0.01,  # ±0.01 °/s/°C
        accel_scale_sigma=0.005,  # ±1 %
        gyro_scale_sigma=0.007,  # ±2 %
        accel_cross_sigma=0.003,
        gyro_cross_sigma=0.003,
    ),
}


@dataclass(frozen=True)
class DrawnErrors:
    """The per-device constants drawn once per session (reported in the truth JSON)."""

    accel_bias_g: np.ndarray
    gyro_bias_dps: np.ndarray
    accel_tempco_g_per_c: np.ndarray
    gyro_tempco_dps_per_c: np.ndarray
    accel_M: np.ndarray  # (3,3) scale + cross-axis: measured = M @ true
    gyro_M: np.ndarray  # including gyro_gain
    gyro_gain: float = 1.0  # the §5 gain (already in gyro_M)

    def to_dict(self) -> dict:
        return {k: np.round(v, 6).tolist() for k, v in asdict(self).items()}


def draw_errors(p: ErrorParams, rng: np.random.Generator) -> DrawnErrors:
    def mat(scale_sigma, cross_sigma):
        M = np.eye(3) + np.diag(rng.normal(0, scale_sigma, 3))
        off = rng.normal(0, cross_sigma, (3, 3))
        np.fill_diagonal(off, 0.0)
        return M + off

    d = dict(
        accel_bias_g=rng.normal(0, p.accel_bias_sigma_g, 3),
        gyro_bias_dps=rng.normal(0, p.gyro_bias_sigma_dps, 3),
        accel_tempco_g_per_c=rng.normal(0, p.accel_bias_tempco_g_per_c / 2, 3),
        gyro_tempco_dps_per_c=rng.normal(0, p.gyro_bias_tempco_dps_per_c / 2, 3),
        accel_M=mat(p.accel_scale_sigma, p.accel_cross_sigma),
        gyro_M=mat(p.gyro_scale_sigma, p.gyro_cross_sigma),
    )
    # drawn last, and only with a spread, so that gyro_gain_mean=1 gyro_gain_sigma=0 gives
    # exactly the sessions of the simulator before the gain existed
    gain = float(rng.normal(p.gyro_gain_mean, p.gyro_gain_sigma)) if p.gyro_gain_sigma > 0 else p.gyro_gain_mean
    return DrawnErrors(**{**d, "gyro_M": gain * d["gyro_M"]}, gyro_gain=gain)


def temperature_c(p: ErrorParams, t_s: np.ndarray) -> np.ndarray:
    return p.temp_end_c + (p.temp_start_c - p.temp_end_c) * np.exp(-np.asarray(t_s) / p.temp_tau_s)


def sample_times(p: ErrorParams, duration_s: float, rate_hz: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Jittered sample times and a keep-mask for dropped samples. Returns (t_s, keep)."""
    n = int(np.floor(duration_s * rate_hz)) + 1
    period = 1.0 / rate_hz
    t = np.arange(n) * period
    if p.period_jitter_frac > 0:
        # timestamp jitter, bounded so time always increases
        j = np.clip(rng.normal(0, p.period_jitter_frac, n), -0.4, 0.4) * period
        j[0] = 0.0
        t = t + j
    keep = np.ones(n, bool)
    if p.drop_prob > 0:
        keep &= rng.random(n) >= p.drop_prob
    if p.drop_burst_per_min > 0:
        n_bursts = rng.poisson(p.drop_burst_per_min * duration_s / 60.0)
        for _ in range(n_bursts):
            i0 = int(rng.integers(int(3 * rate_hz), max(int(3 * rate_hz) + 1, n - 1)))
            keep[i0 : i0 + int(rng.integers(2, p.drop_burst_max + 1))] = False
    keep[: int(2 * rate_hz)] = True  # the contract's quiet-standing lead-in stays intact
    keep[-1] = True
    return t, keep


def band_white(rng, n: int, density: float, rate_hz: float) -> np.ndarray:
    """White noise of the given one-sided density sampled at rate_hz (bandwidth rate/2)."""
    return rng.normal(0, density * np.sqrt(rate_hz / 2.0), (n, 3))


def apply_errors(
    p: ErrorParams,
    drawn: DrawnErrors,
    t_s: np.ndarray,
    accel_g: np.ndarray,
    gyro_dps: np.ndarray,
    rate_hz: float,
    rng: np.random.Generator,
    *,
    quantize: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Measured = quantise(clip(M @ true + bias(t, T) + white noise)). ``t_s`` must be the
    full (undropped) grid so the random walk has the right step size."""
    n = len(t_s)
    temp = temperature_c(p, t_s)
    dT = (temp - p.temp_start_c)[:, None]
    dt = 1.0 / rate_hz
    g_rw = np.cumsum(rng.normal(0, p.gyro_bias_rw_dps_rts * np.sqrt(dt), (n, 3)), axis=0)
    a_rw = np.cumsum(rng.normal(0, p.accel_bias_rw_g_rts * np.sqrt(dt), (n, 3)), axis=0)
    a = accel_g @ drawn.accel_M.T + drawn.accel_bias_g + drawn.accel_tempco_g_per_c * dT + a_rw
    g = gyro_dps @ drawn.gyro_M.T + drawn.gyro_bias_dps + drawn.gyro_tempco_dps_per_c * dT + g_rw
    a = a + band_white(rng, n, p.accel_noise_density_g_rthz, rate_hz)
    g = g + band_white(rng, n, p.gyro_noise_density_dps_rthz, rate_hz)
    q = p.quantize if quantize is None else quantize
    c = p.clip if quantize is None else (quantize and p.clip)
    return clip_quantize(p, a, g, quantize=q, clip=c)


def clip_quantize(p: ErrorParams, a, g, *, quantize: bool = True, clip: bool = True):
    """Two's complement output: counts in [-2^(b-1), 2^(b-1)-1], LSB = fs / 2^(b-1)."""
    half = 2 ** (p.bits - 1)
    out = []
    for x, fs in ((a, p.accel_fs_g), (g, p.gyro_fs_dps)):
        lsb = fs / half
        if quantize:
            x = np.round(x / lsb) * lsb
        if clip:
            x = np.clip(x, -half * lsb, (half - 1) * lsb)
        out.append(x)
    return out[0], out[1]
