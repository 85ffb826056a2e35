"""Commands on ``kot/<id>/cmd`` -> one reply on ``kot/<id>/cmd/reply`` each.

``CommandHandler.handle(payload_bytes)`` never raises and always returns a reply dict valid
against ``schemas/cmd_reply.json``: bad input (oversized, not UTF-8, not JSON, not an object,
unknown command, wrong types) gets ``ok: false`` and a one-line ``error``; the device keeps
running. The actions themselves are the runtime's (``Actions`` protocol).
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Protocol

from kotdevice.errors import KotError
from kotdevice.motion.events import EXERCISES

MAX_PAYLOAD_BYTES = 4096
COMMANDS = ("start", "stop", "exercise", "depth_target", "calibrate", "ping", "mode", "metronome")


class Actions(Protocol):
    def cmd_start(self) -> dict: ...
    def cmd_stop(self) -> dict: ...
    def cmd_exercise(self, exercise: str | None) -> dict: ...
    def cmd_depth_target(self, depth_deg: float | None) -> dict: ...
    def cmd_calibrate(self) -> dict: ...
    def cmd_ping(self) -> dict: ...
    def cmd_mode(self, mode: str) -> dict: ...
    def cmd_metronome(self, bpm: float) -> dict: ...


class BadCommand(KotError):
    """Invalid command input (a one-line reason)."""


def _describe(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, (bytes, bytearray)) else repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


class CommandHandler:
    def __init__(self, device_id: str, actions: Actions, wall: Callable[[], float] = time.time):
        self.device_id = device_id
        self.actions = actions
        self.wall = wall

    def _reply(self, req_id, ok: bool, *, error: str | None = None, result: dict | None = None,
               cmd: str | None = None) -> dict:
        r = {"v": 1, "ts": round(self.wall(), 3), "device_id": self.device_id, "id": req_id, "ok": ok}
        if cmd is not None:
            r["cmd"] = cmd
        if error is not None:
            r["error"] = error
        if result is not None:
            r["result"] = result
        return r

    def handle(self, payload: bytes | bytearray | str) -> dict:
        req_id = None
        cmd = None
        try:
            if isinstance(payload, str):
                payload = payload.encode("utf-8", "surrogatepass")
            if len(payload) > MAX_PAYLOAD_BYTES:
                raise BadCommand(f"payload too large: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
            try:
                text = bytes(payload).decode("utf-8")
            except UnicodeDecodeError:
                raise BadCommand("payload is not UTF-8") from None
            try:
                msg = json.loads(text, parse_constant=lambda c: float("nan"))
            except (ValueError, RecursionError):
                raise BadCommand("malformed JSON") from None
            if not isinstance(msg, dict):
                raise BadCommand(f"expected a JSON object, got {type(msg).__name__}")
            rid = msg.get("id")
            if isinstance(rid, str) and 1 <= len(rid) <= 64:
                req_id = rid
            elif "id" not in msg:
                raise BadCommand("missing 'id'")
            else:
                raise BadCommand(f"'id' must be a string of 1-64 characters, got {_describe(rid)}")
            v = msg.get("v", 1)
            if v != 1 or isinstance(v, bool):
                raise BadCommand(f"unsupported 'v': {_describe(v)} (this device speaks v 1)")
            c = msg.get("cmd")
            if not isinstance(c, str):
                raise BadCommand(f"'cmd' must be one of {', '.join(COMMANDS)}, got {_describe(c)}")
            if c not in COMMANDS:
                raise BadCommand(f"unknown command {_describe(c)}; known: {', '.join(COMMANDS)}")
            cmd = c
            result = self._dispatch(c, msg)
            return self._reply(req_id, True, result=result or {}, cmd=cmd)
        except KotError as e:  # bad input (BadCommand) or an action's one-line refusal
            return self._reply(req_id, False, error=str(e), cmd=cmd)
        except Exception as e:  # an action failed: report it, keep the loop alive
            return self._reply(req_id, False, error=f"internal error: {type(e).__name__}: {e}"[:200], cmd=cmd)

    def _dispatch(self, c: str, msg: dict) -> dict:
        a = self.actions
        if c == "start":
            return a.cmd_start()
        if c == "stop":
            return a.cmd_stop()
        if c == "ping":
            return a.cmd_ping()
        if c == "calibrate":
            return a.cmd_calibrate()
        if c == "exercise":
            if "exercise" not in msg:
                raise BadCommand("'exercise' command needs an 'exercise' key (a name or null for auto)")
            ex = msg["exercise"]
            if ex is not None and ex not in EXERCISES:
                raise BadCommand(f"'exercise' must be one of {', '.join(EXERCISES)} or null, got {_describe(ex)}")
            return a.cmd_exercise(ex)
        if c == "depth_target":
            if "depth_deg" not in msg:
                raise BadCommand("'depth_target' command needs a 'depth_deg' key (degrees, or null to clear)")
            d = msg["depth_deg"]
            if d is not None:
                if isinstance(d, bool) or not isinstance(d, (int, float)):
                    raise BadCommand(f"'depth_deg' must be a number or null, got {_describe(d)}")
                d = float(d)
            # The range (0 < deg <= 90) is the engine's: its refusal becomes the error reply.
            return a.cmd_depth_target(d)
        if c == "mode":
            # Imported here, not at the top: the device imports the engine only after choosing
            # its JIT mode (KOTDEVICE_JIT), and by the time a command arrives it is loaded.
            from kotdevice.motion.engine import MODES

            m = msg.get("mode")
            if m not in MODES:
                raise BadCommand(f"'mode' must be one of {', '.join(MODES)}, got {_describe(m)}")
            return a.cmd_mode(m)
        if c == "metronome":
            bpm = msg.get("bpm")
            if isinstance(bpm, bool) or not isinstance(bpm, (int, float)) or not 0 <= bpm <= 240:
                raise BadCommand(f"'bpm' must be a number 0-240 (0 = off), got {_describe(bpm)}")
            return a.cmd_metronome(float(bpm))
        raise BadCommand(f"unknown command {c!r}")  # unreachable: COMMANDS checked above
