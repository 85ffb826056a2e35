"""Progress over weeks from the device's SQLite store (``kotdevice history``).

Sessions are listed in ``seq`` order (the wall clock of a Pi without RTC may have been wrong
when they were recorded); dates are the re-anchored wall times (clock.py), flagged when the
boot never saw a synced clock.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict

from kotdevice.device.session import session_summary
from kotdevice.device.store import Store

SQUAT_LIKE = ("squat",)  # exercises whose peak is the knee-over-toes tibial angle


def _iso_week(ts: float) -> str:
    y, w, _ = dt.datetime.fromtimestamp(ts, dt.timezone.utc).isocalendar()
    return f"{y}-W{w:02d}"


def week_start(week: str) -> dt.date:
    y, w = week.split("-W")
    return dt.date.fromisocalendar(int(y), int(w), 1)


def _r(x, nd=2):
    return None if x is None else round(float(x), nd)


# From the session message (session.session_summary), the keys `history` lists; sets without
# their ids. History adds the session's status, whether its boot saw a synced clock, and its
# sensor gaps as a count and a total.
_SUMMARY_KEYS = ("seq", "session_id", "athlete", "leg", "started_at", "duration_s", "total_reps",
                 "started_by", "ended_by", "knee_to_wall")


def sessions(store: Store) -> list[dict]:
    rows = store.query(
        "SELECT s.seq, s.status, b.synced FROM sessions s LEFT JOIN boots b USING (boot_id) ORDER BY s.seq")
    out = []
    with store.lock:
        for s in rows:
            summary = session_summary(store.db, s["seq"])
            out.append({
                **{k: summary[k] for k in _SUMMARY_KEYS},
                "status": s["status"], "clock_synced": bool(s["synced"]),
                "sets": [{k: v for k, v in st.items() if k != "set_id"} for st in summary["sets"]],
                "gaps": len(summary["gaps"]), "gap_s": _r(sum(g["duration_s"] for g in summary["gaps"]), 2),
            })
    return out


def weekly(store: Store, session_list: list[dict] | None = None) -> list[dict]:
    """Per ISO week: per leg the max tibial angle (squat-type reps) and the best knee-to-wall
    angle; per exercise the volume (sets, reps) and depth (mean peak and range of motion)."""
    session_list = session_list if session_list is not None else sessions(store)
    week_of = {s["seq"]: _iso_week(s["started_at"]) for s in session_list}
    leg_of = {s["seq"]: (s["leg"] or "unknown") for s in session_list}
    legs: dict = defaultdict(lambda: defaultdict(dict))
    ex: dict = defaultdict(lambda: defaultdict(lambda: {"sets": set(), "peaks": [], "roms": []}))
    for r in store.query("SELECT session_seq, set_id, exercise, peak_angle_deg, rom_deg FROM reps"):
        w = week_of.get(r["session_seq"])
        if w is None:
            continue
        e = ex[w][r["exercise"]]
        e["sets"].add(r["set_id"])
        e["peaks"].append(r["peak_angle_deg"])
        e["roms"].append(r["rom_deg"])
        if r["exercise"] in SQUAT_LIKE:
            d = legs[w][leg_of[r["session_seq"]]]
            d["max_tibial_angle_deg"] = max(d.get("max_tibial_angle_deg", float("-inf")), r["peak_angle_deg"])
    for k in store.query("SELECT session_seq, leg, angle_deg FROM knee_to_wall"):
        w = week_of.get(k["session_seq"])
        if w is None:
            continue
        d = legs[w][k["leg"] or leg_of[k["session_seq"]]]
        d["knee_to_wall_deg"] = max(d.get("knee_to_wall_deg", float("-inf")), k["angle_deg"])
    out = []
    for w in sorted(set(week_of.values())):
        out.append({
            "week": w, "week_start": week_start(w).isoformat(),
            "sessions": sum(1 for s in week_of.values() if s == w),
            "legs": {leg: {k: _r(v) for k, v in d.items()} for leg, d in sorted(legs[w].items())},
            "exercises": {name: {"sets": len(e["sets"]), "reps": len(e["peaks"]),
                                 "mean_peak_deg": _r(statistics.fmean(e["peaks"])) if e["peaks"] else None,
                                 "mean_rom_deg": _r(statistics.fmean(e["roms"])) if e["roms"] else None}
                          for name, e in sorted(ex[w].items())},
        })
    return out


def plot(weeks: list[dict], path: str) -> None:
    """Three panels over weeks: max tibial angle and knee-to-wall per leg; volume per
    exercise; depth per exercise. Agg backend: no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [dt.date.fromisoformat(w["week_start"]) for w in weeks]
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    ax = axes[0]
    legs = sorted({leg for w in weeks for leg in w["legs"]})
    for i, leg in enumerate(legs):  # one colour per leg; solid = reps, dashed = knee-to-wall test
        for key, style, label in (("max_tibial_angle_deg", "o-", "max tibial angle"),
                                  ("knee_to_wall_deg", "s--", "knee-to-wall")):
            pts = [(x, w["legs"].get(leg, {}).get(key)) for x, w in zip(xs, weeks)]
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                ax.plot(*zip(*pts), style, color=f"C{i}", label=f"{label} ({leg})")
    ax.set_ylabel("degrees")
    ax.set_title("Knee over toes: tibial angle per leg")
    ax.legend(fontsize="small")
    names = sorted({n for w in weeks for n in w["exercises"]})
    width = 5.0 / max(1, len(names))
    for i, n in enumerate(names):
        reps = [w["exercises"].get(n, {}).get("reps", 0) for w in weeks]
        axes[1].bar([x + dt.timedelta(days=(i - (len(names) - 1) / 2) * width) for x in xs], reps,
                    width=width, label=n)
        pts = [(x, w["exercises"][n]["mean_peak_deg"]) for x, w in zip(xs, weeks) if n in w["exercises"]]
        if pts:
            axes[2].plot(*zip(*pts), "o-", label=n)
    axes[1].set_ylabel("reps per week")
    axes[1].set_title("Volume per exercise")
    axes[1].legend(fontsize="small")
    axes[2].set_ylabel("mean peak angle (deg)")
    axes[2].set_title("Depth per exercise")
    axes[2].legend(fontsize="small")
    axes[2].set_xlabel("week")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
