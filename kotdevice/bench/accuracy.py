"""``kotdevice bench accuracy``: the motion engine against the simulator's ground truth.

Runs the engine exactly as ``kotdevice replay`` does (streaming, in blocks) over every
session of one split of a corpus (``holdout`` by default: never used for tuning) and scores:
per exercise, exact-count rate per set, within +-1, exercise detection, tibial-angle RMS in
movement and at rest, peak-angle MAE; per session, false reps during rests.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

EX_ORDER = ("squat", "tib_raise", "backward_walk")


def register(sub) -> None:
    p = sub.add_parser("accuracy", help="rep counts and angles vs. the simulator's ground truth")
    p.add_argument("--corpus", metavar="DIR", action="append",
                   help="corpus from `kotdevice simulate --corpus DIR`; repeat to pool several "
                        "(default: generate one in ~/.cache/kotdevice/corpus-s<seed>)")
    p.add_argument("--split", default="holdout", choices=("holdout", "tune", "both"),
                   help="which part to score (tune only while developing; both: regression checks)")
    p.add_argument("--sessions", type=int, default=60, help="corpus size when generating")
    p.add_argument("--seed", type=int, default=0, help="corpus seed when generating")
    p.add_argument("--limit", type=int, default=None, help="score only the first N sessions")
    p.add_argument("--details", metavar="JSON", help="also write per-set details here")
    p.set_defaults(func=run)


def run(args) -> int:
    from kotdevice.errors import KotError

    corpora = [Path(c) for c in args.corpus] if args.corpus else [_default_corpus(args.sessions, args.seed)]
    parts = ("tune", "holdout") if args.split == "both" else (args.split,)
    files = []
    for corpus in corpora:
        for part in parts:
            found = [f for f in sorted((corpus / part).glob("*.csv")) if not f.name.endswith(".truth.csv")]
            if not found:
                raise KotError(f"{corpus / part}: no session CSV files "
                               f"(make one with `kotdevice simulate --corpus {corpus}`)")
            files += found
    if args.limit:
        files = files[: args.limit]
    results = []
    t0 = time.monotonic()
    for i, f in enumerate(files):
        results.append(evaluate_session(f))
        el = time.monotonic() - t0
        print(f"accuracy: {i + 1}/{len(files)} {f.name} [{el:.0f} s elapsed]", file=sys.stderr, flush=True)
    summary = aggregate(results)
    where = " ".join(f"--corpus {c}" for c in corpora)
    print(format_table(summary, f"kotdevice bench accuracy {where} --split {args.split}"))
    if args.details:
        Path(args.details).write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    return 0


def _default_corpus(sessions: int, seed: int) -> Path:
    from kotdevice.sim.corpus import generate_corpus

    d = Path.home() / ".cache" / "kotdevice" / f"corpus-s{seed}-n{sessions}"
    if not (d / "manifest.json").exists():
        print(f"accuracy: generating a {sessions}-session corpus in {d}", file=sys.stderr)
        generate_corpus(d, sessions=sessions, seed=seed)
    return d


def evaluate_session(csv_path: Path, settings=None) -> dict:
    """Score one session file against its truth (FILE.truth.json / FILE.truth.csv)."""
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion.events import KneeToWallEvent, SetEvent
    from kotdevice.motion.mount import angles_deg
    from kotdevice.rawcsv import iter_blocks

    base = csv_path.with_suffix("")
    truth = json.loads(Path(str(base) + ".truth.json").read_text(encoding="utf-8"))
    tt = np.loadtxt(str(base) + ".truth.csv", delimiter=",", skiprows=1, ndmin=2)
    outs = []
    # The athlete selects the knee-to-wall test before its first attempt and goes back to
    # counting after it (button or `mode` command): the engine switches mode at those times.
    attempts = [a for x in truth.get("tests", []) for a in x.get("attempts", [])]
    switches = sorted((t, m) for x in truth.get("tests", []) if x.get("attempts")
                      for t, m in ((x["attempts"][0]["start_s"] - 0.5, "knee_to_wall"),
                                   (x["attempts"][-1]["end_s"] + 0.5, "reps")))
    eng = MotionEngine(settings)
    events = []
    bias = []  # (t_s, learned gyro bias) after each block
    for blk in iter_blocks(csv_path, block_size=32):
        while switches and blk.t_s[0] >= switches[0][0]:
            eng.set_mode(switches.pop(0)[1])
        o = eng.process(blk)
        events.extend(o.events)
        outs.append((o.tibial_angle_deg, o.up))
        bias.append((blk.t_s[-1], *eng.gyro_bias_dps))
    events.extend(eng.finish())
    ang = np.concatenate([a for a, _ in outs])
    err = ang - tt[:, 1]
    t = tt[:, 0]
    # With the true sagittal plane (truth.csv's right_x..z, when present) the fusion's own up
    # vector reads the angle any mount calibration could reach at best: that splits the error
    # into the calibration's share and the sensor + fusion's (accelerometer bias).
    oracle = tt.shape[1] >= 6
    if oracle:
        err_o = angles_deg(np.concatenate([u for _, u in outs]), tt[:, 3:6])[0] - tt[:, 1]
        err_o = np.where(np.isfinite(err_o), err_o, 0.0)
    sets = [e for e in events if isinstance(e, SetEvent)]
    reps = [r for s in sets for r in s.reps]

    def in_spans(spans):
        m = np.zeros(len(t), bool)
        for a, b in spans:
            m |= (t >= a) & (t <= b)
        return m

    move = in_spans([(r["start_s"], r["end_s"]) for s in truth["sets"] for r in s["rep_list"]])
    stand = in_spans([(a["start_s"], a["end_s"]) for r in truth["rests"] for a in r["activities"]
                      if a["kind"] == "stand"])
    first_move = min([s["start_s"] for s in truth["sets"]] + [t[-1]])
    stand_after = stand & (t > first_move)
    chip = (truth.get("error_model") or {}).get("params", {}).get("chip")
    out = {"file": csv_path.name, "rate_hz": truth["rate_hz"], "chip": chip, "sets": [],
           "sq_move": float(np.sum(err[move] ** 2)), "n_move": int(move.sum()),
           "sq_rest": float(np.sum(err[stand] ** 2)), "n_rest": int(stand.sum()),
           "sq_rest_after": float(np.sum(err[stand_after] ** 2)), "n_rest_after": int(stand_after.sum())}
    if oracle:
        out.update(oq_move=float(np.sum(err_o[move] ** 2)), oq_rest=float(np.sum(err_o[stand] ** 2)),
                   oq_rest_after=float(np.sum(err_o[stand_after] ** 2)))
        out.update(_bias_error(truth, np.array(bias), t, tt[:, 3:6]))
    used = set()
    for ts in truth["sets"]:
        a, b = ts["start_s"] - 0.5, ts["end_s"] + 0.5
        mine = [i for i, r in enumerate(reps) if a <= 0.5 * (r.start_s + r.end_s) <= b]
        used.update(mine)
        exs = [reps[i].exercise for i in mine]
        ex_ok = bool(exs) and max(set(exs), key=exs.count) == ts["exercise"]
        peak_err = []
        latency = []
        part_ok = 0
        for tr in ts["rep_list"]:
            # the detected rep overlapping this true rep the most
            best, ov = None, 0.0
            for i in mine:
                r = reps[i]
                o = min(r.end_s, tr["end_s"]) - max(r.start_s, tr["start_s"])
                if o > ov:
                    best, ov = r, o
            if best is not None:
                peak_err.append(abs(best.peak_angle_deg - tr["peak_angle_deg"]))
                part_ok += int(best.partial == tr["partial"])
                latency.append(best.detected_s - tr["end_s"])
        out["sets"].append({"exercise": ts["exercise"], "variant": ts.get("variant"),
                            "tempo": ts.get("tempo"), "truth_reps": ts["reps"], "reps": len(mine),
                            "exercise_ok": ex_ok, "peak_abs_err": peak_err, "partial_ok": part_ok,
                            "latency_s": latency, "truth_partials": sum(r["partial"] for r in ts["rep_list"]),
                            "start_s": ts["start_s"]})
    # (counting is off while the test mode is selected, so no rep can fall in a test)
    rest_spans = [(r["start_s"], r["end_s"]) for r in truth["rests"]]
    out["false_rest"] = [round(m, 2) for i, r in enumerate(reps) if i not in used
                         for m in [0.5 * (r.start_s + r.end_s)] if any(a <= m <= b for a, b in rest_spans)]
    # knee-to-wall attempts measured in the test mode
    ktw = [e for e in events if isinstance(e, KneeToWallEvent)]

    def in_attempt(e, a):
        return a["start_s"] - 0.5 <= e.t_s <= a["end_s"] + 0.5
    hits = [[e for e in ktw if in_attempt(e, a)] for a in attempts]
    out["ktw_attempts"] = len(attempts)
    out["ktw_found"] = sum(bool(h) for h in hits)
    out["ktw_err"] = [abs(h[0].angle_deg - a["angle_deg"]) for h, a in zip(hits, attempts) if h]
    out["ktw_false"] = sum(1 for e in ktw if not any(in_attempt(e, a) for a in attempts))
    return out


def _bias_error(truth: dict, bias, t, right):
    """Squared error of the learned gyro bias about the leg's lateral (rep) axis - the
    component the tibial angle depends on - against the simulator's drawn bias and its
    temperature drift, after each block from 3 s on (the bias random walk is not in the
    truth: ~0.06 dps over a session). Empty without the drawn errors."""
    import numpy as np

    em = truth.get("error_model") or {}
    d, p = em.get("drawn"), em.get("params")
    if not d or not p or len(bias) == 0:
        return {}
    tb = bias[:, 0]
    temp = p["temp_end_c"] + (p["temp_start_c"] - p["temp_end_c"]) * np.exp(-tb / p["temp_tau_s"])
    true = np.asarray(d["gyro_bias_dps"]) + np.outer(temp - p["temp_start_c"],
                                                     d["gyro_tempco_dps_per_c"])
    r = right[np.minimum(np.searchsorted(t, tb), len(t) - 1)]
    e = np.sum((bias[:, 1:4] - true) * r, axis=1) / np.linalg.norm(r, axis=1)
    m = tb > 3.0
    return {"sq_bias": float(np.sum(e[m] ** 2)), "n_bias": int(m.sum())}


def aggregate(results: list[dict]) -> dict:
    import numpy as np

    rows = {}
    for ex in EX_ORDER + ("all",):
        sets = [s for r in results for s in r["sets"] if ex == "all" or s["exercise"] == ex]
        if not sets:
            continue
        exact = np.mean([s["reps"] == s["truth_reps"] for s in sets])
        within1 = np.mean([abs(s["reps"] - s["truth_reps"]) <= 1 for s in sets])
        det = np.mean([s["exercise_ok"] for s in sets])
        pe = [e for s in sets for e in s["peak_abs_err"]]
        rows[ex] = {"sets": len(sets), "exact": float(exact), "within1": float(within1),
                    "detect": float(det), "peak_mae": float(np.mean(pe)) if pe else float("nan"),
                    "truth_reps": int(sum(s["truth_reps"] for s in sets)),
                    "reps": int(sum(s["reps"] for s in sets))}
    lat = np.array([x for r in results for s in r["sets"] for x in s["latency_s"]])
    n_rep = sum(len(s["peak_abs_err"]) for r in results for s in r["sets"])
    part = sum(s["partial_ok"] for r in results for s in r["sets"])
    n = len(results)
    clean = sum(1 for r in results if not r["false_rest"])
    def rms(a, b, rs=results):
        return float(np.sqrt(sum(r[a] for r in rs) / max(1, sum(r[b] for r in rs))))

    has_o = bool(results) and all("oq_move" in r for r in results)  # truth.csv with the true axis
    # The angle error splits by sensor model: most of it at rest is the accelerometer's own
    # offset and cross-axis error (see docs/engine.md), which differ by chip.
    by_chip = {}
    for ch in sorted({r.get("chip") for r in results if r.get("chip")}):
        rs = [r for r in results if r.get("chip") == ch]
        by_chip[ch] = {"sessions": len(rs), "move": rms("sq_move", "n_move", rs),
                       "rest_after": rms("sq_rest_after", "n_rest_after", rs),
                       "omove": rms("oq_move", "n_move", rs) if has_o else None,
                       "orest_after": rms("oq_rest_after", "n_rest_after", rs) if has_o else None}
    return {"rows": rows, "sessions": n, "no_false_rest": clean / max(1, n),
            "false_rest_total": int(sum(len(r["false_rest"]) for r in results)),
            "rms_move": rms("sq_move", "n_move"), "rms_rest": rms("sq_rest", "n_rest"),
            "rms_rest_after": rms("sq_rest_after", "n_rest_after"),
            "oracle": has_o, "by_chip": by_chip,
            "orms_move": rms("oq_move", "n_move") if has_o else None,
            "orms_rest": rms("oq_rest", "n_rest") if has_o else None,
            "orms_rest_after": rms("oq_rest_after", "n_rest_after") if has_o else None,
            "bias_rms": rms("sq_bias", "n_bias") if results and all("n_bias" in r for r in results) else None,
            "latency_p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "latency_p95": float(np.percentile(lat, 95)) if len(lat) else float("nan"),
            "latency_within_300ms": float(np.mean(lat <= 0.3)) if len(lat) else float("nan"),
            "partial_agree": part / max(1, n_rep),
            "sessions_with_tests": int(sum(r["ktw_attempts"] > 0 for r in results)),
            "ktw_attempts": int(sum(r["ktw_attempts"] for r in results)),
            "ktw_found": int(sum(r["ktw_found"] for r in results)),
            "ktw_false": int(sum(r["ktw_false"] for r in results)),
            "ktw_mae": float(np.mean([x for r in results for x in r["ktw_err"]]))
            if any(r["ktw_err"] for r in results) else float("nan")}


def format_table(s: dict, cmd: str) -> str:
    lines = [f"`{cmd}` ({s['sessions']} sessions)", "",
             "| exercise | sets | true reps | counted | exact count | within ±1 | exercise detected | peak MAE (°) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for ex, r in s["rows"].items():
        lines.append(f"| {ex} | {r['sets']} | {r['truth_reps']} | {r['reps']} | {100 * r['exact']:.1f} % | "
                     f"{100 * r['within1']:.1f} % | {100 * r['detect']:.1f} % | {r['peak_mae']:.2f} |")
    lines += ["",
              "| whole sessions | value |", "| --- | --- |",
              f"| sessions with no false rep during rest | {100 * s['no_false_rest']:.1f} % "
              f"({s['false_rest_total']} false reps in all) |",
              f"| tibial angle RMS in movement (reps) | {s['rms_move']:.2f}° |",
              f"| tibial angle RMS at rest (quiet standing, all) | {s['rms_rest']:.2f}° |",
              f"| tibial angle RMS at rest after the first set | {s['rms_rest_after']:.2f}° |",
              *([f"| the same fusion with the true sagittal plane: RMS in movement / at rest (all) / "
                 f"after the first set | {s['orms_move']:.2f}° / {s['orms_rest']:.2f}° / "
                 f"{s['orms_rest_after']:.2f}° |"] if s.get("oracle") else []),
              *([f"| learned gyro bias about the leg's lateral axis, RMS error (after 3 s) | "
                 f"{s['bias_rms']:.3f} dps |"] if s.get("bias_rms") is not None else []),
              *([f"| by sensor model ({ch}, {c['sessions']} sessions): RMS in movement / at rest after the "
                 f"first set" + (" (with the true sagittal plane)" if c["omove"] is not None else "")
                 + f" | {c['move']:.2f}° / {c['rest_after']:.2f}°"
                 + (f" ({c['omove']:.2f}° / {c['orest_after']:.2f}°)" if c["omove"] is not None else "") + " |"
                 for ch, c in s.get("by_chip", {}).items()] if len(s.get("by_chip", {})) > 1 else []),
              f"| rep reported after its true end: median / 95th percentile | "
              f"{s['latency_p50']:.2f} s / {s['latency_p95']:.2f} s "
              f"({100 * s['latency_within_300ms']:.1f} % within 0.3 s) |",
              f"| partial flag agrees with the truth | {100 * s['partial_agree']:.1f} % of matched reps |",
              f"| knee-to-wall attempts measured (test mode; {s['sessions_with_tests']} sessions "
              f"have a test) | {s['ktw_found']} of "
              f"{s['ktw_attempts']} (angle MAE {s['ktw_mae']:.2f}°; {s['ktw_false']} outside an attempt) |"]
    return "\n".join(lines)
