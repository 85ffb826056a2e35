"""``kotdevice simulate``: simulated shin-IMU recordings with ground truth (docs/sim.md)."""
from __future__ import annotations

import argparse

TEMPOS = ("quick", "normal", "slow", "pause")
EXERCISES = ("squat", "tib_raise", "backward_walk", "knee_to_wall")


def register(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulated athlete: contract CSV + ground truth (set, session or benchmark corpus)",
        description="Simulate a shin IMU during exercises. Writes FILE.csv (CONTRACTS §2), "
        "FILE.truth.json (sets, reps, rests) and FILE.truth.csv (per-sample true angles).",
    )
    p.add_argument("--exercise", choices=EXERCISES, default="squat")
    p.add_argument("--variant", help="squat: bodyweight, deep, heel_elevated, split_squat, step_up, "
                   "step_down; backward_walk: walk, sled_drag")
    p.add_argument("--reps", type=int, default=10, help="reps (strides; attempts for knee_to_wall)")
    p.add_argument("--tempo", choices=TEMPOS, default="normal")
    p.add_argument("--depth", type=float, dest="depth_deg", metavar="DEG",
                   help="bottom tibial angle (squat/stride) or raise ROM (tib_raise)")
    p.add_argument("--partials", type=int, default=0, help="how many partial reps (30-60%% ROM)")
    p.add_argument("--fatigue", type=float, default=0.0, help="0..1: later reps slower and shallower")
    p.add_argument("--leg", choices=("left", "right"))
    p.add_argument("--strap-rotation", type=float, metavar="DEG", help="strap rotation about the shin (±30)")
    p.add_argument("--chip", choices=("mpu6050", "lsm6dso"), help="error-model defaults (default mpu6050)")
    p.add_argument("--no-quantize", action="store_true", help="skip quantisation and clipping")
    p.add_argument("--ideal", action="store_true", help="no sensor errors at all (physics only)")
    p.add_argument("--error", action="append", default=[], metavar="NAME=VALUE",
                   help="override one error-model parameter (repeatable; also for --corpus), "
                        "e.g. accel_bias_sigma_g=0 (names: docs/sim.md, sim/imu_errors.py)")
    p.add_argument("--kinematics", action="append", default=[], metavar="NAME=VALUE",
                   help="scale a movement coupling (repeatable; also for --corpus): valgus_scale "
                        "(knee drifting in as it flexes), rotation_scale (tibia turning in); 0 = off")
    p.add_argument("--session", action="store_true", help="a whole default workout (several sets with rest)")
    p.add_argument("--spec", metavar="FILE.json", help="a session spec (see docs/sim.md)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate", type=float, default=200.0, metavar="HZ", help="output rate, 50-1000 (default 200)")
    p.add_argument("--out", metavar="FILE.csv", help="output CSV (truth files are written beside it)")
    p.add_argument("--plot", metavar="FILE.png", help="draw angle, accel, gyro and rep boundaries")
    p.add_argument("--corpus", metavar="DIR", help="write a benchmark corpus (tune/ and holdout/) instead")
    p.add_argument("--sessions", type=int, default=None, help="corpus size in sessions (default 60)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from kotdevice.errors import KotError
    from kotdevice.sim import ErrorParams, simulate_session, simulate_set
    from kotdevice.sim.output import write_result

    overrides = _error_overrides(args.error)
    kin = _kinematics(args.kinematics)
    if args.corpus:
        from kotdevice.sim.corpus import generate_corpus

        n = 60 if args.sessions is None else args.sessions
        if n < 2:
            raise KotError("--sessions must be at least 2 (tune and holdout)")
        generate_corpus(args.corpus, sessions=n, seed=args.seed, progress=sys.stderr,
                        error_overrides=overrides, kinematics=kin)
        return 0
    if not args.out and not args.plot:
        raise KotError("give --out FILE.csv and/or --plot FILE.png (or --corpus DIR)")
    # only what was asked for overrides a spec's own "error_model"
    ep: dict | ErrorParams = {}
    if args.chip:
        ep["chip"] = args.chip
    if args.no_quantize:
        ep.update(quantize=False, clip=False)
    ep.update(overrides)
    if args.ideal:
        ep = ErrorParams.for_chip(args.chip or "mpu6050").ideal()
    if args.spec:
        try:
            with open(args.spec, encoding="utf-8") as fh:
                spec = json.load(fh)
        except OSError as e:
            raise KotError(f"{args.spec}: cannot read: {e.strerror or e}") from None
        except json.JSONDecodeError as e:
            raise KotError(f"{args.spec}:{e.lineno}: not valid JSON: {e.msg}") from None
        if not isinstance(spec, dict):
            raise KotError(f"{args.spec}: a session spec must be a JSON object")
        res = simulate_session(spec, seed=args.seed, rate_hz=args.rate, errors=ep, kinematics=kin)
    elif args.session:
        res = simulate_session(None, seed=args.seed, rate_hz=args.rate, errors=ep, kinematics=kin)
    else:
        mount = None
        if args.strap_rotation is not None:
            if not -90 <= args.strap_rotation <= 90:
                raise KotError("--strap-rotation must be between -90 and 90 degrees")
            mount = {"rotation_about_shin_deg": args.strap_rotation}
        res = simulate_set(args.exercise, args.reps, variant=args.variant, tempo=args.tempo,
                           depth_deg=args.depth_deg, rate_hz=args.rate, seed=args.seed,
                           partials=args.partials, fatigue=args.fatigue, leg=args.leg, mount=mount,
                           errors=ep, kinematics=kin)
    if args.out:
        paths = write_result(res, args.out)
        print(f"wrote {', '.join(str(p) for p in paths)}: {len(res.imu)} samples, "
              f"{res.truth['total_reps']} reps", file=sys.stderr)
    if args.plot:
        from kotdevice.sim.plot import plot_result

        plot_result(res, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _name_values(option: str, items: list[str]) -> dict:
    """Repeated ``option NAME=VALUE`` items -> {name: float} (one-line error if malformed)."""
    from kotdevice.errors import KotError

    out = {}
    for it in items:
        name, _, val = it.partition("=")
        try:
            out[name.strip()] = float(val)  # (no "=": val is "", which is no number either)
        except ValueError:
            raise KotError(f"{option} {it!r}: expected NAME=NUMBER") from None
    return out


def _error_overrides(items: list[str]) -> dict:
    """--error items; names are checked by ErrorParams now, not mid-corpus."""
    from kotdevice.sim import ErrorParams

    out = _name_values("--error", items)
    ErrorParams.from_dict(out)
    return out


def _kinematics(items: list[str]) -> dict:
    """--kinematics items, checked as a session spec's "kinematics" would be."""
    from kotdevice.sim.session import check_kinematics

    out = _name_values("--kinematics", items)
    check_kinematics(out)
    return out
