"""Make the README's kiosk screenshot: a local broker, the kiosk, a gym floor of fake devices
and headless Chromium at 1920x1080.

    python -m kotdevice.kiosk.screenshot docs/kiosk-screenshot.png
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

from kotdevice.device.broker import MosquittoBroker
from kotdevice.kiosk import fakedev
from kotdevice.kiosk.browser import Chromium
from kotdevice.kiosk.fakedev import FakeDevice
from kotdevice.kiosk.server import KioskServer

# athlete, leg, exercise, typical rep peak, finished-set reps, current set reps, live angle, state
FLOOR = [
    ("Maya", "left", "squat", 37.0, 12, 7, 38.0, "in_set"),
    ("Jonas", "right", "tib_raise", -17.0, 20, 14, -16.0, "in_set"),
    ("Aiko", "right", "squat", 33.0, 10, 0, 3.0, "idle"),
    ("Sam", "left", "squat", 25.0, 8, 5, 21.0, "in_set"),
    ("Lena", "left", "backward_walk", 24.0, 40, 0, 6.0, "idle"),
    ("Omar", "right", "squat", 43.0, 15, 11, 44.0, "in_set"),
    ("Priya", "left", "tib_raise", -14.0, 25, 0, 1.0, "idle"),
    ("Theo", "right", "squat", 30.0, 9, 0, 2.0, "offline"),
]


def populate(broker: str) -> list[FakeDevice]:
    devs = []
    for i, (name, leg, ex, peak, done, now_reps, angle, act) in enumerate(FLOOR):
        d = FakeDevice(broker, f"shin-{i + 1:02d}", athlete=name, leg=leg).connect()
        devs.append(d)
        peaks = [round(peak * (0.93 + 0.025 * (k % 4)), 1) for k in range(done)]
        for k in range(done):
            d.publish("rep", fakedev.rep_msg(d.id, d.session_id, 1, k + 1, peaks[k], exercise=ex,
                                             rep_s=2.2 + 0.1 * (k % 3), partial=(k == done - 1 and i % 3 == 0)))
        d.publish("set", fakedev.set_msg(d.id, d.session_id, 1, done, peaks, exercise=ex, start_s=10, end_s=10 + 2.4 * done))
        for k in range(now_reps):
            d.publish("rep", fakedev.rep_msg(d.id, d.session_id, 2, k + 1, round(peak * (0.95 + 0.02 * (k % 3)), 1), exercise=ex))
        d.live(angle, act if act != "offline" else "idle", now_reps, set_no=2 if now_reps else 1, exercise=ex,
               extra={"depth_target_deg": 40.0} if name in ("Maya", "Omar") else None)
        # weekly history for the history view
        for w in range(8):
            d.publish("session", fakedev.session_msg(
                d.id, f"{d.id}-hist-{w}", [(ex, 30 + 4 * w + (w % 3) * 3, 30.0 + 1.2 * w - (w % 2))],
                athlete=name, leg=leg, knee_to_wall=[("left", 34.0 + 0.8 * w), ("right", 32.5 + w * 0.9 - (w % 3) * 0.5)],
                ended_at=time.time() - (7 - w) * 7 * 86400 - 3600))
        if act == "offline":
            d.client.loop_stop()
            d.client.socket().close()  # an unclean drop: the broker sends the Last Will
    return devs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kotdevice.kiosk.screenshot")
    p.add_argument("out")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, MosquittoBroker() as broker, \
            KioskServer(broker.address, bind="127.0.0.1", http_port=0, db_path=f"{tmp}/k.db",
                        log=lambda m: None) as kiosk, Chromium(1920, 1080) as page:
        page.goto(kiosk.url)
        devs = populate(broker.address)
        page.wait_for(f"document.querySelectorAll('.tile').length === {len(FLOOR)} && "
                      "document.querySelectorAll('.tile.offline').length === 1", 20)
        time.sleep(1.0)  # let the grey-out transition and rep flashes finish
        with open(a.out, "wb") as f:
            f.write(page.screenshot())
        print(f"wrote {a.out}", file=sys.stderr)
        for d in devs[:-1]:
            d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
