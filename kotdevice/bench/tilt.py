"""``kotdevice bench tilt``: inclination accuracy of TiltFusion on BROAD-style trials, beside
VQF (real-time) and x-io Fusion (imufusion) run over the same trials in the same run.

Scoring (the data directory's README): the error at a sample is the angle between estimated
and true up (sensor frame); a trial's score is the RMS over samples with movement=1 and
valid=1; the table gives each trial and the means over undisturbed / disturbed / all trials.
"""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path



def default_broad_dir() -> Path:
    """The BROAD trials of the project's shared data: $KOTDEVICE_BROAD_DIR, else
    ``shared/data/broad`` beside the checkout (where the project keeps it)."""
    import os

    env = os.environ.get("KOTDEVICE_BROAD_DIR")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[3] / "shared" / "data" / "broad"
    return beside if beside.is_dir() else Path("/work/shared/data/broad")


DEFAULT_DATA = str(default_broad_dir())
REJECTION_TIMEOUT = 5.0  # imufusion 1.3: seconds (with sample_rate set)


def register(sub) -> None:
    p = sub.add_parser("tilt", help="inclination RMSE of the fusion vs VQF and imufusion")
    p.add_argument("--data", default=DEFAULT_DATA, help="directory of tNN.csv + tNN_truth.csv")
    p.add_argument("--out", default=None, help="write tNN_est.csv (t_s,ux,uy,uz) here")
    p.add_argument("--no-peers", action="store_true", help="skip vqf and imufusion")
    p.add_argument("--timing", action="store_true",
                   help="instead: time TiltFusion in FIFO-sized chunks (us/sample)")
    p.set_defaults(func=run)


def list_trials(data: Path) -> list[str]:
    import re
    return sorted(p.stem for p in data.glob("t*.csv") if re.fullmatch(r"t\d+", p.stem))


def disturbed_flags(data: Path) -> dict[str, bool]:
    """trial -> disturbed, from trials.csv when present (else all undisturbed)."""
    f = data / "trials.csv"
    out: dict[str, bool] = {}
    if f.exists():
        with open(f, newline="") as fh:
            for row in csv.DictReader(fh):
                out[row["trial"]] = row.get("disturbed", "0").strip() == "1"
    return out


def load_truth(path: Path):
    import numpy as np

    from kotdevice.errors import KotError
    try:
        a = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as e:
        raise KotError(f"{path}: cannot read truth file: {e}") from None
    if a.shape[1] < 6:
        raise KotError(f"{path}: need columns t_s,gvx,gvy,gvz,valid,movement")
    return a[:, 1:4], (a[:, 4] == 1) & (a[:, 5] == 1)


def incl_rmse_deg(est_up, true_up, mask) -> float:
    import numpy as np

    e = est_up / np.linalg.norm(est_up, axis=1, keepdims=True)
    tr = true_up / np.linalg.norm(true_up, axis=1, keepdims=True)
    m = mask & np.all(np.isfinite(tr), axis=1) & np.all(np.isfinite(e), axis=1)
    if not m.any():
        return float("nan")
    # atan2 of |cross| and dot: accurate at small angles, unlike acos
    cr = np.linalg.norm(np.cross(e[m], tr[m]), axis=1)
    dot = np.sum(e[m] * tr[m], axis=1)
    err = np.degrees(np.arctan2(cr, dot))
    return float(np.sqrt(np.mean(err ** 2)))


def run_ours(block):
    from kotdevice.motion.fusion import TiltFusion

    return TiltFusion().update(block.t_s, block.accel_g, block.gyro_dps).up


def _rate_hz(t_s) -> float:
    import numpy as np
    return float(1.0 / np.median(np.diff(t_s)))


def run_vqf(block):
    """VQF's real-time (causal) filter; updateBatch runs that same causal loop in C++."""
    import numpy as np
    from vqf import VQF

    from kotdevice.sim.geometry import G_MPS2  # g -> m/s^2 (VQF's rest detection is in m/s^2)

    v = VQF(1.0 / _rate_hz(block.t_s))
    out = v.updateBatch(np.ascontiguousarray(np.radians(block.gyro_dps)),
                        np.ascontiguousarray(block.accel_g * G_MPS2))
    return _up_from_quat(out["quat6D"])


def imufusion_ahrs(fs_hz: float):
    """x-io Fusion Ahrs with the settings of the data README (rejection 10 deg, timeout 5 s);
    every setting explicit (defaults changed between imufusion 1.2 and 1.3)."""
    import imufusion

    ahrs = imufusion.Ahrs()
    s = imufusion.AhrsSettings()
    s.convention = imufusion.CONVENTION_NWU
    s.gain = 0.5
    s.gyroscope_range = 2000.0
    s.acceleration_rejection = 10.0
    s.magnetic_rejection = 0.0
    s.rejection_timeout = REJECTION_TIMEOUT
    s.sample_rate = fs_hz
    ahrs.set_settings(s)
    return ahrs


