"""``kotdevice doctor``: check this Pi is ready for the wearable (see docs/raspberry-pi.md)."""
from __future__ import annotations


def _positive(text: str) -> float:
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < v <= 60:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 60: {text}")
    return v


def register(sub) -> None:
    p = sub.add_parser(
        "doctor", help="check I2C, the IMU, the broker, the clock and disk space; say how to fix each failure",
        description="One line per check: OK, or FAIL with the fix. Exits 1 if any check fails.")
    p.add_argument("--config", metavar="PATH", help="TOML config (default /etc/kotdevice/config.toml if present)")
    p.add_argument("--sim", action="store_true", help="use the simulated IMU instead of /dev/i2c-N")
    p.add_argument("--seconds", type=_positive, default=2.0, metavar="S",
                   help="how long to stream from the IMU to measure its rate (default 2)")
    p.add_argument("--timeout", type=_positive, default=5.0, metavar="S",
                   help="how long to wait for the broker's answer (default 5)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from kotdevice.device.doctor import run_checks

    print("kotdevice doctor: checking...", file=sys.stderr, flush=True)
    results = run_checks(args.config, sim=args.sim, seconds=args.seconds, timeout_s=args.timeout)
    failed = [c.name for c in results if not c.ok]
    if failed:
        print(f"kotdevice doctor: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("kotdevice doctor: all checks passed", file=sys.stderr)
    return 0
