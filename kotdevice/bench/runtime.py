"""``kotdevice bench runtime``: the device process end to end through a real broker.

Runs ``kotdevice run --sim`` as a separate process (so its RSS and CPU are its own) against
Mosquitto (or the embedded broker) with a subscriber in this process, and reports:

* rep-detected -> subscriber-received latency (p50/p99/max). The rep payload's ``ts`` is
  stamped when the engine's RepEvent is handled, before the SQLite commit, so the figure covers
  commit (fsync) + publish + broker + subscriber. Same host, same clock.
* device RSS (peak, sampled every 0.25 s; the simulated athlete is computed in a helper
  process, as it is not part of a device) and CPU % of one core, sampled after start-up (from
  the first live message) so the one-off simulation and engine warm-up are excluded.

Three runs: real time (speed 1, the 200 Hz session as on the Pi) for CPU/RSS/latency, the
same with ``--no-jit`` (engine kernels as plain Python, the device default), and a faster one (more reps) for the
latency percentiles.
"""
from __future__ import annotations

from kotdevice.bench._stats import percentile

import sys
import time


def register(sub) -> None:
    p = sub.add_parser("runtime", help="rep->subscriber latency, device RSS and CPU through a real broker")
    p.add_argument("--duration", type=float, default=60.0,
                   help="real-time run length in seconds (default 60)")
    p.add_argument("--latency-speed", type=float, default=10.0,
                   help="speed of the second, latency-only run (default 10)")
    p.add_argument("--latency-duration", type=float, default=560.0,
                   help="simulated seconds of the latency run (default 560: two workouts)")
    p.add_argument("--quick", action="store_true", help="short runs (20 s real time, 150 s simulated)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    p.set_defaults(func=run)


def _one_run(broker, *, speed: float, duration_s: float, workdir, device_id: str, log, chip: str,
             no_jit: bool = False) -> dict:
    import os
    import subprocess

    import psutil

    from kotdevice.device.subscriber import Collector

    db = os.path.join(workdir, f"{device_id}.db")
    with Collector(broker.host, broker.port, f"kot/{device_id}/#") as sub:
        env = {**os.environ}
        env.pop("NOTIFY_SOCKET", None)
        cmd = [sys.executable, "-m", "kotdevice", "run", "--sim", "--broker", broker.address,
               "--device-id", device_id, "--store", db, "--quiet", "--duration", f"{duration_s * speed:g}",
               "--sim-chip", chip]
        if speed != 1:
            cmd += ["--speed", f"{speed:g}"]
        cmd.append("--no-jit" if no_jit else "--jit")
        t_start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        ps = psutil.Process(proc.pid)
        rss_peak = 0
        cpu_samples: list[float] = []
        cpu_t0 = None
        last_report = time.monotonic()
        while proc.poll() is None:
            try:
                rss_peak = max(rss_peak, ps.memory_info().rss)
                if cpu_t0 is None and sub.of("live"):
                    ct = ps.cpu_times()
                    cpu_t0 = (time.monotonic(), ct.user + ct.system)
                elif cpu_t0 is not None:
                    ct = ps.cpu_times()
                    cpu_samples.append((time.monotonic(), ct.user + ct.system))
            except psutil.NoSuchProcess:
                break
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                log(f"  ... {time.monotonic() - t_start:.0f} s, {len(sub.unique('rep'))} reps received, "
                    f"RSS {rss_peak / 2**20:.1f} MB")
            time.sleep(0.25)
        err = proc.stderr.read().decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"device exited with {proc.returncode}: {err.strip().splitlines()[-1:]}")
        sub.wait_for(lambda s: s.of("session"), 5)
        lat_ms = [(m.t_recv_wall - m.payload["ts"]) * 1000 for m in sub.unique("rep").values()]
    cpu_pct = float("nan")
    if cpu_t0 and cpu_samples:
        t1, c1 = cpu_samples[-1]
        cpu_pct = 100.0 * (c1 - cpu_t0[1]) / max(1e-9, t1 - cpu_t0[0])
    return {"speed": speed, "chip": chip, "no_jit": no_jit, "sim_s": duration_s * speed, "reps": len(lat_ms),
            "latency_p50_ms": percentile(lat_ms, 50), "latency_p99_ms": percentile(lat_ms, 99),
            "latency_max_ms": max(lat_ms) if lat_ms else float("nan"),
            "rss_peak_mb": rss_peak / 2**20, "cpu_pct_one_core": cpu_pct}


