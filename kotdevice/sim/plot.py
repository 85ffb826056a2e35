"""A picture of a simulated recording: true angles, accel and gyro, rep boundaries, rests."""
from __future__ import annotations

import numpy as np


def plot_result(res, path, title: str | None = None, t_range: tuple[float, float] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = res.imu.t_s
    sel = slice(None)
    if t_range is not None:
        sel = (t >= t_range[0]) & (t <= t_range[1])
    fig, ax = plt.subplots(3, 1, figsize=(12, 8), sharex=True)
    ax[0].plot(t[sel], res.truth_angle_deg[sel], "k", lw=1.2, label="true tibial angle")
    ax[0].plot(t[sel], res.truth_frontal_deg[sel], color="tab:purple", lw=0.9, label="true frontal angle")
    for i, c in enumerate(("tab:red", "tab:green", "tab:blue")):
        ax[1].plot(t[sel], res.imu.accel_g[sel, i], color=c, lw=0.6, label="xyz"[i])
        ax[2].plot(t[sel], res.imu.gyro_dps[sel, i], color=c, lw=0.6, label="xyz"[i])
    ax[1].plot(t[sel], np.linalg.norm(res.imu.accel_g[sel], axis=1), "k", lw=0.5, alpha=0.6, label="|a|")
    tr = res.truth
    for s in tr["sets"]:
        for k, r in enumerate(s["rep_list"]):
            for a in ax:
                a.axvspan(r["start_s"], r["end_s"], color="tab:orange" if r["partial"] else "tab:green",
                          alpha=0.10 if k % 2 else 0.18, lw=0)
            ax[0].plot([r["peak_s"]], [r["peak_angle_deg"]], "v", color="tab:red", ms=4)
        name = s["exercise"] + (f"/{s['variant']}" if s["variant"] else "")
        ax[0].annotate(f"{name} ×{s['reps']}", (s["start_s"], 1.0), xycoords=("data", "axes fraction"),
                       va="top", fontsize=8)
    for rest in tr["rests"]:
        for a in rest["activities"]:
            if a["kind"] != "stand":
                ax[0].annotate(a["kind"], (a["start_s"], 0.02), xycoords=("data", "axes fraction"),
                               fontsize=7, color="gray")
                ax[0].axvspan(a["start_s"], a["end_s"], color="gray", alpha=0.08, lw=0)
    for tst in tr["tests"]:
        for a in tst["attempts"]:
            ax[0].axvspan(a["hold_start_s"], a["hold_start_s"] + a["hold_s"], color="tab:blue", alpha=0.15, lw=0)
        ax[0].annotate(f"knee-to-wall max {tst['max_angle_deg']:.1f}°", (tst["attempts"][0]["start_s"], 1.0),
                       xycoords=("data", "axes fraction"), va="top", fontsize=8)
    for m in tr["mount_changes"]:
        for a in ax:
            a.axvline(m["t_s"], color="tab:brown", ls="--", lw=0.8)
    ax[0].set_ylabel("angle (deg)")
    ax[1].set_ylabel("accel (g)")
    ax[2].set_ylabel("gyro (dps)")
    ax[2].set_xlabel("t (s)")
    for a in ax:
        a.legend(loc="upper right", fontsize=7, ncol=4)
        a.grid(alpha=0.3)
    if t_range is not None:
        ax[2].set_xlim(*t_range)
    ax[0].set_title(title or f"simulated shin IMU, {tr['leg']} leg, {res.rate_hz:g} Hz, seed {tr['seed']}")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=90)
    except OSError as e:
        from kotdevice.errors import KotError

        raise KotError(f"{path}: cannot write: {e.strerror or e}") from None
    finally:
        plt.close(fig)
