"""``kotdevice bench sim_realism``: the simulator's signal magnitudes beside REAL-SIGNALS.md,
and its generation speed. Markdown tables on stdout, progress on stderr."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("sim_realism", help="simulated signal magnitudes vs. real shin recordings")
    p.add_argument("--seeds", type=int, default=4, help="seeds per scenario (default 4)")
    p.set_defaults(func=run)


def run(args) -> int:
    from kotdevice.errors import KotError
    from kotdevice.sim.realism import realism_table, speed_table

    if args.seeds < 1:
        raise KotError("--seeds must be at least 1")
    rows = realism_table(args.seeds)
    speed = speed_table()
    print(f"`kotdevice bench sim_realism --seeds {args.seeds}` (400 Hz, straight strap; median [min–max] over seeds)\n")
    print("| quantity | real shins (REAL-SIGNALS.md) | simulated |")
    print("| --- | --- | --- |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print("\nGeneration speed, default workout (one core):\n")
    print("| rate | session | time |")
    print("| --- | --- | --- |")
    for r in speed:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0
