"""The live angle: throttled MQTT payloads and the one-line terminal view."""
from __future__ import annotations

import os
import sys
from typing import TextIO

from kotdevice.motion.events import EngineState


def interactive(stream: TextIO | None = None, env: dict | None = None) -> bool:
    """A refreshing terminal line only for a human: stderr is a TTY and not under systemd."""
    stream = stream or sys.stderr
    env = os.environ if env is None else env
    try:
        return stream.isatty() and "INVOCATION_ID" not in env
    except (AttributeError, ValueError):
        return False


class Throttle:
    """At most ``rate_hz`` events per second of the given clock."""

    def __init__(self, rate_hz: float):
        self.period_s = 1.0 / rate_hz
        self._next = float("-inf")

    def ready(self, now_s: float) -> bool:
        if now_s < self._next:
            return False
        # Keep to the ideal grid (no drift from loop granularity), but after a stall
        # restart from now rather than bursting to catch up.
        self._next += self.period_s
        if self._next <= now_s:
            self._next = now_s + self.period_s
        return True


def live_payload(state: EngineState, *, device_id: str, wall_s: float, session_id: str | None,
                 set_no: int | None, total_reps: int, depth_target_deg: float | None) -> dict:
    return {
        "v": 1, "ts": round(wall_s, 3), "device_id": device_id, "t_s": round(float(state.t_s), 3),
        "angle_deg": round(float(state.tibial_angle_deg), 2), "frontal_deg": round(float(state.frontal_angle_deg), 2),
        "activity": state.activity, "exercise": state.exercise, "session_id": session_id, "set_no": set_no,
        "reps": int(state.reps_in_set), "session_reps": total_reps, "calibrated": bool(state.calibrated),
        "depth_target_deg": depth_target_deg,
    }


class TerminalView:
    """One refreshing line on stderr (``\\r``), at most 10 times a second."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None, rate_hz: float = 10.0):
        self.stream = stream or sys.stderr
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.throttle = Throttle(rate_hz)
        self._width = 0

    def update(self, now_s: float, *, angle_deg: float, activity: str, exercise: str | None, reps: int,
               session_reps: int, connected: bool, pending: int, session_id: str | None) -> None:
        if not self.enabled or not self.throttle.ready(now_s):
            return
        bar_n = int(max(-30, min(60, angle_deg)) / 3)
        bar = ("<" * -bar_n) if bar_n < 0 else ("#" * bar_n)
        line = (f"angle {angle_deg:+6.1f}° {bar:<20} {activity:<7} {exercise or 'auto':<13} "
                f"set reps {reps:>3}  session {session_reps:>4}  "
                f"{'mqtt ok' if connected else 'mqtt --'}{f' ({pending} queued)' if pending else ''}"
                f"{'' if session_id else '  [no session]'}")
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def message(self, text: str) -> None:
        """A log line that does not get mangled by the refreshing line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
