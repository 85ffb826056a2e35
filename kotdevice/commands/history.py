"""``kotdevice history``: the sessions on this device and progress over weeks."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("history", help="list recorded sessions and progress over weeks",
                       description="Sessions from the device's SQLite store, in recording order, and weekly "
                                   "progress: max tibial angle and knee-to-wall per leg, depth and volume per "
                                   "exercise.")
    p.add_argument("--store", metavar="PATH", help="SQLite file (default: store.path of the config, else the "
                   "device's or the simulator's database, whichever exists)")
    p.add_argument("--config", metavar="PATH", help="TOML config to take store.path from")
    p.add_argument("--sim", action="store_true", help="the database of `kotdevice run --sim`")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the weekly progress to a PNG")
    p.add_argument("--last", type=int, metavar="N", help="list only the last N sessions")
    p.set_defaults(func=run)


def _store_path(args) -> str:
    import os

    from kotdevice.device import config as C
    from kotdevice.errors import KotError

    if args.store:
        path = args.store
    else:
        cfg = C.load(args.config, required=bool(args.config))
        path = cfg.get("store", "path")
        if not path:
            sim = os.path.expanduser(C.SIM_STORE_PATH)
            if args.sim:
                path = sim
            else:
                path = next((p for p in (C.DEFAULT_STORE_PATH, sim) if os.path.exists(p)), C.DEFAULT_STORE_PATH)
    if not os.path.exists(path):
        raise KotError(f"{path}: no session store here (record with `kotdevice run`, or pass --store)")
    return path


def _fmt_dur(s: float | None) -> str:
    if s is None:
        return "-"
    m, s = divmod(int(round(s)), 60)
    return f"{m}:{s:02d}"


def run(args) -> int:
    import datetime as dt
    import json
    import sys

    from kotdevice.device import history as H
    from kotdevice.device.store import Store

    store = Store(_store_path(args))
    try:
        sess = H.sessions(store)
        weeks = H.weekly(store, sess)
    finally:
        store.close()
    shown = sess[-args.last:] if args.last else sess
    if args.plot:
        if not weeks:
            print("kotdevice: no sessions yet; nothing to plot", file=sys.stderr)
        else:
            H.plot(weeks, args.plot)
            print(f"kotdevice: wrote {args.plot}", file=sys.stderr)
    if args.json:
        json.dump({"sessions": shown, "weekly": weeks}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"Sessions ({len(sess)}{f', last {len(shown)}' if len(shown) != len(sess) else ''})\n")
    out.write(f"{'seq':>4}  {'started (UTC)':<17} {'dur':>6} {'reps':>5}  sets\n")
    for s in shown:
        when = dt.datetime.fromtimestamp(s["started_at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        flag = "" if s["clock_synced"] else "~"
        sets = ", ".join(f"{st['exercise']} {st['reps']}" for st in s["sets"]) or "-"
        ktw = "; ".join(f"knee-to-wall {k['leg']} {k['angle_deg']:.1f}°" for k in s["knee_to_wall"])
        extra = [x for x in (ktw, "open" if s["status"] == "open" else "",
                             f"{s['gaps']} sensor gap(s)" if s["gaps"] else "") if x]
        out.write(f"{s['seq']:>4}  {when + flag:<17} {_fmt_dur(s['duration_s']):>6} {s['total_reps']:>5}  {sets}"
                  f"{'  [' + '; '.join(extra) + ']' if extra else ''}\n")
    if any(not s["clock_synced"] for s in shown):
        out.write("  ~ recorded before the clock was synced: the date may be off (the order is right)\n")
    out.write("\nWeekly progress\n")
    for w in weeks:
        out.write(f"{w['week']} (from {w['week_start']}), {w['sessions']} session(s)\n")
        for leg, d in w["legs"].items():
            parts = []
            if d.get("max_tibial_angle_deg") is not None:
                parts.append(f"max tibial angle {d['max_tibial_angle_deg']:.1f}°")
            if d.get("knee_to_wall_deg") is not None:
                parts.append(f"knee-to-wall {d['knee_to_wall_deg']:.1f}°")
            out.write(f"  leg {leg:<8} {', '.join(parts)}\n")
        for name, e in w["exercises"].items():
            out.write(f"  {name:<13} {e['sets']:>3} sets {e['reps']:>4} reps  mean peak {e['mean_peak_deg']:+.1f}°"
                      f"  mean ROM {e['mean_rom_deg']:.1f}°\n")
    return 0
