"""``kotdevice calibrate``: the explicit mount calibration, saved as JSON.

Protocol: stand still for ~2 s, then bend the knee forward over the toes a few times (a
shallow squat or lunge). The engine learns the leg's lateral axis from the movement and the
standing posture from the quiet start; the result is written to ``--out`` and can be given
to ``kotdevice replay --mount`` or the device (`mount` in its config). On the device the same
flow is the `calibrate` MQTT command (``MotionEngine.start_calibration``).
"""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="mount calibration from a recording: stand still, then knee forward")
    p.add_argument("file", metavar="FILE.csv",
                   help="a recording of the protocol (`kotdevice record`): >=2 s still, then knee-forward moves")
    p.add_argument("--out", metavar="MOUNT.json", required=True, help="where to save the calibration")
    p.add_argument("--leg", choices=("left", "right"), help="which leg wears the sensor")
    p.set_defaults(func=run)


def run(args) -> int:
    from kotdevice.errors import KotError
    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion.events import MountEvent
    from kotdevice.motion.mount import save_mount
    from kotdevice.rawcsv import iter_blocks

    print("calibrate: expecting >= 2 s of quiet standing, then the knee moving forward over "
          "the toes", file=sys.stderr)
    eng = MotionEngine()
    eng.set_leg(args.leg)
    eng.start_calibration()
    found = None
    for block in iter_blocks(args.file):
        for e in eng.process(block).events:
            if isinstance(e, MountEvent) and e.reason == "manual" and found is None:
                found = e
    if found is None:
        raise KotError(f"{args.file}: no knee-forward movement found after the quiet start; "
                       "record again: stand still 2 s, then bend the knee forward a few times")
    if eng.stand_angle_deg is None:
        raise KotError(f"{args.file}: the recording is too short for the quiet-standing reference")
    d = eng.mount_dict()
    try:
        save_mount(args.out, d)
    except OSError as e:
        raise KotError(f"{args.out}: cannot write: {e.strerror or e}") from None
    print(f"calibrate: strap turned {d['rotation_about_shin_deg']:+.1f} deg about the shin, "
          f"standing tibial angle {d.get('stand_angle_deg', float('nan')):.1f} deg; saved {args.out}",
          file=sys.stderr)
    sys.stdout.write(json.dumps(d) + "\n")
    return 0