def run_imufusion(block):
    """x-io Fusion (see imufusion_ahrs), up vector per sample."""
    import numpy as np

    fs = _rate_hz(block.t_s)
    ahrs = imufusion_ahrs(fs)
    t = block.t_s
    q = np.empty((len(t), 4))
    prev = t[0] - 1.0 / fs
    for i in range(len(t)):
        ahrs.set_sample_period(float(t[i] - prev))
        ahrs.update_no_magnetometer(block.gyro_dps[i], block.accel_g[i])
        prev = t[i]
        q[i] = ahrs.get_quaternion()
    return _up_from_quat(q)


def _up_from_quat(q):
    """Up in the sensor frame from sensor->earth quaternions (w,x,y,z): R^T z = 3rd row of R."""
    import numpy as np

    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1)


def run_timing(n: int = 60000, repeats: int = 5) -> int:
    """Best-of-N wall time per sample of TiltFusion.update fed in chunks (one core)."""
    import numpy as np

    from kotdevice.motion.fusion import TiltFusion

    rng = np.random.default_rng(0)
    rate = 400.0
    t = np.arange(n) / rate
    g = np.cumsum(rng.normal(0, 3.0, (n, 3)), axis=0) % 200 - 100  # busy, varied rates
    a = np.tile([0.2, 0.1, 0.97], (n, 1)) + rng.normal(0, 0.05, (n, 3))
    TiltFusion().update(t[:4], a[:4], g[:4])  # compile or load the numba cache
    print("| chunk (samples) | TiltFusion.update, us/sample |")
    print("| ---: | ---: |")
    for chunk in (1, 10, 25, 50, n):
        best = float("inf")
        for _ in range(repeats):
            f = TiltFusion()
            t0 = time.perf_counter()
            for i in range(0, n, chunk):
                f.update(t[i:i + chunk], a[i:i + chunk], g[i:i + chunk])
            best = min(best, time.perf_counter() - t0)
        print(f"| {chunk if chunk < n else 'whole (%d)' % n} | {best / n * 1e6:.3f} |", flush=True)
        print(f"[tilt] timing chunk {chunk} done", file=sys.stderr, flush=True)
    return 0


def run(args) -> int:
    import numpy as np

    if args.timing:
        return run_timing()

    from kotdevice.errors import KotError
    from kotdevice.rawcsv import read_csv

    data = Path(args.data)
    if not data.is_dir():
        raise KotError(f"--data {data}: not a directory")
    trials = list_trials(data)
    if not trials:
        raise KotError(f"--data {data}: no tNN.csv trials found")
    disturbed = disturbed_flags(data)
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    peers = [] if args.no_peers else [("VQF real-time", run_vqf), ("imufusion", run_imufusion)]
    if peers:
        try:
            import imufusion  # noqa: F401
            import vqf  # noqa: F401
        except ImportError as e:
            raise KotError(f"peer filter not installed ({e.name}): pip install 'kotdevice[bench]' "
                           "or use --no-peers") from None
    names = ["kotdevice"] + [p[0] for p in peers]
    rows = []
    for tr in trials:
        truth_path = data / f"{tr}_truth.csv"
        if not truth_path.exists():
            raise KotError(f"{truth_path}: missing (each tNN.csv needs tNN_truth.csv)")
        t0 = time.perf_counter()
        block = read_csv(data / f"{tr}.csv")
        true_up, mask = load_truth(truth_path)
        if len(true_up) != len(block):
            raise KotError(f"{truth_path}: {len(true_up)} rows but {tr}.csv has {len(block)}")
        est = run_ours(block)
        scores = [incl_rmse_deg(est, true_up, mask)]
        if out_dir:
            np.savetxt(out_dir / f"{tr}_est.csv", np.column_stack([block.t_s, est]),
                       delimiter=",", header="t_s,ux,uy,uz", comments="", fmt="%.6f")
        for _, fn in peers:
            scores.append(incl_rmse_deg(fn(block), true_up, mask))
        rows.append((tr, disturbed.get(tr, False), scores))
        print(f"[tilt] {tr}: " + ", ".join(f"{n} {s:.3f} deg" for n, s in zip(names, scores))
              + f" ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)

    print("| trial | disturbed | " + " | ".join(names) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in names) + " |")
    for tr, d, s in rows:
        print(f"| {tr} | {'yes' if d else 'no'} | " + " | ".join(f"{v:.2f}" for v in s) + " |")
    for label, sel in (("mean undisturbed", [r for r in rows if not r[1]]),
                       ("mean disturbed", [r for r in rows if r[1]]),
                       ("mean all", rows)):
        if not sel:
            continue
        means = np.nanmean(np.array([r[2] for r in sel]), axis=0)
        print(f"| **{label}** ({len(sel)}) | | " + " | ".join(f"**{v:.3f}**" for v in means) + " |")
    print("\nInclination RMSE in degrees (movement=1 and valid=1 samples).")
    return 0
