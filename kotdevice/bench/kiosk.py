"""``kotdevice bench kiosk``: MQTT publish -> DOM updated latency in a real headless Chromium,
with N simulated devices streaming live angles. Prints a Markdown table; progress on stderr.

Latency is measured on one clock (same machine): each live payload carries its wall-clock
``ts`` at publish time; the page (opened with ``?bench=1``) records ``now - ts`` when the SSE
event reaches its handler, and again when the angle is written into the DOM.
"""
from __future__ import annotations

from kotdevice.bench._stats import percentile


def register(sub) -> None:
    p = sub.add_parser("kiosk", help="kiosk latency: MQTT publish -> DOM updated in headless Chromium")
    p.add_argument("--devices", type=int, default=20)
    p.add_argument("--rate-hz", type=float, default=10.0, help="live messages per device per second")
    p.add_argument("--seconds", type=float, default=20.0, help="measured duration")
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.set_defaults(func=run)


def _tree_cpu_s(proc) -> float:
    import psutil

    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def run(args) -> int:
    import math
    import shutil
    import subprocess
    import sys
    import tempfile
    import threading
    import time

    import psutil

    from kotdevice.commands.kiosk import served_url
    from kotdevice.device.broker import MosquittoBroker, mosquitto_path
    from kotdevice.errors import KotError
    from kotdevice.kiosk.browser import Chromium, chromium_path
    from kotdevice.kiosk.fakedev import FakeDevice, live_msg

    if args.devices < 1 or args.rate_hz <= 0 or args.seconds <= 0:
        raise KotError("--devices, --rate-hz and --seconds must be positive")
    if mosquitto_path() is None:
        raise KotError("the kiosk bench needs Mosquitto (apt-get install mosquitto)")
    if chromium_path() is None:
        raise KotError("the kiosk bench needs Chromium (apt-get install chromium)")

    def say(msg):
        print(f"bench kiosk: {msg}", file=sys.stderr, flush=True)

    tmp = tempfile.mkdtemp(prefix="kot-bench-kiosk-")
    broker = MosquittoBroker().start()
    kiosk = browser = None
    devs = []
    try:
        # The kiosk in its own process, as on the gym's Pi: its CPU is measured apart.
        kiosk = subprocess.Popen(
            [sys.executable, "-m", "kotdevice", "kiosk", "--broker", broker.address, "--bind", "127.0.0.1",
             "--http-port", "0", "--db", f"{tmp}/kiosk.sqlite3"], stderr=subprocess.PIPE, text=True)
        url = served_url(kiosk.stderr)
        if url is None:
            raise KotError("the kiosk server did not start")
        threading.Thread(target=lambda: [None for _ in kiosk.stderr], daemon=True).start()
        say(f"kiosk at {url}, broker {broker.address}; starting Chromium")
        browser = Chromium(1920, 1080).start()
        browser.goto(url + "?bench=1")
        devs = [FakeDevice(broker.address, f"bench-{i:02d}", athlete=f"Athlete {i + 1}").connect()
                for i in range(args.devices)]
        browser.wait_for(f"document.querySelectorAll('.tile').length === {args.devices}", 20)

        stop = threading.Event()
        sent_ts: list[float] = []

        def publish_loop():
            # Devices are spread evenly over each period, as independent devices would be.
            period = 1.0 / args.rate_hz
            t0 = time.monotonic()
            k = 0
            while not stop.is_set():
                for i, d in enumerate(devs):
                    due = t0 + k * period + i * period / len(devs)
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    ts = time.time()
                    d.publish("live", live_msg(d.id, round(25 + 20 * math.sin(k * 0.3 + i), 2), "in_set", 0,
                                               t_s=time.monotonic() - d.t0, session_id=d.session_id,
                                               set_no=1, ts=ts), qos=0)
                    sent_ts.append(ts)
                k += 1

        pub = threading.Thread(target=publish_loop, daemon=True)
        pub.start()
        say(f"{args.devices} devices x {args.rate_hz:g} Hz; warming up {args.warmup_s:g} s")
        time.sleep(args.warmup_s)
        browser.evaluate("window.__kot.lat = []; window.__kot.recvLat = []; window.__kot.recvTs = [];"
                         " window.__kot.superseded = 0; 0")
        kproc, bproc = psutil.Process(kiosk.pid), psutil.Process(browser.proc.pid)
        c0k, c0b, w0, wall0 = _tree_cpu_s(kproc), _tree_cpu_s(bproc), time.monotonic(), time.time()
        for s in range(int(args.seconds)):
            time.sleep(1.0)
            say(f"measuring {s + 1}/{int(args.seconds)} s")
        time.sleep(args.seconds - int(args.seconds))
        # Delivery is counted over messages published in [start + 0.5 s, end - 0.5 s], so that
        # nothing in flight at either edge of the window counts as lost or extra.
        edge_lo, edge_hi = wall0 + 0.5, time.time() - 0.5
        res = browser.evaluate("({lat: window.__kot.lat, recv: window.__kot.recvLat, sup: window.__kot.superseded,"
                               " ts: window.__kot.recvTs})")
        wall = time.monotonic() - w0
        n_sent = sum(1 for t in list(sent_ts) if edge_lo <= t <= edge_hi)
        n_recv = sum(1 for t in res["ts"] if edge_lo <= t <= edge_hi)
        cpu_k = 100 * (_tree_cpu_s(kproc) - c0k) / wall
        cpu_b = 100 * (_tree_cpu_s(bproc) - c0b) / wall
        stop.set()
        pub.join(2)
    finally:
        for d in devs:
            try:
                d.close()
            except Exception:
                pass
        if browser is not None:
            browser.close()
        if kiosk is not None:
            kiosk.terminate()
            try:
                kiosk.wait(10)
            except subprocess.TimeoutExpired:
                kiosk.kill()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    lat, recv = res["lat"], res["recv"]
    if not lat:
        raise KotError("the page drew no live angles during the measurement")
    print(f"Kiosk latency, MQTT publish -> page ({args.devices} devices x {args.rate_hz:g} Hz live angles, "
          f"{wall:.0f} s, headless Chromium 1920x1080, Mosquitto, all on one machine)\n")
    print("| stage | samples | p50 ms | p90 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, xs in (("SSE event reaches the page", recv), ("angle drawn in the DOM", lat)):
        print(f"| {name} | {len(xs)} | {percentile(xs, 50):.1f} | {percentile(xs, 90):.1f} | {percentile(xs, 99):.1f} | {max(xs):.1f} |")
    print()
    print("| published | reached page | superseded before drawing | kiosk server CPU | Chromium CPU (all processes) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print(f"| {n_sent} | {n_recv} ({100 * n_recv / max(n_sent, 1):.1f} %) | {res['sup']} | "
          f"{cpu_k:.0f} % of a core | {cpu_b:.0f} % of a core |")
    return 0
