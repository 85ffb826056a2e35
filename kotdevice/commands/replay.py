"""``kotdevice replay FILE.csv --json``: run the device's motion engine over a recording.

Prints one JSON object on stdout (CONTRACTS §3); progress and logs go to stderr. The file is
streamed in blocks, so memory stays bounded however long the recording is.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    p = sub.add_parser("replay", help="run the motion engine over a raw IMU CSV file (CONTRACTS §3)")
    p.add_argument("file", metavar="FILE.csv", help="raw IMU CSV (CONTRACTS §2)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object (the default)")
    p.add_argument("--angles-out", metavar="PATH", help="write the tibial angle series as CSV t_s,tibial_angle_deg")
    p.add_argument("--exercise", choices=("squat", "tib_raise", "backward_walk"),
                   help="force the exercise instead of detecting it")
    p.add_argument("--depth-target", type=float, metavar="DEG",
                   help="squat/stride: bottom tibial angle; tib_raise: raise in degrees. "
                        "Reps short of 75%% of it are partial")
    p.add_argument("--mount", metavar="MOUNT.json", help="a saved mount calibration (`kotdevice calibrate`)")
    p.add_argument("--mode", choices=("reps", "knee_to_wall"), default="reps",
                   help="knee_to_wall: report held lunge maxima instead of counting reps")
    p.add_argument("--leg", choices=("left", "right"), help="which leg wears the sensor (for reports)")
    p.add_argument("--plot", metavar="FILE.png", help="draw the angle trace with reps and sets marked")
    p.add_argument("--block", type=int, default=256, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args) -> int:
    from kotdevice.errors import KotError
    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion.events import KneeToWallEvent, MountEvent, SetEvent
    from kotdevice.motion.mount import load_mount
    from kotdevice.rawcsv import iter_blocks

    mount = load_mount(args.mount) if args.mount else None
    eng = MotionEngine(exercise=args.exercise, mount=mount)
    try:
        if args.depth_target is not None:
            eng.set_depth_target(args.depth_target)
        eng.set_mode(args.mode)
        if args.leg:
            eng.set_leg(args.leg)
    except ValueError as e:
        raise KotError(str(e)) from None
    angles_fh = None
    if args.angles_out:
        try:
            angles_fh = open(args.angles_out, "w", encoding="utf-8", newline="\n")
        except OSError as e:
            raise KotError(f"{args.angles_out}: cannot write: {e.strerror or e}") from None
        angles_fh.write("t_s,tibial_angle_deg\n")
    plot = _PlotTrace() if args.plot else None
    events: list = []
    n = 0
    try:
        for block in iter_blocks(args.file, block_size=max(1, args.block)):
            out = eng.process(block)
            events.extend(out.events)
            n += len(block)
            if angles_fh is not None:
                angles_fh.writelines(f"{t:.6f},{a:.3f}\n" for t, a in zip(out.t_s.tolist(),
                                                                      out.tibial_angle_deg.tolist()))
            if plot is not None:
                plot.add(out.t_s, out.tibial_angle_deg)
            if n % 200_000 < len(block):
                print(f"replay: {n} samples, t={out.t_s[-1]:.1f} s", file=sys.stderr, flush=True)
        events.extend(eng.finish())
    finally:
        if angles_fh is not None:
            angles_fh.close()
    sets = [e for e in events if isinstance(e, SetEvent)]
    result = {
        "total_reps": sum(len(s.reps) for s in sets),
        "sets": [_set_json(s) for s in sets],
        "samples": n,
        "mount": eng.mount_dict(),
        "mount_events": [e.to_dict() for e in events if isinstance(e, MountEvent)],
        # what the fusion learned the gyro reads like (REAL-SIGNALS §5): the multiplier it
        # ended on, and from how many pairs of held moments
        "gyro_scale": {"applied": round(eng.gyro_scale, 4), "pairs": eng.gyro_scale_evidence()["pairs"]},
        # and the accelerometer offset it learned from held poses (|a| = 1 g when held)
        "accel_calibration": {"offset_g": [round(float(x), 5) for x in eng.accel_offset_g],
                              "poses": eng.accel_calibration_evidence()["poses"]},
    }
    ktw = [e for e in events if isinstance(e, KneeToWallEvent)]
    if ktw or args.mode == "knee_to_wall":
        result["knee_to_wall"] = {"attempts": [e.to_dict() for e in ktw], **eng.knee_to_wall_summary()}
    if plot is not None:
        plot.save(args.plot, sets, args.file)
        print(f"replay: plot written to {args.plot}", file=sys.stderr)
    print(f"replay: {n} samples, {result['total_reps']} reps in {len(sets)} sets", file=sys.stderr)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def _set_json(s) -> dict:
    reps = [
        {"start_s": r.start_s, "end_s": r.end_s, "peak_angle_deg": r.peak_angle_deg,
         "partial": r.partial, "rom_deg": r.rom_deg, "eccentric_s": r.eccentric_s,
         "pause_s": r.pause_s, "concentric_s": r.concentric_s, "tut_s": r.tut_s,
         "wobble_deg": r.peak_frontal_deg, "detected_s": r.detected_s}
        for r in s.reps
    ]
    return {"exercise": s.exercise, "variant": s.variant, "reps": len(s.reps),
            "start_s": s.start_s, "end_s": s.end_s, "rep_list": reps,
            "mean_peak_deg": s.mean_peak_deg, "max_peak_deg": s.max_peak_deg,
            "tempo_cv": s.tempo_cv, "partial_reps": sum(1 for r in s.reps if r.partial)}


class _PlotTrace:
    """Keeps a decimated copy of the angle trace (<= ~25 points/s) for the plot only."""

    def __init__(self, max_hz: float = 25.0):
        self.dt = 1.0 / max_hz
        self.t: list[float] = []
        self.a: list[float] = []
        self._next = -1e18

    def add(self, t, a) -> None:
        for ti, ai in zip(t.tolist(), a.tolist()):
            if ti >= self._next:
                self.t.append(ti)
                self.a.append(ai)
                self._next = ti + self.dt

    def save(self, path, sets, title) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from kotdevice.errors import KotError

        fig, ax = plt.subplots(figsize=(14, 4.5), dpi=100)
        ax.plot(self.t, self.a, lw=0.8, color="0.2", label="tibial angle")
        colors = {"squat": "tab:blue", "tib_raise": "tab:green", "backward_walk": "tab:orange"}
        for s in sets:
            c = colors.get(s.exercise, "tab:gray")
            ax.axvspan(s.start_s, s.end_s, color=c, alpha=0.12)
            ax.text(s.start_s, max(self.a or [0]) + 2,
                    f"{s.exercise} x{len(s.reps)}", color=c, fontsize=8, va="bottom")
            for r in s.reps:
                ax.plot([r.start_s, r.end_s], [r.peak_angle_deg - r.rom_deg] * 2, color=c, lw=2)
                ax.plot(r.start_s + r.eccentric_s, r.peak_angle_deg, "v" if not r.partial else "x",
                        color=c, ms=5)
        ax.set_xlabel("t (s)")
        ax.set_ylabel("tibial angle (deg)")
        ax.set_title(f"{title}: {sum(len(s.reps) for s in sets)} reps in {len(sets)} sets "
                     "(v = rep peak, x = partial)")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        try:
            fig.savefig(path)
        except OSError as e:
            raise KotError(f"{path}: cannot write plot: {e.strerror or e}") from None
        finally:
            plt.close(fig)
