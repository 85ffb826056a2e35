"""A stand-in device for the kiosk's tests, benchmark and demo: publishes schema-valid payloads
on the CONTRACTS §4 topics (status with a Last Will, live angles, reps, sets, sessions).

It does not run the motion engine; the angle trace is a plain squat-like profile. Run it as a
process (``python -m kotdevice.kiosk.fakedev --broker HOST:PORT --id shin-1 --reps 8``) so that
killing it with SIGKILL drops the connection uncleanly and the broker fires the Last Will.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import uuid

import paho.mqtt.client as mqtt

from kotdevice.device.config import parse_host_port


def status_msg(device_id, state, athlete=None, leg=None, ts=None):
    return {"v": 1, "ts": ts or time.time(), "device_id": device_id, "state": state,
            "athlete": athlete, "leg": leg, "version": "fake-0"}


def live_msg(device_id, angle_deg, activity, reps, *, t_s=None, exercise="squat",
             session_id=None, set_no=None, ts=None):
    return {"v": 1, "ts": ts or time.time(), "device_id": device_id, "t_s": t_s or 0.0,
            "angle_deg": angle_deg, "frontal_deg": 0.0, "activity": activity,
            "exercise": exercise, "session_id": session_id, "set_no": set_no, "reps": reps}


def rep_msg(device_id, session_id, set_no, rep_no, peak_angle_deg, *, exercise="squat",
            partial=False, athlete=None, leg=None, start_s=0.0, rep_s=2.4, ts=None):
    return {"v": 1, "ts": ts or time.time(), "id": f"{session_id}-s{set_no}-r{rep_no}",
            "device_id": device_id, "session_id": session_id,
            "set_id": f"{session_id}-s{set_no}", "set_no": set_no, "rep_no": rep_no,
            "exercise": exercise, "variant": None, "start_s": start_s, "end_s": start_s + rep_s,
            "peak_angle_deg": peak_angle_deg, "rom_deg": abs(peak_angle_deg) + 2.0,
            "eccentric_s": round(rep_s * 0.45, 2), "pause_s": round(rep_s * 0.1, 2),
            "concentric_s": round(rep_s * 0.45, 2), "tut_s": rep_s, "peak_frontal_deg": 3.0,
            "partial": partial, "athlete": athlete, "leg": leg}


def set_msg(device_id, session_id, set_no, reps, peaks, *, exercise="squat", start_s=0.0,
            end_s=30.0, ts=None):
    return {"v": 1, "ts": ts or time.time(), "id": f"{session_id}-s{set_no}",
            "device_id": device_id, "session_id": session_id, "set_no": set_no,
            "exercise": exercise, "variant": None, "reps": reps, "partial_reps": 0,
            "start_s": start_s, "end_s": end_s,
            "mean_peak_deg": round(sum(peaks) / len(peaks), 2) if peaks else None,
            "max_peak_deg": max(peaks, key=abs) if peaks else None, "tempo_cv": 0.05,
            "rep_ids": [f"{session_id}-s{set_no}-r{i}" for i in range(1, reps + 1)]}


def session_msg(device_id, session_id, sets, *, athlete=None, leg=None, knee_to_wall=(),
                ended_at=None, duration_s=1200.0):
    """``sets``: list of (exercise, reps, max_peak_deg); ``knee_to_wall``: (leg, angle) pairs."""
    ended_at = ended_at or time.time()
    return {"v": 1, "ts": ended_at, "id": f"{session_id}-summary", "device_id": device_id,
            "session_id": session_id, "started_at": ended_at - duration_s, "ended_at": ended_at,
            "duration_s": duration_s, "total_reps": sum(s[1] for s in sets),
            "athlete": athlete, "leg": leg,
            "sets": [{"set_id": f"{session_id}-s{i}", "set_no": i, "exercise": ex, "reps": n,
                      "max_peak_deg": peak} for i, (ex, n, peak) in enumerate(sets, 1)],
            "knee_to_wall": [{"leg": lg, "angle_deg": a} for lg, a in knee_to_wall]}


def squat_angle(phase: float, depth_deg: float, stand_deg: float = 2.0) -> float:
    """Tibial angle through one rep, phase 0..1: down, brief pause, up."""
    return stand_deg + (depth_deg - stand_deg) * 0.5 * (1 - math.cos(2 * math.pi * phase))


class FakeDevice:
    def __init__(self, broker: str, device_id: str, *, prefix: str = "kot",
                 athlete: str | None = None, leg: str | None = "left", will: bool = True):
        self.host, self.port = parse_host_port(broker)
        self.id = device_id
        self.prefix = prefix
        self.athlete = athlete
        self.leg = leg
        self.session_id = f"sess-{uuid.uuid4().hex[:8]}"
        self.t0 = time.monotonic()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fake-{device_id}-{uuid.uuid4().hex[:6]}",
                        protocol=mqtt.MQTTv311)
        if will:
            c.will_set(self.topic("status"), json.dumps(status_msg(device_id, "offline", athlete, leg)),
                       qos=1, retain=True)
        # Like the real device: (re)announce itself on every connect, since a broker that
        # restarted without persistence has forgotten the retained status.
        c.on_connect = lambda cl, ud, flags, rc, props: None if rc.is_failure else cl.publish(
            self.topic("status"), json.dumps(status_msg(device_id, "online", athlete, leg)), qos=1, retain=True)
        self.client = c

    def topic(self, kind: str) -> str:
        return f"{self.prefix}/{self.id}/{kind}"

    def connect(self) -> "FakeDevice":
        self.client.connect(self.host, self.port, keepalive=5)
        self.client.loop_start()  # on_connect publishes the retained 'online' status
        return self

    def publish(self, kind: str, msg: dict, qos: int = 1, retain: bool = False, wait: bool = True):
        info = self.client.publish(self.topic(kind), json.dumps(msg), qos=qos, retain=retain)
        if wait and qos:
            info.wait_for_publish(5)
        return info

    def publish_raw(self, kind: str, payload: bytes, qos: int = 1):
        self.client.publish(self.topic(kind), payload, qos=qos).wait_for_publish(5)

    def live(self, angle_deg: float, activity: str = "idle", reps: int = 0, set_no=None,
             extra: dict | None = None, **kw):
        t_s = time.monotonic() - self.t0
        msg = live_msg(self.id, round(angle_deg, 2), activity, reps, t_s=t_s,
                       session_id=self.session_id, set_no=set_no, **kw)
        self.publish("live", {**msg, **(extra or {})}, qos=0)

    def run_set(self, set_no: int, n_reps: int, *, depth_deg: float = 32.0, rep_s: float = 2.4,
                rate_hz: float = 10.0, speed: float = 1.0, duplicate_reps: bool = False,
                exercise: str = "squat") -> list[float]:
        """Stream one set: live angles at ``rate_hz`` (time compressed by ``speed``), a rep
        message at the end of each rep, then the set summary. Returns the rep peaks."""
        peaks = []
        steps = max(2, int(rep_s * rate_hz))
        start_s = time.monotonic() - self.t0
        for rep_no in range(1, n_reps + 1):
            depth = depth_deg * (1 + 0.05 * math.sin(rep_no * 1.7))
            for k in range(steps):
                self.live(squat_angle(k / steps, depth), "in_set", rep_no - 1, set_no=set_no,
                          exercise=exercise)
                time.sleep(1 / rate_hz / speed)
            peaks.append(round(depth, 1))
            m = rep_msg(self.id, self.session_id, set_no, rep_no, round(depth, 1), athlete=self.athlete,
                        leg=self.leg, exercise=exercise, rep_s=rep_s,
                        start_s=time.monotonic() - self.t0 - rep_s / speed)
            self.publish("rep", m)
            if duplicate_reps:  # what a QoS 1 redelivery or an outbox replay looks like
                self.publish("rep", m)
            self.live(2.0, "in_set", rep_no, set_no=set_no, exercise=exercise)
        self.publish("set", set_msg(self.id, self.session_id, set_no, n_reps, peaks, exercise=exercise,
                                    start_s=start_s, end_s=time.monotonic() - self.t0))
        self.live(2.0, "idle", n_reps, set_no=set_no, exercise=exercise)
        return peaks

    def close(self, clean: bool = True) -> None:
        if clean:  # the Last Will only fires on an unclean drop, so say goodbye ourselves
            self.publish("status", status_msg(self.id, "offline", self.athlete, self.leg), qos=1, retain=True)
        self.client.disconnect()
        self.client.loop_stop()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kotdevice.kiosk.fakedev", description=__doc__.split("\n")[0])
    p.add_argument("--broker", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--prefix", default="kot")
    p.add_argument("--athlete")
    p.add_argument("--leg", default="left")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--sets", type=int, default=1)
    p.add_argument("--speed", type=float, default=8.0, help="time compression of the live stream")
    p.add_argument("--duplicates", action="store_true", help="publish every rep twice (same id)")
    p.add_argument("--hold", action="store_true", help="keep streaming idle angles until killed")
    a = p.parse_args(argv)
    dev = FakeDevice(a.broker, a.id, prefix=a.prefix, athlete=a.athlete, leg=a.leg).connect()
    for s in range(1, a.sets + 1):
        dev.run_set(s, a.reps, speed=a.speed, duplicate_reps=a.duplicates)
    print("done", flush=True)  # tells a test the set is out
    if a.hold:
        while True:
            dev.live(2.0 + math.sin(time.monotonic()), "idle", a.reps, set_no=a.sets)
            time.sleep(0.2)
    dev.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
