"""``kotdevice bench engine``: cost of the whole motion engine per sample, streaming.

The engine (fusion + mount + counting + metrics) is fed the simulator's default workout in
FIFO-sized chunks, as the driver delivers them, and timed beside the fusion peers on the same
samples in the same run: imufusion (C), VQF (C++, batch), ahrs' Madgwick (pure Python, gyro in
rad/s). Then a 1-hour recording is replayed by ``kotdevice replay`` in a child process and its
peak RSS is compared with a 5-minute one: streaming keeps it flat.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("engine", help="engine cost per sample vs imufusion / vqf / ahrs Madgwick; replay memory")
    p.add_argument("--rate", type=float, default=200.0, help="sample rate of the workout (Hz)")
    p.add_argument("--chunk", type=int, default=32, help="samples per engine call (FIFO burst)")
    p.add_argument("--repeat", type=int, default=3, help="timing repeats (best is reported)")
    p.add_argument("--madgwick-samples", type=int, default=20000,
                   help="ahrs Madgwick is slow: time it on this many samples")
    p.add_argument("--hours", type=float, default=1.0, help="length of the long replay for the memory test (0 = skip)")
    p.set_defaults(func=run)


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(args) -> int:
    import numpy as np

    from kotdevice.motion.engine import MotionEngine
    from kotdevice.sim import simulate_session

    print("bench engine: simulating the default workout ...", file=sys.stderr, flush=True)
    res = simulate_session(None, seed=0, rate_hz=args.rate)
    blk = res.imu
    n = len(blk)
    t, acc, gyr = blk.t_s, blk.accel_g, blk.gyro_dps
    chunks = [blk.slice(i, min(n, i + args.chunk)) for i in range(0, n, args.chunk)]

    def engine_run():
        eng = MotionEngine()
        for c in chunks:
            eng.process(c)
        eng.finish()

    engine_run()  # numba compile / cache load outside the timing
    rows = []
    t_eng = _best(engine_run, args.repeat)
    rows.append(("kotdevice MotionEngine (fusion + mount + reps + metrics), "
                 f"chunks of {args.chunk}", t_eng / n * 1e6))

    def fusion_run():
        from kotdevice.motion.fusion import TiltFusion

        f = TiltFusion()
        for c in chunks:
            f.update(c.t_s, c.accel_g, c.gyro_dps)

    fusion_run()
    rows.append((f"kotdevice TiltFusion alone, chunks of {args.chunk}", _best(fusion_run, args.repeat) / n * 1e6))

    dt = float(np.median(np.diff(t)))
    try:
        from kotdevice.bench.tilt import imufusion_ahrs  # imufusion absent -> row skipped

        def imuf_run():
            # same settings as the tilt bench (imufusion 1.3: rejection_timeout in seconds)
            ahrs = imufusion_ahrs(1.0 / dt)
            ahrs.set_sample_period(dt)
            for i in range(n):
                ahrs.update_no_magnetometer(gyr[i], acc[i])

        imuf_run()
        rows.append(("imufusion 1.3 Ahrs (C, per-sample Python call)", _best(imuf_run, args.repeat) / n * 1e6))
    except Exception as e:  # a peer missing or changed: say so, keep benchmarking
        print(f"bench engine: imufusion skipped: {e}", file=sys.stderr)
    try:
        from vqf import VQF

        g_rad = np.ascontiguousarray(np.radians(gyr))
        a_ms2 = np.ascontiguousarray(acc * 9.80665)

        def vqf_run():
            VQF(dt).updateBatch(g_rad, a_ms2)

        vqf_run()
        rows.append(("vqf VQF (C++, updateBatch)", _best(vqf_run, args.repeat) / n * 1e6))

        def vqf_chunks():
            v = VQF(dt)
            for i in range(0, n, args.chunk):
                v.updateBatch(g_rad[i:i + args.chunk], a_ms2[i:i + args.chunk])

        rows.append((f"vqf VQF (C++, updateBatch in chunks of {args.chunk})", _best(vqf_chunks, args.repeat) / n * 1e6))
    except Exception as e:
        print(f"bench engine: vqf skipped: {e}", file=sys.stderr)
    t_mad = None
    try:
        from ahrs.filters import Madgwick

        m = min(n, args.madgwick_samples)
        g_rad = np.radians(gyr[:m])
        a_ms2 = acc[:m] * 9.80665

        def mad_run():
            f = Madgwick(frequency=1.0 / dt)
            q = np.array([1.0, 0.0, 0.0, 0.0])
            for i in range(m):
                q = f.updateIMU(q, gyr=g_rad[i], acc=a_ms2[i])

        t_mad = _best(mad_run, 1) / m * 1e6
        rows.append((f"ahrs 0.4 Madgwick (Python, rad/s, {m} samples)", t_mad))
    except Exception as e:
        print(f"bench engine: ahrs skipped: {e}", file=sys.stderr)

    e_us = rows[0][1]
    print(f"`kotdevice bench engine --rate {args.rate:g} --chunk {args.chunk}` — {n} samples "
          f"({n / args.rate:.0f} s default workout), one core, best of {args.repeat}\n")
    print("| implementation | µs per sample | its time ÷ the engine's (>1: engine faster) |")
    print("| --- | --- | --- |")
    for name, us in rows:
        ratio = "—" if name.startswith("kotdevice MotionEngine") else f"{us / e_us:.2f}×"
        print(f"| {name} | {us:.2f} | {ratio} |")
    if args.hours > 0:
        _memory(args, res)
    return 0


def _memory(args, res) -> None:
    """Peak RSS of `kotdevice replay` on a short and a long file (child processes)."""
    import numpy as np

    from kotdevice.rawcsv import CsvWriter
    from kotdevice.samples import ImuBlock

    blk = res.imu
    period = float(blk.t_s[-1] - blk.t_s[0]) + 1.0 / args.rate
    with tempfile.TemporaryDirectory(prefix="kot-bench-") as d:
        out = {}
        for label, hours in (("short", period / 3600.0), ("long", args.hours)):
            path = Path(d) / f"{label}.csv"
            copies = max(1, int(np.ceil(hours * 3600.0 / period)))
            print(f"bench engine: writing a {copies * period / 60:.0f}-minute file ...", file=sys.stderr, flush=True)
            with CsvWriter(path) as w:
                for k in range(copies):
                    w.write(ImuBlock(blk.t_s + k * period, blk.accel_g, blk.gyro_dps))
            cmd = [sys.executable, "-c",
                   # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so it would
                   # report this (much larger) benchmark process instead of the replay.
                   "import re,sys;from kotdevice.cli import main;rc=main(sys.argv[1:]);"
                   "print(re.search(r'VmHWM:\\s+(\\d+)',open('/proc/self/status').read()).group(1),"
                   "file=sys.stderr);sys.exit(rc)",
                   "replay", str(path), "--json"]
            t0 = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True)
            el = time.perf_counter() - t0
            if p.returncode != 0:
                print(f"bench engine: replay failed: {p.stderr.strip()[-300:]}", file=sys.stderr)
                return
            rss_kb = int(p.stderr.strip().splitlines()[-1])
            out[label] = (copies * period, rss_kb / 1024.0, el, path.stat().st_size / 1e6)
    print("\n| replay (`kotdevice replay FILE --json`, child process) | file | wall time | peak RSS |")
    print("| --- | --- | --- | --- |")
    for label, (dur, rss, el, mb) in out.items():
        print(f"| {dur / 60:.0f} min at {args.rate:g} Hz | {mb:.0f} MB | {el:.1f} s | {rss:.0f} MiB |")