_BREAKDOWN = r"""
import json, sys, psutil
p = psutil.Process(); out = {}
def mark(k): out[k] = p.memory_info().rss / 2**20
mark("python")
import numpy, paho.mqtt.client, gpiozero, sqlite3
from kotdevice.device import app, runtime, mqtt, store, session, feedback  # the runtime's own modules
from kotdevice.sensor import driver
mark("runtime")
import numba
mark("numba")
from kotdevice.motion.engine import MotionEngine, EngineSettings
runtime.warm_up_engine(lambda: MotionEngine(EngineSettings()))
mark("engine")
print(json.dumps(out))
"""
_BREAKDOWN_NOJIT = r"""
import json, os, psutil
os.environ["KOTDEVICE_JIT"] = "0"
p = psutil.Process()
import numpy, paho.mqtt.client, gpiozero, sqlite3
from kotdevice.device import app, runtime
from kotdevice.motion.engine import MotionEngine, EngineSettings
runtime.warm_up_engine(lambda: MotionEngine(EngineSettings()))
print(json.dumps({"engine_nojit": p.memory_info().rss / 2**20}))
"""


def rss_breakdown() -> dict:
    """RSS after each layer is imported, in a fresh process: where the device's memory goes."""
    import json
    import subprocess

    out = {}
    for code in (_BREAKDOWN, _BREAKDOWN_NOJIT):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out.update(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def run(args) -> int:
    import json
    import platform
    import tempfile

    from kotdevice.device.broker import start_local_broker

    def log(m):
        print(m, file=sys.stderr, flush=True)

    real_s = 20.0 if args.quick else args.duration
    lat_sim = 150.0 if args.quick else args.latency_duration
    broker = start_local_broker()
    try:
        with tempfile.TemporaryDirectory(prefix="kot-bench-") as wd:
            log(f"run 1: real time (speed 1) with --jit, {real_s:g} s ...")
            r_jit = _one_run(broker, speed=1.0, duration_s=real_s, workdir=wd, device_id="kot-bench-rt", log=log,
                          chip="mpu6050")
            log(f"run 2: real time (speed 1), default (no JIT), {real_s:g} s ...")
            r_nojit = _one_run(broker, speed=1.0, duration_s=real_s, workdir=wd, device_id="kot-bench-nojit", log=log,
                          chip="mpu6050", no_jit=True)
            log(f"run 3: speed {args.latency_speed:g}, {lat_sim:g} simulated s ...")
            r_fast = _one_run(broker, speed=args.latency_speed, duration_s=lat_sim / args.latency_speed, workdir=wd,
                          device_id="kot-bench-fast", log=log, chip="lsm6ds3", no_jit=True)
        mem = rss_breakdown()
    finally:
        broker.stop()
    broker_name = type(broker).__name__.replace("Broker", "")
    if args.json:
        print(json.dumps({"broker": broker_name, "runs": [r_jit, r_nojit, r_fast], "rss_breakdown_mb": mem}, indent=1))
        return 0
    print(f"Device runtime, simulated 200 Hz session through {broker_name} on loopback "
          f"({platform.machine()}, Python {platform.python_version()}):\n")
    print("| run | reps | latency p50 (ms) | latency p99 (ms) | latency max (ms) | device RSS peak (MB) | CPU % of one core |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in (("real time, x1, --jit", r_jit), ("real time, x1, default (no JIT)", r_nojit),
                    (f"fast, x{r_fast['speed']:g}, default (no JIT)", r_fast)):
        print(f"| {name}, {r['chip']} ({r['sim_s']:.0f} s simulated) | {r['reps']} | {r['latency_p50_ms']:.1f} | "
              f"{r['latency_p99_ms']:.1f} | {r['latency_max_ms']:.1f} | {r['rss_peak_mb']:.1f} | "
              f"{r['cpu_pct_one_core']:.1f} |")
    print("\nWhere the device's memory goes (RSS in a fresh process after each layer loads):\n")
    print("| layer | RSS (MB) | added (MB) |")
    print("| --- | ---: | ---: |")
    prev = 0.0
    for key, label in (("python", "Python interpreter"),
                       ("runtime", "+ numpy, paho-mqtt, gpiozero, sqlite3, runtime + sensor driver"),
                       ("numba", "+ numba/llvmlite import (the engine's JIT)"),
                       ("engine", "+ engine kernels compiled/loaded (warm-up)")):
        print(f"| {label} | {mem[key]:.1f} | {mem[key] - prev:+.1f} |")
        prev = mem[key]
    print(f"| instead, the default (no JIT): runtime + engine as plain Python (warm-up) | {mem['engine_nojit']:.1f} | "
          f"{mem['engine_nojit'] - mem['runtime']:+.1f} over the runtime |")
    print("\nTargets: p99 <= 50 ms, RSS <= 60 MB, CPU: as low as possible. CPU includes the emulated IMU chip "
          "(register-level SimBus) that a real device does not run.")
    return 0
